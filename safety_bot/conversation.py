"""The intake conversation: a member's private messages, the playbook's questions one at a time (every one
can be skipped), and what happens when the questions are done. A part of :class:`SafetyService` (a mixin)."""

from __future__ import annotations

from . import intake as intake_rules
from .actions import Outcome
from .domain import Case, CaseNote, Intake, Urgency, UserRef
from .events import ReportEvent, reporter_actor
from .plugins import plugin as platform_plugin
from .store import StoreUnavailable


class Conversation:
    # ------------------------------------------------------------------ the intake conversation
    async def member_message(self, user: UserRef, community: str, text: str, locale: str | None = None,
                             *, start_report: bool | None = False) -> Outcome:
        """A private message from a member: an intake answer, a reply on their case, or a new report.
        `start_report=None`: the core decides: on platforms where a private message is how members report
        (the plugin's `dm_starts_report`), a message from a member without an open case starts one."""
        async with self._lock:
            loc = locale or self.config.locale
            try:
                current = await self.store.get_intake(user.platform, user.id)
            except StoreUnavailable:
                return Outcome(ok=False, reply=self.t("store_unavailable", loc))
            if current is not None:
                return await self._answer(current, text, locale or current.locale)
            word = text.strip().lower()
            if word.startswith("consent"):
                return await self._consent(user, word.split()[-1] if len(word.split()) > 1 else "", loc)
            if word in ("withdraw", "zurückziehen"):
                return await self._withdraw(user, loc)
            case = await self._latest_open_case_of(user, community)
            if start_report is None:
                p = platform_plugin(user.platform)
                start_report = bool(p and p.dm_starts_report) and case is None
            if case is not None and not start_report:
                return await self._reply_in(case, user, text, loc)
            if start_report:
                return await self._report(ReportEvent(community=community, reporter=user, text=text, locale=loc))
            return Outcome(reply=self.t("member_hint", loc))

    async def _latest_open_case_of(self, user: UserRef, community: str | None) -> Case | None:
        for case in reversed(await self.store.list_cases(community, ("open", "acting"))):
            if case.reporter and case.reporter.key == user.key:
                return case
        return None

    async def _answer(self, current: Intake, text: str, loc: str) -> Outcome:
        case = await self.store.get_case_by_id(current.case_id)
        qid = current.current
        if case is None or qid is None:
            await self.store.delete_intake(current.platform, current.user_id)
            return Outcome(reply=self.t("member_hint", loc))
        qdef = self.lib.questions[qid]
        answer = intake_rules.parse_answer(qdef, text, loc)
        if answer.kind == "invalid":
            return Outcome(ok=False, reply=self.t("answer_invalid", loc), prompt=intake_rules.prompt_for(self.lib, qid, loc))
        if len(text) > self.config.limits.report_max_chars:
            return Outcome(ok=False, reply=self.t("report_too_long", loc, limit=self.config.limits.report_max_chars,
                                                  length=len(text)), prompt=intake_rules.prompt_for(self.lib, qid, loc))
        out = Outcome(case_number=case.number)
        before_category, before_urgency = case.category, case.urgency
        value = intake_rules.SKIP if answer.kind in ("skip", "stop") else answer.value
        changes = intake_rules.apply_answer(self.lib, case, qid, value)
        if qid == "country" and answer.kind == "value":
            country = intake_rules.parse_country(value)
            if country:
                case.flags["country"] = country
        nxt = None if answer.kind == "stop" else intake_rules.next_question(self.lib, case, current.asked)
        try:
            async with self.store.transaction():
                if case.category == "child_safety" and before_category != "child_safety":
                    await self._drop_evidence_text(case)
                case.updated_at = self.clock()
                if nxt is None:
                    case = await self._finish_intake(case)
                await self.store.save_case(case)
                if nxt is None:
                    await self.store.delete_intake(current.platform, current.user_id)
                else:
                    current.asked.append(nxt)
                    current.current = nxt
                    current.updated_at = self.clock()
                    await self.store.put_intake(current)
                await self.audit(reporter_actor(case), "intake.answer", case.community,
                                 case, question=qid, skipped=answer.kind != "value")
                if qid == "danger" and value == "yes":
                    # Crisis lines first, before anything else.
                    out.reply = self.t("crisis_first", loc) + "\n" + self.resources_text(case, loc, urgent_only=True)
                if case.urgency == Urgency.URGENT and before_urgency != Urgency.URGENT:
                    out.actions += await self.team_post(case, f"Case {case.number} is now URGENT ({'; '.join(changes)})", ping=True)
                elif case.category != before_category:
                    out.actions += await self.team_post(case, f"Case {case.number} changed ({'; '.join(changes)})")
                if nxt is not None:
                    out.prompt = intake_rules.prompt_for(self.lib, nxt, loc)
                else:
                    out.extend(await self._intake_finished_messages(case, loc))
                await self.enqueue(out)
        except StoreUnavailable:
            return Outcome(ok=False, reply=self.t("store_unavailable", loc), prompt=intake_rules.prompt_for(self.lib, qid, loc))
        return out

    async def _finish_intake(self, case: Case) -> Case:
        """Unanswered questions count as skipped: a skipped age question means 'possibly a minor'."""
        for q in self.lib.playbook(case.category).questions:
            if q not in case.answers:
                intake_rules.apply_answer(self.lib, case, q, intake_rules.SKIP)
        if "anonymous" in case.answers and case.answers["anonymous"] == intake_rules.SKIP:
            case.flags["anonymous"] = True
        case.flags["intake_done"] = True
        return case

    async def _intake_finished_messages(self, case: Case, loc: str) -> Outcome:
        out = Outcome(reply=self.t("intake_done", loc), case_number=case.number)
        if case.reporter:
            more = self.resources_text(case, loc)
            out.actions.append(self.private(case.reporter, self.t("resources_final", loc) + "\n" + more, loc,
                                            case.community, "resources"))
        out.actions += await self.team_post(case, f"Case {case.number}: the reporter has finished the questions",
                                            ping=False)
        return out

    async def _drop_evidence_text(self, case: Case) -> None:
        for ev in await self.store.evidence_for(case.id):
            if ev.text:
                await self.store.add_note(CaseNote(case.id, "system", "system",
                                                   f"Text of evidence {ev.id} dropped: child-safety case.", self.clock()))
        await self.store.clear_evidence_text(case.id)
