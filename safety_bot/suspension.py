"""Lifting a server-wide suspension (`unsuspend`). With `matrix.suspend_local_accused`, a ban of an accused
who is a user of the bot's own homeserver first suspends the account (adapters/matrix/platform.py); the
suspension stays until the safety team asks for it to end, even after an unban."""

from __future__ import annotations

from .actions import LiftSuspension, Outcome
from .commands import usage
from .mod_context import Ctx, save
from .text import inert_plain


async def cmd_unsuspend(c: Ctx) -> Outcome:
    if not c.r.targets:
        return Outcome(ok=False, reply=usage("unsuspend", c.ctx.command_prefix, c.t))
    t = c.r.targets[0]
    if t.platform != "matrix":
        return c.refuse("unsuspend_not_matrix")
    com = c.svc.community(c.ctx.community)
    communities = c.svc.network_communities(com.network, t.platform)
    if not communities:
        return c.refuse("unsuspend_no_matrix")
    out = Outcome(reply=c.t("unsuspend_started", name=inert_plain(t.name or t.id)))
    out.actions.append(LiftSuspension(community=communities[0].id, user=t, reason=c.svc.team_text("unsuspend_reason")))
    return await save(c, None, "member.unsuspend_requested", out, target=t.key,
                      reason=c.cmd.text.strip() or "(no reason given)")
