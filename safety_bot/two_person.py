"""Limits on power: the two-person rule (issue 13, item 6).

A stolen moderator account, or a moderator who turns, could otherwise ban a whole community in an hour.
`limits.mod_actions_per_hour` counts each target of this moderator's bans, removals and warnings (a
warning may bring a timeout) in the last hour. Past it, and for any ban of more than `MULTI_TARGET`
accounts at once, the command does not run: it shows a short code, and another member of the safety team
runs `confirm <code>` (in a team of one, the escalation contact does). The escalation destination is told
each time. Confirming runs the original command as the original moderator; both are in the audit log.
Pending confirmations are kept in memory for an hour (a restart forgets them: run the command again).
"""

from __future__ import annotations

import importlib
import secrets
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .actions import Outcome, PostToTeam
from .commands import COMMAND_SPECS, ModCommand
from .events import ModContext, Resolved
from .plugins import command_prefix
from .text import inert_plain

if TYPE_CHECKING:
    from .mod_context import Ctx

MULTI_TARGET = 5  # a ban of more accounts than this at once always needs a second person
PENDING_SECONDS = 3600
COUNTED = ("ban.requested", "message.remove", "member.warned")
_SECOND = "second_person"  # internal flag, set only by `confirm` (no platform can send it)


@dataclass
class Pending:
    ctx: ModContext
    cmd: ModCommand
    resolved: Resolved
    at: float
    what: str


def _pending(svc) -> dict[str, Pending]:
    return svc.__dict__.setdefault("_two_person_pending", {})


async def actions_last_hour(c: "Ctx") -> int:
    """Targets of this moderator's bans, removals and warnings in the last hour (each target counts)."""
    since = c.svc.clock() - 3600
    n = 0
    for a in await c.svc.store.audit_entries():
        if a.at < since or a.actor != c.actor.key or a.action not in COUNTED:
            continue
        n += max(1, len(a.detail.get("targets") or [])) if a.action == "ban.requested" else 1
    return n


async def check(c: "Ctx", targets: int, what: str) -> Outcome | None:
    """None when the action may run now; otherwise the code to be confirmed by a second person."""
    if c.cmd.flags.get(_SECOND):
        return None
    limit = c.svc.config.limits.mod_actions_per_hour
    done = await actions_last_hour(c)
    multi = c.cmd.name == "ban" and targets > MULTI_TARGET
    if done + targets <= limit and not multi:
        return None
    pending = _pending(c.svc)
    now = c.svc.clock()
    for code in [k for k, p in pending.items() if now - p.at > PENDING_SECONDS]:
        del pending[code]
    code = secrets.token_hex(3).upper()
    pending[code] = Pending(c.ctx, replace(c.cmd, flags=dict(c.cmd.flags)), c.r, now, what)
    why = (f"a ban of {targets} accounts at once" if multi else
           f"{done} bans, removals or warnings in the last hour (the limit is {limit})")
    com = c.svc.community(c.ctx.community)
    prefix = c.ctx.command_prefix or command_prefix(com.platform)  # Discord's adapter does not set it
    out = Outcome(ok=False, needs_confirmation=False, reply=(
        f"Not done yet: {why}. This {what} needs a second member of the safety team. Ask another member (in a "
        f"team of one, the escalation contact) to run: {prefix}confirm {code} (valid for an hour)."))
    if com.has_escalation:
        out.actions.append(PostToTeam(community=com.id, destination="escalation", text=(
            f"Two-person rule: {inert_plain(c.actor.name or c.actor.id, limit=64)} ({inert_plain(c.actor.id, limit=80)}) "
            f"asked for {what} after {why}. It runs only when another team member confirms code {code}.")))
    async with c.svc.store.transaction():
        await c.svc.audit(c.actor.key, "two_person.requested", com.id, None, command=c.cmd.name, code=code,
                          targets=targets, recent=done)
        await c.svc.enqueue(out)
    return out


async def cmd_confirm(c: "Ctx") -> Outcome:
    from . import guard

    code = c.cmd.text.strip().upper()
    pending = _pending(c.svc).get(code)
    if pending is None or pending.ctx.community != c.ctx.community or c.svc.clock() - pending.at > PENDING_SECONDS:
        return Outcome(ok=False, reply=f"There is no pending action with the code {inert_plain(code[:12])} here. "
                                       "Nothing was changed.")
    if pending.ctx.actor.key == c.actor.key:
        return Outcome(ok=False, reply="Another member of the safety team must confirm this (in a team of one, the "
                                       "escalation contact). Nothing was changed.")
    del _pending(c.svc)[code]
    from .mod_context import Ctx

    cmd = replace(pending.cmd, flags={**pending.cmd.flags, _SECOND: True, "confirm": True})
    original = Ctx(c.svc, pending.ctx, cmd, pending.resolved)
    # both people's conflicts of interest are checked again, now (an accused cannot confirm against their victim)
    for who in (original, Ctx(c.svc, c.ctx, cmd, pending.resolved)):
        refusal = await guard.check(who)
        if refusal is not None:
            return refusal
    async with c.svc.store.transaction():
        await c.svc.audit(c.actor.key, "two_person.confirmed", c.ctx.community, None, code=code,
                          command=pending.cmd.name, requested_by=pending.ctx.actor.key)
    module, function = COMMAND_SPECS[pending.cmd.name].handler.split(":")
    out = await getattr(importlib.import_module(f"safety_bot.{module}"), function)(original)
    out.reply = f"Confirmed {pending.what} by {inert_plain(pending.ctx.actor.name or pending.ctx.actor.id)}.\n" + out.reply
    return out
