"""Alternate accounts of a case's accused, linked by the team: `alt N <member or id> [--remove]` (issue 13,
items 1 and 5).

A perpetrator often comes back under a second account. Linking it to the case does two things:
- the hash bank's automatic match bans it too (bank_guard.may_ban_automatically), not only the accused;
- the linked account counts as the accused for conflicts of interest (guard.quick_conflict): if it is (or
  becomes) a member of the safety team, the case is hidden from it.

Because a link can lead to an automatic ban, it is guarded like a ban: the command passes guard.check
(conflicts of interest, a team member only from the escalation destination, never yourself), the case's
reporter and victims and the reporters and victims of other open cases about the same accused can never
be linked, and every link and unlink is audited with a note on the case's timeline.
"""

from __future__ import annotations

from .actions import Outcome
from .commands import usage
from .domain import Case, Status, UserRef
from .mod_context import Ctx, add_note, find_case, save
from .text import inert_plain

FLAG = "linked_accounts"


def linked(case: Case) -> list[str]:
    return list(case.flags.get(FLAG, []))


async def _protected(c: Ctx, case: Case) -> set[str]:
    """Reporters and victims of this case and of every open case about the same accused in the network."""
    from .guard import protected_people

    accused = {a.key for a in case.accused} | set(linked(case))
    keys = protected_people(case)
    for other in await c.svc.store.list_cases(None):
        if other.network == case.network and other.status != Status.CLOSED and \
                accused & ({a.key for a in other.accused} | set(linked(other))):
            keys |= protected_people(other)
    return keys


async def cmd_alt(c: Ctx) -> Outcome:
    case = await find_case(c, c.cmd.case)
    if case is None:
        return c.refuse("unknown_case", number=c.cmd.case)
    if not c.r.targets:
        return Outcome(ok=False, reply=usage("alt", c.ctx.command_prefix, c.t))
    user: UserRef = c.r.targets[0]
    who = inert_plain(user.name or user.id, limit=60)
    remove = bool(c.cmd.flags.get("remove"))
    if case.status == Status.CLOSED:
        return c.refuse("case_closed_nothing_changed", number=case.number)
    if remove:
        if user.key not in linked(case):
            return c.refuse("alt_not_linked", who=who, number=case.number)
        case.flags[FLAG] = [k for k in linked(case) if k != user.key]
        if not case.flags[FLAG]:
            case.flags.pop(FLAG)
        async with c.svc.store.transaction():
            await add_note(c, case, c.t("alt_note_unlinked", account=user.key))
        out = Outcome(reply=c.t("alt_unlinked", who=who, number=case.number), case_number=case.number)
        return await save(c, case, "case.alt_unlinked", out, account=user.key)
    if not case.accused:
        return c.refuse("alt_no_accused", number=case.number)
    if any(a.key == user.key for a in case.accused):
        return c.refuse("alt_is_accused", who=who, number=case.number)
    if user.key in linked(case):
        return c.refuse("alt_already", who=who, number=case.number)
    if user.key in await _protected(c, case):
        return c.refuse("alt_protected", who=who)
    case.flags[FLAG] = sorted(set(linked(case)) | {user.key})
    async with c.svc.store.transaction():
        await add_note(c, case, c.t("alt_note_linked", account=user.key))
    out = Outcome(reply=c.t("alt_linked", who=who, number=case.number), case_number=case.number)
    return await save(c, case, "case.alt_linked", out, account=user.key)
