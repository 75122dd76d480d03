"""A group's writes held in memory until it commits, and the one statement that writes them (PostgreSQL).

Each transaction block of a group (one report) keeps its rows in a `Part`: new cases with their accused,
reports, evidence, rate marks, intakes, outbox actions and audit entries. Nothing goes to the
server while the group runs; at commit every part's rows are written with ONE statement (a data-modifying
CTE per table, each an `INSERT ... SELECT FROM unnest(...)` of arrays), so a group of fifty reports costs
the same round trips as one. Ids come from the tables' own sequences, taken in blocks (`IdPool`), so rows
can point at each other before they are written. Within a statement the foreign keys are checked at its
end, so a report may name a case inserted by the same statement.

Keys written twice in one group (a member's rate marks, their intake) keep their last value only: one
statement may not update one row twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..domain import AuditEntry
from .sqlite_common import _j, merge_parts

_NOW = "extract(epoch from clock_timestamp())::float8"

# column, array type: the order of the rows kept in a Part
CASE_COLUMNS = (("id", "bigint"), ("community", "text"), ("network", "text"), ("number", "int"),
                ("category", "text"), ("urgency", "text"), ("status", "text"), ("created_at", "float8"),
                ("updated_at", "float8"), ("reporter", "text"), ("accused", "text"), ("assignee", "text"),
                ("close_reason", "text"), ("answers", "text"), ("flags", "text"), ("hidden_from", "text"),
                ("locale", "text"), ("alias", "text"))
ACCUSED_COLUMNS = (("case_id", "bigint"), ("network", "text"), ("user_key", "text"))
REPORT_COLUMNS = (("id", "bigint"), ("case_id", "bigint"), ("reporter_tag", "text"), ("reporter", "text"),
                  ("text", "text"), ("source", "text"), ("created_at", "float8"), ("reported_message", "text"),
                  ("locale", "text"))
KV_COLUMNS = (("key", "text"), ("value", "text"))
INTAKE_COLUMNS = (("platform", "text"), ("user_id", "text"), ("case_id", "bigint"), ("asked", "text"),
                  ("current", "text"), ("locale", "text"), ("updated_at", "float8"))
OUTBOX_COLUMNS = (("id", "bigint"), ("action", "text"), ("case_id", "bigint"))
EVIDENCE_COLUMNS = (("id", "bigint"), ("case_id", "bigint"), ("ref", "text"), ("author", "text"), ("text", "text"),
                    ("message_created_at", "float8"), ("captured_at", "float8"), ("captured_by", "text"),
                    ("attachments", "text"), ("note", "text"))
AUDIT_COLUMNS = (("seq", "bigint"), ("at", "float8"), ("actor", "text"), ("action", "text"), ("community", "text"),
                 ("case_id", "bigint"), ("detail", "text"), ("prev_hash", "text"), ("hash", "text"))


@dataclass(eq=False)
class Part:
    """The writes of one transaction block of a group, and its future: it resolves once they are committed."""

    future: asyncio.Future
    cases: dict = field(default_factory=dict)  # id -> row (CASE_COLUMNS order): cases new in this group
    accused: dict = field(default_factory=dict)  # case id -> [(case_id, network, user_key)]
    reports: list = field(default_factory=list)
    evidence: list = field(default_factory=list)
    kv: dict = field(default_factory=dict)  # key -> value
    intakes: dict = field(default_factory=dict)  # (platform, user tag) -> row (INTAKE_COLUMNS order)
    outbox: list = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    direct: bool = False  # this block ran statements of its own on the server (after a savepoint)
    saved: tuple = ()  # (locks held, audit head) when its savepoint was set

    def has_rows(self) -> bool:
        return bool(self.cases or self.reports or self.evidence or self.kv or self.intakes or self.outbox)

    def clear_rows(self) -> None:
        """Its rows are on the server now (the audit entries are written separately)."""
        self.cases, self.accused, self.reports, self.evidence = {}, {}, [], []
        self.kv, self.intakes, self.outbox = {}, {}, []


def merged(parts: list[Part]) -> Part:
    """All parts' rows as one part, later values of one key winning."""
    return merge_parts(Part(future=None), parts, ("cases", "accused", "kv", "intakes"),  # type: ignore[arg-type]
                       ("reports", "evidence", "outbox", "audit"))


def _unnest(columns, rows, args: list) -> str:
    """`unnest($n::type[], ...)` over the rows' columns, appending the arrays to args."""
    parts = []
    for i, (_name, kind) in enumerate(columns):
        args.append([r[i] for r in rows])
        parts.append(f"${len(args)}::{kind}[]")
    return f"unnest({', '.join(parts)})"


def _names(columns) -> str:
    return ", ".join(f'"{name}"' if name in ("current",) else name for name, _ in columns)


