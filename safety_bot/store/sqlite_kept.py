"""The rows a SQLite group keeps in memory until it is written, and the function that writes them (see
sqlite_group.py for the store side).

Each group block (one report) keeps its writes in a `Part`: new cases with their accused, reports, evidence,
rate marks, intakes, outbox actions and audit entries (already linked). Nothing runs on the connection
while the block runs; `write_parts` writes every part's rows with one statement per table (several rows each). It is plain
sqlite3 and runs on aiosqlite's worker thread with the COMMIT (sqlite3 releases the GIL while SQLite works,
so the event loop prepares the next reports meanwhile), or inline when another statement needs them first.

If SQLite refuses a row (a constraint, a trigger), the rows are written again part by part, each in its
own savepoint: the parts that fail are refused, the others are written, and their audit entries are
linked again from the chain's head so that the chain skips the refused ones.
"""

from __future__ import annotations

import asyncio
import sqlite3

from .sqlite_common import _j, merge_parts

_CASE_NAMES = ("id", "community", "network", "number", "category", "urgency", "status", "created_at", "updated_at",
               "reporter", "accused", "assignee", "close_reason", "answers", "flags", "hidden_from", "locale", "alias")
# (INSERT ... head, columns, tail): written with several rows a statement (see _many)
CASES = (f"INSERT INTO cases ({', '.join(_CASE_NAMES)})", len(_CASE_NAMES),
         " ON CONFLICT (id) DO UPDATE SET " + ", ".join(f"{n}=excluded.{n}" for n in _CASE_NAMES[1:]))
ACCUSED = ("INSERT INTO case_accused (case_id, network, user_key)", 3, "")
ACCUSED_CLEAR = "DELETE FROM case_accused WHERE case_id=?"
REPORTS = ("INSERT INTO reports (id, case_id, reporter_tag, reporter, text, source, created_at, reported_message, "
           "locale)", 9, "")
EVIDENCE = ("INSERT INTO evidence (id, case_id, ref, author, text, message_created_at, captured_at, captured_by, "
            "attachments, note)", 10, "")
KV = ("INSERT INTO kv (key, value)", 2, " ON CONFLICT (key) DO UPDATE SET value=excluded.value")
INTAKES = ("INSERT INTO intakes (platform, user_id, case_id, asked, current, locale, updated_at)", 7,
           " ON CONFLICT (platform, user_id) DO UPDATE SET case_id=excluded.case_id, asked=excluded.asked, "
           "current=excluded.current, locale=excluded.locale, updated_at=excluded.updated_at")
OUTBOX = ("INSERT INTO outbox (id, action, case_id)", 3, "")
AUDIT = ("INSERT INTO audit (seq, at, actor, action, community, case_id, detail, prev_hash, hash)", 9, "")

_ROWS_A_STATEMENT = 64  # SQLite's limit is 32766 parameters; the cases' 18 columns x 64 rows stay well below
_SQL: dict = {}


def _many(conn: sqlite3.Connection, statement: tuple, rows) -> None:
    """INSERT the rows with as few statements as it takes (several rows each: one step, one release of the
    GIL, rather than one per row as executemany does; the event loop's thread holds the GIL meanwhile)."""
    head, width, tail = statement
    rows = list(rows)
    for start in range(0, len(rows), _ROWS_A_STATEMENT):
        chunk = rows[start:start + _ROWS_A_STATEMENT]
        key = (head, len(chunk))
        sql = _SQL.get(key)
        if sql is None:
            one = "(" + ", ".join("?" * width) + ")"
            sql = _SQL[key] = f"{head} VALUES {', '.join([one] * len(chunk))}{tail}"
        conn.execute(sql, [x for row in chunk for x in row])


class Part:
    """The writes of one group block, and its future: it resolves once they are committed."""

    __slots__ = ("future", "cases", "accused", "reports", "evidence", "kv", "intakes", "outbox", "audit", "details",
                 "direct", "saved")

    def __init__(self, future: asyncio.Future | None):
        self.future = future
        self.cases: dict = {}  # id -> row (in the order of CasesMixin._CASE_COLS): cases new in this group
        self.accused: dict = {}  # case id -> [(case_id, network, user_key)]
        self.reports: list = []
        self.evidence: list = []
        self.kv: dict = {}  # key -> value
        self.intakes: dict = {}  # (platform, user tag) -> row
        self.outbox: list = []
        self.audit: list = []  # AuditEntry, linked when appended (linked again if an earlier part is refused)
        self.details: list = []  # their details as stored (encrypted when appended, on the event loop's thread)
        self.direct = False  # the block ran statements of its own (inside its savepoint)
        self.saved: tuple = ()  # the store's counters when the block began (restored if it is rolled back)

    def has_rows(self) -> bool:
        return bool(self.cases or self.reports or self.evidence or self.kv or self.intakes or self.outbox
                    or self.audit)

    def clear(self) -> None:
        """Its rows are written now."""
        self.cases, self.accused, self.reports, self.evidence = {}, {}, [], []
        self.kv, self.intakes, self.outbox, self.audit, self.details = {}, {}, [], [], []


