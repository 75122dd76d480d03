"""`safety-bot hash` and `safety-bot bank`: the exposed-media hash bank (see cli.py)."""

from __future__ import annotations

import asyncio
import json
import sys

from .cli_common import _load
from .config import Config


def cmd_hash(args) -> int:
    try:
        from .media import MediaError, hash_image_file
    except ImportError:
        print("safety-bot: media hashing needs the media extra: pip install 'safety-bot[media]'", file=sys.stderr)
        return 2
    failed = False
    for file in args.files:
        try:
            h = hash_image_file(file)
            row = {"file": file, "pdq": h.pdq, "quality": h.quality, "sha256": h.sha256, "md5": h.md5, "frames": h.frames}
        except (MediaError, OSError) as exc:
            failed = True
            row = {"file": file, "error": getattr(exc, "reason", None) or exc.__class__.__name__}
        if args.json:
            print(json.dumps(row))
        elif "error" in row:
            print(f"{file}: error: {row['error']}")
        else:
            print(f"{file}: pdq={row['pdq']} quality={row['quality']} sha256={row['sha256']} md5={row['md5']} frames={row['frames']}")
    return 1 if failed else 0


def _networks(config: Config) -> list[str]:
    from .plugins import plugins

    return sorted({n for p in plugins().values() for n in p.networks(config)})


async def _bank(config: Config, args) -> int:
    from .bank import MediaBank, describe_entry
    from .playbooks import load_library
    from .service import SafetyService
    from .store import open_store
    from .views import when

    store = await open_store(config)
    try:
        bank = MediaBank(SafetyService(store, load_library(config.path(config.playbooks)), config))
        actor = "operator:cli"
        if args.bank_command == "list":
            from .lists.cli import print_lists

            await print_lists(store, "hashes", args.json, args.network)  # the shared lists: action, size, last fetch, error
            entries = await store.bank_entries(args.network)  # metadata only: hashes are not even read
            sources = await bank.provenance.sources([e.id for e in entries])
            rows = [dict(describe_entry(e), list=sources[e.id].name if e.id in sources else "-") for e in entries]
            if args.json:
                for row in rows:
                    print(json.dumps(row))
            elif not rows:
                print("the hash bank is empty" + (f" in network {args.network}" if args.network else ""))
            else:
                for r in rows:
                    print(f"{r['id']}: network={r['network']} category={r['category']} status={r['status']} "
                          f"quality={r['quality']} case={r['case']} added by {r['added_by']} "
                          f"at {when(r['added_at'])} list={r['list']}")
            return 0
        if args.bank_command == "add":
            if not bank.available:
                print("safety-bot: the hash bank needs the media extra: pip install 'safety-bot[media]'", file=sys.stderr)
                return 2
            case = None
            if args.case is not None:
                if not args.community:
                    print("safety-bot: --case needs --community", file=sys.stderr)
                    return 2
                case = await store.get_case(args.community, args.case)
                if case is None:
                    print(f"safety-bot: there is no case {args.case} in community {args.community}", file=sys.stderr)
                    return 1
            network = case.network if case else args.network
            if network is None:
                known = _networks(config)
                if len(known) != 1:
                    print("safety-bot: say which network with --network (" + (", ".join(known) or "none configured")
                          + ")", file=sys.stderr)
                    return 2
                network = known[0]
            try:
                entry = await bank.add_hashes(network, pdq=args.pdq, sha256=args.sha256, md5=args.md5,
                                              quality=args.quality, category=args.category, actor=actor, case=case)
            except ValueError as exc:
                print(f"safety-bot: {exc}; nothing was added", file=sys.stderr)
                return 2
            print(f"added hash bank entry {entry.id} (network {entry.network}, {entry.category}); "
                  "a running bot picks it up within a minute")
            return 0
        if args.bank_command == "withdraw":
            if not await bank.withdraw(args.entry, actor, args.reason or ""):
                print(f"safety-bot: there is no hash bank entry {args.entry}", file=sys.stderr)
                return 1
            print(f"withdrew hash bank entry {args.entry}: its hashes are deleted; a running bot stops matching it "
                  "within a minute")
            return 0
        if args.bank_command == "reactivate":
            if not bank.available:
                print("safety-bot: the hash bank needs the media extra: pip install 'safety-bot[media]'", file=sys.stderr)
                return 2
            if not await bank.reactivate(args.entry, actor):
                print(f"safety-bot: hash bank entry {args.entry} does not exist or is not suspended", file=sys.stderr)
                return 1
            print(f"hash bank entry {args.entry} is active again")
            return 0
    finally:
        await store.close()
    return 2


def cmd_bank(args) -> int:
    return asyncio.run(_bank(_load(args.config), args))
