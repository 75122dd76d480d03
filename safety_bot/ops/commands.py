"""The operator commands of safety_bot.ops, added to the `safety-bot` command line by cli.py (which
passes its config loader in: ops does not import the command line)."""

from __future__ import annotations

import sys
from pathlib import Path


def cmd_backup(args, load) -> int:
    from .backup import BackupError, backup

    config = load(args.config)
    try:
        path, reminder = backup(config, Path(args.out))
    except BackupError as exc:
        print(f"safety-bot: {exc}", file=sys.stderr)
        return 1
    print(f"backup written to {path}")
    print(reminder)
    return 0


def cmd_restore(args, load) -> int:
    from .backup import BackupError, restore

    config = load(args.config)
    try:
        db, moved = restore(config, Path(args.file), replace=args.replace)
    except (BackupError, ValueError) as exc:
        print(f"safety-bot: {exc}", file=sys.stderr)
        return 1
    print(f"restored {args.file} to {db}" + (f"; the previous database is kept at {moved}" if moved else ""))
    print("Check it with: safety-bot verify-audit --config " + args.config)
    return 0


def cmd_doctor(args, load) -> int:
    import asyncio

    from .checks import render
    from .doctor import all_checks

    config = load(args.config)
    checks = asyncio.run(all_checks(config))
    print(render(checks))
    return 1 if any(c.failed for c in checks) else 0


def register(sub, with_config, load) -> None:
    """`load` is cli._load: it validates the config and playbooks and exits 2 with file:line messages."""
    p = with_config(sub.add_parser("doctor", help="check the set-up (storage, Discord, Matrix) and say how to fix "
                                                  "what is wrong; exits non-zero when something fails"))
    p.set_defaults(fn=lambda args: cmd_doctor(args, load))
    p = with_config(sub.add_parser("backup", help="copy the database safely while the bot runs (not the key)"))
    p.add_argument("--out", required=True, help="the folder to write the backup into")
    p.set_defaults(fn=lambda args: cmd_backup(args, load))
    p = with_config(sub.add_parser("restore", help="put a backup in place as the configured database"))
    p.add_argument("file", help="a backup file written by 'safety-bot backup'")
    p.add_argument("--replace", action="store_true",
                   help="replace an existing database (stop the bot first; the old one is kept beside it)")
    p.set_defaults(fn=lambda args: cmd_restore(args, load))
