"""The `safety-bot` command: run, check-config, export, hash, bank (list|add|withdraw|reactivate), verify-audit;
backup, restore and doctor come from safety_bot.ops.commands."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time

from .cli_audit import cmd_audit_key, cmd_export, cmd_verify_audit
from .cli_bank import cmd_bank, cmd_hash
from .cli_common import _load
from .config import Config

log = logging.getLogger("safety_bot")


def _setup_logging(level: str, fmt: str = "text") -> None:
    from .ops.logs import setup_logging  # text or JSON lines; noisy libraries kept at WARNING

    setup_logging(level, fmt)


def cmd_check_config(args) -> int:
    library: list = []
    config = _load(args.config, library=library)
    missing = library[0].missing_texts()  # a language without a text falls back to English: valid, but said
    if missing:
        print("safety-bot: texts missing from a language:\n" + "\n".join(missing), file=sys.stderr)
        return 1
    from .plugins import plugins

    platforms = [p.name for p in plugins().values() if not p.interactive and p.enabled(config)]
    print(f"{args.config}: OK ({', '.join(platforms) or 'console only'}; database {config.path(config.storage.database)})")
    return 0


async def _run(config: Config, script: str | None) -> int:
    from .app import App
    from .ops.doctor import preflight
    from .plugins import RunOptions, plugins

    tasks = []
    offset = [0.0]
    options = RunOptions(script=script, clock_offset=offset)
    async with App(config, clock=lambda: time.time() + offset[0]) as app:
        for p in plugins().values():
            if not p.interactive and p.enabled(config):
                tasks.append(p.start(app, options))
        if config.http.listen is not None:  # /healthz, /readyz, /metrics; stopped with the app
            from .ops.health import start_http

            await start_http(app)
        if tasks:
            await app.runtime.resume()
            await app.start_cluster()
            app.start_ticker()
            # The doctor's checks once the platforms are connected; failures are posted to the teams once.
            app.keep(asyncio.create_task(preflight(app)))
            await asyncio.gather(*tasks)
            return 0
        interactive = [p for p in plugins().values() if p.interactive and p.enabled(config)]
        if not interactive:
            print("safety-bot: no platform is configured and there is no console section; nothing to run.", file=sys.stderr)
            return 2
        if config.log_format == "text":  # the console's own lines say what happened: no event line per step
            logging.getLogger("safety_bot.audit_events").setLevel(logging.WARNING)
        running = interactive[0].start(app, options)
        await app.runtime.resume()
        await running
    return 0


def _no_core_dumps() -> None:
    """A core dump of this process would hold decrypted case data."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        log.warning("could not disable core dumps on this system")


def _fresh(config: Config) -> int | None:
    """`run --fresh`: the console's pretend world starts over (its database and community file go)."""
    from .plugins import plugins

    if any(not p.interactive and p.enabled(config) for p in plugins().values()):
        print("safety-bot: --fresh only starts the console over; it never deletes a real community's cases. "
              "Nothing was deleted.", file=sys.stderr)
        return 2
    if config.storage.backend != "sqlite":
        print("safety-bot: --fresh only starts the console's own SQLite file over; nothing was deleted.", file=sys.stderr)
        return 2
    database = config.path(config.storage.database)
    gone = []
    # the console keeps its pretend community beside the database (adapters/console/world_file.py)
    for p in (database, *(database.with_name(database.name + s) for s in ("-wal", "-shm", "-journal", ".console.json"))):
        if p.exists():
            p.unlink()
            gone.append(p.name)
    print(f"safety-bot: starting fresh ({', '.join(gone) if gone else 'there was no data yet'}).", file=sys.stderr)
    return None


