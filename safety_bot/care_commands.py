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
        return c.refuse("reopen_not_closed", number=case.number)
    reopen(case, c.svc.clock())
    ack(c, case)  # the moderator who reopens it has it in hand
    out = Outcome(reply=c.t("reopened", number=case.number), case_number=case.number)
    for person in filter(None, (case.reporter, victim_of(case))):
        out.actions.append(c.svc.private(person, c.svc.t("case_reopened", case.locale), case.locale,
                                         case.community, "outcome"))
    return await save(c, case, "case.reopen", out)


async def cmd_link(c: Ctx) -> Outcome:
    case = await find_case(c, c.cmd.case)
    if case is None:
        return c.refuse("unknown_case", number=c.cmd.case)
    if not c.r.targets:
        return Outcome(ok=False, reply=usage("link", c.ctx.command_prefix, c.t))
    user = c.r.targets[0]
    if case.answers.get("about") != "someone_else":
        return c.refuse("link_not_for_someone_else", number=case.number)
    if victim_of(case) is not None:
        return c.refuse("link_already", number=case.number)
    if case.status == Status.CLOSED:
        return c.refuse("link_closed", number=case.number)
    if user.key in case.hidden_from or any(a.key == user.key for a in case.accused) or \
            user.key in case.flags.get("linked_accounts", []):  # an account of the accused (alt_accounts.py)
        return c.refuse("link_accused", number=case.number)
    if case.reporter and case.reporter.key == user.key:
        return c.refuse("link_reporter", number=case.number)
    out, intake = await c.svc.link_victim(case, user)
    ack(c, case)
    out.reply = c.t("linked_victim_done", name=inert_plain(user.name or user.id, limit=60), number=case.number)
    async with c.svc.store.transaction():
        await c.svc.store.put_intake(intake)
    return await save(c, case, "case.link_victim", out, victim=user.key)
