"""Re-categorising a case: only the team, only with a reason, always audited (issue 13, item 4).

A reporter's answers can raise a case (to urgent, or to the child-safety path) but never move it down to
a strike-based category (safety_bot/intake.py): one tap on "Something else" must not turn sextortion into
harassment, after which the accused could be warned. When the team decides a case is something else,
`category N <category> <reason>` changes it, and the audit log records who, from what, to what, and why.
"""

from __future__ import annotations

from .actions import Outcome
from .commands import usage
from .domain import Status
from .mod_context import Ctx, add_note, find_case, save
from .text import inert_plain


async def cmd_category(c: Ctx) -> Outcome:
    case = await find_case(c, c.cmd.case)
    if case is None:
        return c.refuse("unknown_case", number=c.cmd.case)
    words = c.cmd.text.split(maxsplit=1)
    if len(words) < 2 or not words[1].strip():
        return Outcome(ok=False, reply=usage("category", c.ctx.command_prefix, c.t) + " " + c.t("category_reason_required"))
    target, reason = words[0].lower(), words[1].strip()
    if target not in c.svc.lib.playbooks:
        return Outcome(ok=False, reply=c.t("unknown_category", category=inert_plain(target[:30])) + " "
                       + usage("category", c.ctx.command_prefix, c.t))
    if case.status == Status.CLOSED:
        return c.refuse("case_closed_nothing_changed", number=case.number)
    if target == case.category:
        return c.refuse("category_already", number=case.number, category=target)
    before = case.category
    case.category = target
    case.flags.pop("reporter_suggested_category", None)
    if c.svc.lib.playbook(target).always_urgent:
        from .domain import Urgency
        case.urgency = Urgency.URGENT
    case.updated_at = c.svc.clock()
    async with c.svc.store.transaction():
        if target == "child_safety":
            await c.svc._drop_evidence_text(case)
        await add_note(c, case, c.t("category_note", before=before, after=target, reason=reason))
    out = Outcome(reply=c.t("category_changed", number=case.number, before=before, after=target), case_number=case.number)
    out.actions += await c.svc.team_post(case, c.svc.team_text("team_post_recategorised", number=case.number,
                                                               before=before, after=target))
    return await save(c, case, "case.recategorised", out, before=before, after=target, reason=reason)