def cmd_run(args) -> int:
    config = _load(args.config)
    if getattr(args, "fresh", False):
        refused = _fresh(config)
        if refused is not None:
            return refused
    _setup_logging(config.log_level, config.log_format)
    _no_core_dumps()
    from .crypto import WrongKey
    from .store import StoreError

    try:
        return asyncio.run(_run(config, args.script))
    except (WrongKey, StoreError) as exc:
        print(f"safety-bot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0




def cmd_new_key(args) -> int:
    from .crypto import new_key_text

    print(new_key_text())
    return 0


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too small: give at least 1 day")
    return value


async def _purge(config: Config, days: int | None) -> int:
    from .retention import purge_closed
    from .store import open_store

    store = await open_store(config)
    try:
        removed: dict[str, int] = {}
        purged = await purge_closed(store, days if days is not None else config.retention.closed_case_days,
                                    removed=removed)
    finally:
        await store.close()
    print(f"purged {len(purged)} closed case(s)" + (": " + ", ".join(f"{c} #{n}" for c, n in purged) if purged else ""))
    if purged:
        print("removed: " + ", ".join(f"{n} {kind}" for kind, n in removed.items()))
    return 0


def cmd_purge(args) -> int:
    return asyncio.run(_purge(_load(args.config), args.days))


async def _rotate_key(config: Config) -> int:
    import os

    from .crypto import key_file_for, new_key_text, parse_key
    from .store.sqlite import SqliteStore

    db = config.path(config.storage.database)
    if config.storage.backend == "postgres":  # stop every bot process first: they hold the old key
        from .store import open_store

        store = await open_store(config)
    else:
        store = await SqliteStore.open(db, synchronous=config.storage.synchronous, key=config.storage.key,
                                       audit_key=config.storage.audit_key)
    new_text = os.environ.get("SAFETY_BOT_NEW_KEY") or new_key_text()
    try:
        count = await store.rotate_key(parse_key(new_text))
    finally:
        await store.close()
    if config.storage.key:
        print(f"re-encrypted {count} value(s). Now set storage.key's environment variable to the new key:")
        print(new_text)
    else:
        kf = key_file_for(db)
        tmp = kf.with_suffix(".new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(new_text + "\n")
        os.replace(tmp, kf)
        print(f"re-encrypted {count} value(s); the new key is in {kf} (back it up)")
    return 0


def cmd_rotate_key(args) -> int:
    return asyncio.run(_rotate_key(_load(args.config)))


def cmd_migrate_store(args) -> int:
    from .store.migrate_cli import migrate_store

    return asyncio.run(migrate_store(args))




def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="safety-bot", description="Helps communities respond to sextortion.")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p):
        p.add_argument("--config", default="config.yaml", help="the config file (default: config.yaml)")
        return p

    p = with_config(sub.add_parser("run", help="run the bot (console when no platform is configured)"))
    p.add_argument("--script", help="console only: read commands from this file instead of standard input")
    p.add_argument("--fresh", action="store_true",
                   help="console only: delete the console's database and pretend community first, and start over")
    p.set_defaults(fn=cmd_run)
    with_config(sub.add_parser("check-config", help="validate the config, playbooks and resources")).set_defaults(fn=cmd_check_config)
    p = with_config(sub.add_parser("export", help="write one case as a JSON evidence bundle"))
    p.add_argument("case", type=int, help="the case number")
    p.add_argument("--community", required=True, help="the community the case belongs to")
    p.add_argument("--out", help="a folder, or - for standard output (default: exports_dir from the config)")
    p.set_defaults(fn=cmd_export)
    p = with_config(sub.add_parser("verify-audit", help="check the audit log's hash chain (or an export's)"))
    p.add_argument("--export", help="verify an exported case bundle instead (no database needed)")
    p.add_argument("--public-key", help="with --export: the public key 'safety-bot audit-key' printed (or a file with it)")
    p.set_defaults(fn=cmd_verify_audit)
    with_config(sub.add_parser("audit-key", help="print the public key that verifies exports and the audit head")
                ).set_defaults(fn=cmd_audit_key)
    sub.add_parser("new-key", help="print a new random key (base64 of 32 bytes) for storage.key or storage.audit_key"
                   ).set_defaults(fn=cmd_new_key)
    p = with_config(sub.add_parser("purge", help="delete closed cases older than retention.closed_case_days (held cases stay)"))
    p.add_argument("--days", type=_at_least_one, help="override retention.closed_case_days for this run (at least 1)")
    p.set_defaults(fn=cmd_purge)
    with_config(sub.add_parser("rotate-key", help="re-encrypt all stored case data with a new key")).set_defaults(fn=cmd_rotate_key)
    p = sub.add_parser("migrate-store", help="copy the SQLite database into an empty PostgreSQL database, verified")
    p.add_argument("--from", dest="source", required=True, metavar="sqlite:PATH")
    p.add_argument("--to", dest="target", required=True, metavar="postgres:DSN")
    p.add_argument("--config", help="the config whose storage.key encrypts the SQLite database (default: the "
                                    "key file beside it)")
    p.set_defaults(fn=cmd_migrate_store)
    p = sub.add_parser("hash", help="hash your own image files locally (nothing is uploaded)")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.add_argument("files", nargs="+")
    p.set_defaults(fn=cmd_hash)
    bank = sub.add_parser("bank", help="the exposed-media hash bank: list, add hex hashes, withdraw; shared hash lists: import, "
                          "follow, export, remove-list")
    bank_sub = bank.add_subparsers(dest="bank_command", required=True)
    p = with_config(bank_sub.add_parser("list", help="entries (id, network, category, status, quality, case, "
                                                     "added by/at); never the hash values"))
    p.add_argument("--network", help="only this network")
    p.add_argument("--json", action="store_true", help="one JSON object per entry")
    p.set_defaults(fn=cmd_bank)
    p = with_config(bank_sub.add_parser("add", help="add hex hashes (from 'safety-bot hash' run by the person "
                                                    "in the images, or a hash list); never image files"))
    p.add_argument("pdq", nargs="?", help="PDQ hash, 64 hex characters")
    p.add_argument("--sha256", help="SHA-256 of the file, 64 hex characters")
    p.add_argument("--md5", help="MD5 of the file, 32 hex characters")
    p.add_argument("--quality", type=int, default=100, help="PDQ quality as 'safety-bot hash' printed it (default 100)")
    p.add_argument("--category", choices=("adult", "minor"), default="adult")
    p.add_argument("--network", help="the network to protect (default: the only configured one)")
    p.add_argument("--case", type=int, help="the case the images belong to (with --community)")
    p.add_argument("--community", help="the community of --case")
    p.set_defaults(fn=cmd_bank)
    p = with_config(bank_sub.add_parser("withdraw", help="withdraw an entry (the person's request): deletes its hashes"))
    p.add_argument("entry", type=int, metavar="ENTRY_ID")
    p.add_argument("--reason", help="recorded in the audit log")
    p.add_argument("--network", help=argparse.SUPPRESS)
    p.set_defaults(fn=cmd_bank)
    p = with_config(bank_sub.add_parser("reactivate", help="put an entry the flood breaker suspended back into use"))
    p.add_argument("entry", type=int, metavar="ENTRY_ID")
    p.add_argument("--network", help=argparse.SUPPRESS)
    p.set_defaults(fn=cmd_bank)
    from .lists.cli import register as register_lists

    register_lists(sub, bank_sub, with_config)  # bank import|follow|export|remove-list
    from .lists.ban_cli import register_bans

    register_bans(sub, with_config)  # bans export|follow|list|remove-list (Discord ban pools)
    from .ops.commands import register as register_ops

    register_ops(sub, with_config, _load)  # backup, restore, doctor
    args = parser.parse_args(argv)
    os.umask(0o077)  # every file the bot writes (database, WAL, keys, head, exports) is private
    from .crypto import KeyProblem
    from .store import StoreError

    try:
        return args.fn(args)
    except (KeyProblem, StoreError) as exc:
        print(f"safety-bot: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
