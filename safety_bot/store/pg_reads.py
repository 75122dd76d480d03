"""PostgreSQL reads that SQLite does as several queries, in one round trip (a mixin of PostgresStore).

A report is decided one at a time (the service's lock), so every round trip it waits for is time no other
report can use; on PostgreSQL each is a trip to the server. `report_context` reads what a new report needs
(the reporter's rate marks, their open intake with its case, the cases about them) with one statement.
"""

from __future__ import annotations

import json

from ..domain import Intake

_CASE_COLUMNS = ("id, community, network, number, category, urgency, status, created_at, updated_at, reporter, "
                 "accused, assignee, close_reason, answers, flags, hidden_from, locale, alias")


def _cols(alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in _CASE_COLUMNS.split(","))


_REPORT_CONTEXT = (
    "SELECT (SELECT value FROM kv WHERE key = $1), "
    f"(SELECT json_build_array(i.platform, i.case_id, i.asked, i.current, i.locale, i.updated_at, {_cols('c')}) "
    " FROM intakes i LEFT JOIN cases c ON c.id = i.case_id WHERE i.platform = $2 AND i.user_id = $3), "
    f"(SELECT json_agg(json_build_array({_cols('c')}) ORDER BY c.id) FROM cases c "
    " JOIN case_accused a ON a.case_id = c.id WHERE a.network = $4 AND a.user_key = $5)")


class PgReads:
    async def report_context(self, reporter, network):
        key = "rate:" + self._tag("rate:" + reporter.key)
        async with self.transaction():
            rate, intake_row, about = await self._conn_var.get().fetchrow(
                _REPORT_CONTEXT, key, reporter.platform, self._intake_tag(reporter.platform, reporter.id),
                network, reporter.key)
        times = json.loads(rate) if rate else []
        token = self._tx_token()
        self._rate_memo = (key, times, token) if token is not None else None  # see report_times_since
        intake = case = None
        if intake_row:
            r = json.loads(intake_row)
            intake = Intake(platform=r[0], user_id=reporter.id, case_id=r[1], asked=json.loads(r[2]), current=r[3],
                            locale=r[4], updated_at=float(r[5]))
            case = self._case(r[6:]) if r[6] is not None else None
        return times, intake, case, [self._case(r) for r in json.loads(about or "[]")]
