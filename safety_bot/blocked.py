"""What was stopped before anyone saw it: a threat blocked by the platform (Discord AutoMod, the Synapse
module's event check) and a banked picture refused at upload (the Synapse module's media check). Each
opens a case on the author for the safety team, or adds to the open one, with what was blocked as
evidence (the text of a threat; for a picture only its hashes' match and where it was: never the file).

Nothing is sent to the author: the platform already showed them a neutral notice. Nobody is banned
automatically for a phrase match: words can be quoted or misread, so the team decides."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .actions import Outcome, PostToTeam
from .domain import Case, CaseNote, Evidence, Report, Status, Urgency, UserRef
from .text import inert_plain

if TYPE_CHECKING:
    from .service import SafetyService

_FLAG = "blocked_before_delivery"


async def _case_for(svc: "SafetyService", community: str, author: UserRef, note: str) -> tuple[Case, bool]:
    """The open case this bot opened about the author for something blocked, or a new one."""
    com = svc.community(community)
    for case in reversed(await svc.store.cases_about(com.network, author.key)):
        if case.community == community and case.status != Status.CLOSED and case.flags.get(_FLAG):
            return case, False
    now = svc.clock()
    pb = svc.lib.playbook("sextortion")
    case = Case(community=com.id, network=com.network, number=0, category="sextortion",
                urgency=Urgency.URGENT if pb.always_urgent else Urgency.NORMAL, status=Status.OPEN,
                created_at=now, updated_at=now, accused=[author], locale=svc.config.locale,
                flags={"opened_by_bot": True, "intake_done": True, _FLAG: True})
    case = await svc.store.create_case(case)
    await svc.store.add_report(Report(case_id=case.id, reporter=None, text="", source="moderator", created_at=now))
    await svc.store.add_note(CaseNote(case.id, "system", "system", note, now))
    await svc.audit("bot", "case.open", com.id, case, category="sextortion", blocked=True)
    return case, True


def _who(user: UserRef) -> str:
    ident = inert_plain(user.id, limit=80)
    return f"{inert_plain(user.name, limit=64)} ({ident})" if user.name and user.name != user.id else ident


# How the adapters name what blocked a message (the audit log keeps these words) -> the team's text for it
_VIA = {"Discord AutoMod": "blocked_via_automod", "the homeserver": "blocked_via_homeserver"}


def _via(svc: "SafetyService", via: str) -> str:
    return svc.team_text(_VIA[via]) if via in _VIA else via


async def _post(svc: "SafetyService", case: Case, new: bool, headline: str, text: str) -> list[PostToTeam]:
    if new:
        return await svc.team_post(case, headline)
    from . import guard

    return [PostToTeam(community=case.community, text=text, case_number=case.number,
                       destination=await guard.destination(svc, case))]


async def threat_blocked(svc: "SafetyService", community: str, author: UserRef, text: str, *, via: str,
                         where: str = "", matched: str = "", target: UserRef | None = None) -> Outcome:
    """A message the platform refused to deliver because it matched the threat phrasings (`via`: "Discord
    AutoMod", "the homeserver"). The blocked text becomes evidence; a mentioned member is noted as the
    possible target."""
    now = svc.clock()
    limit = svc.config.limits.report_max_chars
    t, by = svc.team_text, _via(svc, via)
    async with svc.exclusive():
        async with svc.store.transaction():
            case, new = await _case_for(svc, community, author, t("blocked_threat_note_opened", via=by))
            await svc.store.add_evidence(Evidence(
                case_id=case.id, ref=None, author=author, text=text[:limit], message_created_at=now, captured_at=now,
                captured_by="bot:blocked", note=t("blocked_threat_evidence", via=by)
                + (t("blocked_threat_evidence_where", where=where) if where else "")
                + (t("blocked_threat_evidence_matched", matched=matched[:100]) if matched else "")))
            if target is not None and target.key != author.key:
                case.flags.setdefault("possible_targets", [])
                if target.key not in case.flags["possible_targets"]:
                    case.flags["possible_targets"].append(target.key)
                    await svc.store.add_note(CaseNote(case.id, "system", "system",
                                                      t("blocked_threat_mentions", who=_who(target)), now))
            case.updated_at = now
            await svc.store.save_case(case)
            who = _who(author)
            out = Outcome(case_number=case.number)
            out.actions += await _post(
                svc, case, new, t("blocked_threat_post", number=case.number, via=by),
                t("blocked_threat_again", number=case.number, who=who, via=by + (", " + where if where else "")))
            await svc.audit("bot", "threat.blocked", community, case, via=via, target=target.key if target else None)
            await svc.enqueue(out)
    return out


async def media_blocked(svc: "SafetyService", community: str, uploader: UserRef, *, entry_id: int, how: str,
                        room: str = "", case: Case | None = None) -> Outcome:
    """A banked picture the homeserver refused at upload: never shown to anyone. Posted on the entry's case
    (or a new one about the uploader): uploader, room if known, time; never the file."""
    now = svc.clock()
    async with svc.exclusive():
        async with svc.store.transaction():
            new = False
            if case is None or case.status == Status.CLOSED:
                case, new = await _case_for(svc, community, uploader, svc.team_text("blocked_media_note_opened"))
            where = svc.team_text("blocked_media_room", room=inert_plain(room, limit=120)) if room else ""
            who = _who(uploader)
            from .views import when

            text = svc.team_text("blocked_media_post", number=case.number, entry=entry_id, how=how, who=who,
                                 where=where, at=when(now))
            await svc.store.add_note(CaseNote(case.id, "system", "system", text, now))
            case.updated_at = now
            await svc.store.save_case(case)
            out = Outcome(case_number=case.number)
            out.actions += await _post(svc, case, new, text, text)
            await svc.audit("bot", "media.blocked_at_upload", community, case, entry=entry_id, uploader=uploader.key)
            await svc.enqueue(out)
    return out


def protection_lost(svc: "SafetyService", community: str, what: str) -> Outcome:
    """Tell the team that a protection stopped working (`what`: a team text key, e.g. the AutoMod rule deleted)."""
    return Outcome(actions=[PostToTeam(community=community, text=svc.t(what, svc.config.locale))])
