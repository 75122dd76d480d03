"""`safety-bot migrate-store`: copy a community's SQLite database into an empty PostgreSQL database.

Rows are copied as they are stored: encrypted columns stay encrypted under the same key (so the
PostgreSQL store must be given that key), ids, case numbers and the audit chain are kept exactly.
Everything happens in one PostgreSQL transaction, verified inside it (row counts of every table, the
audit chain intact and ending at the same head), and committed only when the checks pass.
"""

from __future__ import annotations

import base64
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from ..crypto import key_file_for
from ..audit_chain import AuditChain, walk
from .base import StoreError, verify_chain
from .migrations import LATEST
from .postgres import PostgresStore
from .sqlite import SqliteStore

# Copy order: parents before the rows that refer to them; tables added later follow in name order.
ORDER = ("cases", "case_accused", "reports", "evidence", "notes", "strikes", "bans", "audit", "intakes", "outbox",
         "kv", "bank_entries")


class MigrationError(StoreError):
    """The copy was refused or did not verify; the target database was left unchanged."""


@dataclass
class MigrationReport:
    counts: dict[str, int] = field(default_factory=dict)
    audit_entries: int = 0
    audit_head: str = ""


def source_key(sqlite_path: Path, configured: str | None) -> str:
    """The SQLite database's key, as base64 text: the configured one, else the key file beside it."""
    if not sqlite_path.is_file():
        raise MigrationError(f"{sqlite_path} does not exist")
    if configured:
        return configured
    kf = key_file_for(sqlite_path)
    if not kf.exists():
        raise MigrationError(f"no key for {sqlite_path}: neither storage.key in the config nor the key file {kf}")
    return kf.read_text().strip()


async def migrate_sqlite_to_postgres(sqlite_path: Path, dsn: str, key: str) -> MigrationReport:
    if not sqlite_path.is_file():
        raise MigrationError(f"{sqlite_path} does not exist")
    _check_source_version(sqlite_path)
    source = await SqliteStore.open(sqlite_path, key=key)  # checks the key against the data
    try:
        target = await PostgresStore.open(dsn, key=key)
        try:
            return await _copy(source, target)
        finally:
            await target.close()
    finally:
        await source.close()


def _check_source_version(path: Path) -> None:
    """Refuse a database from another version of safety-bot instead of migrating it on the way."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        version = con.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise MigrationError(f"{path} is not a safety-bot database ({exc})") from None
    finally:
        con.close()
    if version != LATEST:
        raise MigrationError(f"{path} has schema version {version}; run this safety-bot once on it (it "
                             f"understands version {LATEST}) and migrate after that")


async def _tables(source: SqliteStore) -> list[str]:
    names = {r[0] for r in await source.db.execute_fetchall(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' AND name!='schema_version'")}
    return [t for t in ORDER if t in names] + sorted(names - set(ORDER))


async def _copy(source: SqliteStore, target: PostgresStore) -> MigrationReport:
    report = MigrationReport()
    tables = await _tables(source)
    async with target.transaction():
        conn = target._conn_var.get()
        present = {r[0] for r in await conn.fetch("SELECT table_name FROM information_schema.tables "
                                                  "WHERE table_schema = current_schema()")}
        absent = [t for t in tables if t not in present]
        if absent:
            raise MigrationError(f"the PostgreSQL database has no table {', '.join(absent)}")
        filled = [t for t in tables if t != "kv" and await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {t})")]
        if filled:
            raise MigrationError(f"the PostgreSQL database already holds data ({', '.join(filled)}); "
                                 "migrate into an empty database")
        for table in tables:
            columns, rows = await _source_rows(source, table)
            types = {r["column_name"]: r["data_type"] for r in await conn.fetch(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name=$1", table)}
            missing = [c for c in columns if c not in types]
            if missing:
                raise MigrationError(f"the PostgreSQL table {table} has no column {', '.join(missing)}")
            if table == "kv":
                await conn.execute("DELETE FROM kv")  # only the key check, written when the store opened
            records = [tuple(_convert(v, types[c]) for c, v in zip(columns, row)) for row in rows]
            if records:
                await conn.copy_records_to_table(table, records=records, columns=columns)
            report.counts[table] = len(records)
            if "id" in columns and types.get("id") == "bigint":
                await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                   f"COALESCE((SELECT MAX(id) FROM {table}), 1), EXISTS (SELECT 1 FROM {table}))")
        # the chain goes on with the SQLite database's audit key (unless storage.audit_key says otherwise)
        target.audit_chain = AuditChain(source.audit_chain.keys)
        await _verify(source, target, conn, report)
        await conn.execute("INSERT INTO kv VALUES ('audit_seed', $1) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                           target.cipher.encrypt(base64.b64encode(source.audit_chain.keys.seed).decode()))
    return report


async def _source_rows(source: SqliteStore, table: str) -> tuple[list[str], list[tuple]]:
    columns = [r[1] for r in await source.db.execute_fetchall(f"PRAGMA table_info({table})")]
    rows = await source.db.execute_fetchall(f"SELECT {', '.join(columns)} FROM {table}")
    return columns, [tuple(r) for r in rows]


def _convert(value, pg_type: str):
    if value is None:
        return None
    if pg_type == "double precision":
        return float(value)
    if pg_type in ("bigint", "integer"):
        return int(value)
    if isinstance(value, bytes):  # nothing stores bytes today; keep it readable rather than fail
        return base64.b64encode(value).decode()
    return value if isinstance(value, str) else str(value)


async def _verify(source: SqliteStore, target: PostgresStore, conn, report: MigrationReport) -> None:
    for table in report.counts:
        got = await conn.fetchval(f"SELECT COUNT(*) FROM {table}")
        if got != report.counts[table]:
            raise MigrationError(f"{table}: {report.counts[table]} rows in SQLite but {got} in PostgreSQL")
    before, after = await source.audit_entries(), await target.audit_entries()  # target: inside the copy
    broken = walk(before, source.audit_chain.keys)
    if broken:
        seq = verify_chain(before, source.audit_chain.keys)
        raise MigrationError(f"the SQLite audit chain is already broken at entry {seq} ({broken[0]}); "
                             "nothing was copied (check it with 'safety-bot verify-audit')")
    broken = walk(after, target.audit_chain.keys)
    if broken:
        raise MigrationError(f"the copied audit chain does not verify with PostgreSQL's audit key ({broken[0]}); "
                             "set storage.audit_key to the SQLite database's .audit-key file; nothing was kept")
    head = after[-1].hash if after else ""
    if len(after) != len(before) or head != (before[-1].hash if before else ""):
        raise MigrationError("the copied audit chain does not end where the SQLite one does; nothing was kept")
    report.audit_entries, report.audit_head = len(after), head
