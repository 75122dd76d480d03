"""Timers and escalation: urgent cases nobody picked up are re-alerted (and escalated), intakes left idle
are finished. `tick()` runs every minute or so. A part of :class:`SafetyService` (a mixin)."""

from __future__ import annotations

from .actions import Outcome, PostToTeam
from .domain import Urgency


class Timers:
    # ------------------------------------------------------------------ timers
    async def tick(self) -> Outcome:
        """Escalate urgent cases nobody picked up; close intakes left idle. Call every minute or so."""
        async with self._lock:
            out = Outcome()
            now = self.clock()
            ack_after = self.config.escalation.ack_minutes * 60
            for case in await self.store.list_cases(None, ("open",)):
                if case.urgency != Urgency.URGENT or case.flags.get("acked_at"):
                    continue
                rounds = int(case.flags.get("escalations", 0))
                due = case.created_at + ack_after * (rounds + 1)
                if rounds >= 3 or now < due:
                    continue
                case.flags["escalations"] = rounds + 1
                async with self.store.transaction():
                    await self.store.save_case(case)
                    await self.audit("bot", "case.escalated", case.community, case, round=rounds + 1)
                headline = f"Case {case.number} is URGENT and nobody has picked it up yet (alert {rounds + 2})"
                out.actions += await self.team_post(case, headline, ping=True)
                if self.community(case.community).has_escalation and not case.flags.get("about_moderator"):
                    out.actions.append(PostToTeam(community=case.community, case_number=case.number, destination="escalation",
                                                  text=f"Case {case.number} is urgent and has not been picked up by the safety team "
                                                       f"for {int((now - case.created_at) // 60)} minutes."))
                if case.reporter:
                    out.actions.append(self.private(case.reporter, self.t("realerted", case.locale), case.locale,
                                                    case.community, "info"))
            idle = self.config.escalation.intake_idle_minutes * 60
            for it in await self.store.list_intakes():
                if now - it.updated_at < idle:
                    continue
                case = await self.store.get_case_by_id(it.case_id)
                async with self.store.transaction():
                    await self.store.delete_intake(it.platform, it.user_id)
                    if case is not None:
                        before = case.urgency
                        case = await self._finish_intake(case)
                        await self.store.save_case(case)
                if case is not None:
                    if case.urgency == Urgency.URGENT and before != Urgency.URGENT:
                        out.actions += await self.team_post(case, f"Case {case.number} is now URGENT (questions left unanswered)", ping=True)
                    if case.reporter:
                        out.actions.append(self.private(case.reporter, self.t("resources_final", case.locale) + "\n" +
                                                        self.resources_text(case, case.locale), case.locale,
                                                        case.community, "resources"))
            return out
