"""PostgreSQL's group commit: several reports, one transaction, their rows written with one statement and
one COMMIT. A mixin of PostgresStore (see postgres.py), which provides the pool, the per-task connection
(`_conn_var`) and errors; the rows a group keeps until its commit are in pg_batch.py, the store methods
that keep them in pg_buffered.py, the commit in pg_commit.py.

`transaction(group=True)` runs its block (one report) inside this process's open group and yields a future
that resolves once the block's writes are committed (`commit()`), or fails when they are not: nobody may be
told "received" before it resolved. The block's writes are kept in memory (a `Part`); the block's reads go
to the server and see the group's earlier writes through the store's overlay (pg_reads.py). So a report
costs one round trip to read what it needs and one for a new case's number, and a group four at commit:
BEGIN with the audit lock and a savepoint, the chain's head, one statement writing every table, COMMIT.

The group has a connection of its own, kept open. Until the commit it runs no transaction: its reads and
the case-number counter (a row in `kv` per community, taken like a sequence: a number is never given out
twice, and a report that fails leaves a gap) commit at once and hold no lock, so two processes' groups do
not wait on each other. A report's read takes the next number of the community of the last new case with
it (`_number_wanted`), so a new case costs no round trip of its own. Its session has synchronous_commit off for those; the group's own transaction sets
it on (SET LOCAL), and its COMMIT flushes the WAL up to itself, so every counter its cases use is durable
with them.

A statement the overlay does not cover (any other store method inside a block) first opens the
transaction, writes the group's earlier blocks, sets a savepoint, writes this block's rows, then runs: it
sees everything, and a failing block is rolled back alone, as before. A plain `transaction()` commits this
process's open group first, so the group's locks never wait on it.

If the one statement fails on a row (a constraint, a trigger), the group's blocks are written again one by
one, each in its own savepoint: the ones that fail are refused (their futures fail), the others commit.

The audit chain: entries are linked when they are written, not when they are appended, under the audit
advisory lock taken then and held to the commit (a few milliseconds), so processes never fork the chain
and do not queue behind each other's whole groups.
"""

from __future__ import annotations

import asyncio
import contextvars
from contextlib import asynccontextmanager

import asyncpg

from ..domain import AuditEntry
from .pg_batch import IdPool, Part, flush_statement, merged
from .sqlite_common import _j

LOCK_AUDIT = 0x5AFE_0002  # advisory lock key of the audit chain (postgres.py lists the others)

# The next case number of a community ($2) under kv key $1: one more than the counter or than the highest
# number in the table, whichever is higher (a database migrated from SQLite starts from its cases).
NEXT_NUMBER = ("INSERT INTO kv (key, value) SELECT $1, (COALESCE(MAX(number), 0) + 1)::text FROM cases "
               "WHERE community = $2 ON CONFLICT (key) DO UPDATE SET "
               "value = (GREATEST(kv.value::bigint, excluded.value::bigint - 1) + 1)::text RETURNING value::bigint")


async def learn_array_types(conn) -> None:
    """asyncpg looks up an array type's codec in the server's catalog the first time a connection uses it
    (about 7 ms); the group's statements pass arrays, so a new connection learns them before its first
    report rather than during it."""
    await conn.prepare("SELECT $1::bigint[], $2::text[], $3::float8[], $4::int[]")


class _GroupConn:
    """A group's connection as the shared queries see it: before each statement of their own, the
    group's kept rows go to the server and the block gets a savepoint (see `_go_direct`)."""

    def __init__(self, store, raw):
        self.store, self.raw = store, raw

    async def execute(self, sql, *args):
        await self.store._go_direct()
        return await self.raw.execute(sql, *args)

    async def fetch(self, sql, *args):
        await self.store._go_direct()
        return await self.raw.fetch(sql, *args)

    async def fetchval(self, sql, *args):
        await self.store._go_direct()
        return await self.raw.fetchval(sql, *args)

    async def fetchrow(self, sql, *args):
        await self.store._go_direct()
        return await self.raw.fetchrow(sql, *args)


class _Group:
    """One group: its connection, its finished blocks, its transaction's state."""

    def __init__(self, store, conn):
        self.conn = conn
        self.proxy = _GroupConn(store, conn)
        self.parts: list[Part] = []  # finished blocks, their futures not resolved yet
        self.begun = False  # its transaction has begun
        self.savepoint = False  # a released-or-not savepoint "g" is open on its connection
        self.broken = False  # a statement failed outside a savepoint: the group can only roll back
        self.direct = False  # a block ran statements of its own: some of its rows are on the server, uncommitted
        self.locks: set = set()  # advisory locks it holds (taken once per group)
        self.audit_head: tuple | None = None  # (seq, hash) at the chain's head while it holds the audit lock
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()  # committed or rolled back

    def begin_sql(self, synchronous_commit: str) -> str:
        """What starts its transaction, once ("" when it has begun): durable commits inside it."""
        if self.begun:
            return ""
        self.begun = True
        return f"BEGIN; SET LOCAL synchronous_commit TO {synchronous_commit}; "


