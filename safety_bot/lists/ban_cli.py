"""`safety-bot bans export|follow|list|remove-list`: Discord ban pools (issue 19, item 4; ban_pools.py)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ..cli_common import _load


def register_bans(sub, with_config) -> None:
    bans = sub.add_parser("bans", help="Discord ban pools shared across networks: export, follow, list, remove-list")
    bans_sub = bans.add_subparsers(dest="bans_command", required=True)
    p = with_config(bans_sub.add_parser("export", help="write the network's bans made here: user id, reason code, "
                                                       "date (never case data or reporter information)"))
    p.add_argument("--network", required=True)
    p.add_argument("--sign", action="store_true", help="sign it with the audit key (verify with 'safety-bot audit-key')")
    p.add_argument("--out", default="-", help="a file, or - for standard output (default)")
    p.set_defaults(fn=cmd_bans)
    p = with_config(bans_sub.add_parser("follow", help="follow another network's ban pool (a file or URL)"))
    p.add_argument("source", metavar="FILE|URL")
    p.add_argument("--network", required=True, help="the network it protects")
    p.add_argument("--mode", choices=("notify", "apply"), help="notify (default for a new pool): show listed members "
                                                               "to the team with a one-press ban; apply: ban them")
    p.add_argument("--list", dest="list_name", metavar="NAME", help="its name here (default: from the file name)")
    p.add_argument("--public-key", help="the publisher's Ed25519 public key (base64, or a file): it must be signed")
    p.add_argument("--every", default="1h", help="how often to re-read it (30m, 1h, 1d; default 1h)")
    p.add_argument("--max-bytes", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(fn=cmd_bans)
    p = with_config(bans_sub.add_parser("list", help="the followed ban pools: mode, size, last fetch, last error"))
    p.add_argument("--json", action="store_true", help="one JSON object per pool")
    p.set_defaults(fn=cmd_bans)
    p = with_config(bans_sub.add_parser("remove-list", help="stop following a pool; the bans it made are lifted"))
    p.add_argument("list_name", metavar="NAME")
    p.set_defaults(fn=cmd_bans)


async def _run(config, args) -> int:
    from ..playbooks import load_library
    from ..service import SafetyService
    from ..store import open_store
    from .ban_pools import BanPools, default_name
    from ..plugins import plugins
    from .cli import _dur, check_out, pick_network, print_lists, read_key
    from .fetch import DEFAULT_MAX_BYTES
    from .hash_lists import ListError, parse_every

    store = await open_store(config)
    try:
        svc = SafetyService(store, load_library(config.path(config.playbooks)), config)
        from ..events import Community

        for g in (config.discord.guilds if config.discord else []):  # lifted bans reach every server of the network
            svc.add_community(Community(str(g.id), "discord", g.network, str(g.id)))
        pools = BanPools(svc, max_bytes=getattr(args, "max_bytes", None) or DEFAULT_MAX_BYTES)
        if getattr(args, "network", None) is not None and pick_network(config, args.network) is None:
            return 2
        try:
            if args.bans_command == "list":
                if not await print_lists(store, "bans", args.json) and not args.json:
                    print("no ban pools are followed (follow one with: safety-bot bans follow FILE|URL --network N)")
                return 0
            if args.bans_command == "export":
                check_out(args.out)
                data, count = await pools.export(args.network, signed=args.sign)
                if args.out == "-":
                    sys.stdout.write(data.decode())
                else:
                    Path(args.out).write_bytes(data)
                print(f"exported {count} ban(s) of network {args.network}" + (" (signed)" if args.sign else ""),
                      file=sys.stderr)
                return 0
            if args.bans_command == "remove-list":
                n = await pools.remove_pool(args.list_name, "operator:cli")
                print(f"stopped following the ban pool {args.list_name}; the running bot lifts the {n} ban(s) it made "
                      "within a minute")
                return 0
            name = args.list_name or default_name(args.source)
            lst, res = await pools.follow(args.source, name, network=args.network, mode=args.mode,
                                          public_key=read_key(args.public_key), every=parse_every(args.every),
                                          actor="operator:cli")
        except ListError as exc:
            print(f"safety-bot: {exc}; nothing was changed", file=sys.stderr)
            return 2
        print(f"ban pool {lst.name}: {res.size} accounts ({res.added} new, {res.withdrawn} removed), mode {lst.action}"
              + (", signature verified" if res.signed and lst.public_key else "")
              + f", re-read every {_dur(lst.every)}; the running bot checks the members within a minute")
        if args.network not in plugins()["discord"].networks(config):
            print(f"safety-bot: note: network {args.network} has no Discord server in the config, and ban pools "
                  "act only on Discord (Matrix: !safety watch), so this pool bans and shows no one",
                  file=sys.stderr)
        return 0
    finally:
        await store.close()


def cmd_bans(args) -> int:
    return asyncio.run(_run(_load(args.config), args))
