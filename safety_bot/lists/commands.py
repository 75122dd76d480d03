"""The team's shared-list commands (issue 19): `lists` (every list, its action, size, last fetch and last
error), `watch <room> [--apply]` and `unwatch <room>` (Matrix policy lists). Declared in commands.py."""

from __future__ import annotations

import re

from ..actions import Outcome
from ..mod_context import Ctx, save
from ..text import inert_plain
from .policy import policy_lists

# A room id (`!opaque:server`, or `!opaque` from room version 12 on) or an alias (`#name:server`).
_ROOM = re.compile(r"^(![A-Za-z0-9._~+/=\-]{1,255}(:[A-Za-z0-9.\-\[\]:]+)?|#[^\s:]{1,255}:[A-Za-z0-9.\-\[\]:]+)$")


def _when(at) -> str:
    from ..views import when

    return when(at) if at else "never"


async def cmd_lists(c: Ctx) -> Outcome:
    com = c.svc.community(c.ctx.community)
    rows = [lst for lst in await c.svc.store.shared_lists() if lst.network == com.network]
    async with c.svc.store.transaction():
        await c.svc.audit(c.actor.key, "list.view", c.ctx.community)
    if not rows:
        return Outcome(reply="No shared lists yet. Hash lists: 'safety-bot bank import/follow'; Matrix policy lists: "
                             f"{c.ctx.command_prefix}watch <room>; Discord ban pools: 'safety-bot bans follow'.")
    kinds = {"hashes": "hash list", "policy": "watched policy room", "bans": "ban pool"}
    lines = []
    for lst in rows:
        lines.append(f"{kinds.get(lst.kind, lst.kind)} {inert_plain(lst.name, limit=120)}: action {lst.action}, "
                     f"{lst.size} entr{'y' if lst.size == 1 else 'ies'}, last fetch {_when(lst.last_fetch)}"
                     + (f", last error: {inert_plain(lst.last_error, limit=200)}" if lst.last_error else ""))
    return Outcome(reply="\n".join(lines))


def _room(c: Ctx) -> str | None:
    room = (c.cmd.text or "").split()[0] if (c.cmd.text or "").split() else ""
    return room if _ROOM.match(room) else None


async def cmd_watch(c: Ctx) -> Outcome:
    if c.actor.platform != "matrix":
        return Outcome(ok=False, reply="Watching policy lists works on Matrix. On Discord, follow a ban pool with "
                                       "'safety-bot bans follow'. Nothing changed.")
    room = _room(c)
    if room is None:
        return Outcome(ok=False, reply="Give the policy room as !id:server or #alias:server. Nothing changed. "
                                       f"Usage: {c.ctx.command_prefix}watch <room> [--apply]")
    com = c.svc.community(c.ctx.community)
    apply = bool(c.cmd.flags.get("apply"))
    lst, new = await policy_lists(c.svc).watch(com.network, room, apply, c.actor.key)
    mode = ("its ban rules are applied like the bot's own bans (never to the safety team, never against your "
            "own unban)" if apply else
            "members who match its ban rules are shown here with a ban command; nothing is done automatically")
    return Outcome(reply=f"{'Watching' if new else 'Still watching'} {inert_plain(room)}: {mode}. "
                         f"Stop with {c.ctx.command_prefix}unwatch {inert_plain(room)}.")


async def cmd_unwatch(c: Ctx) -> Outcome:
    room = _room(c)
    if room is None:
        return Outcome(ok=False, reply=f"Usage: {c.ctx.command_prefix}unwatch <room>. Nothing changed.")
    com = c.svc.community(c.ctx.community)
    out = await policy_lists(c.svc).unwatch(com.network, room, c.actor.key)
    if out is None:
        return Outcome(ok=False, reply=f"{inert_plain(room)} is not watched. Nothing changed.")
    lifted = len({a.user.key for a in out.actions if getattr(a, "kind", "") == "unban"})
    out.reply = f"Stopped watching {inert_plain(room)}." + (
        f" Lifting {lifted} ban(s) that came from it." if lifted else "")
    return out