class PgGroupCommit:
    group_commit = True

    def _init_group(self) -> None:
        self._glock = asyncio.Lock()  # one block at a time runs in the open group (and sealing waits for it)
        self._commit_lock = asyncio.Lock()  # one group commits at a time, in the order they were sealed
        self._open: _Group | None = None  # the group blocks join
        self._sealed: list[_Group] = []  # groups being committed (or waiting to), oldest first
        self._free: list = []  # group connections not in use (kept open)
        self._ids = IdPool()
        self._synchronous_commit = "on"  # of the group's transaction ("off" with storage synchronous: normal)
        self._spares: dict[str, int] = {}  # community -> a case number taken early, not used yet
        self._last_community: str | None = None  # of the last case a group created
        self._ndb = None  # the connection that takes case numbers while a group's transaction is open
        self._numbers_lock = asyncio.Lock()
        self._audit_var: contextvars.ContextVar = contextvars.ContextVar(f"pg-audit-{id(self)}", default=None)
        self._block_var: contextvars.ContextVar = contextvars.ContextVar(f"pg-block-{id(self)}", default=None)
        self.commits = 0

    @property
    def _group_conn(self):  # the open group's connection, or None (postgres.py asks whether a group is open)
        return self._open.conn if self._open is not None else None

    # ---------------------------------------------------------------- the group
    @asynccontextmanager
    async def _group_block(self):
        async with self._glock:
            if self._open is None:
                self._open = _Group(self, await self._group_connection())
            g = self._open
            part = Part(future=asyncio.get_running_loop().create_future())
            token, audit_token = self._conn_var.set(g.proxy), self._audit_var.set(part.audit)
            block_token = self._block_var.set(part)
            try:
                yield part.future
            except BaseException as exc:
                if g.broken:
                    self._open = None
                    await self._end_group(g, commit=False, error=exc)
                elif part.direct:  # its savepoint undoes its statements, and the locks and entries since
                    g.locks, g.audit_head = part.saved
                    try:
                        await g.conn.execute("ROLLBACK TO SAVEPOINT g; RELEASE SAVEPOINT g")
                        g.savepoint = False
                    except BaseException:
                        self._open = None
                        await self._end_group(g, commit=False, error=exc)
                failure = self._as_store_error(exc)
                part.future.set_exception(failure)
                part.future.exception()  # retrieved here: the block's caller gets the exception itself
                if failure is exc:
                    raise
                raise failure from exc
            finally:
                self._conn_var.reset(token)
                self._audit_var.reset(audit_token)
                self._block_var.reset(block_token)
            g.parts.append(part)

    async def _group_connection(self):
        while self._free:
            conn = self._free.pop()
            if not conn.is_closed():
                return conn
        try:
            conn = await asyncpg.connect(self.dsn, server_settings={
                "synchronous_commit": "off", "application_name": "safety-bot group"})
            await learn_array_types(conn)
            return conn
        except BaseException as exc:
            raise self._as_store_error(exc) from exc

    async def _open_group_connections(self) -> None:
        """At open: the two connections groups take turns on (one fills while the other commits)."""
        for _ in range(2 - len(self._free)):
            self._free.append(await self._group_connection())

    def _tx_token(self) -> object | None:
        """The transaction block this task is in, or None (see SqliteStore._tx_token)."""
        return self._block_var.get()

    def _part(self) -> Part | None:
        """The group block this task is in (its writes are kept until the commit), or None."""
        part = self._block_var.get()
        if part.__class__ is Part and self._open is not None and self._conn_var.get() is self._open.proxy:
            return part
        return None

    def _pending_parts(self, part: Part) -> list[Part]:
        """Every block whose rows are not on the server yet, oldest first: those of the groups being
        committed, the open group's, this one. Take the list before a read whose answer it is laid over: a
        group whose commit ends meanwhile leaves this list, and the read may have missed its rows."""
        return [*(p for g in self._sealed for p in g.parts), *self._open.parts, part]

    async def _raw(self, method: str, *args):
        """A statement of the open group's own (a read, a number, ids) on its connection, no savepoint.
        A group being committed whose blocks ran statements of their own has rows no other connection
        sees and no overlay holds: it finishes first."""
        g = self._open
        try:
            while any(s.direct for s in self._sealed):
                await asyncio.shield(next(s for s in self._sealed if s.direct).done)
            return await getattr(g.conn, method)(*args)
        except BaseException:
            g.broken = True
            raise

    async def _go_direct(self) -> None:
        """Before a block runs a statement of its own: the groups being committed finish first (their rows
        are then on the server); the earlier blocks' rows to the server (outside this block's savepoint, so a
        failure of this block keeps them), a savepoint, this block's rows so far."""
        part = self._block_var.get()
        if part.__class__ is not Part:
            return
        g = self._open
        if not part.direct:
            try:
                while self._sealed:
                    await asyncio.shield(self._sealed[-1].done)
                begin = g.begin_sql(self._synchronous_commit)
                if begin:
                    await g.conn.execute(begin.rstrip("; "))
                earlier = [p for p in g.parts if p.has_rows() or p.audit]
                if earlier:
                    await self._flush(g, earlier)
                await g.conn.execute("RELEASE SAVEPOINT g; SAVEPOINT g" if g.savepoint else "SAVEPOINT g")
            except BaseException:
                g.broken = True
                raise
            g.savepoint = g.direct = part.direct = True
            part.saved = (set(g.locks), g.audit_head)  # what a rollback to the savepoint restores
        if part.has_rows():  # a case it changed may be one the earlier blocks just wrote: replaced, not added
            await self._flush(g, [part], audit=False, alone=True)

    async def _flush(self, g: _Group, parts: list[Part], *, audit: bool = True, alone: bool = False) -> None:
        """Write the parts' rows (and their audit entries, linked now) with one statement."""
        one = parts[0] if len(parts) == 1 else merged(parts)
        entries = one.audit if audit else []
        if entries:
            await self._link(g, entries)
        sql, args = flush_statement(one, entries, self._enc, self.owner, self.lease_seconds, alone=alone)
        if sql:
            await g.conn.execute(sql, *args)
        for p in parts:
            p.clear_rows()
            if audit:
                p.audit.clear()

    async def _link(self, g: _Group, entries: list[AuditEntry], *, savepoint: str = "") -> None:
        """Link entries at the chain's head; the first time in a group, take the audit lock and read the head
        (with `savepoint`: set it in the same round trip, after the lock)."""
        if g.audit_head is None:
            await g.conn.execute(g.begin_sql(self._synchronous_commit) + f"SELECT pg_advisory_xact_lock({LOCK_AUDIT})"
                                 + (f"; SAVEPOINT {savepoint}" if savepoint else ""))
            row = await g.conn.fetchrow("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
            g.audit_head = (row[0], row[1]) if row else (0, "")
        elif savepoint:
            await g.conn.execute(g.begin_sql(self._synchronous_commit) + f"SAVEPOINT {savepoint}")
        seq, prev = g.audit_head
        for e in entries:
            seq += 1
            e.seq, e.prev_hash = seq, prev
            e.hash = prev = self.audit_chain.link(prev, e)
        g.audit_head = (seq, prev)

    async def _group_number(self, community: str) -> int:
        """The next case number of a community, taken at once (outside the group's transaction): the one
        the report's read took already (pg_reads.py), or one taken now."""
        self._last_community = community
        spare = self._spares.pop(community, None)
        if spare is not None:
            return spare
        if not self._open.begun:
            return await self._raw("fetchval", NEXT_NUMBER, "case_number:" + community, community)
        return await self._number_now(community)

    def _number_wanted(self) -> str | None:
        """The community whose next number a report's read should take with it (a number taken early and
        not used waits for that community's next case; one left when the process stops is a gap)."""
        wanted = self._last_community
        return wanted if wanted is not None and not self._open.begun and wanted not in self._spares else None

    async def _number_now(self, community: str) -> int:
        """A case number in a statement of its own on a connection of its own: its counter row is locked
        for that statement only, never while a transaction waits for something else."""
        async with self._numbers_lock:
            try:
                if self._ndb is None or self._ndb.is_closed():
                    self._ndb = await asyncpg.connect(self.dsn, server_settings={
                        "synchronous_commit": "off", "application_name": "safety-bot numbers"})
                return await self._ndb.fetchval(NEXT_NUMBER, "case_number:" + community, community)
            except BaseException as exc:
                failure = self._as_store_error(exc)
                if failure is exc:
                    raise
                raise failure from exc

    # ---------------------------------------------------------------- the audit chain, linked when written
    async def append_audit(self, entry: AuditEntry) -> AuditEntry:
        """Kept with the transaction and linked when it is written (`seq` and `hash` are set then)."""
        async with self.transaction():
            self._audit_var.get().append(entry)
        return entry

    async def _write_audit(self, conn, entries: list[AuditEntry]) -> None:
        """A plain transaction's entries, at the head of the chain. The lock is held until it ends."""
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
        part = self._part()
        if part is not None:
            await self._go_direct()
            if part.audit:
                await self._flush(self._open, [part])
            return
        entries = self._audit_var.get()
        conn = self._conn_var.get()
        if entries and conn is not None:
            await self._write_audit(conn, entries)
