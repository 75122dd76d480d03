"""Timers and escalation: urgent cases nobody picked up are re-alerted (and escalated), intakes left idle
are finished. `tick()` runs every minute or so. A part of :class:`SafetyService` (a mixin)."""

from __future__ import annotations

from . import escalation, intake_queue
from .actions import Outcome
from .domain import Case, Urgency


class Timers:
    # ------------------------------------------------------------------ timers
    async def tick(self) -> Outcome:
        """Escalate cases nobody picked up (escalation.py); close intakes left idle. Call every minute or so."""
        async with self._lock:
            out = Outcome()
            now = self.clock()
            out.extend(await escalation.run(self, now))
            idle = self.config.escalation.intake_idle_minutes * 60
            for it in await self.store.list_intakes():
                if now - it.updated_at < idle:
                    continue
                case = await self.store.get_case_by_id(it.case_id)
                waiting: list[Case] = []
                async with self.store.transaction():
                    await self.store.delete_intake(it.platform, it.user_id)
                    if case is not None:
                        before = case.urgency
                        case = await self._finish_intake(case)
                        await self.store.save_case(case)
                        if case.reporter is not None:  # reports waiting behind this one: skipped the same way
                            waiting = await intake_queue.finish_queued(self, case.reporter)
                for other in waiting:
                    if other.urgency == Urgency.URGENT:
                        out.actions += await self.team_post(
                            other, self.team_text("team_post_now_urgent", number=other.number,
                                                  why=self.team_text("urgent_why_unanswered")), ping=True)
                if case is not None:
                    if case.urgency == Urgency.URGENT and before != Urgency.URGENT:
                        out.actions += await self.team_post(case, self.team_text(
                            "team_post_now_urgent", number=case.number, why=self.team_text("urgent_why_unanswered")),
                            ping=True)
                    if case.reporter:
                        out.actions.append(self.private(case.reporter, self.t("resources_final", case.locale) + "\n" +
                                                        self.resources_text(case, case.locale), case.locale,
                                                        case.community, "resources"))
            return out

