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


def _when(c: Ctx, at) -> str:
    from ..views import when

    return when(at) if at else c.t("lists_never")


async def cmd_lists(c: Ctx) -> Outcome:
    com = c.svc.community(c.ctx.community)
    rows = [lst for lst in await c.svc.store.shared_lists() if lst.network == com.network]
    async with c.svc.store.transaction():
        await c.svc.audit(c.actor.key, "list.view", c.ctx.community)
    if not rows:
        return Outcome(reply=c.t("lists_none", watch=f"{c.ctx.command_prefix}watch"))
    lines = []
    for lst in rows:
        kind = c.t(f"lists_kind_{lst.kind}") if lst.kind in ("hashes", "policy", "bans") else lst.kind
        lines.append(c.t("lists_line_one" if lst.size == 1 else "lists_line", kind=kind,
                         name=inert_plain(lst.name, limit=120), action=lst.action, size=lst.size,
                         fetched=_when(c, lst.last_fetch))
                     + (c.t("lists_last_error", error=inert_plain(lst.last_error, limit=200)) if lst.last_error else ""))
    return Outcome(reply="\n".join(lines))


def _room(c: Ctx) -> str | None:
    room = (c.cmd.text or "").split()[0] if (c.cmd.text or "").split() else ""
    return room if _ROOM.match(room) else None


async def cmd_watch(c: Ctx) -> Outcome:
    if c.actor.platform != "matrix":
        return c.refuse("watch_not_matrix")
    room = _room(c)
    if room is None:
        return c.refuse("watch_bad_room", usage=f"{c.ctx.command_prefix}watch <room> [--apply]")
    com = c.svc.community(c.ctx.community)
    apply = bool(c.cmd.flags.get("apply"))
    lst, new = await policy_lists(c.svc).watch(com.network, room, apply, c.actor.key)
    mode = c.t("watch_mode_apply" if apply else "watch_mode_notify")
    return Outcome(reply=c.t("watch_started" if new else "watch_still", room=inert_plain(room), mode=mode,
                             unwatch=f"{c.ctx.command_prefix}unwatch {inert_plain(room)}"))


async def cmd_unwatch(c: Ctx) -> Outcome:
    room = _room(c)
    if room is None:
        return c.refuse("unwatch_usage", usage=f"{c.ctx.command_prefix}unwatch <room>")
    com = c.svc.community(c.ctx.community)
    out = await policy_lists(c.svc).unwatch(com.network, room, c.actor.key)
    if out is None:
        return c.refuse("unwatch_not_watched", room=inert_plain(room))
    lifted = len({a.user.key for a in out.actions if getattr(a, "kind", "") == "unban"})
    out.reply = c.t("unwatch_done", room=inert_plain(room)) + (
        " " + c.t("unwatch_lifting", count=lifted) if lifted else "")
    return out
