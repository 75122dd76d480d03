"""Limits on power: the two-person rule (issue 13, item 6).

A stolen moderator account, or a moderator who turns, could otherwise ban a whole community in an hour.
`limits.mod_actions_per_hour` counts each target of this moderator's bans, removals and warnings (a
warning may bring a timeout), and each anonymous reporter they revealed, in the last hour. Past it, and for any ban of more than `MULTI_TARGET`
accounts at once, the command does not run: it shows a short code, and another member of the safety team
runs `confirm <code>` (in a team of one, the escalation contact does). The escalation destination is told
each time. Confirming runs the original command as the original moderator; both are in the audit log.
Pending confirmations are kept in the store for an hour (encrypted, like case data), so a code survives a
restart and works from any process of a shared PostgreSQL deployment; a code is used at most once.
"""

from __future__ import annotations

import importlib
import json
import secrets
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

from .actions import Outcome, PostToTeam
from .commands import COMMAND_SPECS, ModCommand
from .domain import MessageRef, UserRef
from .events import ModContext, Resolved
from .plugins import command_prefix
from .text import inert_plain

if TYPE_CHECKING:
    from .mod_context import Ctx

MULTI_TARGET = 5  # a ban of more accounts than this at once always needs a second person
PENDING_SECONDS = 3600
COUNTED = ("ban.requested", "message.remove", "member.warned", "case.reveal_reporter")
_SECOND = "second_person"  # internal flag, set only by `confirm` (no platform can send it)


@dataclass
class Pending:
    ctx: ModContext
    cmd: ModCommand
    resolved: Resolved
    at: float
    what: str

    def to_json(self) -> str:
        r = self.resolved
        return json.dumps({
            "ctx": asdict(self.ctx), "cmd": asdict(self.cmd), "at": self.at, "what": self.what,
            "resolved": {"targets": [t.to_dict() for t in r.targets], "moderators": sorted(r.moderators),
                         "message": r.message.to_dict() if r.message else None,
                         "message_author": r.message_author.to_dict() if r.message_author else None}})

    @classmethod
    def from_json(cls, text: str) -> "Pending":
        d = json.loads(text)
        ctx = dict(d["ctx"])
        ctx["actor"] = UserRef(**ctx["actor"])
        r = d["resolved"]
        resolved = Resolved(targets=[UserRef(**t) for t in r["targets"]], moderators=set(r["moderators"]),
                            message=MessageRef.from_dict(r["message"]),
                            message_author=UserRef.from_dict(r["message_author"]))
        return cls(ModContext(**ctx), ModCommand(**d["cmd"]), resolved, d["at"], d["what"])


async def actions_last_hour(c: "Ctx") -> int:
    """Targets of this moderator's bans, removals, warnings and reveals in the last hour (each target counts)."""
    since = c.svc.clock() - 3600
    n = 0
    for a in await c.svc.store.audit_entries(actions=tuple(COUNTED)):
        if a.at < since or a.actor != c.actor.key or a.action not in COUNTED:
            continue
        n += max(1, len(a.detail.get("targets") or [])) if a.action == "ban.requested" else 1
    return n