def flush_statement(part: Part, entries: list[AuditEntry], encode_detail, owner: str, lease_seconds: float, *,
                    alone: bool = False) -> tuple[str, list]:
    """One statement writing the part's rows and the (already linked) audit entries; (sql, args).

    `alone`: the part is written on its own, after earlier parts that may have written the same new case
    (a later report changed it): its cases then replace theirs, accused included."""
    args: list = []
    ctes = []
    if part.cases:
        ctes.append(f"INSERT INTO cases ({_names(CASE_COLUMNS)}) SELECT * FROM "
                    f"{_unnest(CASE_COLUMNS, list(part.cases.values()), args)}"
                    + (" ON CONFLICT (id) DO UPDATE SET " + ", ".join(
                        f"{name} = excluded.{name}" for name, _ in CASE_COLUMNS[1:]) if alone else ""))
    if alone and part.accused:
        args.append(list(part.accused))
        ctes.append(f"DELETE FROM case_accused WHERE case_id = ANY(${len(args)}::bigint[])")
    accused = [row for rows in part.accused.values() for row in rows]
    if accused:
        ctes.append(f"INSERT INTO case_accused ({_names(ACCUSED_COLUMNS)}) SELECT * FROM "
                    f"{_unnest(ACCUSED_COLUMNS, accused, args)}")
    if part.reports:
        ctes.append(f"INSERT INTO reports ({_names(REPORT_COLUMNS)}) SELECT * FROM "
                    f"{_unnest(REPORT_COLUMNS, part.reports, args)}")
    if part.evidence:
        ctes.append(f"INSERT INTO evidence ({_names(EVIDENCE_COLUMNS)}) SELECT * FROM "
                    f"{_unnest(EVIDENCE_COLUMNS, part.evidence, args)}")
    if part.kv:
        ctes.append(f"INSERT INTO kv (key, value) SELECT * FROM {_unnest(KV_COLUMNS, list(part.kv.items()), args)} "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
    if part.intakes:
        ctes.append(f"INSERT INTO intakes ({_names(INTAKE_COLUMNS)}) SELECT * FROM "
                    f"{_unnest(INTAKE_COLUMNS, list(part.intakes.values()), args)} "
                    "ON CONFLICT (platform, user_id) DO UPDATE SET case_id = excluded.case_id, asked = excluded.asked, "
                    '"current" = excluded."current", locale = excluded.locale, updated_at = excluded.updated_at')
    if part.outbox:
        rows = _unnest(OUTBOX_COLUMNS, part.outbox, args)
        args += [owner, float(lease_seconds)]
        ctes.append(f"INSERT INTO outbox (id, action, case_id, lease_owner, lease_until) SELECT o, a, c, "
                    f"${len(args) - 1}, {_NOW} + ${len(args)} FROM {rows} AS t(o, a, c)")
    if entries:
        rows = [(e.seq, e.at, e.actor, e.action, e.community, e.case_id, encode_detail(_j(e.detail)), e.prev_hash,
                 e.hash) for e in entries]
        ctes.append(f"INSERT INTO audit ({_names(AUDIT_COLUMNS)}) SELECT * FROM {_unnest(AUDIT_COLUMNS, rows, args)}")
    if not ctes:
        return "", []
    if len(ctes) == 1:
        return ctes[0], args
    return "WITH " + ", ".join(f"w{i} AS ({sql})" for i, sql in enumerate(ctes)) + " SELECT 1", args


class IdPool:
    """Ids for new rows, taken from the tables' sequences in blocks (one round trip for all tables). A
    sequence hands out each value once, committed or not, so two processes never take the same id; ids
    a process took and did not use are skipped (as PostgreSQL's own sequence cache does)."""

    TABLES = ("cases", "reports", "outbox", "evidence")
    BLOCK = 64

    def __init__(self) -> None:
        self.free: dict[str, list[int]] = {t: [] for t in self.TABLES}

    async def take(self, conn, table: str, count: int = 1) -> list[int]:
        free = self.free[table]
        if len(free) < count:  # one round trip tops up every table that runs low
            want = {t: (max(self.BLOCK, count) if t == table else max(0, self.BLOCK // 2 - len(self.free[t])))
                    for t in self.TABLES}
            row = await conn.fetchrow("SELECT " + ", ".join(
                f"(SELECT array_agg(nextval(pg_get_serial_sequence('{t}', 'id'))) FROM generate_series(1, ${i + 1}))"
                for i, t in enumerate(self.TABLES)), *want.values())
            for t, ids in zip(self.TABLES, row):
                self.free[t] += sorted(ids or [])
            free = self.free[table]
        taken, self.free[table] = free[:count], free[count:]
        return taken
