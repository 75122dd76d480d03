"""The command-line side of `safety-bot migrate-store --from sqlite:PATH --to postgres:DSN`."""

from __future__ import annotations

import sys
from pathlib import Path

from ..config import DataFileError, load_config
from ..crypto import KeyProblem
from .base import StoreError
from .migrate import migrate_sqlite_to_postgres, source_key
from .postgres import _redacted


def _parse(value: str, scheme: str) -> str | None:
    prefix = scheme + ":"
    return value[len(prefix):] if value.startswith(prefix) and len(value) > len(prefix) else None


async def migrate_store(args) -> int:
    path, dsn = _parse(args.source, "sqlite"), _parse(args.target, "postgres")
    if path is None or dsn is None:
        print("safety-bot: use --from sqlite:PATH --to postgres:DSN "
              "(for example --to postgres:postgresql://user:password@host/db)", file=sys.stderr)
        return 2
    configured = None
    if args.config:
        try:
            configured = load_config(args.config).storage.key
        except DataFileError as exc:
            print(f"safety-bot: the configuration is not valid:\n{exc}", file=sys.stderr)
            return 2
    try:
        key = source_key(Path(path), configured)
        report = await migrate_sqlite_to_postgres(Path(path), dsn, key)
    except (StoreError, ValueError, KeyProblem) as exc:  # KeyProblem: a wrong or unusable key, said plainly
        print(f"safety-bot: nothing was migrated: {exc}", file=sys.stderr)
        return 1
    total = sum(report.counts.values())
    print(f"copied {total} row(s) from {path} to {_redacted(dsn)}:")
    for table, count in report.counts.items():
        print(f"  {table}: {count}")
    print(f"verified: every table's row count matches; the audit chain holds ({report.audit_entries} entries, "
          f"ending at {report.audit_head[:12] or '-'})")
    print("done. Now set storage.backend: postgres, storage.dsn and storage.key (the same key as the SQLite "
          "database" + ("" if configured else f", from {path}.key") + ") and start the bot.")
    return 0