async def check(c: "Ctx", targets: int, what: str, *, protected: bool = False) -> Outcome | None:
    """None when the action may run now; otherwise the code to be confirmed by a second person. `protected`: it
    bans someone an open case protects (its reporter, or the person it is about): a report naming the victim as
    the accused must not get them banned by one moderator's two presses."""
    if c.cmd.flags.get(_SECOND):
        return None
    limit = c.svc.config.limits.mod_actions_per_hour
    done = await actions_last_hour(c)
    multi = c.cmd.name == "ban" and targets > MULTI_TARGET
    if done + targets <= limit and not multi and not protected:
        return None
    now = c.svc.clock()
    code = secrets.token_hex(3).upper()
    while await c.svc.store.get_confirmation(code, now) is not None:  # 16.7 million codes: a clash is rare
        code = secrets.token_hex(3).upper()
    pending = Pending(c.ctx, replace(c.cmd, flags=dict(c.cmd.flags)), c.r, now, what)
    com = c.svc.community(c.ctx.community)
    prefix = c.ctx.command_prefix or command_prefix(com.platform)  # Discord's adapter does not set it

    def reason(t) -> tuple[str, str]:  # (why, what) in the texts of `t`: the moderator's, or the team channel's
        why = t("two_person_multi", count=targets) if multi else t("two_person_protected") if protected else \
            t("two_person_recent_one" if done == 1 else "two_person_recent", count=done, limit=limit)
        return why, t(f"two_person_what_{what}")

    why, shown = reason(c.t)
    out = Outcome(ok=False, needs_confirmation=False, reply=c.t("two_person_needed", why=why, what=shown,
                                                                confirm=f"{prefix}confirm {code}"))
    if com.has_escalation:
        why, shown = reason(c.svc.team_text)
        asked = why if multi or protected else c.svc.team_text("two_person_after", what=shown, why=why)
        out.actions.append(PostToTeam(community=com.id, destination="escalation", text=c.svc.team_text(
            "two_person_alert", who=inert_plain(c.actor.name or c.actor.id, limit=64),
            id=inert_plain(c.actor.id, limit=80), asked=asked, code=code)))
    async with c.svc.store.transaction():
        await c.svc.store.put_confirmation(code, com.id, pending.to_json(), now, now + PENDING_SECONDS)
        await c.svc.audit(c.actor.key, "two_person.requested", com.id, None, command=c.cmd.name, code=code,
                          targets=targets, recent=done)
        await c.svc.enqueue(out)
    return out


async def cmd_confirm(c: "Ctx") -> Outcome:
    from . import guard

    code = c.cmd.text.strip().upper()
    none = c.refuse("confirm_no_pending", code=inert_plain(code[:12]))
    found = await c.svc.store.get_confirmation(code, c.svc.clock()) if code.isalnum() and len(code) <= 12 else None
    if found is None or found[0] != c.ctx.community:
        return none
    pending = Pending.from_json(found[1])
    if pending.ctx.actor.key == c.actor.key:
        return c.refuse("confirm_same_member")
    # The command runs as the member who asked: they must still be on the team, or at the escalation destination,
    # now (a stolen account whose role or access was taken away in the meantime).
    requester = pending.ctx.actor
    if not await _still_acts(c, pending):
        async with c.svc.store.transaction():
            await c.svc.audit(c.actor.key, "two_person.requester_not_team", c.ctx.community, None, code=code,
                              command=pending.cmd.name, requested_by=requester.key)
        return c.refuse("confirm_requester_not_team", name=inert_plain(requester.name or requester.id, limit=64))
    if not await c.svc.store.take_confirmation(code):  # another process (or press) confirmed it first
        return none
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
    out.reply = c.t("confirmed_by", what=c.t(f"two_person_what_{pending.what}"),
                    name=inert_plain(pending.ctx.actor.name or pending.ctx.actor.id)) + "\n" + out.reply
    return out


async def _still_acts(c: "Ctx", pending: Pending) -> bool:
    """Whether the member who asked still acts for the team: at the escalation destination now, or on the team
    and reading its destination now (roles read now, guard.py). True where the platform has no readers."""
    from . import guard

    svc, who, com = c.svc, pending.ctx.actor, pending.ctx.community
    readers = who.platform in svc.destination_readers
    if readers and await guard.reads(svc, com, who, "escalation"):
        return True
    if who.platform not in svc.role_readers:
        return not readers or not pending.ctx.via_escalation
    if not readers and pending.ctx.via_escalation:
        return True  # asked from the escalation destination, which this platform cannot be asked about
    return await guard.holds_team_role(svc, com, who) and (not readers or await guard.reads(svc, com, who, "safety"))
