"""SqliteStore's case data: cases, reports (and the reporters' rate limits), evidence, notes, strikes and
bans, and intake conversations. A mixin of SqliteStore (see sqlite.py), which provides the connection,
transactions and encryption it uses."""

from __future__ import annotations

import json
import math

from ..domain import (Ban, Case, CaseNote, CloseReason, Evidence, Intake, MessageRef, Report, Status, Strike,
                      Urgency, UserRef)
from .lazy_case import LazyCase
from .sqlite_common import _j, _load


class CasesMixin:
    # ---------------------------------------------------------------- cases
    _CASE_COLS = ("id, community, network, number, category, urgency, status, created_at, updated_at, reporter, "
                  "accused, assignee, close_reason, answers, flags, hidden_from, locale, alias")
    _C_CASE_COLS = ", ".join("c." + c.strip() for c in _CASE_COLS.split(","))  # the same, of table alias c

    def _case(self, r, *, lazy: bool = False) -> Case:
        fields = dict(
            id=r[0], community=r[1], network=r[2], number=r[3], category=r[4], urgency=Urgency(r[5]),
            status=Status(r[6]), created_at=float(r[7]), updated_at=float(r[8]),
            accused=[UserRef(**a) for a in _load(r[10])],
            assignee=UserRef.from_dict(json.loads(r[11])) if r[11] else None,
            close_reason=CloseReason(r[12]) if r[12] else None, flags=_load(r[14]),
            hidden_from=_load(r[15]), locale=r[16], alias=r[17])
        if lazy:  # reporter and answers decrypted on first use (lazy_case.py)
            return LazyCase.make(fields, lambda: self._case_secrets(r[9], r[13]))
        fields["reporter"], fields["answers"] = self._case_secrets(r[9], r[13])
        return Case(**fields)

    def _case_secrets(self, reporter, answers) -> tuple:
        reporter, answers = self._dec(reporter), self._dec(answers)
        return (UserRef.from_dict(json.loads(reporter)) if reporter else None), (_load(answers) if answers else {})

    def _case_values(self, c: Case) -> tuple:
        return (
            c.category, c.urgency.value, c.status.value, c.created_at, c.updated_at,
            self._enc(_j(c.reporter.to_dict())) if c.reporter else None,
            _j([a.to_dict() for a in c.accused]), _j(c.assignee.to_dict()) if c.assignee else None,
            c.close_reason.value if c.close_reason else None, self._enc(_j(c.answers)), _j(c.flags),
            _j(c.hidden_from), c.locale, c.alias,
        )

    def _case_row(self, case: Case) -> tuple:
        """A stored case's row as a group keeps it (SQLite's and PostgreSQL's): id, place, number, values."""
        return (case.id, case.community, case.network, case.number, *self._case_values(case))

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

    async def _sync_accused(self, case: Case, fresh: bool = False) -> None:
        if not fresh:
            await self._write("DELETE FROM case_accused WHERE case_id=?", (case.id,))
        if case.accused:
            for a in case.accused:
                self._no_cases_about.discard((case.network, a.key))
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
        # Most people are named in no case (every reporter is looked up on every report). One process owning
        # the file remembers, inside transactions, who is named in none: forgotten when a case names them,
        # on rollback and when another connection wrote (see CasesMixin._rate_cache_on).
        known_none = self._no_cases_about if self._rate_cache_on() else None
        if known_none is not None and (network, user_key) in known_none:
            return []
        rows = await self._rows(
            f"SELECT {self._C_CASE_COLS} FROM cases c "
            "JOIN case_accused a ON a.case_id = c.id WHERE a.network=? AND a.user_key=? ORDER BY c.id",
            (network, user_key),
        )
        if known_none is not None and not rows and len(known_none) < 100_000:
            known_none.add((network, user_key))
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
    # Other members' marks older than a day are swept at most every RATE_SWEEP_SECONDS (reading every
    # member's marks on every report was most of a report's cost), so a mark lives a day and at most
    # that much longer.
    # One process owning the file (not `shared`): inside a transaction each member's marks and their stored
    # JSON are kept in memory once read (`_rate_cache`: key -> (times, stored text)). The database stays the
    # truth: the cache is dropped on every rollback and when another connection (the command line) wrote
    # since our BEGIN (`_others_wrote`, sqlite.py).
    RATE_KEEP_SECONDS = 86400
    RATE_SWEEP_SECONDS = 600
    _rate_swept_at: float | None = None

    async def _rate_mark(self, reporter_key: str, at: float) -> None:
        key, value = await self._rate_next(reporter_key, at)
        await self._write("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                          (key, value))
        await self._rate_sweep(at)

    async def _rate_next(self, reporter_key: str, at: float) -> tuple[str, str]:
        """The member's rate key and its marks with `at` added (older than a day dropped), as stored."""
        key = "rate:" + self._tag("rate:" + reporter_key)
        if self._rate_cache_on():
            times, stored = await self._rate_cached(key)
            if (type(at) is float and math.isfinite(at) and (not times or at >= times[-1])
                    and (not times or times[0] >= at - self.RATE_KEEP_SECONDS)):
                # nothing dropped, the new mark last: the stored JSON grows by one number, as _j writes it
                times = times + [at]
                value = stored[:-1] + ("," if len(times) > 1 else "") + float.__repr__(at) + "]"
            else:
                times = sorted([t for t in times if t >= at - self.RATE_KEEP_SECONDS] + [at])
                value = _j(times)
            self._rate_cache[key] = (times, value)
            return key, value
        memo, self._rate_memo = self._rate_memo, None  # what report_times_since read in this transaction
        known = memo[1] if memo is not None and memo[0] == key and memo[2] is self._tx_token() else None
        times = [t for t in (known if known is not None else await self._rate_times(key))
                 if t >= at - self.RATE_KEEP_SECONDS] + [at]
        return key, _j(sorted(times))

    async def _rate_sweep(self, at: float) -> None:
        """Other members' marks older than a day, at most every RATE_SWEEP_SECONDS."""
        if self._rate_swept_at is not None and abs(at - self._rate_swept_at) < self.RATE_SWEEP_SECONDS:
            return
        for stale, value in await self._rows("SELECT key, value FROM kv WHERE key LIKE 'rate:%'"):
            if max(json.loads(value) or [0]) < at - self.RATE_KEEP_SECONDS:
                await self._write("DELETE FROM kv WHERE key=?", (stale,))
                self._rate_cache.pop(stale, None)
        self._rate_swept_at = at

    async def _rate_times(self, key: str) -> list[float]:
        rows = await self._rows("SELECT value FROM kv WHERE key=?", (key,))
        return json.loads(rows[0][0]) if rows else []

    _rate_memo: tuple | None = None

    def _rate_cache_on(self) -> bool:
        """Whether rate marks may be served from memory now: one process, inside a transaction, and nobody
        else wrote since our BEGIN (checked once per BEGIN; we then hold the write lock)."""
        if self.shared or self._tx_token() is None:
            return False
        self._others_wrote()
        return True

    async def _rate_cached(self, key: str) -> tuple[list[float], str]:
        """(times, stored JSON) of a rate key, read once per key while the cache holds (see _rate_cache_on)."""
        known = self._rate_cache.get(key)
        if known is None:
            rows = await self._rows("SELECT value FROM kv WHERE key=?", (key,))
            times = json.loads(rows[0][0]) if rows else []
            known = self._rate_cache[key] = (sorted(times), _j(sorted(times)))
        return known

    async def report_times_since(self, reporter_key, since):
        key = "rate:" + self._tag("rate:" + reporter_key)
        if self._rate_cache_on():
            return [t for t in (await self._rate_cached(key))[0] if t >= since]
        times = await self._rate_times(key)
        token = self._tx_token()
        # the report that follows marks the same key in the same transaction: it need not read it again
        self._rate_memo = (key, times, token) if token is not None else None
        return [t for t in times if t >= since]

    # ---------------------------------------------------------------- evidence and notes
    async def add_evidence(self, evidence: Evidence) -> Evidence:
        evidence.id = await self._write(
            "INSERT INTO evidence (case_id, ref, author, text, message_created_at, captured_at, captured_by, attachments, note) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", self._evidence_values(evidence))
        return evidence

    def _evidence_values(self, evidence: Evidence) -> tuple:
        """Its columns after the id, as stored (the person and the texts encrypted)."""
        return (evidence.case_id, _j(evidence.ref.to_dict()) if evidence.ref else None,
                self._enc(_j(evidence.author.to_dict())) if evidence.author else None, self._enc(evidence.text),
                evidence.message_created_at, evidence.captured_at, evidence.captured_by,
                self._enc(_j(evidence.attachments)), evidence.note)

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
        """Withdrawal: the reporter's words and the message links/ids they gave go (reports, their follow-ups,
        the evidence rows' pointers to those messages and bot notes quoting the links). What the bot captured
        from the platform itself (author, times, media hashes) stays for the team."""
        rows = await self._rows("SELECT reported_message FROM reports WHERE case_id=? AND reported_message IS NOT NULL",
                                (case_id,))
        given = [MessageRef.from_dict(json.loads(r[0])) for r in rows]
        keys = {(g.platform, g.channel_id, g.message_id) for g in given}
        links = {g.link for g in given if g.link}
        await self._write("UPDATE reports SET text=NULL, reported_message=NULL WHERE case_id=?", (case_id,))
        await self._write("UPDATE notes SET text=NULL WHERE case_id=? AND kind='reply_in'", (case_id,))
        for eid, ref in await self._rows("SELECT id, ref FROM evidence WHERE case_id=? AND ref IS NOT NULL", (case_id,)):
            r = MessageRef.from_dict(json.loads(ref))
            if (r.platform, r.channel_id, r.message_id) in keys:
                await self._write("UPDATE evidence SET ref=NULL WHERE id=?", (eid,))
        if links:
            for nid, text in await self._rows("SELECT id, text FROM notes WHERE case_id=? AND kind='system'", (case_id,)):
                plain = self._dec(text) or ""
                if any(link in plain for link in links):
                    for link in links:
                        plain = plain.replace(link, "(a link the reporter gave; withdrawn)")
                    await self._write("UPDATE notes SET text=? WHERE id=?", (self._enc(plain), nid))

    async def add_note(self, note: CaseNote) -> CaseNote:
        note.id = await self._write(
            "INSERT INTO notes (case_id, author, kind, text, at, author_name) VALUES (?, ?, ?, ?, ?, ?)",
            (note.case_id, note.author, note.kind, self._enc(note.text), note.at,
             self._enc(note.author_name) if note.author_name else None))
        return note

    async def notes_for(self, case_id):
        rows = await self._rows("SELECT id, case_id, author, kind, text, at, author_name FROM notes WHERE case_id=? "
                                "ORDER BY id", (case_id,))
        return [CaseNote(id=r[0], case_id=r[1], author=r[2], kind=r[3], text=self._dec(r[4]) or "", at=r[5],
                         author_name=(self._dec(r[6]) or "") if r[6] else "") for r in rows]

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

    async def get_intake_with_case(self, platform, user_id, *, lazy: bool = False):
        """The member's open intake and its case, in one query. `lazy`: the case's reporter and answers are
        decrypted on first use (see lazy_case.py)."""
        rows = await self._rows(
            "SELECT i.platform, i.case_id, i.asked, i.current, i.locale, i.updated_at, "
            f"{self._C_CASE_COLS} FROM intakes i "
            "LEFT JOIN cases c ON c.id = i.case_id WHERE i.platform=? AND i.user_id=?",
            (platform, self._intake_tag(platform, user_id)))
        if not rows:
            return None, None
        r = rows[0]
        intake = Intake(platform=r[0], user_id=user_id, case_id=r[1], asked=json.loads(r[2]), current=r[3],
                        locale=r[4], updated_at=r[5])
        return intake, (self._case(r[6:], lazy=lazy) if r[6] is not None else None)

    async def report_context(self, reporter, network):
        """What a new report needs (see Store.report_context). PostgreSQL reads it in one round trip."""
        times = await self.report_times_since(reporter.key, 0)
        # the open case is mostly only looked at (does the report join it?): decrypted when it is used
        intake, case = await self.get_intake_with_case(reporter.platform, reporter.id, lazy=True)
        return times, intake, case, await self.cases_about(network, reporter.key)

    async def put_intake(self, intake: Intake) -> None:
        await self._write(
            "INSERT INTO intakes (platform, user_id, case_id, asked, current, locale, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (platform, user_id) DO UPDATE SET case_id=excluded.case_id, asked=excluded.asked, "
            "current=excluded.current, locale=excluded.locale, updated_at=excluded.updated_at",
            self._intake_row(intake))

    def _intake_row(self, intake: Intake) -> tuple:
        """Its row as stored: (platform, the member's tag, case, asked, current, locale, updated)."""
        return (intake.platform, self._intake_tag(intake.platform, intake.user_id), intake.case_id, _j(intake.asked),
                intake.current, intake.locale, intake.updated_at)

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
