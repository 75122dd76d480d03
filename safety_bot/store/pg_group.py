"""PostgreSQL's write path: group commit and the audit chain appended at commit time. A mixin of
PostgresStore (see postgres.py), which provides the pool, the per-task connection (`_conn_var`) and errors.

Group commit (the same promise as SQLite's, see sqlite.py): `transaction(group=True)` runs its block as a
savepoint inside one open transaction on one connection (the group) and yields a future that resolves once
the group is committed (`commit()`), or fails when it is rolled back. Several reports share one COMMIT, so
one WAL flush (synchronous_commit=on); nobody may be told "received" before their future resolved. A plain
`transaction()` commits this process's open group first, so the group's locks never wait on it.

The audit chain: entries are linked when their transaction commits, not when they are appended. Each
transaction keeps its entries; just before COMMIT it takes the audit advisory lock, reads the chain's head,
links every entry in one pass and writes them with one statement. The lock is held from there to the
commit (a few milliseconds), not for the whole transaction, so processes never fork the chain and do not
queue behind each other's whole transactions. Reading the audit log inside a transaction writes its entries
first.
"""

from __future__ import annotations

import asyncio
import contextvars
from contextlib import asynccontextmanager

from ..domain import AuditEntry
from .sqlite_common import _j

LOCK_AUDIT = 0x5AFE_0002  # advisory lock key of the audit chain (postgres.py lists the others)


