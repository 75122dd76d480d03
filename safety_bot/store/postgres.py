"""The shared store for several processes: PostgreSQL through asyncpg.

It keeps the SQLite store's queries and row mapping (they are written in the SQL both databases speak)
and replaces what differs: connections (a pool; each transaction has its own connection), placeholders
(`?` becomes `$1`), ids (`RETURNING id`), the schema (`pg_migrations.py`), errors, and the places where
several processes meet: the audit chain and case numbers are serialised with transaction-scoped advisory
locks, so two processes never fork the chain or hand out one case number twice.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import functools
import hashlib
import itertools
import json
import logging
import os
import re
import socket
import time
import uuid
from contextlib import asynccontextmanager

import asyncpg

from ..audit_chain import AuditChain, AuditKeys
from ..crypto import Cipher, WrongKey, parse_key, parse_key_text
from ..domain import Case
from .base import StoreError, StoreUnavailable
from .pg_group import LOCK_AUDIT, PgGroupCommit  # noqa: F401 (LOCK_AUDIT re-exported)
from .pg_migrations import PG_LATEST, PG_MIGRATIONS
from .pg_reads import PgReads
from .sqlite import SqliteStore, _j

log = logging.getLogger(__name__)

# Advisory lock keys (one 64-bit namespace per database; the values are arbitrary but fixed).
LOCK_MIGRATE = 0x5AFE_0001
LOCK_CASE_NUMBER = 0x5AFE_0003  # with 0: one lock for every community (a group holds it until it commits;
# one lock, so two processes' groups never wait on each other's in a cycle)
LOCK_LEADER = 0x5AFE_0004  # held by the process that runs timers and the retention purge
BANK_CHANNEL = "safety_bot_bank"  # NOTIFY channel: a hash-bank entry changed
_NOW = "extract(epoch from clock_timestamp())::float8"  # the database's clock: the same for every process

_ID_TABLES = {"cases", "reports", "evidence", "notes", "strikes", "bans", "outbox", "bank_entries", "shared_lists"}
_INSERT = re.compile(r"\s*INSERT INTO (\w+)")
# SQLSTATE classes that mean "not now" rather than "wrong": connection (08), resources (53),
# operator intervention (57), transaction rollback (40), read-only transaction, lock not available.
_UNAVAILABLE_STATES = ("08", "53", "57", "40", "25006", "55P03")


@functools.lru_cache(maxsize=1024)
def pg_sql(sql: str) -> str:
    """The PostgreSQL spelling of one of the store's SQLite statements."""
    if sql.lstrip().upper().startswith("BEGIN"):
        return "BEGIN"
    numbers = itertools.count(1)
    sql = re.sub(r"\?", lambda _m: f"${next(numbers)}", sql)
    return re.sub(r'(?<!")\bby\b(?!")', '"by"', sql)  # a reserved word in PostgreSQL (a column here)


def _mapped(exc: BaseException) -> StoreError | None:
    if isinstance(exc, StoreError):
        return None
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", "") or ""
        if state.startswith(_UNAVAILABLE_STATES):
            return StoreUnavailable(str(exc))
        return StoreError(str(exc))
    if isinstance(exc, (OSError, asyncpg.InterfaceError, asyncio.TimeoutError)):
        return StoreUnavailable(f"the database cannot be reached: {exc}")
    return None


class _PgConnection:
    """The part of aiosqlite's connection the shared queries use, over the pool or this task's transaction."""

    def __init__(self, store: "PostgresStore"):
        self.store = store

    async def execute(self, sql: str, params=()) -> None:
        conn = self.store._conn_var.get()
        if conn is not None:
            await conn.execute(pg_sql(sql), *params)
        else:
            await self.store.pool.execute(pg_sql(sql), *params)

    async def execute_fetchall(self, sql: str, params=()):
        conn = self.store._conn_var.get()
        if conn is not None:
            return await conn.fetch(pg_sql(sql), *params)
        return await self.store.pool.fetch(pg_sql(sql), *params)

    async def close(self) -> None:
        await self.store.pool.close()


