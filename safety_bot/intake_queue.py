"""One conversation per member at a time (issue 15, item 3); used by reports, conversation and timers.

A member can only answer one set of questions at once. A second report while questions are open either
joins the open case (it is about the same person) or waits: its questions start when the first set is
finished, and when the first set times out, the waiting ones are closed the same way (unanswered
questions count as skipped, so "age unknown" still applies). Nothing a member reported is dropped.
"""

from __future__ import annotations

from .domain import Case, Intake, Status, UserRef

QUEUED = "intake_queued"  # case flag: its questions wait until the member's open ones are done


def joins(open_case: Case | None, accused: UserRef | None) -> bool:
    """A new report joins the case whose questions are open when both name the same accused."""
    if open_case is None or open_case.status == Status.CLOSED or accused is None:
        return False
    return any(a.key == accused.key for a in open_case.accused)


async def queued_cases(store, reporter: UserRef) -> list[Case]:
    """The member's cases whose questions are waiting, oldest first."""
    found = []
    for case in await store.list_cases(None, (Status.OPEN.value, Status.ACTING.value)):
        if case.flags.get(QUEUED) and case.reporter is not None and case.reporter.key == reporter.key:
            found.append(case)
    return sorted(found, key=lambda c: c.id)


async def start_next(svc, reporter: UserRef, now: float) -> tuple[Case, str] | None:
    """Start the questions of the member's oldest waiting case. Call inside a transaction. Returns the case
    and its first question, or None when nothing is waiting (or the case has no questions)."""
    from . import intake as intake_rules

    for case in await queued_cases(svc.store, reporter):
        case.flags.pop(QUEUED, None)
        first = intake_rules.next_question(svc.lib, case, [])
        if first is None:
            case = await svc._finish_intake(case)
            await svc.store.save_case(case)
            continue
        await svc.store.save_case(case)
        await svc.store.put_intake(Intake(platform=reporter.platform, user_id=reporter.id, case_id=case.id,
                                          asked=[first], current=first, locale=case.locale, updated_at=now))
        return case, first
    return None


async def finish_queued(svc, reporter: UserRef) -> list[Case]:
    """The member went quiet: close every waiting case's questions as skipped. Call inside a transaction."""
    finished = []
    for case in await queued_cases(svc.store, reporter):
        case.flags.pop(QUEUED, None)
        case = await svc._finish_intake(case)
        await svc.store.save_case(case)
        finished.append(case)
    return finished
