"""Member reports: a new case from a member's report, stored durably before the member hears "received".
A part of :class:`SafetyService` (a mixin; `self` is the service)."""

from __future__ import annotations

import asyncio
import logging
import secrets

from . import care, faults, first_words, guard, intake_queue, team_named
from . import intake as intake_rules
from .actions import Outcome, PostToTeam
from .domain import Case, Intake, Report, Status, Urgency
from .events import ReportEvent, reporter_actor
from .protect.offer import available as protect_available
from .store import StoreError, StoreUnavailable
from .text import strip_controls

log = logging.getLogger("safety_bot.service")


class Reports:
    # ------------------------------------------------------------------ member reports
    _committer: asyncio.Future | None = None

    async def report(self, ev: ReportEvent) -> Outcome:
        durable: list[asyncio.Future] = []
        async with self._lock:
            out = await self._report(ev, durable=durable)
        if durable:  # group commit: several reports, one fsync; nobody is told "received" before it
            try:
                await self._committed(durable[0])
            except StoreError as exc:  # unavailable, or its rows refused at commit (the others' still commit)
                return self._not_stored(exc, ev.locale or self.config.locale)
            faults.point("report.committed")
        return out

    def _not_stored(self, exc: StoreError, loc: str) -> Outcome:
        """The member is asked to try again; nothing of the report was kept."""
        log.warning("a report could not be stored (%s); the member was asked to try again",
                    "database unavailable" if isinstance(exc, StoreUnavailable) else "refused by the database")
        return Outcome(ok=False, reply=self.t("store_unavailable", loc))

    async def _committed(self, pending: asyncio.Future) -> None:
        """Wait until the group holding our report is committed. The commit queues behind the service
        lock, so every report already waiting for the lock joins the same group first. One committer task
        commits until no report it was asked for is waiting (a report whose group opened while it was
        committing an earlier one is committed in its next round)."""
        if not pending.done():
            self._awaiting.add(pending)
            if self._committer is None or self._committer.done():
                self._committer = asyncio.ensure_future(self._commit_groups())
            await asyncio.shield(pending)  # shielded: one member giving up must not cancel the others' group
        pending.result()

    @property
    def _awaiting(self) -> set:
        return self.__dict__.setdefault("_awaiting_commit", set())

    async def _commit_groups(self) -> None:
        while True:
            async with self._lock:
                seal = getattr(self.store, "seal_group", None)  # PostgreSQL: the next group fills while this commits
                try:
                    committing = await seal() if seal is not None else await self.store.commit()
                except StoreError:
                    committing = None  # the waiting reports see the failure on their own futures
            if committing is not None:
                try:
                    await committing
                except StoreError:
                    pass
            waiting = {p for p in self._awaiting if not p.done()}
            self.__dict__["_awaiting_commit"] = waiting
            if not waiting:
                return
            await asyncio.sleep(0)  # the next round after others had their turn (never a busy loop)

    async def _report(self, ev: ReportEvent, durable: list | None = None) -> Outcome:
        """A new case (or a report joining the member's open one). With `durable` (a list) and a store that
        groups commits, everything (the reads too, so they see the group's earlier reports) happens in the
        open group and its future is appended to `durable`: the caller must wait for it before answering."""
        loc = ev.locale or self.config.locale
        text = strip_controls(ev.text or "").strip()
        ref = ev.message.ref if ev.message else ev.message_ref
        if not text and ref is None:
            return Outcome(ok=False, reply=self.t("report_empty", loc))
        max_chars = self.config.limits.report_max_chars
        if len(text) > max_chars:
            return Outcome(ok=False, reply=self.too_long(text, loc))
        grouped = durable is not None and getattr(self.store, "group_commit", False)
        try:
            async with self.store.transaction(**({"group": True} if grouped else {})) as pending:
                if pending is not None:
                    durable.append(pending)  # `report` answers only after the group commit (a refusal too)
                out = await self._in_transaction(ev, text, ref, loc)
        except StoreError as exc:  # unavailable, or (PostgreSQL) it rested on an earlier group the database refused
            return self._not_stored(exc, loc)
        if pending is None and out.ok:
            # Committed (and fsynced) here: only now is the member told it was received.
            faults.point("report.committed")
        return out

    async def _in_transaction(self, ev: ReportEvent, text: str, ref, loc: str) -> Outcome:
        community = self.community(ev.community)
        now = self.clock()
        # one read (PostgreSQL: one round trip): rate marks, open questions and their case, cases about them
        times, open_intake, open_case, about = await self.store.report_context(ev.reporter, community.network)
        recent = [t for t in times if t >= now - 3600]
        limit = self.config.limits.reports_per_hour
        if len(recent) >= limit and not self.lib.cues.find(text).urgent:  # words of danger are always heard
            # the window frees up when the oldest report in it turns an hour old
            minutes = max(1, int((recent[-limit] + 3600 - now) // 60) + 1)
            return Outcome(ok=False, reply=self.t("report_rate_limited", loc, minutes=minutes))
        accused = ev.message.author if ev.message else ev.accused
        case = Case(community=community.id, network=community.network, number=0, category="sextortion",
                    urgency=Urgency.NORMAL, status=Status.OPEN, created_at=now, updated_at=now,
                    reporter=ev.reporter, accused=[accused] if accused else [], locale=loc,
                    alias=f"reporter-{secrets.token_hex(2)}")
        if accused and ev.accused_is_moderator:
            case.flags["about_moderator"] = True
            case.hidden_from = [accused.key]
        if accused and accused.key == ev.reporter.key:
            case.accused = []
        # one conversation per member: a second report about the same person joins the open case
        if intake_queue.joins(open_case, accused):
            joined = await self._join_open_case(open_case, open_intake, ev, text, ref, loc, now)
            await self.enqueue(joined)
            return joined
        scanned = self.scan_text(case, text)
        retaliation = [c for c in about if c.status != Status.CLOSED]
        if retaliation:
            case.flags["retaliation_suspected"] = [c.number for c in retaliation]
        first = intake_rules.next_question(self.lib, case, [])
        if open_case is not None and first is not None:
            # one conversation at a time: these questions wait until the open ones are done
            case.flags[intake_queue.QUEUED] = True
            first = None
        named = await team_named.mark_named(self, case, [text])  # a team member named: escalation from the start
        case = await self.store.create_case(case)
        if named:
            await self.audit("bot", "case.names_team_member", community.id, case)
        for other in retaliation:
            other.flags.setdefault("retaliation_reports", []).append(case.number)
            await self.store.save_case(other)
        report = await self.store.add_report(Report(case_id=case.id, reporter=ev.reporter, text=text, source=ev.source,
                                                    created_at=now, reported_message=ref, locale=loc))
        evidence = [await self._store_snapshot(case, ev.message, "reporter")] if ev.message else []
        if not case.flags.get(intake_queue.QUEUED):
            await self.store.put_intake(Intake(platform=ev.reporter.platform, user_id=ev.reporter.id,
                                               case_id=case.id, asked=[first] if first else [],
                                               current=first, locale=loc, updated_at=now))
        await self.audit(reporter_actor(case), "report.received", community.id, case, source=ev.source,
                         with_message=ref is not None)
        out = Outcome(reply=self.t("report_received", loc), case_number=case.number)
        crisis, care_actions = await self.care_messages(case, scanned, loc, moved_to_child=False)
        if crisis:
            out.reply = crisis + "\n\n" + out.reply  # crisis lines first
        # Short first words (one phone screen); the rest when they ask (first_words.py).
        out.actions.append(self.private(ev.reporter, first_words.first_short(self.lib, case.category, loc, protect=protect_available(self)), loc,
                                        community.id, "ack"))
        if await guard.about_team(self, case):  # roles read now: the adapter's flag may not have seen them all
            out.actions.append(self.private(ev.reporter, self.t("about_moderator_notice", loc), loc,
                                            community.id, "info"))
        headline = self.team_text("team_post_new_case", number=case.number)
        if scanned.new_cues or scanned.to_child:
            headline = care.team_headline(self, case, scanned, new=True)
        out.actions += [a for a in care_actions if not isinstance(a, PostToTeam)]
        # the new case's report and evidence are the ones just written: the card needs no re-reading
        out.actions += await self.team_post(case, headline, ping=case.urgency == Urgency.URGENT,
                                            known=([report], evidence))
        if first:
            out.prompt = intake_rules.prompt_for(self.lib, first, loc)
        elif case.flags.get(intake_queue.QUEUED):
            out.reply += "\n" + self.t("report_questions_later", loc)
            if open_intake.current:
                out.prompt = intake_rules.prompt_for(self.lib, open_intake.current, open_intake.locale)
        await self.enqueue(out)
        return out

    async def _join_open_case(self, case: Case, intake: Intake, ev: ReportEvent, text: str, ref, loc: str,
                              now: float) -> Outcome:
        """A second report about the same person while the member's questions are open: it joins that case."""
        # its words are heard like any member text (danger, a minor's age), on the case they join
        scanned = self.scan_text(case, text)
        moved_to_child = scanned.to_child
        if moved_to_child:
            await self._drop_evidence_text(case)  # the child path keeps no message text
        await self.store.add_report(Report(case_id=case.id, reporter=ev.reporter, text=text, source=ev.source,
                                           created_at=now, reported_message=ref, locale=loc))
        if ev.message:
            await self._store_snapshot(case, ev.message, "reporter")
        case.updated_at = now
        named = await team_named.mark_named(self, case, [text])  # names a team member: escalation from now on
        await self.store.save_case(case)
        if named:
            await self.audit("bot", "case.names_team_member", case.community, case)
        await self.audit(reporter_actor(case), "report.joined", case.community, case, source=ev.source,
                         with_message=ref is not None)
        out = Outcome(reply=self.t("report_joined", loc, number=case.number), case_number=case.number)
        crisis, care_actions = await self.care_messages(case, scanned, loc, moved_to_child=moved_to_child)
        if crisis:
            out.reply = crisis + "\n\n" + out.reply  # crisis lines first
        out.actions += [a for a in care_actions if not isinstance(a, PostToTeam)]
        changed = bool(scanned.new_cues or scanned.to_child)
        headline = care.team_headline(self, case, scanned) if changed else \
            self.team_text("team_post_report_added", number=case.number)
        out.actions += await self.team_post(case, headline, ping=changed)
        if intake.current:
            out.prompt = intake_rules.prompt_for(self.lib, intake.current, intake.locale)
        return out
