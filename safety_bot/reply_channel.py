"""After a report: the member writes to the team on their case, gives or refuses consent, withdraws, or
asks for resources. A part of :class:`SafetyService` (a mixin)."""

from __future__ import annotations

from . import guard, intake_queue
from . import intake as intake_rules
from .actions import Outcome, PostToTeam
from .domain import Case, CaseNote, CloseReason, Status, UserRef
from .events import reporter_actor
from .followup import who_wrote
from .protect.submit import withdraw_closed_cases_entries, withdraw_member_entries
from .store import StoreUnavailable
from .text import inert_line, strip_controls


class ReplyChannel:
    # ------------------------------------------------------------------ reply channel, consent, withdrawal
    async def _reply_in(self, case: Case, user: UserRef, text: str, loc: str) -> Outcome:
        text = strip_controls(text).strip()
        if not text:
            return Outcome(ok=False, reply=self.t("report_empty", loc))
        if len(text) > self.config.limits.report_max_chars:
            return Outcome(ok=False, reply=self.too_long(text, loc, case))
        scanned = self.scan_text(case, text)
        out = Outcome(reply=self.t("reply_forwarded", loc), case_number=case.number)
        try:
            async with self.store.transaction():
                if scanned.changes or scanned.new_apps or scanned.new_cues:
                    if scanned.to_child:
                        await self._drop_evidence_text(case)
                    case.updated_at = self.clock()
                    await self.store.save_case(case)
                await self.store.add_note(CaseNote(case.id, "reporter", "reply_in", text, self.clock()))
                await self.audit(reporter_actor(case), "case.reply_in", case.community, case)
                crisis, out.actions = await self.care_messages(
                    case, scanned, loc, moved_to_child=scanned.to_child)
                if crisis:
                    out.reply = crisis + "\n\n" + out.reply  # crisis lines first
                out.actions.append(PostToTeam(
                    community=case.community, case_number=case.number,
                    destination=await guard.destination(self, case),  # roles read now (guard.py)
                    text=self.team_text("team_post_wrote", number=case.number, who=who_wrote(self, case, user),
                                        words=inert_line(text, limit=1500))))
                await self.enqueue(out)
        except StoreUnavailable:
            return Outcome(ok=False, reply=self.t("store_unavailable", loc))
        return out

    async def _consent(self, user: UserRef, value: str, loc: str) -> Outcome:
        case = await self._latest_open_case_of(user, None)
        if case is None:
            return Outcome(ok=False, reply=self.t("no_open_case", loc))
        if value in self.texts.words("yes"):
            value = "yes"
        elif value in self.texts.words("no"):
            value = "no"
        else:
            return Outcome(ok=False, reply=self.t("consent_usage", loc))
        case.flags["consent"] = value
        case.answers["consent"] = value
        async with self.store.transaction():
            await self.store.save_case(case)
            await self.audit(reporter_actor(case), "case.consent", case.community, case, consent=value)
        return Outcome(reply=self.t("consent_recorded_yes" if value == "yes" else "consent_recorded_no", loc))

    async def _withdraw(self, user: UserRef, loc: str, *, case_id=None) -> Outcome:
        case = await self.store.get_case_by_id(case_id) if case_id is not None else None
        if case is None or case.status == Status.CLOSED:
            case = await self._latest_open_case_of(user, None)
        if case is None:
            # The team may have closed the case: the pictures they blocked themselves still come off the list.
            unblocked = await withdraw_closed_cases_entries(self, user)
            if unblocked:
                return Outcome(reply=self.t("protect_withdrawn", loc, count=unblocked))
            return Outcome(ok=False, reply=self.t("no_open_case", loc))
        case.status, case.close_reason, case.updated_at = Status.CLOSED, CloseReason.WITHDRAWN, self.clock()
        # Withdrawal is honoured (issue 13): what they told us goes (statement, answers and the links in them,
        # the text of the message they reported), consent is revoked, and the case is marked withdrawn.
        case.answers = {}
        case.flags["withdrawn"] = True
        case.flags["consent"] = "withdrawn"
        case.flags.pop("country", None)
        async with self.store.transaction():
            await self.store.save_case(case)
            await self.store.withdraw_reports(case.id)
            await self.store.clear_evidence_text(case.id)
            await self.audit(reporter_actor(case), "case.withdrawn", case.community, case)
        # The pictures they blocked from their own device go too (safety_bot/protect): hashes deleted.
        unblocked = await withdraw_member_entries(self, case, reporter_actor(case))
        out = Outcome(reply=self.t("withdrawn", loc), case_number=case.number)
        if unblocked:
            out.reply += " " + self.t("protect_withdrawn", loc, count=unblocked)
        if case_id is not None:  # withdrawn during its questions: another report's waiting questions start now
            async with self.store.transaction():
                queued = await intake_queue.start_next(self, user, self.clock())
            if queued is not None:
                next_case, first = queued
                out.reply += "\n" + self.t("report_questions_now", loc, number=next_case.number)
                out.prompt = intake_rules.prompt_for(self.lib, first, next_case.locale, next_case)
        out.actions.append(PostToTeam(community=case.community, case_number=case.number,
                                      text=self.team_text("team_post_withdrawn", number=case.number) + (
                                          " " + self.team_text("team_post_withdrawn_entries_one" if unblocked == 1 else
                                                               "team_post_withdrawn_entries", count=unblocked)
                                          if unblocked else ""),
                                      destination=await guard.destination(self, case)))
        return out

    async def resources_request(self, user: UserRef, community: str, locale: str | None = None,
                                country: str | None = None) -> Outcome:
        loc = locale or self.config.locale
        cc = intake_rules.parse_country(country, self.texts) if country else None
        try:  # a member who said they are 15: a minor's list; with the store down, the list for anyone
            case = await self._latest_open_case_of(user, community)
        except StoreUnavailable:
            case = None
        body = self.t("resources_intro", loc) + "\n" + self.resources_text(case, loc, country=cc)
        return Outcome(reply=body, actions=[self.private(user, body, loc, community, "resources")])
