"""The invariants that keep the safety team from being turned against the people it protects.

Every moderator command reaches the core through `moderation.moderate()`, whatever the platform and
whether it was typed, picked from a slash command or pressed as a button; `moderate()` calls `check()`
here before any command runs. Nothing is remembered from earlier: each check works from the case's
people as they are now and from the roles the adapter reads at the moment of the command.

1. Conflict of interest. An actor who is accused in a case, linked to its accused, or named in its
   report cannot see the case, cannot learn that it exists, and cannot act on the case, its reporter or
   its reported messages. The refusal is the same text a moderator gets for a case that does not exist
   (or for acting on themselves), it is audited, and the escalation destination is alerted. The first time
   a team member named in a report (not the accused) is refused, the case is hidden from them and moves to
   the escalation destination (`route_named`). Accounts the team linked with `alt` count as the accused's.
   Nor can they lift a ban or suspension from the case's accused or their linked accounts.
2. The safety team and the escalation contact can be banned, warned or have their messages removed only
   from the escalation destination.

Roles are read when needed: adapters register a reader (`register_roles`) that answers "is this account on
the safety team right now?", and one (`svc.destination_readers`) that answers "does it read the safety or the
escalation destination right now?"; team posts about a case whose accused holds that role, or reads the safety
destination (a server admin sees every channel), go to the escalation destination, even when they were an
ordinary member at the time of the report. A post about a case whose accused reads the escalation destination
too is withheld (audited): there is no safe place for it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from .actions import Outcome, PostToTeam, SendPrivate, WarnUser
from .domain import Case, MessageRef, Status, UserRef
from .names import names
from .text import inert_plain

if TYPE_CHECKING:
    from .mod_context import Ctx
    from .service import SafetyService

log = logging.getLogger(__name__)

# "Is this account on the safety team of this community right now?" (one per platform, from the adapter)
RoleReader = Callable[[str, UserRef], Awaitable[bool]]
# "Does this account read this community's "safety" / "escalation" destination right now?"
DestinationReader = Callable[[str, UserRef, str], Awaitable[bool]]

# Commands whose targets are people; acting on yourself is refused for all of them (with the same text as
# a conflict of interest, so a refusal tells nobody whether a case about them exists).
TARGET_COMMANDS = ("ban", "unban", "unsuspend", "warn", "resources", "open", "assign", "strikes", "alt")
SELF_REFUSED = ("ban", "unban", "unsuspend", "warn", "resources", "open", "alt")
# Actions against a person that only the escalation destination may take against a team member (linking an
# account to an accused can lead to an automatic ban, so it counts).
AGAINST_PERSON = ("ban", "warn", "remove", "unban", "unsuspend", "alt")
# Commands that lift a sanction: an actor with a conflict in a case may not lift one from its accused (or an
# account linked to them), or an accused moderator could unban their accomplice.
LIFTS = ("unban", "unsuspend")


def register_roles(svc: "SafetyService", platform: str, reader: RoleReader) -> None:
    svc.role_readers[platform] = reader


async def reads(svc: "SafetyService", community: str, user: UserRef, destination: str) -> bool:
    """Whether this account reads the community's "safety" or "escalation" destination now (can view the channel,
    is in the room, is the escalation contact): from the reader the adapter registered in `svc.destination_readers`."""
    reader = svc.destination_readers.get(user.platform)
    if reader is None:
        return False
    try:
        return bool(await reader(community, user, destination))
    except Exception:  # a platform error must not stop a post; it is read again at the next one
        log.warning("could not read who reads a team destination on %s", user.platform)
        return False


async def holds_team_role(svc: "SafetyService", community: str, user: UserRef) -> bool:
    reader = svc.role_readers.get(user.platform)
    if reader is None:
        return False
    try:
        return bool(await reader(community, user))
    except Exception:  # a platform error must not stop a report; the flag set at intake still holds
        log.warning("could not read the roles of an account on %s", user.platform)
        return False


async def about_team(svc: "SafetyService", case: Case) -> bool:
    """Whether the case is about someone on the safety team: flagged at intake, or an accused who holds the
    team role now (promoted since). A newly found team member is hidden from the case from now on."""
    if case.flags.get("about_moderator"):
        return True
    if not case.accused:  # nobody to look up (and no async comprehension to run for nobody)
        return False
    found = [a for a in case.accused if await holds_team_role(svc, case.community, a)
             or await reads(svc, case.community, a, "safety")]  # e.g. an admin who sees every channel
    if not found:
        return False
    case.flags["about_moderator"] = True
    case.hidden_from = sorted(set(case.hidden_from) | {a.key for a in found})
    if case.id is not None:
        await svc.store.save_case(case)
        await svc.audit("bot", "case.about_team_member", case.community, case)
    return True


async def destination(svc: "SafetyService", case: Case) -> str:
    return "escalation" if await about_team(svc, case) else "safety"


# ---------------------------------------------------------------------------- conflict of interest
async def conflict(svc: "SafetyService", case: Case, actor: UserRef) -> str | None:
    """Why this actor may not see or touch this case (accused / linked / named / hidden), or None."""
    quick = quick_conflict(case, actor)
    if quick is not None:
        return quick
    if case.reporter is not None and case.reporter.key == actor.key:
        return None  # a moderator who reported something may follow their own case
    texts = [r.text for r in await svc.store.reports_for(case.id) if r.text]
    texts += [str(case.answers.get(k, "")) for k in ("threat", "evidence")]
    if any(names(t, actor, parts=False) for t in texts if t):
        return "named"
    return None


def quick_conflict(case: Case, actor: UserRef) -> str | None:
    """The conflicts that need no reading of the report: accused, linked, hidden."""
    if any(a.key == actor.key for a in case.accused):
        return "accused"
    if actor.key in case.flags.get("linked_accounts", []):
        return "linked"
    if actor.key in case.flags.get("named_team", []):  # found named in the report (team_named.py, route_named)
        return "named"
    if actor.key in case.hidden_from:
        return "hidden"
    return None


async def case_messages(svc: "SafetyService", case: Case) -> set[tuple[str, str]]:
    refs: set[tuple[str, str]] = set()
    for rep in await svc.store.reports_for(case.id):
        if rep.reported_message:
            refs.add((rep.reported_message.channel_id, rep.reported_message.message_id))
    for ev in await svc.store.evidence_for(case.id):
        if ev.ref:
            refs.add((ev.ref.channel_id, ev.ref.message_id))
    return refs


def protected_people(case: Case) -> set[str]:
    """Who an actor with a conflict in this case may not act on: the reporter and the victim."""
    keys = {case.reporter.key} if case.reporter else set()
    victim = UserRef.from_dict(case.flags.get("victim"))  # the person a friend's report is about (`link`)
    if victim is not None:
        keys.add(victim.key)
    keys |= set(case.flags.get("victims", []))
    return keys


async def protected_by_open_case(svc: "SafetyService", network: str, keys: set[str]) -> bool:
    """Whether any of these accounts is the reporter, or the person it is about, of an open case in the network,
    and was not the accused of an open case opened before that one (a perpetrator who reports their victim back
    does not become protected by it)."""
    cases = [x for x in await svc.store.list_cases(None, ("open", "acting")) if x.network == network]
    for key in keys:
        theirs = [x.created_at for x in cases if key in protected_people(x)]
        if theirs and not any(x.created_at < min(theirs) and
                              key in {a.key for a in x.accused} | set(x.flags.get("linked_accounts", []))
                              for x in cases):
            return True
    return False


async def visible(svc: "SafetyService", actor: UserRef, cases: list[Case]) -> list[Case]:
    shown = []
    for case in cases:
        why = await conflict(svc, case, actor)
        if why == "named":
            actions = await route_named(svc, case, actor)
            if actions:
                async with svc.store.transaction():
                    await svc.enqueue(Outcome(actions=actions))
        if not why:
            shown.append(case)
    return shown


async def route_named(svc: "SafetyService", case: Case, actor: UserRef) -> list:
    """A member of the safety team turned out to be named in this case's report (found when they acted): the
    case is hidden from them from now on and goes to the escalation destination, which gets its card once."""
    if actor.key in case.flags.get("named_team", []):
        return []
    case.flags["named_team"] = sorted(set(case.flags.get("named_team", [])) | {actor.key})
    case.flags["about_moderator"] = True
    case.hidden_from = sorted(set(case.hidden_from) | {actor.key})
    async with svc.store.transaction():
        await svc.store.save_case(case)
        await svc.audit("bot", "case.names_team_member", case.community, case)
    return await svc.team_post(case, svc.team_text("team_post_names_team", number=case.number))


# ---------------------------------------------------------------------------- the check before every command
async def check(c: "Ctx") -> Outcome | None:
    """A refusal, or None when the command may run. Called for every command before its handler."""
    svc, actor, cmd = c.svc, c.actor, c.cmd
    if cmd.name in ("help", "cases"):
        return None
    com = svc.community(c.ctx.community)
    # acting on yourself: always refused, with the generic text
    if cmd.name in SELF_REFUSED and any(t.key == actor.key for t in c.r.targets):
        return await _refuse(c, None, "self", alert=False)
    if cmd.case is not None:
        case = await svc.store.get_case(c.ctx.community, cmd.case)
        if case is not None:
            why = await conflict(svc, case, actor)
            if why:
                return await _refuse(c, case, why, key="unknown_case", number=cmd.case)
            refusal = await _withdrawn(c, case)
            if refusal is not None:
                return refusal
    targets = list(c.r.targets)
    if c.r.message is not None and c.r.message_author is not None:
        targets.append(c.r.message_author)
    # One read of the network's cases; a report is read only for a case whose reporter is a target.
    for case in await svc.store.list_cases(None):
        if case.network != com.network:
            continue
        people = protected_people(case)
        if cmd.name in LIFTS:
            people |= {a.key for a in case.accused} | set(case.flags.get("linked_accounts", []))
        if any(t.key in people for t in targets):
            why = quick_conflict(case, actor) or await conflict(svc, case, actor)  # closed cases too
            if why:
                return await _refuse(c, case, why)
        if c.r.message is not None and (c.r.message.channel_id, c.r.message.message_id) in await case_messages(svc, case):
            why = quick_conflict(case, actor) or await conflict(svc, case, actor)  # named in it too (item 1)
            if why:
                return await _refuse(c, case, why)
    # removing your own message: refused; checked after the cases, so that an accused moderator removing the
    # message their case is about is reported to the escalation destination (above) like any other try
    if c.r.message_author is not None and c.r.message_author.key == actor.key and cmd.name == "remove":
        return await _refuse(c, None, "self", alert=False)
    # the team and the escalation contact answer to the escalation destination only
    if cmd.name in AGAINST_PERSON and not c.ctx.via_escalation:
        team = [t for t in targets if t.key in c.r.moderators or await holds_team_role(svc, com.id, t)]  # roles now
        if team:
            return await _refuse(c, None, "team_member", key="team_target_escalation_only")
    return None


def refusal_text(c: "Ctx", key: str = "needs_other_member", **kw) -> str:
    return c.t(key, **kw)


async def _refuse(c: "Ctx", case: Case | None, why: str, *, key: str = "needs_other_member", alert: bool = True,
                  **kw) -> Outcome:
    svc = c.svc
    out = Outcome(ok=False, reply=c.t(key, **kw))
    com = svc.community(c.ctx.community)
    # The alert goes to the escalation destination, unless the actor acts from there (the escalation contact may
    # be the accused): then to the safety channel, and only about a case that channel already has.
    to = "escalation" if not c.ctx.via_escalation else \
        "safety" if case is not None and await destination(svc, case) == "safety" else None
    if alert and to is not None and (com.has_escalation or to == "safety"):
        who = inert_plain(c.actor.name or c.actor.id, limit=64)
        about = svc.team_text("guard_refused_about", number=case.number, why=svc.team_text(f"guard_why_{why}")) \
            if case is not None else ""
        out.actions.append(PostToTeam(community=com.id, destination=to,
                                      case_number=case.number if case else None,
                                      text=svc.team_text("guard_refused_alert", who=who,
                                                         id=inert_plain(c.actor.id, limit=80), command=c.cmd.name,
                                                         about=about)))
    if why == "named" and case is not None:
        out.actions += await route_named(svc, case, c.actor)
    async with svc.store.transaction():
        await svc.audit(c.actor.key, "guard.refused", com.id, case, command=c.cmd.name, why=why)
        await svc.enqueue(out)
    log.info("refused a moderator command (%s) in %s: %s", c.cmd.name, com.id, why)
    return out


def message_key(ref: MessageRef) -> tuple[str, str]:
    return (ref.channel_id, ref.message_id)


# ---------------------------------------------------------------------------- never message the accused
async def strict_cases_about(svc: "SafetyService", network: str, user_key: str) -> list[Case]:
    """Open sextortion or child-safety cases (playbooks with contact_accused: false) about this member, or
    about the accused the team linked this account to (`alt`: the same person's other account)."""
    about = [x for x in await svc.store.cases_about(network, user_key) if x.status != Status.CLOSED]
    seen = {x.id for x in about}
    about += [x for x in await svc.store.list_cases(None, (Status.OPEN.value, Status.ACTING.value))
              if x.network == network and x.id not in seen and user_key in x.flags.get("linked_accounts", [])]
    return [x for x in about if not svc.lib.playbook(x.category).contact_accused]


async def drop_messages_to_the_accused(svc: "SafetyService", actions: list) -> list:
    """The last line (every action passes here on its way to the outbox): no warning and no outcome notice
    reaches a member while a sextortion or child-safety case about them is open, and nothing about a case is
    posted to an escalation destination its accused reads. Dropped ones are audited."""
    kept = []
    for a in await _withhold_from_accused_escalation(svc, actions):
        person = a.user if isinstance(a, WarnUser) else a.to if isinstance(a, SendPrivate) and a.purpose == "outcome" else None
        if person is not None and a.community in svc.communities:
            strict = await strict_cases_about(svc, svc.community(a.community).network, person.key)
            if strict:
                await svc.audit("bot", "message.withheld", a.community, strict[0], kind=a.kind,
                                purpose=getattr(a, "purpose", ""))
                continue
        kept.append(a)
    return kept


# ---------------------------------------------------------------------------- withdrawal is honoured
ACTS_ON_CASE = ("ban", "remove", "warn", "export", "reveal", "category", "open", "reply")


async def _withdrawn(c: "Ctx", case: Case) -> Outcome | None:
    """A report the reporter withdrew: nobody writes to them about it, and any other action needs --confirm
    and a reason (audited)."""
    if not case.flags.get("withdrawn") or c.cmd.name not in ACTS_ON_CASE:
        return None
    if c.cmd.name == "reply":
        return Outcome(ok=False, reply=c.t("withdrawn_no_reply", number=case.number))
    reason = str(c.cmd.flags.get("reason") or c.cmd.text or "").strip()
    if not c.cmd.flags.get("confirm") or not reason:
        return Outcome(ok=False, reply=c.t("withdrawn_needs_confirm", number=case.number))
    async with c.svc.store.transaction():
        await c.svc.audit(c.actor.key, "case.withdrawn_override", c.ctx.community, case, command=c.cmd.name,
                          reason=reason)
    return None


async def _withhold_from_accused_escalation(svc: "SafetyService", actions: list) -> list:
    """A post about a case goes to the escalation destination when the case is about the team; when someone the
    case is about (accused, linked, named, hidden) also reads that destination (the escalation contact on the
    team), there is no safe place for it: it is withheld and audited, and the case stays findable by the rest of
    the team (`cases`)."""
    kept = []
    for a in actions:
        if isinstance(a, PostToTeam) and a.destination == "escalation" and a.case_number is not None \
                and a.community in svc.communities:
            case = await svc.store.get_case(a.community, a.case_number)
            if case is not None and await _about_someone_at_escalation(svc, case):
                await svc.audit("bot", "post.withheld", a.community, case, why="escalation_accused")
                log.warning("case %s in %s is about someone at the escalation destination: a post was withheld",
                            case.number, case.community)
                continue
        kept.append(a)
    return kept


async def _about_someone_at_escalation(svc: "SafetyService", case: Case) -> bool:
    keys = {a.key for a in case.accused} | set(case.flags.get("linked_accounts", [])) \
        | set(case.flags.get("named_team", [])) | set(case.hidden_from)
    for key in sorted(keys):
        platform, _, uid = key.partition(":")
        if uid and await reads(svc, case.community, UserRef(platform, uid), "escalation"):
            return True
    return False
