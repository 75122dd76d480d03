"""The writes of a report, kept in the group until it commits (PostgreSQL; see pg_group.py, pg_batch.py).
A mixin of PostgresStore. Inside a group block, a new case, a report with its reporter's rate mark, its
evidence, an intake, outbox actions and changes to a case new in this group are kept in the block's
`Part` (ids from the tables' sequences, case numbers from the community's counter) and written at commit
with everything else. Outside a group block (a plain transaction, or none) each goes to the server at once, as before."""

from __future__ import annotations

import json
import logging

import asyncpg

from ..domain import Case, Intake
from .sqlite_common import _j

log = logging.getLogger("safety_bot.store.postgres")


class PgBuffered:
    # ---------------------------------------------------------------- cases
    def _kept_case(self, parts, case_id) -> tuple | None:
        """The row of a case new in a group and not written yet (its latest version), or None. `parts`:
        `_pending_parts` (taken before a read whose answer this is laid over)."""
        return _latest(parts, "cases", case_id)

    async def create_case(self, case: Case) -> Case:
        part = self._part()
        if part is None:
            return await super().create_case(case)
        case.number = await self._group_number(case.community)
        case.id = (await self._ids.take(self._raw_conn(), "cases"))[0]
        part.cases[case.id] = self._case_row(case)
        part.accused[case.id] = [(case.id, case.network, a.key) for a in case.accused]
        return case

    async def save_case(self, case: Case) -> None:
        part = self._part()
        # kept in the open group: the insert carries the change; kept in a group being committed: written
        # after that commit (a statement of its own waits for it)
        if part is None or case.id is None or self._kept_case([*self._open.parts, part], case.id) is None:
            return await super().save_case(case)
        part.cases[case.id] = self._case_row(case)
        part.accused[case.id] = [(case.id, case.network, a.key) for a in case.accused]

    # ---------------------------------------------------------------- reports and their rate marks
    async def add_report(self, report):
        part = self._part()
        if part is None:
            return await self._add_report_now(report)
        report.id = (await self._ids.take(self._raw_conn(), "reports"))[0]
        part.reports.append((report.id, *self._report_values(report)))
        if report.reporter is not None:
            key, value = await self._rate_next(report.reporter.key, report.created_at)
            part.kv[key] = value
            await self._rate_sweep(report.created_at)
        return report

    async def _add_report_now(self, report):
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

    async def _rate_sweep(self, at: float) -> None:
        """Other members' marks older than a day, at most every RATE_SWEEP_SECONDS (see sqlite_cases.py): one
        statement of its own on the pool, not in the group (a mark the group keeps is written after it)."""
        if self._rate_swept_at is not None and abs(at - self._rate_swept_at) < self.RATE_SWEEP_SECONDS:
            return
        try:
            await self.pool.execute("DELETE FROM kv WHERE key LIKE 'rate:%' "
                                    "AND COALESCE((value::jsonb ->> -1)::float8, 0) < $1", at - self.RATE_KEEP_SECONDS)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning("old rate marks were not swept this time (%s); the next report tries again", type(exc).__name__)
            return
        self._rate_swept_at = at

    def _kept_value(self, parts, key: str) -> str | None:
        return _latest(parts, "kv", key)

    async def _rate_times(self, key: str) -> list[float]:
        part = self._part()
        if part is None:
            return await super()._rate_times(key)
        value = self._kept_value(self._pending_parts(part), key)
        if value is None:  # nothing kept under this key: what the server has is current
            value = await self._raw("fetchval", "SELECT value FROM kv WHERE key = $1", key)
        return json.loads(value) if value else []

    # ---------------------------------------------------------------- evidence
    async def add_evidence(self, evidence):
        part = self._part()
        if part is None:
            return await super().add_evidence(evidence)
        evidence.id = (await self._ids.take(self._raw_conn(), "evidence"))[0]
        part.evidence.append((evidence.id, *self._evidence_values(evidence)))
        return evidence

    # ---------------------------------------------------------------- intakes
    def _kept_intake(self, parts, platform: str, tag: str) -> tuple | None:
        return _latest(parts, "intakes", (platform, tag))

    async def put_intake(self, intake: Intake) -> None:
        part = self._part()
        if part is None:
            return await super().put_intake(intake)
        row = self._intake_row(intake)
        part.intakes[row[:2]] = row

    # ---------------------------------------------------------------- outbox
    async def outbox_add_many(self, items):
        part = self._part()
        if part is None or not items:
            return await super().outbox_add_many(items)
        ids = await self._ids.take(self._raw_conn(), "outbox", len(items))
        part.outbox += [(i, self._enc(_j(a)), c) for i, (a, c) in zip(ids, items)]
        return ids

    def _raw_conn(self):
        """The group connection for the id pool; a failure there ends the group (see `_raw`)."""
        return _Raw(self)


class _Raw:
    def __init__(self, store):
        self.store = store

    async def fetchrow(self, sql, *args):
        return await self.store._raw("fetchrow", sql, *args)


def _latest(parts, table: str, key):
    """The newest row (or value) the group's parts still hold in memory for `key` in one table, or None."""
    for p in reversed(parts):
        row = getattr(p, table).get(key)
        if row is not None:
            return row
    return None
