"""The shared store for several processes: PostgreSQL through asyncpg.

It keeps the SQLite store's queries and row mapping (they are written in the SQL both databases speak)
and replaces what differs: connections (a pool; each transaction has its own connection), placeholders
(`?` becomes `$1`), ids (`RETURNING id`), the schema (`pg_migrations.py`), errors, and the places where
several processes meet: the audit chain is serialised with a transaction-scoped advisory lock and case
numbers come from a counter row per community, so two processes never fork the chain or hand out one case
number twice.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import itertools
import logging
import os
import re
import socket
import uuid
from contextlib import asynccontextmanager

import asyncpg

from ..audit_chain import AuditChain, AuditKeys
from ..crypto import Cipher, parse_key, parse_key_text
from .base import StoreError, StoreUnavailable
from .pg_buffered import PgBuffered
from .pg_commit import PgCommitting
from .pg_group import LOCK_AUDIT, PgGroupCommit, learn_array_types  # noqa: F401 (LOCK_AUDIT re-exported)
from .pg_open import LOCK_MIGRATE, PgOpening  # noqa: F401 (LOCK_MIGRATE re-exported)
from .pg_reads import PgReads
from .pg_shared import _NOW, BANK_CHANNEL, LOCK_LEADER, PgShared  # noqa: F401 (re-exported)
from .sqlite import SqliteStore

log = logging.getLogger(__name__)

# Advisory lock keys (one 64-bit namespace per database; the values are arbitrary but fixed): LOCK_MIGRATE
# (pg_open.py), LOCK_AUDIT (pg_group.py), LOCK_LEADER (pg_shared.py). Case numbers use a counter row
# (pg_group.py), not a lock.

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


class PostgresStore(PgBuffered, PgGroupCommit, PgCommitting, PgReads, PgShared, PgOpening, SqliteStore):
    # Group commit and the audit chain linked at commit time: pg_group.py, pg_commit.py, pg_batch.py,
    # pg_buffered.py; one-trip reads: pg_reads.py; leases, the leader and bank notifications: pg_shared.py;
    # migrations and key checks: pg_open.py.
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
                                             reset=_keep, init=learn_array_types)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncio.TimeoutError) as exc:
            raise StoreUnavailable(f"the database {_redacted(dsn)} cannot be reached: {exc}") from exc
        store = cls(pool, Cipher(raw_key), hashlib.sha256(b"reporter-tag" + raw_key).digest(), dsn, lease_seconds)
        store._synchronous_commit = settings["synchronous_commit"]
        # Every process links the audit chain with the same key: storage.audit_key, or a random one kept in
        # the database encrypted with the data key (so not kept apart from it: set storage.audit_key).
        # No head file: the processes share no folder.
        configured = parse_key_text(audit_key, "storage.audit_key") if audit_key else None
        try:
            await store._migrate()
            await store._check_key()
            store.audit_chain = AuditChain(AuditKeys(configured or await store._shared_audit_seed()))
            await store._open_group_connections()
        except BaseException:
            for conn in store._free:
                conn.terminate()
            await pool.close()
            raise
        return store

    async def close(self) -> None:
        async with self._glock:
            g, self._open = self._open, None
        if g is not None:
            await self._end_group(g, commit=False, error=StoreUnavailable("the store was closed"))
        async with self._commit_lock:  # the groups being committed finish first
            pass
        for conn in (self._leader, self._listener, self._ndb, *self._free):
            if conn is not None and not conn.is_closed():
                await conn.close()
        self._leader = self._listener = self._ndb = None
        self._free = []
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
        if self._open is not None or self._sealed:
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

    # ---------------------------------------------------------------- reading the audit log
    async def audit_entries(self, case_id=None, *, actions: tuple[str, ...] = ()):
        await self._flush_audit()  # this transaction's own entries are in the log it reads
        return await super().audit_entries(case_id, actions=actions)


async def _keep(conn) -> None:
    """Pooled connections keep no session state (advisory locks here are transaction-scoped; LISTEN and the
    leader's lock use their own connections), so they go back to the pool without asyncpg's reset query."""


def _redacted(dsn: str) -> str:
    """The DSN without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", dsn)
