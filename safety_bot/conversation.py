"""The intake conversation: a member's private messages, the playbook's questions one at a time (every one
can be skipped), and what happens when the questions are done. A part of :class:`SafetyService` (a mixin)."""

from __future__ import annotations

from . import care, first_words, guard, intake_queue, team_named
from . import intake as intake_rules
from .actions import Outcome, PostToTeam
from .domain import Case, CaseNote, Intake, MessageRef, Urgency, UserRef
from .events import ReportEvent, reporter_actor
from .followup import is_party
from .text import inert_line, strip_controls
from .plugins import plugin as platform_plugin
from .store import StoreUnavailable


class Conversation:
    # ------------------------------------------------------------------ the intake conversation
    async def member_message(self, user: UserRef, community: str, text: str, locale: str | None = None,
                             *, start_report: bool | None = False, reported: tuple[MessageRef, UserRef] | None = None,
                             accused_is_moderator: bool = False) -> Outcome:
        """A private message from a member: an intake answer, a reply on their case, or a new report.
        `start_report=None`: the core decides: on platforms where a private message is how members report
        (the plugin's `dm_starts_report`), a message from a member without an open case starts one."""
        async with self._lock:
            loc = locale or self.config.locale
            try:
                current = await self.store.get_intake(user.platform, user.id)
            except StoreUnavailable:
                return Outcome(ok=False, reply=self.t("store_unavailable", loc))
            if locale is None and current is None:
                # no language with the message (a Discord DM): the language the member reported in, kept on
                # their case, not the configured one
                known = await self._latest_open_case_of(user, community) or \
                    await self.latest_closed_case_of(user, community)
                loc = known.locale if known is not None and known.locale else loc
            choice = first_words.menu_choice(text)
            if choice is None and (text or "").strip().lower().rstrip(".!") in self.texts.words("protect"):
                choice = "protect"  # "protect my pictures": the offer and a link (safety_bot/protect)
            if choice is not None:
                return await self._menu(user, community, current, choice, locale or (current.locale if current else loc))
            head, _, rest = (text or "").strip().partition(" ")
            if head.lower().lstrip("!/") in self.texts.words("resources"):
                # "resources Germany" (the crisis text suggests it): that country's lines, in any private
                # message, also while a question waits (asked again after them)
                return await self._resources_in_dm(user, community, current, rest.strip(), locale or loc)
            if current is not None and text.strip().lower() in self.texts.words("withdraw"):
                # "withdraw" works at any time, also while a follow-up question waits (README: the walk-through)
                await self.store.delete_intake(current.platform, current.user_id)
                # the report being asked about, not the member's newest; a waiting report's questions start
                return await self._withdraw(user, locale or current.locale, case_id=current.case_id)
            if current is not None:
                return await self._answer(current, text, locale or current.locale)
            word = text.strip().lower()
            if any(word.startswith(w) for w in self.texts.words("consent")):
                return await self._consent(user, word.split()[-1] if len(word.split()) > 1 else "", loc)
            if word in self.texts.words("withdraw"):
                return await self._withdraw(user, loc)
            case = await self._latest_open_case_of(user, community)
            if case is None and head.lower().lstrip("!/") in self.texts.words("report") and rest.strip():
                text, start_report = rest.strip(), True  # "report <words>", as the hint asks (a Discord DM)
            explicit = start_report is True  # the member used the report command
            if start_report is None:
                p = platform_plugin(user.platform)
                start_report = bool(p and p.dm_starts_report) and case is None
            if case is not None and not start_report:
                return await self._reply_in(case, user, text, loc)
            if case is None and not explicit:
                joined = await self.victim_join(user, community, text, loc)
                if joined is not None:  # the person a friend's report is about
                    return joined
                closed = await self.latest_closed_case_of(user, community)
                if closed is not None:  # after close, still heard
                    return await self.after_close(closed, user, text, loc)
            if start_report or self.lib.cues.find(text).urgent:
                # Words of self-harm or danger with no open report: the team must hear them (a new case).
                # `reported`: a message the report links to (found by the adapter); its author is the accused
                return await self._report(ReportEvent(community=community, reporter=user, text=text, locale=loc,
                                                      message_ref=reported[0] if reported else None,
                                                      accused=reported[1] if reported else None,
                                                      accused_is_moderator=accused_is_moderator))
            return Outcome(reply=self.t("member_hint", loc))

    async def _menu(self, user: UserRef, community: str, current: Intake | None, choice: str, loc: str) -> Outcome:
        """A letter from the first DM's choices: send that part; the question waiting stays open."""
        case = await self.store.get_case_by_id(current.case_id) if current else None
        case = case or await self._latest_open_case_of(user, community)
        if choice == "protect":  # a one-time link to block their pictures (safety_bot/protect)
            from .protect.offer import offer

            out = await offer(self, user, community, loc, case)
            if current is not None and current.current:
                out.prompt = intake_rules.prompt_for(self.lib, current.current, loc, case)
            return out
        out = Outcome(reply=first_words.menu_text(self, case, choice, loc), case_number=case.number if case else None)
        if current is not None and current.current:
            out.prompt = intake_rules.prompt_for(self.lib, current.current, loc, case)
        return out

    async def _resources_in_dm(self, user: UserRef, community: str, current: Intake | None, country: str,
                               loc: str) -> Outcome:
        """Places that can help, for the country named (or the one we know), fitting the member's open case
        (a minor gets the lines for minors first); the question waiting stays open."""
        case = await self.store.get_case_by_id(current.case_id) if current else None
        case = case or await self._latest_open_case_of(user, community)
        cc = intake_rules.parse_country(country, self.texts) if country else None
        body = self.t("resources_intro", loc) + "\n" + self.resources_text(case, loc, country=cc)
        out = Outcome(actions=[self.private(user, body, loc, community, "resources")])
        if current is not None and current.current:
            out.prompt = intake_rules.prompt_for(self.lib, current.current, loc, case)
        return out

    async def _latest_open_case_of(self, user: UserRef, community: str | None) -> Case | None:
        for case in reversed(await self.store.list_cases(community, ("open", "acting"))):
            if is_party(case, user):
                return case
        if community is not None:  # the person a friend's report is about may be in another community
            for case in reversed(await self.store.list_cases(None, ("open", "acting"))):
                if case.flags.get("victim", {}).get("id") == user.id and is_party(case, user):
                    return case
        return None

    async def _answer(self, current: Intake, text: str, loc: str) -> Outcome:
        case = await self.store.get_case_by_id(current.case_id)
        qid = current.current
        if case is None or qid is None:
            await self.store.delete_intake(current.platform, current.user_id)
            return Outcome(reply=self.t("member_hint", loc))
        qdef = self.lib.questions[qid]
        answer = intake_rules.parse_answer(qdef, text, loc, self.texts)
        if len(text) > self.config.limits.report_max_chars:
            return Outcome(ok=False, reply=self.too_long(text, loc, case), prompt=intake_rules.prompt_for(self.lib, qid, loc))
        before_category, before_urgency = case.category, case.urgency
        scanned = self.scan_text(case, text)
        if answer.kind == "invalid":
            if not (scanned.new_cues or scanned.to_child or scanned.new_apps or scanned.changes):
                return Outcome(ok=False, reply=self.t("answer_invalid", loc), prompt=intake_rules.prompt_for(self.lib, qid, loc))
            # Not an answer, but words that matter: keep them for the team, act on them, ask again.
            return await self._words_in_intake(current, case, text, scanned, loc, before_category)
        out = Outcome(case_number=case.number)
        value = intake_rules.SKIP if answer.kind in ("skip", "stop") else answer.value
        changes = intake_rules.apply_answer(self.lib, case, qid, value, self.config.locale)
        if qid == "country" and answer.kind == "value":
            country = intake_rules.parse_country(value, self.texts)
            if country:
                case.flags["country"] = country
        nxt = None if answer.kind == "stop" else intake_rules.next_question(self.lib, case, current.asked)
        # an answer naming a team member: the case goes to the escalation destination from now on (team_named.py)
        named = qid in ("threat", "evidence") and answer.kind == "value" and \
            await team_named.mark_named(self, case, [str(value)])
        answering = case.reporter if case.reporter and case.reporter.id == current.user_id else None
        answering = answering or UserRef(current.platform, current.user_id)
        bystander = self.bystander_messages(case, loc) if qid == "about" and value == "someone_else" else []
        queued_first = None
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
                    if case.reporter is not None:
                        queued_first = await intake_queue.start_next(self, case.reporter, self.clock())
                else:
                    current.asked.append(nxt)
                    current.current = nxt
                    current.updated_at = self.clock()
                    await self.store.put_intake(current)
                await self.audit(reporter_actor(case), "intake.answer", case.community,
                                 case, question=qid, skipped=answer.kind != "value")
                if named:
                    await self.audit("bot", "case.names_team_member", case.community, case)
                    out.actions += await self.team_post(case, self.team_text("team_post_names_team", number=case.number))
                crisis, care_actions = await self.care_messages(
                    case, scanned, loc, moved_to_child=case.category == care.CHILD and before_category != care.CHILD)
                if qid == "danger" and value == "yes" and not crisis:
                    crisis = self.crisis_reply(case, loc, "crisis_first")
                if crisis:
                    out.reply = crisis  # crisis lines first, before anything else
                out.actions += care_actions + bystander
                if scanned.new_cues or scanned.to_child:
                    pass  # the team was pinged with what the member wrote
                elif case.urgency == Urgency.URGENT and before_urgency != Urgency.URGENT:
                    why = "; ".join(changes) or self.team_text("urgent_why_unanswered")
                    out.actions += await self.team_post(case, self.team_text("team_post_now_urgent", number=case.number,
                                                                             why=why), ping=True)
                elif case.category != before_category or changes:
                    out.actions += await self.team_post(case, self.team_text("team_post_changed", number=case.number,
                                                                             changes="; ".join(changes)))
                if nxt is not None:
                    out.prompt = intake_rules.prompt_for(self.lib, nxt, loc, case)
                else:
                    out.extend(await self._intake_finished_messages(case, loc, answering))
                    if queued_first is not None:  # the next report's questions start now
                        next_case, qid_next = queued_first
                        out.reply += "\n" + self.t("report_questions_now", loc, number=next_case.number)
                        out.prompt = intake_rules.prompt_for(self.lib, qid_next, next_case.locale)
                await self.enqueue(out)
        except StoreUnavailable:
            return Outcome(ok=False, reply=self.t("store_unavailable", loc), prompt=intake_rules.prompt_for(self.lib, qid, loc))
        return out

    async def _words_in_intake(self, current: Intake, case: Case, text: str, scanned, loc: str,
                               before_category: str) -> Outcome:
        """Words during the questions that are no answer but matter (a danger or age cue): they reach
        the team, the member gets what fits at once, and the question is asked again (or the next)."""
        out = Outcome(case_number=case.number)
        qid = current.current
        nxt = qid if qid not in case.answers else intake_rules.next_question(self.lib, case, current.asked)
        words = strip_controls(text).strip()
        try:
            async with self.store.transaction():
                if case.category == care.CHILD and before_category != care.CHILD:
                    await self._drop_evidence_text(case)
                case.updated_at = self.clock()
                if nxt is None:
                    case = await self._finish_intake(case)
                await self.store.save_case(case)
                await self.store.add_note(CaseNote(case.id, "reporter", "reply_in", words, self.clock()))
                if nxt is None:
                    await self.store.delete_intake(current.platform, current.user_id)
                elif nxt != qid:
                    current.asked.append(nxt)
                    current.current = nxt
                    current.updated_at = self.clock()
                    await self.store.put_intake(current)
                await self.audit(reporter_actor(case), "case.reply_in", case.community, case)
                out.reply, actions = await self.care_messages(
                    case, scanned, loc, moved_to_child=case.category == care.CHILD and before_category != care.CHILD)
                out.actions += actions
                out.actions.append(PostToTeam(
                    community=case.community, case_number=case.number,
                    destination=await guard.destination(self, case),  # roles read now (guard.py)
                    text=self.team_text("team_post_reporter_wrote", number=case.number,
                                        words=inert_line(words, limit=1500))))
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

    async def _intake_finished_messages(self, case: Case, loc: str, to: UserRef | None = None) -> Outcome:
        out = Outcome(reply=self.t("intake_done", loc), case_number=case.number)
        to = to or case.reporter
        if to:
            more = self.resources_text(case, loc, victim=bool(case.reporter and to.key != case.reporter.key))
            out.actions.append(self.private(to, self.t("resources_final", loc) + "\n" + more, loc,
                                            case.community, "resources"))
        reporter = not case.reporter or not to or to.key == case.reporter.key
        out.actions += await self.team_post(case, self.team_text(
            "team_post_finished" if reporter else "team_post_finished_victim", number=case.number), ping=False)
        return out

    async def _drop_evidence_text(self, case: Case) -> None:
        for ev in await self.store.evidence_for(case.id):
            if ev.text:
                await self.store.add_note(CaseNote(case.id, "system", "system",
                                                   self.team_text("note_evidence_text_dropped", id=ev.id),
                                                   self.clock()))
        await self.store.clear_evidence_text(case.id)
        # its banked pictures are a minor's too: a re-upload after the case is gone opens a child-safety case
        changed = await self.store.set_case_bank_category(case.id, "minor")  # bank_index.category_for
        bank = getattr(self, "bank", None)
        if changed and bank is not None:
            bank.index.recategorise({entry_id: "minor" for entry_id in changed})