def merged(parts: list[Part]) -> Part:
    """Every part's rows as one part, a later value of one key winning."""
    if len(parts) == 1:
        return parts[0]
    return merge_parts(Part(None), parts, ("cases", "accused", "kv", "intakes"),
                       ("reports", "evidence", "outbox", "audit", "details"))


def _write(conn: sqlite3.Connection, p: Part, *, alone: bool) -> None:
    """One part's rows (or several merged). `alone`: it may change a case an earlier part wrote, accused
    included."""
    if p.cases:
        _many(conn, CASES, p.cases.values())
    if p.accused:
        if alone:
            conn.executemany(ACCUSED_CLEAR, [(i,) for i in p.accused])
        accused = [row for rows in p.accused.values() for row in rows]
        if accused:
            _many(conn, ACCUSED, accused)
    if p.reports:
        _many(conn, REPORTS, p.reports)
    if p.evidence:
        _many(conn, EVIDENCE, p.evidence)
    if p.kv:
        _many(conn, KV, p.kv.items())
    if p.intakes:
        _many(conn, INTAKES, p.intakes.values())
    if p.outbox:
        _many(conn, OUTBOX, p.outbox)
    if p.audit:
        _many(conn, AUDIT, [(e.seq, e.at, e.actor, e.action, e.community, e.case_id, detail, e.prev_hash, e.hash)
                            for e, detail in zip(p.audit, p.details)])


def _linked(p: Part, head: tuple[int, str], chain) -> tuple[int, str]:
    """Link the part's audit entries at `head` (again, when an earlier part was refused); the new head."""
    seq, prev = head
    if p.audit and (p.audit[0].seq != seq + 1 or p.audit[0].prev_hash != prev):
        for e in p.audit:
            seq += 1
            e.seq, e.prev_hash = seq, prev
            e.hash = prev = chain.link(prev, e)
    elif p.audit:
        seq, prev = p.audit[-1].seq, p.audit[-1].hash
    return seq, prev


def write_parts(conn: sqlite3.Connection, parts: list[Part], chain, unavailable, *,
                alone: bool = False) -> tuple[dict, tuple[int, str] | None]:
    """Write the parts' rows inside the open transaction (plain sqlite3: any thread). Returns the refused
    parts (part -> error) and the audit chain's head after them (None when they have no entries). Their
    entries are linked again where they do not follow the head the database has (an earlier part was
    refused, or another connection wrote). An error `unavailable(exc)` says is the database's, not a
    row's, is raised: the caller rolls the group back. `alone`: cases they change may have been written
    already (by an earlier write of kept rows)."""
    parts = [p for p in parts if p.has_rows()]
    if not parts:
        return {}, None
    head = None
    if any(p.audit for p in parts):
        row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        head = (row[0], row[1]) if row else (0, "")
    start = head
    if head is not None:
        for p in parts:
            head = _linked(p, head, chain)
    conn.execute("SAVEPOINT f")
    try:
        _write(conn, merged(parts), alone=alone)
        conn.execute("RELEASE f")
        return {}, head
    except sqlite3.Error as exc:
        conn.execute("ROLLBACK TO f")
        if unavailable(exc):
            conn.execute("RELEASE f")
            raise
    # a row was refused: part by part, each in its own savepoint, so only the parts that fail are refused
    refused: dict = {}
    head = start
    try:
        for p in parts:
            before = head
            if head is not None:
                head = _linked(p, head, chain)
            conn.execute("SAVEPOINT b")
            try:
                _write(conn, p, alone=True)
                conn.execute("RELEASE b")
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK TO b")
                conn.execute("RELEASE b")
                if unavailable(exc):
                    raise
                refused[p] = exc
                head = before
    finally:
        conn.execute("RELEASE f")
    return refused, head
