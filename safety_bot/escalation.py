"""Escalation that never goes quiet (called from SafetyService.tick, under its lock).

- An URGENT case nobody has acknowledged (assigned, noted, acted on) is re-alerted: `escalation.realerts`
  times every `ack_minutes`, then every hour, for as long as it takes; each alert also goes to the
  escalation contact when there is one. The reporter is told the truth at most once an hour, with the
  crisis lines repeated.
- A normal case left unassigned for `escalation.remind_hours` reminds the team (again every
  `remind_hours`), and the reporter gets one honest check-in.
"""

from __future__ import annotations

from .actions import Outcome, PostToTeam
from .domain import Case, Status, Urgency

HOUR = 3600


def acknowledged(case: Case) -> bool:
    return bool(case.flags.get("acked_at") or case.assignee)


def urgent_due(case: Case, ack_seconds: float, realerts: int) -> float:
    """When the next alert for an unacknowledged urgent case is due."""
    rounds = int(case.flags.get("escalations", 0))
    if rounds < realerts:
        return case.created_at + ack_seconds * (rounds + 1)
    return case.created_at + ack_seconds * realerts + HOUR * (rounds - realerts + 1)


async def run(svc, now: float) -> Outcome:
    out = Outcome()
    cfg = svc.config.escalation
    ack_seconds = cfg.ack_minutes * 60
    for case in await svc.store.list_cases(None, ("open",)):
        if case.status != Status.OPEN or acknowledged(case):
            continue
        if case.urgency == Urgency.URGENT:
            if now >= urgent_due(case, ack_seconds, cfg.realerts):
                out.extend(await _urgent(svc, case, now))
        elif now >= case.created_at + cfg.remind_hours * HOUR * (int(case.flags.get("reminders", 0)) + 1):
            out.extend(await _remind(svc, case, now))
    return out


async def _urgent(svc, case: Case, now: float) -> Outcome:
    out = Outcome()
    rounds = int(case.flags.get("escalations", 0)) + 1
    case.flags["escalations"] = rounds
    minutes = int((now - case.created_at) // 60)
    community = svc.community(case.community)
    tell_reporter = case.reporter is not None and now - float(case.flags.get("reporter_told_at", 0)) >= HOUR
    if tell_reporter:
        case.flags["reporter_told_at"] = now
    async with svc.store.transaction():
        await svc.store.save_case(case)
        await svc.audit("bot", "case.escalated", case.community, case, round=rounds)
    since = svc.team_text("since_hours", hours=minutes // 60, minutes=minutes % 60) if minutes >= 120 else \
        svc.team_text("since_minutes", minutes=minutes)
    out.actions += await svc.team_post(
        case, svc.team_text("team_post_realert", number=case.number, alert=rounds + 1, since=since), ping=True)
    to_contact = community.has_escalation and not case.flags.get("about_moderator")
    if to_contact:
        out.actions.append(PostToTeam(community=case.community, case_number=case.number, destination="escalation",
                                      text=svc.team_text("escalation_not_picked_up", number=case.number, since=since)))
    if tell_reporter:
        loc = case.locale
        body = svc.t("realerted_contact" if to_contact else "realerted", loc) + "\n" + \
            svc.crisis_reply(case, loc, "realerted_crisis")
        out.actions.append(svc.private(case.reporter, body, loc, case.community, "info"))
    return out


async def _remind(svc, case: Case, now: float) -> Outcome:
    out = Outcome()
    n = int(case.flags.get("reminders", 0)) + 1
    case.flags["reminders"] = n
    checkin = case.reporter is not None and not case.flags.get("checkin_sent")
    if checkin:
        case.flags["checkin_sent"] = now
    async with svc.store.transaction():
        await svc.store.save_case(case)
        await svc.audit("bot", "case.reminded", case.community, case, round=n)
    hours = int((now - case.created_at) // HOUR)
    out.actions += await svc.team_post(
        case, svc.team_text("team_post_reminder", number=case.number, hours=hours), ping=True)
    if checkin:
        out.actions.append(svc.private(case.reporter, svc.t("checkin", case.locale), case.locale, case.community, "info"))
    return out
