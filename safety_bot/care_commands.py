"""Moderator commands for member care: `reopen N` (a closed case its reporter wrote about again) and
`link N <member>` (the person a friend's report is about joins the case as its victim)."""

from __future__ import annotations

from .actions import Outcome
from .commands import usage
from .domain import Status
from .followup import reopen, victim_of
from .mod_context import Ctx, ack, find_case, save
from .text import inert_plain


async def cmd_reopen(c: Ctx) -> Outcome:
    case = await find_case(c, c.cmd.case)
    if case is None:
        return c.refuse("unknown_case", number=c.cmd.case)
    if case.status != Status.CLOSED:
        return Outcome(ok=False, reply=f"Case {case.number} is not closed. Nothing changed.")
    reopen(case, c.svc.clock())
    ack(c, case)  # the moderator who reopens it has it in hand
    out = Outcome(reply=f"Case {case.number} is open again.", case_number=case.number)
    for person in filter(None, (case.reporter, victim_of(case))):
        out.actions.append(c.svc.private(person, c.svc.t("case_reopened", case.locale), case.locale,
                                         case.community, "outcome"))
    return await save(c, case, "case.reopen", out)


async def cmd_link(c: Ctx) -> Outcome:
    case = await find_case(c, c.cmd.case)
    if case is None:
        return c.refuse("unknown_case", number=c.cmd.case)
    if not c.r.targets:
        return Outcome(ok=False, reply=usage("link", c.ctx.command_prefix))
    user = c.r.targets[0]
    if case.answers.get("about") != "someone_else":
        return Outcome(ok=False, reply=f"Case {case.number} was not reported for someone else. Nothing changed.")
    if victim_of(case) is not None:
        return Outcome(ok=False, reply=f"Case {case.number} already has the person it is about linked. Nothing changed.")
    if case.status == Status.CLOSED:
        return Outcome(ok=False, reply=f"Case {case.number} is closed; reopen it first (reopen {case.number}). Nothing changed.")
    if user.key in case.hidden_from or any(a.key == user.key for a in case.accused):
        return Outcome(ok=False, reply=f"That member is named as the accused in case {case.number}. Nothing changed.")
    if case.reporter and case.reporter.key == user.key:
        return Outcome(ok=False, reply=f"That member reported case {case.number}. Nothing changed.")
    out, intake = await c.svc.link_victim(case, user)
    ack(c, case)
    out.reply = (f"{inert_plain(user.name or user.id, limit=60)} is linked to case {case.number} as the person it is "
                 f"about. They were asked what they want and about consent; the reporter's answers are kept aside.")
    async with c.svc.store.transaction():
        await c.svc.store.put_intake(intake)
    return await save(c, case, "case.link_victim", out, victim=user.key)
