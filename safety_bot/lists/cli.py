"""`safety-bot bank import|follow|export|remove-list` (hash lists) and `safety-bot bans export|follow|list|
remove-list` (Discord ban pools): the shared-lists commands (issue 19). Registered by cli.py."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from ..cli_common import _load


def register(sub, bank_sub, with_config) -> None:
    p = with_config(bank_sub.add_parser("import", help="import a hash list (ThreatExchange file format) from a "
                                                       "file or URL into the named list"))
    p.add_argument("source", metavar="FILE|URL")
    _list_options(p)
    p.set_defaults(fn=cmd_lists, lists_command="import")
    p = with_config(bank_sub.add_parser("follow", help="follow a hash list at a URL: re-read it regularly; what "
                                                       "disappears from it is withdrawn here"))
    p.add_argument("source", metavar="URL")
    _list_options(p)
    p.add_argument("--every", default="1h", help="how often to re-read it (30m, 1h, 1d; default 1h)")
    p.set_defaults(fn=cmd_lists, lists_command="follow")
    p = with_config(bank_sub.add_parser("export", help="write the bank's own shareable entries (consent given) as a "
                                                       "hash list; hashes only, never case data"))
    p.add_argument("--list", dest="list_name", required=True, metavar="NAME", help="the name written into the list")
    p.add_argument("--network", help="the network whose bank to export (default: the only configured one)")
    p.add_argument("--sign", action="store_true", help="sign it with the audit key (verify with 'safety-bot audit-key')")
    p.add_argument("--out", default="-", help="a file, or - for standard output (default)")
    p.set_defaults(fn=cmd_lists, lists_command="export")
    p = with_config(bank_sub.add_parser("remove-list", help="remove a hash list and withdraw everything it brought"))
    p.add_argument("list_name", metavar="NAME")
    p.set_defaults(fn=cmd_lists, lists_command="remove-list")


def _list_options(p) -> None:
    p.add_argument("--list", dest="list_name", required=True, metavar="NAME", help="the list's name here")
    p.add_argument("--action", choices=("remove", "flag"),
                   help="remove: remove matches and tell the team; flag: tell the team only (default for a new list)")
    p.add_argument("--public-key", help="the publisher's Ed25519 public key (base64, or a file holding it): the list "
                                        "must be signed with it")
    p.add_argument("--network", help="the network to protect (default: the only configured one)")
    p.add_argument("--category", choices=("adult", "minor"),
                   help="minor: a list of child sexual abuse material; a match opens a child-safety case (default adult)")
    p.add_argument("--max-bytes", type=int, default=None, help=argparse.SUPPRESS)


def read_key(value: str | None) -> str | None:
    from .hash_lists import ListError

    if value is not None and not value.strip():
        raise ListError("--public-key is empty: give the publisher's key (base64) or a file holding it")
    if value and Path(value).is_file():
        return Path(value).read_text().strip()
    return value


def check_out(path: str) -> None:
    """Refuse an --out file that cannot be written before anything is exported (or audited)."""
    from .hash_lists import ListError

    if path == "-":
        return
    try:
        with open(path, "ab"):
            pass
    except OSError as exc:
        raise ListError(f"--out {path}: cannot write it ({exc.strerror or exc.__class__.__name__})") from None


def pick_network(config, given: str | None) -> str | None:
    from ..plugins import plugins

    known = sorted({n for p in plugins().values() for n in p.networks(config)})
    if given:
        if given in known:
            return given
        print(f"safety-bot: no network named {given} in the config (" + (", ".join(known) or "none configured")
              + "); nothing was changed", file=sys.stderr)
        return None
    if len(known) != 1:
        print("safety-bot: say which network with --network (" + (", ".join(known) or "none configured") + ")",
              file=sys.stderr)
        return None
    return known[0]


async def _run(config, args) -> int:
    from ..bank import MediaBank
    from ..playbooks import load_library
    from ..service import SafetyService
    from ..store import open_store
    from .fetch import DEFAULT_MAX_BYTES
    from .hash_lists import HashLists, ListError, parse_every

    store = await open_store(config)
    try:
        bank = MediaBank(SafetyService(store, load_library(config.path(config.playbooks)), config))
        lists = HashLists(bank, max_bytes=getattr(args, "max_bytes", None) or DEFAULT_MAX_BYTES)
        actor = "operator:cli"
        try:
            if args.lists_command == "remove-list":
                n = await lists.remove_list(args.list_name, actor)
                print(f"removed the hash list {args.list_name}: {n} entr{'y' if n == 1 else 'ies'} it brought "
                      "withdrawn (hashes deleted); a running bot stops matching them within a minute")
                return 0
            network = pick_network(config, args.network)
            if network is None:
                return 2
            if args.lists_command == "export":
                check_out(args.out)
                data, count = await lists.export(args.list_name, network, signed=args.sign)
                if args.out == "-":
                    sys.stdout.write(data.decode())
                else:
                    Path(args.out).write_bytes(data)
                print(f"exported {count} entr{'y' if count == 1 else 'ies'} whose case consent allows sharing"
                      + (" (signed)" if args.sign else ""), file=sys.stderr)
                return 0
            every = parse_every(args.every) if args.lists_command == "follow" else 0.0
            if args.lists_command == "follow" and "://" not in args.source:
                raise ListError("bank follow needs an http:// or https:// URL (use bank import for a file)")
            lst, res = await lists.import_list(args.source, args.list_name, network=network, action=args.action,
                                               public_key=read_key(args.public_key), every=every, actor=actor,
                                               category=args.category)
        except ListError as exc:
            print(f"safety-bot: {exc}; nothing was changed", file=sys.stderr)
            return 2
        print(f"hash list {lst.name}: {res.size} hashes ({res.added} added, {res.withdrawn} withdrawn), "
              f"action {lst.action}" + (", signature verified" if res.signed and lst.public_key else "")
              + (f", re-read every {_dur(lst.every)}" if lst.every else "")
              + "; a running bot picks it up within a minute")
        return 0
    finally:
        await store.close()


def _dur(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def cmd_lists(args) -> int:
    return asyncio.run(_run(_load(args.config), args))


async def print_lists(store, kind: str, as_json: bool, network: str | None = None) -> int:
    """The lists of one kind (of one network, when given), for `bank list` / `bans list`: action, size, last
    fetch, last error. Returns how many it printed."""
    from ..views import when

    printed = 0
    for lst in await store.shared_lists(kind):
        if network is not None and lst.network != network:
            continue
        printed += 1
        row = {"list": lst.name, "network": lst.network, "action": lst.action, "size": lst.size,
               "category": lst.category, "source": lst.source, "every": lst.every, "last_fetch": lst.last_fetch, "last_error": lst.last_error,
               "signed": bool(lst.public_key)}
        if as_json:
            print(json.dumps(row))
        else:
            print(f"list {lst.name}: network={lst.network} action={lst.action} size={lst.size} "
                  + (f"category={lst.category} " if kind == "hashes" else "") + f"source={lst.source}" + (f" every {_dur(lst.every)}" if lst.every else "")
                  + (" signed" if lst.public_key else "")
                  + f" last fetch {when(lst.last_fetch) if lst.last_fetch else 'never'}"
                  + (f" last error: {lst.last_error}" if lst.last_error else ""))
    return printed