class PostgresStore(PgGroupCommit, PgReads, SqliteStore):
    # Group commit and the audit chain linked at commit time: pg_group.py; one-trip reads: pg_reads.py.
    shared = True  # several processes may use the same database

    def __init__(self, pool: asyncpg.Pool, cipher: Cipher, tag_key: bytes, dsn: str, lease_seconds: float = 30.0):
        self.pool = pool
        self.lease_seconds = lease_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"  # this process, for leases
        self._leader: asyncpg.Connection | None = None
        self._listener: asyncpg.Connection | None = None
        self._claiming = asyncio.Lock()
        self._conn_var: contextvars.ContextVar = contextvars.ContextVar(f"pg-tx-{id(self)}", default=None)
        super().__init__(_PgConnection(self), cipher, tag_key, _redacted(dsn))
        self.dsn = dsn
        self._init_group()

    # The transaction belongs to the task that opened it (SQLite has one connection; here each has its own).
    @property
    def _in_tx(self) -> bool:
        return self._conn_var.get() is not None

    @_in_tx.setter
    def _in_tx(self, value: bool) -> None:  # SqliteStore.__init__ sets it; the context variable decides
        pass

    # ---------------------------------------------------------------- opening and migrations
    @classmethod
    async def open(cls, dsn: str, *, key: str | None, synchronous: str = "full", min_size: int = 1,
                   max_size: int = 5, lease_seconds: float = 30.0, audit_key: str | None = None) -> "PostgresStore":
        if not key:
            raise StoreError("storage.key is required with the postgres backend: every process must use "
                             "the same encryption key (base64 of 32 bytes, from the environment)")
        raw_key = parse_key(key)
        settings = {"synchronous_commit": "off" if synchronous == "normal" else "on",
                    "application_name": "safety-bot"}
        try:
            pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, server_settings=settings,
                                             reset=_keep)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncio.TimeoutError) as exc:
            raise StoreUnavailable(f"the database {_redacted(dsn)} cannot be reached: {exc}") from exc
        store = cls(pool, Cipher(raw_key), hashlib.sha256(b"reporter-tag" + raw_key).digest(), dsn, lease_seconds)
        # Every process links the audit chain with the same key: storage.audit_key, or a random one kept in
        # the database encrypted with the data key (so not kept apart from it: set storage.audit_key).
        # No head file: the processes share no folder.
        configured = parse_key_text(audit_key, "storage.audit_key") if audit_key else None
        try:
            await store._migrate()
            await store._check_key()
            store.audit_chain = AuditChain(AuditKeys(configured or await store._shared_audit_seed()))
        except BaseException:
            await pool.close()
            raise
        return store

    async def _migrate(self) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", LOCK_MIGRATE)  # one process migrates at a time
            try:
                await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                                   "description TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)")
                current = await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")
                if current > PG_LATEST:
                    raise StoreError(
                        f"the database {self.path} has schema version {current}, newer than this safety-bot "
                        f"understands ({PG_LATEST}); upgrade safety-bot instead of downgrading the data")
                for version, description, sql in PG_MIGRATIONS:
                    if version <= current:
                        continue
                    async with conn.transaction():
                        await conn.execute(sql)
                        await conn.execute("INSERT INTO schema_version VALUES ($1, $2, $3)", version, description,
                                           time.time())
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_MIGRATE)

    async def _shared_audit_seed(self) -> bytes:
        await self.pool.execute("INSERT INTO kv VALUES ('audit_seed', $1) ON CONFLICT (key) DO NOTHING",
                                self.cipher.encrypt(base64.b64encode(os.urandom(32)).decode()))
        return base64.b64decode(self.cipher.decrypt(await self.pool.fetchval("SELECT value FROM kv WHERE key='audit_seed'")))

    async def _check_key(self) -> None:
        await self.pool.execute("INSERT INTO kv VALUES ('key_check', $1) ON CONFLICT (key) DO NOTHING",
                                self.cipher.encrypt("safety-bot"))
        value = await self.pool.fetchval("SELECT value FROM kv WHERE key='key_check'")
        try:
            ok = self.cipher.decrypt(value) == "safety-bot"
        except WrongKey:
            ok = False
        if not ok:
            raise WrongKey(f"the database {self.path} was encrypted with a different key; check storage.key. "
                           "Nothing was changed.")

    async def schema_version(self) -> int:
        return await self.pool.fetchval("SELECT MAX(version) FROM schema_version")

    async def close(self) -> None:
        async with self._glock:
            await self._end_group(commit=False, error=StoreUnavailable("the store was closed"))
        for conn in (self._leader, self._listener):
            if conn is not None and not conn.is_closed():
                await conn.close()
        self._leader = self._listener = None
        await self.pool.close()

    # ---------------------------------------------------------------- transactions
    @asynccontextmanager
    async def transaction(self, *, group: bool = False):
        if self._conn_var.get() is not None:  # already inside this task's transaction
            yield None
            return
        if group:  # a savepoint in this process's open group (pg_group.py)
            async with self._group_block() as pending:
                yield pending
            return
        if self._group_conn is not None:
            try:  # the open group first: its locks are never held while this transaction waits for them
                await self.commit()
            except StoreError:
                pass  # the group's reports see the failure on their own futures
        conn = await self._acquire()
        token, audit_token, block_token = self._conn_var.set(conn), self._audit_var.set([]), self._block_var.set(object())
        try:
            tx = conn.transaction()
            await tx.start()
            try:
                yield None
                if self._audit_var.get():  # the chain is linked now, under the audit lock, until the commit
                    await self._write_audit(conn, self._audit_var.get())
            except BaseException:
                try:
                    await tx.rollback()
                except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                    pass
                raise
            await tx.commit()
        except BaseException as exc:
            mapped = _mapped(exc)
            if mapped is not None:
                raise mapped from exc
            raise
        finally:
            self._conn_var.reset(token)
            self._audit_var.reset(audit_token)
            self._block_var.reset(block_token)
            await self.pool.release(conn)

    async def _acquire(self) -> asyncpg.Connection:
        try:
            return await self.pool.acquire()
        except BaseException as exc:
            mapped = _mapped(exc)
            if mapped is not None:
                raise mapped from exc
            raise

    @staticmethod
    def _as_store_error(exc: BaseException) -> BaseException:
        return _mapped(exc) or exc

    async def _write(self, sql: str, params=()) -> int | None:
        sql = pg_sql(sql)
        m = _INSERT.match(sql)
        returning = bool(m and m.group(1) in _ID_TABLES and "RETURNING" not in sql)
        async with self.transaction():
            conn = self._conn_var.get()
            if returning:
                return await conn.fetchval(sql + " RETURNING id", *params)
            await conn.execute(sql, *params)
            return None

    async def _rows(self, sql: str, params=()):
        try:
            return await self.db.execute_fetchall(sql, params)
        except BaseException as exc:
            mapped = _mapped(exc) if self._conn_var.get() is None else None
            if mapped is not None:
                raise mapped from exc
            raise

    # ---------------------------------------------------------------- where processes meet
    async def create_case(self, case: Case) -> Case:
        async with self.transaction():
            await self._group_lock("SELECT pg_advisory_xact_lock($1, 0)", LOCK_CASE_NUMBER)
            return await super().create_case(case)

    async def audit_entries(self, case_id=None):
        await self._flush_audit()  # this transaction's own entries are in the log it reads
        return await super().audit_entries(case_id)


    # ---------------------------------------------------------------- outbox leases
    # An action is leased to the process that wrote it, for `lease_seconds`, renewed while it runs. A process
    # that dies stops renewing; once the lease has expired any process may claim the action (FOR UPDATE SKIP
    # LOCKED: two claimers never get the same row) and finishes it after asking the platform whether it
    # already happened. This process's own pending actions are always its to claim (the runtime skips the
    # ones it is running right now).
    async def outbox_add(self, action: dict, case_id) -> int:
        return (await self.outbox_add_many([(action, case_id)]))[0]

    async def outbox_add_many(self, items):
        if not items:
            return []
        async with self.transaction():
            rows = await self._conn_var.get().fetch(
                f"INSERT INTO outbox (action, case_id, lease_owner, lease_until) SELECT a, c, $3, {_NOW} + $4 "
                "FROM unnest($1::text[], $2::bigint[]) AS t(a, c) RETURNING id",
                [self._enc(_j(a)) for a, _ in items], [c for _, c in items], self.owner, float(self.lease_seconds))
        return sorted(r[0] for r in rows)

    async def outbox_done(self, outbox_id, status, detail=""):
        if status == "sending":  # the idempotency record: the send is this process's, so it keeps the lease
            await self._write("UPDATE outbox SET status=?, detail=? WHERE id=?", (status, detail, outbox_id))
            return
        await self._write("UPDATE outbox SET status=?, detail=?, lease_owner=NULL, lease_until=NULL WHERE id=?",
                          (status, detail, outbox_id))

    async def outbox_sending(self):
        """Sends whose outcome is unknown and that no live process holds (its lease ran out, or it is ours)."""
        rows = await self.pool.fetch(
            f"SELECT id, action FROM outbox WHERE status='sending' AND (lease_until IS NULL OR lease_until < {_NOW} "
            "OR lease_owner = $1) ORDER BY id", self.owner)
        return [(r[0], json.loads(self._dec(r[1]))) for r in rows]

    async def outbox_claim(self, limit: int | None = None):
        async with self._claiming, self.transaction():  # one claim at a time in this process
            rows = await self._conn_var.get().fetch(
                f"UPDATE outbox SET lease_owner=$1, lease_until={_NOW} + $2 WHERE id IN (SELECT id FROM outbox "
                f"WHERE status='pending' AND (lease_until IS NULL OR lease_until < {_NOW} OR lease_owner = $1) "
                "ORDER BY id "
                "LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING id, action",
                self.owner, float(self.lease_seconds), limit or 1000)
        return sorted((r[0], json.loads(self._dec(r[1]))) for r in rows)

    async def outbox_renew(self, ids) -> None:
        if ids:
            await self.pool.execute(f"UPDATE outbox SET lease_until={_NOW} + $1 WHERE id = ANY($2::bigint[]) "
                                    "AND lease_owner=$3 AND status IN ('pending', 'sending')",
                                    float(self.lease_seconds), list(ids), self.owner)

    async def leases_held(self) -> list[tuple[int, str, float]]:
        """(outbox id, owner, seconds left) of every lease on an action not yet done."""
        rows = await self.pool.fetch(f"SELECT id, lease_owner, lease_until - {_NOW} FROM outbox "
                                     "WHERE status IN ('pending', 'sending') AND lease_owner IS NOT NULL ORDER BY id")
        return [(r[0], r[1], r[2]) for r in rows]

    # ---------------------------------------------------------------- the leader
    async def try_lead(self) -> bool:
        """Whether this process leads (runs timers and the purge). The leader holds a session advisory lock
        on its own connection; if the process dies the server drops the connection and the lock with it."""
        if self._leader is not None:
            try:
                await self._leader.fetchval("SELECT 1")
                return True
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                log.warning("lost the leader's database connection; leadership is open again")
                self._leader = None
        try:
            conn = await asyncpg.connect(self.dsn, server_settings={"application_name": "safety-bot leader"})
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, asyncio.TimeoutError):
            return False
        if await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_LEADER):
            self._leader = conn
            log.info("this process now runs the timers and the retention purge")
            return True
        await conn.close()
        return False

    # ---------------------------------------------------------------- hash-bank changes reach every process
    async def on_bank_change(self, callback) -> None:
        """callback() soon after any process commits a change to the hash bank (LISTEN/NOTIFY)."""
        self._listener = await asyncpg.connect(self.dsn, server_settings={"application_name": "safety-bot listener"})
        await self._listener.add_listener(BANK_CHANNEL, lambda *_: callback())

    async def _notify_bank(self, entry_id) -> None:
        async with self.transaction():  # delivered when the change commits, never before
            await self._conn_var.get().execute("SELECT pg_notify($1, $2)", BANK_CHANNEL, str(entry_id))

    async def add_bank_entry(self, entry):
        async with self.transaction():
            entry = await super().add_bank_entry(entry)
            await self._notify_bank(entry.id)
        return entry

    async def set_bank_status(self, entry_id, status, at):
        async with self.transaction():
            await super().set_bank_status(entry_id, status, at)
            await self._notify_bank(entry_id)

    async def withdraw_bank_entry(self, entry_id, at):
        async with self.transaction():
            await super().withdraw_bank_entry(entry_id, at)
            await self._notify_bank(entry_id)


async def _keep(conn) -> None:
    """Pooled connections keep no session state (advisory locks here are transaction-scoped; LISTEN and the
    leader's lock use their own connections), so they go back to the pool without asyncpg's reset query."""


def _redacted(dsn: str) -> str:
    """The DSN without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", dsn)