class PgGroupCommit:
    group_commit = True

    def _init_group(self) -> None:
        self._glock = asyncio.Lock()  # the group connection is used by one block (or the commit) at a time
        self._group_conn = None
        self._group: asyncio.Future | None = None
        self._group_savepoint = False  # a released-or-not savepoint "g" is open on the group connection
        self._group_audit: list[AuditEntry] = []
        self._group_locks: set = set()  # advisory locks the group already holds (taken once per group)
        self._audit_var: contextvars.ContextVar = contextvars.ContextVar(f"pg-audit-{id(self)}", default=None)
        self._block_var: contextvars.ContextVar = contextvars.ContextVar(f"pg-block-{id(self)}", default=None)
        self.commits = 0

    # ---------------------------------------------------------------- the group
    @asynccontextmanager
    async def _group_block(self):
        async with self._glock:
            if self._group_conn is None:
                conn = await self._acquire()
                try:
                    await conn.execute("BEGIN")
                except BaseException as exc:
                    await self.pool.release(conn)
                    raise self._as_store_error(exc) from exc
                self._group_conn, self._group = conn, asyncio.get_running_loop().create_future()
                self._group_savepoint = False
            conn, pending = self._group_conn, self._group
            try:  # the previous block's savepoint is released in the same round trip as this one is set
                await conn.execute("RELEASE SAVEPOINT g; SAVEPOINT g" if self._group_savepoint else "SAVEPOINT g")
                self._group_savepoint = True
            except BaseException as exc:
                await self._end_group(commit=False, error=exc)
                raise self._as_store_error(exc) from exc
            # as they were before this block: a rollback to the savepoint undoes its writes and its locks
            audit_before, locks_before = list(self._group_audit), set(self._group_locks)
            token, audit_token = self._conn_var.set(conn), self._audit_var.set(self._group_audit)
            block_token = self._block_var.set(object())
            try:
                yield pending
            except BaseException as exc:
                self._group_audit[:] = audit_before  # entries an audit read wrote in this block are unwritten
                self._group_locks = locks_before
                try:
                    await conn.execute("ROLLBACK TO SAVEPOINT g; RELEASE SAVEPOINT g")
                    self._group_savepoint = False
                except BaseException:
                    await self._end_group(commit=False, error=exc)
                raise self._as_store_error(exc) from exc
            finally:
                self._conn_var.reset(token)
                self._audit_var.reset(audit_token)
                self._block_var.reset(block_token)

    def _tx_token(self) -> object | None:
        """The transaction block this task is in, or None (see SqliteStore._tx_token)."""
        return self._block_var.get()

    async def commit(self) -> None:
        """Commit the open group (one WAL flush), if any. Raises StoreUnavailable/StoreError when it fails."""
        async with self._glock:
            await self._end_group(commit=True)

    async def _end_group(self, *, commit: bool, error: BaseException | None = None) -> None:
        """With `_glock` held: COMMIT (or ROLLBACK) the open group and tell everyone waiting on it."""
        conn, pending = self._group_conn, self._group
        if conn is None:
            return
        self._group_conn = self._group = None
        entries, self._group_audit = self._group_audit, []
        self._group_locks = set()
        try:
            if commit and error is None:
                try:
                    if entries:
                        await self._write_audit(conn, entries)
                    await conn.execute("COMMIT")
                    self.commits += 1
                except BaseException as exc:
                    error = exc
            if error is not None:
                try:
                    await conn.execute("ROLLBACK")
                except BaseException:
                    pass
        finally:
            try:
                await self.pool.release(conn)
            except BaseException:
                pass
        if error is None:
            pending.set_result(None)
            return
        failure = self._as_store_error(error)
        pending.set_exception(failure)
        pending.exception()  # retrieved here: nobody may be waiting on it
        if commit:
            raise failure from error

    async def _group_lock(self, sql: str, *args) -> None:
        """Take a transaction advisory lock once per group (it is held until the group commits anyway)."""
        conn = self._conn_var.get()
        if conn is not None and conn is self._group_conn:
            if (sql, args) in self._group_locks:
                return
            await conn.execute(sql, *args)
            self._group_locks.add((sql, args))
            return
        await conn.execute(sql, *args)

    # ---------------------------------------------------------------- a report and its rate mark, one trip
    async def add_report(self, report):
        """The report and the reporter's rate mark in one statement (SQLite writes them one after another)."""
        async with self.transaction():
            conn = self._conn_var.get()
            insert = ("INSERT INTO reports (case_id, reporter_tag, reporter, text, source, created_at, reported_message, "
                      "locale) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id")
            if report.reporter is None:
                report.id = await conn.fetchval(insert, *self._report_values(report))
                return report
            key, value = await self._rate_next(report.reporter.key, report.created_at)
            report.id = await conn.fetchval(
                "WITH mark AS (INSERT INTO kv (key, value) VALUES ($9, $10) ON CONFLICT (key) DO UPDATE SET "
                "value = excluded.value) " + insert, *self._report_values(report), key, value)
            await self._rate_sweep(report.created_at)
        return report

    # ---------------------------------------------------------------- the audit chain, linked at commit
    async def append_audit(self, entry: AuditEntry) -> AuditEntry:
        """Kept with the transaction and linked when it commits (`seq` and `hash` are set then)."""
        async with self.transaction():
            self._audit_var.get().append(entry)
        return entry

    async def _write_audit(self, conn, entries: list[AuditEntry]) -> None:
        """Link and write `entries` at the head of the chain. The lock is held until this transaction ends."""
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_AUDIT)
        row = await conn.fetchrow("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        seq, prev = (row[0], row[1]) if row else (0, "")
        for e in entries:
            seq += 1
            e.seq, e.prev_hash = seq, prev
            e.hash = prev = self.audit_chain.link(prev, e)
        await conn.execute(
            "INSERT INTO audit (seq, at, actor, action, community, case_id, detail, prev_hash, hash) "
            "SELECT * FROM unnest($1::bigint[], $2::float8[], $3::text[], $4::text[], $5::text[], $6::bigint[], "
            "$7::text[], $8::text[], $9::text[])",
            [e.seq for e in entries], [e.at for e in entries], [e.actor for e in entries],
            [e.action for e in entries], [e.community for e in entries], [e.case_id for e in entries],
            [self._enc(_j(e.detail)) for e in entries], [e.prev_hash for e in entries],
            [e.hash for e in entries])
        entries.clear()

    async def _flush_audit(self) -> None:
        """Before reading the log inside a transaction: write this transaction's entries first."""
        entries = self._audit_var.get()
        conn = self._conn_var.get()
        if entries and conn is not None:
            await self._write_audit(conn, entries)
