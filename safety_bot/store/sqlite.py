"""The embedded default store: one SQLite file through aiosqlite, WAL mode, foreign keys on.

Writes happen inside `transaction()`; a report is committed (and, with synchronous=FULL, fsynced)
before the member is told it was received. Sensitive text is encrypted with AES-GCM.
"""

from __future__ import annotations

import asyncio
import base64
import os
import hashlib
import hmac
import json
import logging
import sqlite3
import time
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from ..audit_chain import AuditChain, head_file_for, load_or_create_audit_keys, unkeyed_link
from ..crypto import Cipher, WrongKey, load_or_create_key
from ..domain import (AuditEntry, Ban, Case, CaseNote, CloseReason, Evidence, Intake, MessageRef, Report,
                      Status, Strike, Urgency, UserRef)
from .base import BankEntry, StoreError, StoreUnavailable
from .migrations import LATEST, MIGRATIONS

# aiosqlite logs every statement with its parameters at DEBUG; those parameters are case data.
logging.getLogger("aiosqlite").setLevel(logging.WARNING)

_UNAVAILABLE = ("locked", "busy", "readonly", "read-only", "disk is full", "disk i/o", "unable to open")


# Every column that holds encrypted text. `rotate_key` re-encrypts exactly these; add new ones here.
ENCRYPTED_COLUMNS: dict[str, tuple[str, ...]] = {
    "cases": ("reporter", "answers"),
    "reports": ("reporter", "text"),
    "evidence": ("author", "text", "attachments"),
    "notes": ("text",),
    "strikes": ("reason",),
    "outbox": ("action",),
    "bank_entries": ("pdq", "sha256", "md5"),
    "audit": ("detail",),
}
_PK = {"cases": "id", "reports": "id", "evidence": "id", "notes": "id", "strikes": "id", "outbox": "id",
       "bank_entries": "id", "audit": "seq"}
AUDIT_CHAIN_VERSION = "hmac-sha256/1"


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


