"""The embedded default store: one SQLite file through aiosqlite, WAL mode, foreign keys on.

Writes happen inside `transaction()`; a report is committed (and, with synchronous=FULL, fsynced)
before the member is told it was received. Sensitive text is encrypted with AES-GCM.
"""

from __future__ import annotations

import asyncio
import os
import hashlib
import hmac
import logging
import sqlite3
import time
from pathlib import Path

import aiosqlite

from ..audit_chain import AuditChain, head_file_for, load_or_create_audit_keys
from ..crypto import Cipher, load_or_create_key
from .base import StoreError, StoreUnavailable
from .migrations import LATEST, MIGRATIONS
from .sqlite_audit import ENCRYPTED_COLUMNS, _PK, AuditMixin  # noqa: F401 (re-exported)
from .sqlite_bank import BankMixin
from .sqlite_lists import ListsMixin
from .sqlite_cases import CasesMixin
from .sqlite_common import _j, _unavailable  # noqa: F401 (postgres.py imports _j from here)
from .sqlite_group import KeptMixin
from .sqlite_commit import GroupCommitMixin
from .sqlite_open import AUDIT_CHAIN_VERSION, OpeningMixin  # noqa: F401 (re-exported)
from .sqlite_outbox import OutboxMixin
from .sqlite_tx import Transaction

# aiosqlite logs every statement with its parameters at DEBUG; those parameters are case data.
logging.getLogger("aiosqlite").setLevel(logging.WARNING)


def _private_folder(folder: Path) -> None:
    """The data folder: created 0700. An existing one that others can enter is left as it is, with a warning."""
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
    elif folder.stat().st_mode & 0o077:
        logging.getLogger(__name__).warning(
            "the data folder %s can be entered by other users; make it private: chmod 700 %s", folder, folder)


def _private_files(db: Path) -> None:
    """The database and its WAL and SHM files: 0600 (SQLite gives WAL/SHM the database file's mode)."""
    if not db.exists():
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT, 0o600))
    for f in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        if f.exists() and f.stat().st_mode & 0o077:
            os.chmod(f, 0o600)


class _AlreadyInTransaction:
    async def __aenter__(self):
        return None

    async def __aexit__(self, *exc):
        return False


_IN_TX = _AlreadyInTransaction()


