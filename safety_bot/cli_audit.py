"""`safety-bot export`, `verify-audit` and `audit-key`: evidence bundles and the audit log (see cli.py)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from .cli_common import _load
from .config import Config


async def _export(config: Config, case_number: int, community: str, out: str | None) -> int:
    from . import export as exporter
    from .store import open_store

    store = await open_store(config)
    try:
        case = await store.get_case(community, case_number)
        if case is None:
            print(f"safety-bot: there is no case {case_number} in community {community}", file=sys.stderr)
            return 1
        bundle = await exporter.build_bundle(store, case)
        from .domain import AuditEntry

        async with store.transaction():
            await store.append_audit(AuditEntry(at=time.time(), actor="operator:cli", action="case.export",
                                                community=community, case_id=case.id, detail={"via": "cli"}))
    finally:
        await store.close()
    if out == "-":
        json.dump(bundle, sys.stdout, indent=2, ensure_ascii=False)
        print()
    else:
        path = exporter.write_bundle(Path(out) if out else config.path(config.exports_dir), bundle)
        print(path)
    return 0


def cmd_export(args) -> int:
    config = _load(args.config)
    return asyncio.run(_export(config, args.case, args.community, args.out))


async def _verify_audit(config: Config) -> int:
    from .store import open_store

    store = await open_store(config)
    try:
        entries = await store.audit_entries()
        problems, notes = store.audit_chain.verify(entries)
    finally:
        await store.close()
    for note in notes:
        print(f"note: {note}")
    if not problems:
        print(f"audit log OK: {len(entries)} entries, every link keyed and intact, matches the signed head")
        return 0
    for problem in problems:
        print(f"audit log BROKEN: {problem}", file=sys.stderr)
    return 1


def cmd_verify_audit(args) -> int:
    if args.export:
        return _verify_export(args.export, args.public_key)
    return asyncio.run(_verify_audit(_load(args.config)))


def _verify_export(file: str, public_key: str | None) -> int:
    """Check an exported bundle with only the exporter's public key (no database, no secret)."""
    from .audit_chain import parse_public_key
    from .export import verify_bundle

    if not public_key:
        print("safety-bot: say which public key checks the bundle: --public-key KEY (the bot's operator gets it "
              "with 'safety-bot audit-key')", file=sys.stderr)
        return 2
    public = parse_public_key(Path(public_key).read_text() if Path(public_key).is_file() else public_key)
    try:
        bundle = json.loads(Path(file).read_text(encoding="utf-8"))
        if not isinstance(bundle, dict) or not isinstance(bundle.get("audit"), list):
            raise ValueError("no audit entries")
    except (OSError, ValueError) as exc:
        print(f"{file}: not a safety-bot export ({exc.__class__.__name__})", file=sys.stderr)
        return 2
    problems = verify_bundle(bundle, public)
    if problems:
        for problem in problems:
            print(f"{file}: {problem}", file=sys.stderr)
        return 1
    head = bundle.get("audit_head") or {}
    print(f"{file}: signature valid; {len(bundle['audit'])} audit entries verified"
          + (f"; the audit log had {head['count']} entries when it was exported" if head else ""))
    return 0


def cmd_audit_key(args) -> int:
    async def show() -> int:
        from .store import open_store

        store = await open_store(_load(args.config))
        try:
            print(store.audit_chain.keys.public_text())
        finally:
            await store.close()
        return 0

    return asyncio.run(show())