def _unavailable(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(word in text for word in _UNAVAILABLE)


def _j(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class SqliteStore:
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
        self._group: asyncio.Future | None = None  # the open group transaction, see transaction()
        self._worker_busy = False
        self.commits = 0  # COMMITs (fsyncs) so far; the intake benchmark prints reports per fsync
        self._audit_head: tuple[int, str] | None = None  # cached chain head; dropped on rollback
        self._tx_dirty_audit = False

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

    async def _check_key(self) -> None:
        """A known value encrypted with the key: a wrong key is a clear error before anything changes."""
        async with self.db.execute("SELECT value FROM kv WHERE key='key_check'") as cur:
            row = await cur.fetchone()
        if row is None:
            await self.db.execute("INSERT INTO kv VALUES ('key_check', ?)", (self.cipher.encrypt("safety-bot"),))
            return
        try:
            ok = self.cipher.decrypt(row[0]) == "safety-bot"
        except WrongKey:
            ok = False
        if not ok:
            raise WrongKey(
                f"the database {self.path} was encrypted with a different key; check storage.key "
                "(or the .key file beside the database). Nothing was changed."
            )

    async def _check_audit_key(self) -> None:
        """A keyed check value: a wrong audit key is refused before anything is written."""
        check = self.audit_chain.keys.check_value()
        async with self.db.execute("SELECT value FROM kv WHERE key='audit_key_check'") as cur:
            row = await cur.fetchone()
        if row is None:
            await self.db.execute("INSERT INTO kv VALUES ('audit_key_check', ?)", (check,))
        elif not hmac.compare_digest(row[0], check):
            raise WrongKey(f"the audit key is not the one {self.path}'s audit log was written with; check "
                           "storage.audit_key (or the .audit-key file beside the database). Nothing was changed.")

    async def _load_tag_key(self) -> None:
        """The reporter-tag key lives (encrypted) in the database, so `rotate_key` keeps tags and therefore
        rate limits. Databases from before this keep the key their tags were made with."""
        async with self.db.execute("SELECT value FROM kv WHERE key='tag_key'") as cur:
            row = await cur.fetchone()
        if row is not None:
            self._tag_key = base64.b64decode(self.cipher.decrypt(row[0]))
            return
        await self.db.execute("INSERT INTO kv VALUES ('tag_key', ?)",
                              (self.cipher.encrypt(base64.b64encode(self._tag_key).decode()),))

    async def _upgrade_tags(self) -> None:
        """Once per database: intakes keyed by tag instead of the account, per-case reporter tags."""
        if await self.get_value("reporter_tags") == "per-case/1":
            return
        async with self.transaction():
            for platform, user_id in await self._rows("SELECT platform, user_id FROM intakes WHERE user_id NOT LIKE 't:%'"):
                await self.db.execute("UPDATE intakes SET user_id=? WHERE platform=? AND user_id=?",
                                      (self._intake_tag(platform, user_id), platform, user_id))
            for rid, case_id, reporter in await self._rows("SELECT id, case_id, reporter FROM reports WHERE reporter IS NOT NULL"):
                key = UserRef.from_dict(json.loads(self._dec(reporter))).key
                await self.db.execute("UPDATE reports SET reporter_tag=? WHERE id=?", (self._tag(f"{case_id}:{key}"), rid))
            await self.db.execute("INSERT INTO kv VALUES ('reporter_tags', 'per-case/1') "
                                  "ON CONFLICT (key) DO UPDATE SET value=excluded.value")

    async def _upgrade_audit_chain(self) -> None:
        """Once per database: re-link an older (unkeyed SHA-256) log with the audit key, encrypt its
        details, and sign the head. A break found in the old chain is itself recorded in the log."""
        async with self.db.execute("SELECT value FROM kv WHERE key='audit_chain'") as cur:
            row = await cur.fetchone()
        if row is not None:
            return
        entries = await self.audit_entries()
        broken, prev = None, ""
        for e in entries:
            if broken is None and (e.prev_hash != prev or unkeyed_link(prev, e) != e.hash):
                broken = e.seq
            prev = e.hash
        async with self.transaction():
            prev = ""
            for e in entries:
                e.prev_hash, e.hash = prev, self.audit_chain.link(prev, e)
                prev = e.hash
                await self.db.execute("UPDATE audit SET detail=?, prev_hash=?, hash=? WHERE seq=?",
                                      (self._enc(_j(e.detail)), e.prev_hash, e.hash, e.seq))
            self._audit_head = (entries[-1].seq, prev) if entries else (0, "")
            self._tx_dirty_audit = True
            if broken is not None:
                await self.append_audit(AuditEntry(at=time.time(), actor="bot", action="audit.legacy_chain_broken",
                                                   detail={"first_broken_entry": broken}))
            await self.db.execute("INSERT INTO kv VALUES ('audit_chain', ?)", (AUDIT_CHAIN_VERSION,))

    async def schema_version(self) -> int:
        async with self.db.execute("SELECT MAX(version) FROM schema_version") as cur:
            return (await cur.fetchone())[0]

    async def close(self) -> None:
        async with self._lock:
            await self._end_group(commit=False, error=StoreUnavailable("the store was closed"))
        await self.db.close()

    # ---------------------------------------------------------------- transactions
    # Group commit. Each `transaction()` is a SAVEPOINT inside one open SQLite transaction (the group);
    # a plain `transaction()` commits the group when it ends, so it is durable when the block is left.
    # `transaction(group=True)` leaves the group open and yields a future that resolves when the group
    # is committed (`commit()`), or fails when it is rolled back: a report acknowledged only after that
    # future resolved is never lost, and several reports share one fsync.
    # Statements inside a transaction run on the calling thread (they touch the page cache only and take
    # microseconds); BEGIN (which may wait for another process) and COMMIT (the fsync) run on aiosqlite's
    # worker thread, so the event loop never waits for the disk.
    group_commit = True

    @asynccontextmanager
    async def transaction(self, *, group: bool = False):
        async with self._lock:
            if self._group is None:
                self._worker_busy = True
                try:
                    await self.db.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    raise StoreUnavailable(str(exc)) from exc
                finally:
                    self._worker_busy = False
                self._group = asyncio.get_running_loop().create_future()
            pending = self._group
            self._in_tx = True
            try:
                self._inline("SAVEPOINT tx")
                yield pending if group else None
                self._inline("RELEASE tx")
            except BaseException as exc:
                self._audit_head = None  # re-read after a rollback
                try:
                    self._inline("ROLLBACK TO tx")
                    self._inline("RELEASE tx")
                except sqlite3.Error:
                    await self._end_group(commit=False, error=exc)
                converted = self._converted(exc)
                if converted is exc:
                    raise
                raise converted from exc
            finally:
                self._in_tx = False
            if not group:
                await self._end_group(commit=True)

    async def commit(self) -> None:
        """Commit the open group (one fsync), if any. Raises StoreUnavailable/StoreError when it fails."""
        async with self._lock:
            await self._end_group(commit=True)

    async def _end_group(self, *, commit: bool, error: BaseException | None = None) -> None:
        """With the lock held: COMMIT (or ROLLBACK) the open group and tell everyone waiting on it."""
        pending, self._group = self._group, None
        if pending is None:
            return
        if commit:
            self._worker_busy = True
            try:
                await self.db.execute("COMMIT")
                self.commits += 1
            except BaseException as exc:
                error = exc
            finally:
                self._worker_busy = False
        if error is None:
            if self._tx_dirty_audit and self._audit_head is not None:  # the signed head, after the commit
                self.audit_chain.anchor(*self._audit_head)
            self._tx_dirty_audit = False
            pending.set_result(None)
            return
        self._audit_head = None
        self._tx_dirty_audit = False
        try:
            await self.db.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        failure = self._converted(error)
        pending.set_exception(failure)
        pending.exception()  # retrieved here: nobody may be waiting on it
        if commit:
            raise failure from error

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
        """Run one statement on this thread (aiosqlite's worker is idle: we hold the lock, no COMMIT runs)."""
        cur = self.db._conn.execute(sql, params)
        try:
            return cur.fetchall(), cur.lastrowid
        finally:
            cur.close()

    async def _write(self, sql: str, params=()) -> int:
        """Run a write; outside a transaction it becomes its own small transaction."""
        if self._in_tx:
            return self._inline(sql, params)[1]
        async with self.transaction():
            return self._inline(sql, params)[1]

    async def _rows(self, sql: str, params=()) -> list[sqlite3.Row]:
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

    def _tag(self, user_key: str) -> str:
        return hmac.new(self._tag_key, user_key.encode(), hashlib.sha256).hexdigest()

    # ---------------------------------------------------------------- cases
    _CASE_COLS = ("id, community, network, number, category, urgency, status, created_at, updated_at, reporter, "
                  "accused, assignee, close_reason, answers, flags, hidden_from, locale, alias")

    def _case(self, r) -> Case:
        reporter = self._dec(r[9])
        answers = self._dec(r[13])
        return Case(
            id=r[0], community=r[1], network=r[2], number=r[3], category=r[4], urgency=Urgency(r[5]),
            status=Status(r[6]), created_at=r[7], updated_at=r[8],
            reporter=UserRef.from_dict(json.loads(reporter)) if reporter else None,
            accused=[UserRef(**a) for a in json.loads(r[10])],
            assignee=UserRef.from_dict(json.loads(r[11])) if r[11] else None,
            close_reason=CloseReason(r[12]) if r[12] else None,
            answers=json.loads(answers) if answers else {}, flags=json.loads(r[14]),
            hidden_from=json.loads(r[15]), locale=r[16], alias=r[17],
        )

    def _case_values(self, c: Case) -> tuple:
        return (
            c.category, c.urgency.value, c.status.value, c.created_at, c.updated_at,
            self._enc(_j(c.reporter.to_dict())) if c.reporter else None,
            _j([a.to_dict() for a in c.accused]), _j(c.assignee.to_dict()) if c.assignee else None,
            c.close_reason.value if c.close_reason else None, self._enc(_j(c.answers)), _j(c.flags),
            _j(c.hidden_from), c.locale, c.alias,
        )

    async def create_case(self, case: Case) -> Case:
        async with self._maybe_tx():
            rows = await self._rows(
                "INSERT INTO cases (community, network, number, category, urgency, status, created_at, updated_at, "
                "reporter, accused, assignee, close_reason, answers, flags, hidden_from, locale, alias) "
                "SELECT ?, ?, COALESCE(MAX(number), 0) + 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM cases WHERE community=? "
                "RETURNING id, number",
                (case.community, case.network, *self._case_values(case), case.community),
            )
            case.id, case.number = rows[0][0], rows[0][1]
            await self._sync_accused(case, fresh=True)
        return case

    @asynccontextmanager
    async def _maybe_tx(self):
        if self._in_tx:
            yield
        else:
            async with self.transaction():
                yield

    async def _sync_accused(self, case: Case, fresh: bool = False) -> None:
        if not fresh:
            await self._write("DELETE FROM case_accused WHERE case_id=?", (case.id,))
        if case.accused:
            await self._write("INSERT INTO case_accused VALUES " + ", ".join(["(?, ?, ?)"] * len(case.accused)),
                              tuple(x for a in case.accused for x in (case.id, case.network, a.key)))

    async def save_case(self, case: Case) -> None:
        await self._write(
            "UPDATE cases SET category=?, urgency=?, status=?, created_at=?, updated_at=?, reporter=?, accused=?, "
            "assignee=?, close_reason=?, answers=?, flags=?, hidden_from=?, locale=?, alias=? WHERE id=?",
            (*self._case_values(case), case.id),
        )
        await self._sync_accused(case)

    async def get_case(self, community, number):
        rows = await self._rows(f"SELECT {self._CASE_COLS} FROM cases WHERE community=? AND number=?", (community, number))
        return self._case(rows[0]) if rows else None

    async def get_case_by_id(self, case_id):
        rows = await self._rows(f"SELECT {self._CASE_COLS} FROM cases WHERE id=?", (case_id,))
        return self._case(rows[0]) if rows else None

    async def list_cases(self, community=None, statuses=()):
        sql = f"SELECT {self._CASE_COLS} FROM cases WHERE 1=1"
        params: list = []
        if community is not None:
            sql += " AND community=?"
            params.append(community)
        if statuses:
            sql += f" AND status IN ({','.join('?' * len(statuses))})"
            params.extend(statuses)
        rows = await self._rows(sql + " ORDER BY community, number", params)
        return [self._case(r) for r in rows]

    async def cases_about(self, network, user_key):
        rows = await self._rows(
            f"SELECT {', '.join('c.' + c.strip() for c in self._CASE_COLS.split(','))} FROM cases c "
            "JOIN case_accused a ON a.case_id = c.id WHERE a.network=? AND a.user_key=? ORDER BY c.id",
            (network, user_key),
        )
        return [self._case(r) for r in rows]

    # ---------------------------------------------------------------- reports
    async def add_report(self, report: Report) -> Report:
        async with self._maybe_tx():
            if report.reporter is not None:
                await self._rate_mark(report.reporter.key, report.created_at)
            report.id = await self._write(
                "INSERT INTO reports (case_id, reporter_tag, reporter, text, source, created_at, reported_message, locale) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                self._report_values(report))
        return report

    def _report_values(self, report: Report) -> tuple:
        # The reporter's tag is per case: two cases by one person are not linkable through it at rest.
        return (report.case_id, self._tag(f"{report.case_id}:{report.reporter.key}") if report.reporter else None,
             self._enc(_j(report.reporter.to_dict())) if report.reporter else None, self._enc(report.text),
             report.source, report.created_at,
             _j(report.reported_message.to_dict()) if report.reported_message else None, report.locale)

    async def reports_for(self, case_id):
        rows = await self._rows(
            "SELECT id, case_id, reporter, text, source, created_at, reported_message, locale FROM reports "
            "WHERE case_id=? ORDER BY id", (case_id,))
        out = []
        for r in rows:
            reporter = self._dec(r[2])
            out.append(Report(id=r[0], case_id=r[1], reporter=UserRef.from_dict(json.loads(reporter)) if reporter else None,
                              text=self._dec(r[3]) or "", source=r[4], created_at=r[5],
                              reported_message=MessageRef.from_dict(json.loads(r[6])) if r[6] else None, locale=r[7]))
        return out

    # Rate limiting: recent report times under a keyed tag of the member (kv `rate:<tag>`), kept for one
    # day only and never next to a case. The tag key survives `rotate_key`, so limits do too.
    RATE_KEEP_SECONDS = 86400

    async def _rate_mark(self, reporter_key: str, at: float) -> None:
        key = "rate:" + self._tag("rate:" + reporter_key)
        times = [t for t in await self._rate_times(key) if t >= at - self.RATE_KEEP_SECONDS] + [at]
        await self._write("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                          (key, _j(sorted(times))))
        for stale, value in await self._rows("SELECT key, value FROM kv WHERE key LIKE 'rate:%'"):
            if max(json.loads(value) or [0]) < at - self.RATE_KEEP_SECONDS:
                await self._write("DELETE FROM kv WHERE key=?", (stale,))

    async def _rate_times(self, key: str) -> list[float]:
        rows = await self._rows("SELECT value FROM kv WHERE key=?", (key,))
        return json.loads(rows[0][0]) if rows else []

    async def report_times_since(self, reporter_key, since):
        times = await self._rate_times("rate:" + self._tag("rate:" + reporter_key))
        return [t for t in times if t >= since]

    # ---------------------------------------------------------------- evidence and notes
    async def add_evidence(self, evidence: Evidence) -> Evidence:
        evidence.id = await self._write(
            "INSERT INTO evidence (case_id, ref, author, text, message_created_at, captured_at, captured_by, attachments, note) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (evidence.case_id, _j(evidence.ref.to_dict()) if evidence.ref else None,
             self._enc(_j(evidence.author.to_dict())) if evidence.author else None, self._enc(evidence.text),
             evidence.message_created_at, evidence.captured_at, evidence.captured_by,
             self._enc(_j(evidence.attachments)), evidence.note),
        )
        return evidence

    async def evidence_for(self, case_id):
        rows = await self._rows(
            "SELECT id, case_id, ref, author, text, message_created_at, captured_at, captured_by, attachments, note "
            "FROM evidence WHERE case_id=? ORDER BY id", (case_id,))
        out = []
        for r in rows:
            author = self._dec(r[3])
            out.append(Evidence(id=r[0], case_id=r[1], ref=MessageRef.from_dict(json.loads(r[2])) if r[2] else None,
                                author=UserRef.from_dict(json.loads(author)) if author else None,
                                text=self._dec(r[4]) or "", message_created_at=r[5], captured_at=r[6],
                                captured_by=r[7], attachments=json.loads(self._dec(r[8])), note=r[9]))
        return out

    async def clear_evidence_text(self, case_id):
        await self._write("UPDATE evidence SET text=NULL WHERE case_id=?", (case_id,))

    async def withdraw_reports(self, case_id):
        await self._write("UPDATE reports SET text=NULL WHERE case_id=?", (case_id,))

    async def add_note(self, note: CaseNote) -> CaseNote:
        note.id = await self._write("INSERT INTO notes (case_id, author, kind, text, at) VALUES (?, ?, ?, ?, ?)",
                                    (note.case_id, note.author, note.kind, self._enc(note.text), note.at))
        return note

    async def notes_for(self, case_id):
        rows = await self._rows("SELECT id, case_id, author, kind, text, at FROM notes WHERE case_id=? ORDER BY id", (case_id,))
        return [CaseNote(id=r[0], case_id=r[1], author=r[2], kind=r[3], text=self._dec(r[4]) or "", at=r[5]) for r in rows]

    # ---------------------------------------------------------------- strikes and bans
    async def add_strike(self, strike: Strike) -> Strike:
        strike.id = await self._write(
            "INSERT INTO strikes (network, user_key, reason, at, by, case_id) VALUES (?, ?, ?, ?, ?, ?)",
            (strike.network, strike.user_id, self._enc(strike.reason), strike.at, strike.by, strike.case_id))
        return strike

    async def strikes_for(self, network, user_key):
        rows = await self._rows("SELECT id, network, user_key, reason, at, by, case_id FROM strikes "
                                "WHERE network=? AND user_key=? ORDER BY at", (network, user_key))
        return [Strike(id=r[0], network=r[1], user_id=r[2], reason=self._dec(r[3]), at=r[4], by=r[5], case_id=r[6]) for r in rows]

    async def add_ban(self, ban: Ban) -> Ban:
        ban.id = await self._write(
            "INSERT INTO bans (network, user_key, case_id, at, by, reason, active) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (ban.network, ban.user_id, ban.case_id, ban.at, ban.by, ban.reason, int(ban.active)))
        return ban

    async def active_ban(self, network, user_key):
        rows = await self._rows("SELECT id, network, user_key, case_id, at, by, reason, active FROM bans "
                                "WHERE network=? AND user_key=? AND active=1 ORDER BY id DESC LIMIT 1", (network, user_key))
        if not rows:
            return None
        r = rows[0]
        return Ban(id=r[0], network=r[1], user_id=r[2], case_id=r[3], at=r[4], by=r[5], reason=r[6], active=bool(r[7]))

    async def end_ban(self, ban_id):
        await self._write("UPDATE bans SET active=0 WHERE id=?", (ban_id,))

    # ---------------------------------------------------------------- audit
    async def append_audit(self, entry: AuditEntry) -> AuditEntry:
        async with self._maybe_tx():  # the signed head is written when this transaction commits
            if self._audit_head is None:
                rows = await self._rows("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
                self._audit_head = (rows[0][0], rows[0][1]) if rows else (0, "")
            entry.seq = self._audit_head[0] + 1
            entry.prev_hash = self._audit_head[1]
            entry.hash = self.audit_chain.link(entry.prev_hash, entry)
            self._audit_head = (entry.seq, entry.hash)
            self._tx_dirty_audit = True
            await self._write(
                "INSERT INTO audit (seq, at, actor, action, community, case_id, detail, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (entry.seq, entry.at, entry.actor, entry.action, entry.community, entry.case_id,
                 self._enc(_j(entry.detail)), entry.prev_hash, entry.hash))
        return entry

    async def audit_entries(self, case_id=None):
        sql = "SELECT seq, at, actor, action, community, case_id, detail, prev_hash, hash FROM audit"
        params: tuple = ()
        if case_id is not None:
            sql += " WHERE case_id=?"
            params = (case_id,)
        rows = await self._rows(sql + " ORDER BY seq", params)
        return [AuditEntry(seq=r[0], at=r[1], actor=r[2], action=r[3], community=r[4], case_id=r[5],
                           detail=json.loads(self._dec(r[6])), prev_hash=r[7], hash=r[8]) for r in rows]

    # ---------------------------------------------------------------- intake
    # The member's account is not stored next to the case here: `user_id` holds a keyed tag; the account
    # itself comes back from the case's (encrypted) reporter.
    def _intake_tag(self, platform: str, user_id: str) -> str:
        return "t:" + self._tag(f"intake:{platform}:{user_id}")

    async def get_intake(self, platform, user_id):
        rows = await self._rows("SELECT platform, case_id, asked, current, locale, updated_at FROM intakes "
                                "WHERE platform=? AND user_id=?", (platform, self._intake_tag(platform, user_id)))
        if not rows:
            return None
        r = rows[0]
        return Intake(platform=r[0], user_id=user_id, case_id=r[1], asked=json.loads(r[2]), current=r[3], locale=r[4],
                      updated_at=r[5])

    async def put_intake(self, intake: Intake) -> None:
        await self._write(
            "INSERT INTO intakes (platform, user_id, case_id, asked, current, locale, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (platform, user_id) DO UPDATE SET case_id=excluded.case_id, asked=excluded.asked, "
            "current=excluded.current, locale=excluded.locale, updated_at=excluded.updated_at",
            (intake.platform, self._intake_tag(intake.platform, intake.user_id), intake.case_id, _j(intake.asked),
             intake.current, intake.locale, intake.updated_at))

    async def delete_intake(self, platform, user_id):
        await self._write("DELETE FROM intakes WHERE platform=? AND user_id=?",
                          (platform, self._intake_tag(platform, user_id)))

    async def list_intakes(self):
        rows = await self._rows("SELECT i.platform, i.case_id, i.asked, i.current, i.locale, i.updated_at, c.reporter "
                                "FROM intakes i JOIN cases c ON c.id = i.case_id")
        out = []
        for r in rows:
            reporter = self._dec(r[6])
            if not reporter:
                continue
            out.append(Intake(platform=r[0], user_id=UserRef.from_dict(json.loads(reporter)).id, case_id=r[1],
                              asked=json.loads(r[2]), current=r[3], locale=r[4], updated_at=r[5]))
        return out

    # ---------------------------------------------------------------- outbox and kv
    async def outbox_add(self, action: dict, case_id) -> int:
        return await self._write("INSERT INTO outbox (action, case_id) VALUES (?, ?)", (self._enc(_j(action)), case_id))

    async def outbox_add_many(self, items: list[tuple[dict, int | None]]) -> list[int]:
        if not items:
            return []
        async with self._maybe_tx():
            rows = await self._rows("INSERT INTO outbox (action, case_id) VALUES " + ", ".join(["(?, ?)"] * len(items))
                                    + " RETURNING id", tuple(x for a, c in items for x in (self._enc(_j(a)), c)))
        return sorted(r[0] for r in rows)

    async def outbox_done(self, outbox_id, status, detail=""):
        await self._write("UPDATE outbox SET status=?, detail=? WHERE id=?", (status, detail, outbox_id))

    async def outbox_pending(self):
        rows = await self._rows("SELECT id, action FROM outbox WHERE status='pending' ORDER BY id")
        return [(r[0], json.loads(self._dec(r[1]))) for r in rows]

    # One process owns an SQLite file: it holds every lease, always leads and needs no change notices.
    shared = False

    async def outbox_claim(self, limit: int | None = None):
        pending = await self.outbox_pending()
        return pending if limit is None else pending[:limit]

    async def outbox_renew(self, ids) -> None:
        return None

    async def try_lead(self) -> bool:
        return True

    async def on_bank_change(self, callback) -> None:
        return None

    async def outbox_sending(self):
        rows = await self._rows("SELECT id, action FROM outbox WHERE status='sending' ORDER BY id")
        return [(r[0], json.loads(self._dec(r[1]))) for r in rows]

    async def get_value(self, key):
        rows = await self._rows("SELECT value FROM kv WHERE key=?", (key,))
        return rows[0][0] if rows else None

    async def set_value(self, key, value):
        await self._write("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                          (key, value))

    # ---------------------------------------------------------------- exposed-media hash bank
    _BANK_META = ("id, network, category, status, quality, case_id, case_number, community, added_by, added_at, "
                  "updated_at")

    def _bank(self, r, hashes=None) -> BankEntry:
        entry = BankEntry(id=r[0], network=r[1], category=r[2], status=r[3], quality=r[4], case_id=r[5],
                          case_number=r[6], community=r[7], added_by=r[8], added_at=r[9], updated_at=r[10])
        if hashes is not None:
            pdq = self._dec(hashes[0])
            entry.pdq = json.loads(pdq) if pdq else []
            entry.sha256, entry.md5 = self._dec(hashes[1]), self._dec(hashes[2])
        return entry

    async def add_bank_entry(self, entry: BankEntry) -> BankEntry:
        entry.updated_at = entry.updated_at or entry.added_at
        entry.id = await self._write(
            "INSERT INTO bank_entries (network, category, status, quality, pdq, sha256, md5, case_id, case_number, "
            "community, added_by, added_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entry.network, entry.category, entry.status, entry.quality, self._enc(_j(list(entry.pdq))),
             self._enc(entry.sha256), self._enc(entry.md5), entry.case_id, entry.case_number, entry.community,
             entry.added_by, entry.added_at, entry.updated_at))
        return entry

    async def get_bank_entry(self, entry_id, *, with_hashes=True):
        found = await self.bank_entries(ids=[entry_id], with_hashes=with_hashes)
        return found[0] if found else None

    async def bank_entries(self, network=None, statuses=(), *, with_hashes=False, ids=None):
        cols = self._BANK_META + (", pdq, sha256, md5" if with_hashes else "")
        sql, params = f"SELECT {cols} FROM bank_entries WHERE 1=1", []
        if network is not None:
            sql += " AND network=?"
            params.append(network)
        if statuses:
            sql += f" AND status IN ({','.join('?' * len(statuses))})"
            params.extend(statuses)
        if ids is not None:
            if not ids:
                return []
            sql += f" AND id IN ({','.join('?' * len(ids))})"
            params.extend(int(i) for i in ids)
        rows = await self._rows(sql + " ORDER BY id", params)
        return [self._bank(r, r[11:14] if with_hashes else None) for r in rows]

    async def set_bank_status(self, entry_id, status, at):
        await self._write("UPDATE bank_entries SET status=?, updated_at=? WHERE id=?", (status, at, entry_id))

    async def withdraw_bank_entry(self, entry_id, at):
        """The victim's choice: the hashes are deleted; the row stays as an audited record without them."""
        await self._write("UPDATE bank_entries SET status='withdrawn', pdq=NULL, sha256=NULL, md5=NULL, quality=0, "
                          "updated_at=? WHERE id=?", (at, entry_id))

    # ---------------------------------------------------------------- key rotation and retention
    async def rotate_key(self, new_key: bytes) -> int:
        """Re-encrypt every encrypted column with `new_key` in one transaction. Returns values rewritten."""
        new = Cipher(new_key)
        count = 0
        async with self.transaction():
            for table, columns in ENCRYPTED_COLUMNS.items():
                pk = _PK.get(table, "rowid")
                rows = await self._rows(f"SELECT {pk}, {', '.join(columns)} FROM {table}")
                for row in rows:
                    values = [new.encrypt(self.cipher.decrypt(v)) if v is not None else None for v in row[1:]]
                    await self.db.execute(f"UPDATE {table} SET {', '.join(c + '=?' for c in columns)} WHERE {pk}=?",
                                          (*values, row[0]))
                    count += sum(v is not None for v in values)
            await self.db.execute("UPDATE kv SET value=? WHERE key='key_check'", (new.encrypt("safety-bot"),))
            for (seed,) in await self._rows("SELECT value FROM kv WHERE key='audit_seed'"):  # PostgreSQL's audit key
                await self.db.execute("UPDATE kv SET value=? WHERE key='audit_seed'", (new.encrypt(self.cipher.decrypt(seed)),))
            # the reporter-tag key is carried over (re-encrypted), so rate limits survive a rotation
            await self.db.execute("UPDATE kv SET value=? WHERE key='tag_key'",
                                  (new.encrypt(base64.b64encode(self._tag_key).decode()),))
        self.cipher = new
        return count

    async def purge_case(self, case_id: int) -> dict[str, int]:
        """Delete a case and the personal data stored with it, everywhere: reports (with their tags),
        evidence, notes, intakes, finished outbox entries, and the details of its audit entries (emptied so
        that their links still verify). Hash-bank entries are unlinked from the case, not deleted: they keep
        blocking re-uploads of the person's images. Returns what was removed, by kind."""
        removed: dict[str, int] = {}
        async with self._maybe_tx():
            async def delete(kind: str, where: str) -> None:  # counted first: works the same on PostgreSQL
                removed[kind] = (await self._rows(f"SELECT COUNT(*) FROM {where}", (case_id,)))[0][0]
                await self._write(f"DELETE FROM {where}", (case_id,))

            for kind, table in (("reports", "reports"), ("evidence items", "evidence"), ("notes", "notes"),
                                ("intake conversations", "intakes")):
                await delete(kind, f"{table} WHERE case_id=?")
            await delete("sent messages and actions", "outbox WHERE case_id=? AND status!='pending'")
            emptied = 0
            for e in await self.audit_entries(case_id):
                if set(e.detail) == {"purged_detail_mac"}:
                    continue
                await self._write("UPDATE audit SET detail=? WHERE seq=?",
                                  (_j(self.audit_chain.keys.purged_detail(e)), e.seq))
                emptied += 1
            removed["audit details"] = emptied
            removed["hash-bank entries unlinked"] = (
                await self._rows("SELECT COUNT(*) FROM bank_entries WHERE case_id=?", (case_id,)))[0][0]
            await self._write("UPDATE bank_entries SET case_id=NULL, case_number=NULL WHERE case_id=?", (case_id,))
            await delete("cases", "cases WHERE id=?")
        return removed