class SqliteStore(OpeningMixin, GroupCommitMixin, KeptMixin, CasesMixin, OutboxMixin, BankMixin, ListsMixin, AuditMixin):
    # The store's data, by responsibility, is in the mixins: sqlite_cases.py, sqlite_outbox.py,
    # sqlite_bank.py and sqlite_audit.py. Here: opening, migrations, transactions, encryption.
    def __init__(self, db: aiosqlite.Connection, cipher: Cipher, tag_key: bytes, path: str,
                 audit_chain: AuditChain | None = None):
        self.db = db
        self.cipher = cipher
        self._tag_key = tag_key
        self.path = path
        self.audit_chain = audit_chain or AuditChain(load_or_create_audit_keys(Path(":memory:"), None,
                                                                               existing_data=False))
        self._lock = asyncio.Lock()
        self._in_tx = False
        self._init_groups()  # the open group transaction and those being committed (sqlite_commit.py)
        self._worker_busy = False
        self.commits = 0  # COMMITs (fsyncs) so far; the intake benchmark prints reports per fsync
        self._audit_head: tuple[int, str] | None = None  # cached chain head; dropped on rollback
        self._tx_dirty_audit = False
        self._head_checked = False  # whether we looked for other writers since BEGIN (see _others_wrote)
        self._rate_cache: dict[str, tuple[list[float], str]] = {}  # see CasesMixin._rate_cache_on
        self._no_cases_about: set[tuple[str, str]] = set()  # see CasesMixin.cases_about
        self._init_kept()  # a group's rows kept until its commit (sqlite_group.py)

    # ---------------------------------------------------------------- opening and migrations
    @classmethod
    async def open(cls, path: str | Path, *, synchronous: str = "full", key: str | None = None,
                   busy_timeout_ms: int = 2000, audit_key: str | None = None) -> "SqliteStore":
        path_s = str(path)
        if path_s != ":memory:":
            _private_folder(Path(path_s).parent)
        raw_key = load_or_create_key(Path(path_s), key)
        if path_s != ":memory:":
            _private_files(Path(path_s))
        db = await aiosqlite.connect(path_s, isolation_level=None, check_same_thread=False)  # see _inline
        try:
            await db.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            if path_s != ":memory:":
                await db.execute("PRAGMA journal_mode=WAL")
            await db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            await db.execute("PRAGMA foreign_keys=ON")
            # Savepoint journals (one per report in a group) in memory: spilled to a temporary file they cost
            # a write() per page touched. They only serve rolling a report back; durability is the WAL's.
            await db.execute("PRAGMA temp_store=MEMORY")
            store = cls(db, Cipher(raw_key), hashlib.sha256(b"reporter-tag" + raw_key).digest(), path_s)
            await store._migrate()
            await store._check_key()
            async with db.execute("SELECT value FROM kv WHERE key='audit_chain'") as cur:
                keyed_log = await cur.fetchone() is not None
            store.audit_chain = AuditChain(
                load_or_create_audit_keys(Path(path_s), audit_key, existing_data=keyed_log),
                None if path_s == ":memory:" else head_file_for(Path(path_s)))
            await store._check_audit_key()
            await store._load_tag_key()
            await store._upgrade_audit_chain()
            await store._upgrade_tags()
            if path_s != ":memory:":  # reads of a group that fills while the one before it commits
                store._reader = sqlite3.connect(path_s, isolation_level=None, check_same_thread=False)
                store._reader.execute("PRAGMA query_only=1")
                store._reader.execute("PRAGMA busy_timeout=200")  # WAL readers wait only in rare recoveries
        except BaseException:
            await db.close()
            raise
        return store

    async def _migrate(self) -> None:
        db = self.db
        await db.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at REAL NOT NULL)"
        )
        async with db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version") as cur:
            current = (await cur.fetchone())[0]
        if current > LATEST:
            raise StoreError(
                f"the database {self.path} has schema version {current}, newer than this safety-bot "
                f"understands ({LATEST}); upgrade safety-bot instead of downgrading the data"
            )
        for version, description, sql in MIGRATIONS:
            if version <= current:
                continue
            await db.execute("BEGIN IMMEDIATE")
            try:
                for statement in [s for s in sql.split(";") if s.strip()]:
                    await db.execute(statement)
                await db.execute("INSERT INTO schema_version VALUES (?, ?, ?)", (version, description, time.time()))
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise

    async def schema_version(self) -> int:
        async with self.db.execute("SELECT MAX(version) FROM schema_version") as cur:
            return (await cur.fetchone())[0]

    async def close(self) -> None:
        while self._sealed:
            await asyncio.shield(self._sealed[-1].done)
        async with self._lock:
            await self._end_group(commit=False, error=StoreUnavailable("the store was closed"))
        # From here on no statement runs on this thread: aiosqlite closes the connection on its worker thread,
        # and a statement run here meanwhile (a handler still answering an event) could crash the process.
        self._closing = True
        await self.db.close()
        if self._reader is not None:
            self._reader.close()
        await asyncio.get_running_loop().run_in_executor(None, self.audit_chain.flush)

    # ---------------------------------------------------------------- transactions
    # Group commit. A plain `transaction()` is a SAVEPOINT inside the open SQLite transaction (the group)
    # and commits the group when it ends, so it is durable when the block is left.
    # `transaction(group=True)` (one report) keeps its writes in memory (sqlite_group.py) and yields a
    # future of its own that resolves when the group holding them is committed (`commit()`, or
    # `seal_group()`: sqlite_commit.py), or fails when they are not: a report acknowledged only after that
    # future resolved is never lost, and several reports share one fsync.
    # Statements inside a transaction run on the calling thread (they touch the page cache only and take
    # microseconds); BEGIN (which may wait for another process) and the commit (the kept rows, COMMIT and
    # its fsync) run on aiosqlite's worker thread, so the event loop never waits for the disk.
    group_commit = True

    def transaction(self, *, group: bool = False) -> Transaction:
        """`async with store.transaction(group=...) as pending:` (see sqlite_tx.py)."""
        return Transaction(self, group)

    _tx_block: object | None = None  # identifies the running transaction block (see _tx_token)

    def _tx_token(self) -> object | None:
        """The transaction block running now, or None: what a value read in this block may be reused in."""
        return self._tx_block if self._in_tx else None

    def _forget(self) -> None:
        """Drop what is cached from the database (the audit head, rate marks): it is read again when needed."""
        self._audit_head = None
        self._rate_cache.clear()
        self._no_cases_about.clear()
        self._next.clear()  # ids and case numbers
        self._drop_cached_rows()

    def _others_wrote(self) -> None:
        """Once per BEGIN (from then on we hold the write lock, nobody else can write): when another connection
        (the command line) committed since our last look, forget what we cached. SQLite's data_version tells,
        without reading a table; this connection's own commits do not change it."""
        if self._head_checked:
            return
        self._head_checked = True
        version = self._raw_rows("PRAGMA data_version")[0][0]
        if version != self._seen_version:
            self._seen_version = version
            self._forget()

    _seen_version: int | None = None
    _closing = False  # set by close(): statements on this thread would race the worker closing the connection

    @staticmethod
    def _converted(exc: BaseException) -> BaseException:
        if isinstance(exc, StoreError):
            return exc
        if isinstance(exc, sqlite3.OperationalError) and _unavailable(exc):
            return StoreUnavailable(str(exc))
        if isinstance(exc, sqlite3.DatabaseError):
            return StoreError(str(exc))
        return exc

    def _inline(self, sql: str, params=()) -> tuple[list, int | None]:
        """Run one statement on this thread (aiosqlite's worker is idle: we hold the lock, no COMMIT runs).
        Rows a group keeps are written first; ids and case numbers are read again after it."""
        if self._closing:
            raise StoreUnavailable("the store was closed")
        if self._kept:
            self._write_kept()
        if self._next:
            self._next.clear()
        self._drop_cached_rows()
        cur = self.db._conn.execute(sql, params)
        try:
            return cur.fetchall(), cur.lastrowid
        finally:
            cur.close()

    async def _write(self, sql: str, params=()) -> int:
        """Run a write; outside a transaction it becomes its own small transaction."""
        if self._in_tx:
            if self._sealed or self._lazy():
                await self._ensure_begun()
            return self._inline(sql, params)[1]
        async with self.transaction():
            return self._inline(sql, params)[1]

    def _maybe_tx(self):
        """`async with`: inside a transaction nothing more (no generator-based context manager on the
        report path), else a transaction of its own."""
        return _IN_TX if self._in_tx else self.transaction()

    async def _rows(self, sql: str, params=()) -> list[sqlite3.Row]:
        if self._closing:
            raise StoreUnavailable("the store was closed")
        if self._sealed or self._lazy():
            await self._ensure_begun()
        try:
            if self._in_tx or not self._worker_busy:
                return self._inline(sql, params)[0]
            return list(await self.db.execute_fetchall(sql, params))
        except sqlite3.OperationalError as exc:
            if _unavailable(exc):
                raise StoreUnavailable(str(exc)) from exc
            raise

    def _enc(self, text):
        return self.cipher.encrypt(text)

    def _dec(self, text):
        return self.cipher.decrypt(text)

    _tags: dict | None = None  # (tag key, text) -> tag: a report computes the same few tags several times

    def _tag(self, user_key: str) -> str:
        tags = self._tags
        if tags is None or len(tags) > 4096:
            tags = self._tags = {}
        key = (self._tag_key, user_key)
        tag = tags.get(key)
        if tag is None:
            tag = tags[key] = hmac.digest(self._tag_key, user_key.encode(), "sha256").hex()
        return tag

    def keyed_tag(self, purpose: str, text: str) -> str:
        """A tag for counting people without storing who they are (e.g. uploaders of a banked picture): keyed
        with the database's tag key, so it cannot be matched to an account without that key."""
        return hmac.new(self._tag_key, purpose.encode() + b"\x00" + text.encode(), hashlib.sha256).hexdigest()
