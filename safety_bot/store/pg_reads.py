"""PostgreSQL reads that SQLite does as several queries, in one round trip (a mixin of PostgresStore).

A report is decided one at a time (the service's lock), so every round trip it waits for is time no other
report can use; on PostgreSQL each is a trip to the server. `report_context` reads what a new report needs
(the reporter's rate marks, their open intake with its case, the cases about them) with one statement.

Inside a group block the group's earlier writes are still in memory (pg_group.py): these reads then ask
the server and lay the kept rows over its answer (a kept row is newer than the server's), so the report
sees every earlier report of its group without writing them first.
"""

from __future__ import annotations

import json

from ..domain import Intake
from .pg_group import NEXT_NUMBER

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
# the same, taking the next case number of community $7 (kv key $6) with it
_REPORT_CONTEXT_NUMBER = ("WITH n AS (" + NEXT_NUMBER.replace("$1", "$6").replace("$2", "$7") + ") "
                          + _REPORT_CONTEXT + ", (SELECT value FROM n)")


class PgReads:
    async def report_context(self, reporter, network):
        key = "rate:" + self._tag("rate:" + reporter.key)
        tag = self._intake_tag(reporter.platform, reporter.id)
        part = self._part()
        args = (key, reporter.platform, tag, network, reporter.key)
        if part is None:
            async with self.transaction():
                rate, intake_row, about = await self._conn_var.get().fetchrow(_REPORT_CONTEXT, *args)
        else:
            parts = self._pending_parts(part)  # before the read (see _pending_parts)
            wanted = self._number_wanted()
            if wanted is None:
                rate, intake_row, about = await self._raw("fetchrow", _REPORT_CONTEXT, *args)
            else:
                rate, intake_row, about, number = await self._raw(
                    "fetchrow", _REPORT_CONTEXT_NUMBER, *args, "case_number:" + wanted, wanted)
                self._spares[wanted] = number
            rate = self._kept_value(parts, key) or rate
        times = json.loads(rate) if rate else []
        token = self._tx_token()
        self._rate_memo = (key, times, token) if token is not None else None  # see report_times_since
        intake = case = None
        if intake_row:
            r = json.loads(intake_row)
            intake = Intake(platform=r[0], user_id=reporter.id, case_id=r[1], asked=json.loads(r[2]), current=r[3],
                            locale=r[4], updated_at=float(r[5]))
            case = self._case(r[6:], lazy=True) if r[6] is not None else None  # decrypted when used
        about = [self._case(r) for r in json.loads(about or "[]")]
        if part is not None:
            kept = self._kept_intake(parts, reporter.platform, tag)
            if kept is not None:
                intake = Intake(platform=kept[0], user_id=reporter.id, case_id=kept[2], asked=json.loads(kept[3]),
                                current=kept[4], locale=kept[5], updated_at=kept[6])
                if case is None or case.id != intake.case_id:
                    case = await self._case_by_id_kept(parts, intake.case_id)
            if case is not None and self._kept_case(parts, case.id) is not None:
                case = self._case(self._kept_case(parts, case.id))
            about = self._about_kept(parts, network, reporter.key, about)
        return times, intake, case, about

    async def cases_about(self, network, user_key):
        part = self._part()
        if part is None:
            return await super().cases_about(network, user_key)
        parts = self._pending_parts(part)  # before the read (see _pending_parts)
        rows = await self._raw("fetch", f"SELECT {self._C_CASE_COLS} FROM cases c JOIN case_accused a ON "
                               "a.case_id = c.id WHERE a.network = $1 AND a.user_key = $2 ORDER BY c.id",
                               network, user_key)
        return self._about_kept(parts, network, user_key, [self._case(r) for r in rows])

    def _about_kept(self, parts, network: str, user_key: str, found: list) -> list:
        """The cases about someone as the server has them, with the group's kept cases laid over (a kept
        case is newer than the server's row, and may no longer be about them)."""
        about: dict = {}  # case id -> its latest kept row, if that one is about them, else None
        listed = {c.id for c in found}
        for p in parts:
            for case_id, rows in p.accused.items():
                if rows and any(r[2] == user_key and r[1] == network for r in rows):
                    about[case_id] = p.cases[case_id]
                elif case_id in about or case_id in listed:  # no longer about them
                    about[case_id] = None
        if not about:
            return found
        out = {c.id: c for c in found if c.id not in about}
        out.update((case_id, self._case(row)) for case_id, row in about.items() if row is not None)
        return [out[i] for i in sorted(out)]

    async def _case_by_id_kept(self, parts, case_id):
        row = self._kept_case(parts, case_id)
        if row is not None:
            return self._case(row)
        rows = await self._raw("fetch", f"SELECT {self._CASE_COLS} FROM cases WHERE id = $1", case_id)
        return self._case(rows[0]) if rows else None
