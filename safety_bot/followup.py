"""Member messages that belong to a case without being a new report (a part of SafetyService):

- After close, still heard: a closed case's reporter writing again reaches the team on that case
  (`reopen N` reopens it); words of danger reopen it at once.
- Bystanders: a friend who reported for someone is given a code; the person it is about can write
  "I'm the person this is about" (or the code), the team confirms with `link N <member>`, and from then
  on they are the case's victim, with their own wishes and consent.
"""

from __future__ import annotations

import dataclasses
import re
import secrets

from . import care, first_words, guard
from . import intake as intake_rules
from .actions import Outcome, PostToTeam
from .domain import Case, CaseNote, CloseReason, Intake, Status, UserRef
from .protect.offer import available as protect_available
from .text import inert_line, inert_plain, strip_controls

CODE = re.compile(r"\bjoin-[0-9a-f]{6}\b", re.IGNORECASE)
VICTIM_QUESTIONS = ("wishes", "consent")


def new_friend_code() -> str:
    return f"join-{secrets.token_hex(3)}"


def victim_of(case: Case) -> UserRef | None:
    return UserRef.from_dict(case.flags.get("victim"))


def is_party(case: Case, user: UserRef) -> bool:
    """The reporter, or the person the case is about once the team linked them."""
    victim = victim_of(case)
    return bool((case.reporter and case.reporter.key == user.key) or (victim and victim.key == user.key))


class FollowUp:
    """Mixed into SafetyService."""

    async def latest_closed_case_of(self, user: UserRef, community: str | None) -> Case | None:
        for case in reversed(await self.store.list_cases(community, ("closed",))):
            if case.close_reason == CloseReason.WITHDRAWN:
                continue
            if is_party(case, user):
                return case
        return None

    async def after_close(self, case: Case, user: UserRef, text: str, loc: str) -> Outcome:
        words = strip_controls(text).strip()
        if not words:
            return Outcome(ok=False, reply=self.t("report_empty", loc))
        if len(words) > self.config.limits.report_max_chars:
            return Outcome(ok=False, reply=self.too_long(words, loc, case))
        scanned = self.scan_text(case, words)
        # words of danger, or a minor's age (the case becomes child safety, always urgent): open again, so
        # escalation keeps alerting the team until someone acts
        reopened = case.status == Status.CLOSED and bool(scanned.found.urgent or scanned.to_child)
        out = Outcome(reply=self.t("after_close_reopened" if reopened else "after_close_forwarded", loc),
                      case_number=case.number)
        async with self.store.transaction():
            if reopened:
                reopen(case, self.clock())
            if scanned.to_child:
                await self._drop_evidence_text(case)  # the child path keeps no message text
            await self.store.save_case(case)
            await self.store.add_note(CaseNote(case.id, "reporter", "reply_in", words, self.clock()))
            await self.audit(f"reporter:{case.alias}", "case.reply_after_close", case.community, case,
                             reopened=reopened)
            crisis, out.actions = await self.care_messages(
                case, scanned, loc, moved_to_child=scanned.to_child)
            if crisis:
                out.reply = crisis + "\n\n" + out.reply
            out.actions.append(PostToTeam(
                community=case.community, case_number=case.number, ping=reopened,
                destination=await guard.destination(self, case),  # roles read now (guard.py)
                text=self.team_text("team_post_reopened_wrote" if reopened else "team_post_closed_wrote",
                                    number=case.number, who=who_wrote(self, case, user),
                                    words=inert_line(words, limit=1500))))
            await self.enqueue(out)
        return out

    # ------------------------------------------------------------------ bystanders
    def bystander_messages(self, case: Case, loc: str) -> list:
        """When a member says it is happening to someone else: their own texts, and a code for the friend."""
        if case.reporter is None:
            return []
        code = case.flags.setdefault("friend_code", new_friend_code())
        return [self.private(case.reporter, self.t("bystander_first", loc, code=code), loc, case.community, "ack")]

    async def victim_join(self, user: UserRef, community: str, text: str, loc: str) -> Outcome | None:
        """The person a friend's report is about writes to the bot. None when the text is not that."""
        m = CODE.search(text or "")
        found = self.lib.cues.find(text or "")
        if m is None and not found.victim_join:
            return None
        cases = [c for c in await self.store.list_cases(None, ("open", "acting"))
                 if c.answers.get("about") == "someone_else" and not victim_of(c)]
        if m is not None:
            cases = [c for c in cases if c.flags.get("friend_code", "").lower() == m.group(0).lower()]
        else:  # without a code: reports made for someone else anywhere in this community's network
            network = self.community(community).network
            cases = [c for c in cases if c.network == network]
        if not cases and m is not None:
            if found.urgent:
                return None  # words of danger with a code that fits nothing: heard as a new report
            return Outcome(ok=False, reply=self.t("join_code_unknown", loc))
        out = Outcome(reply=self.t("join_received", loc))
        # with a code the case is known: a child-safety case's person gets the child's first words
        category = cases[0].category if m is not None and cases else "sextortion"
        out.actions.append(self.private(user, first_words.first_short(self.lib, category, loc, protect=protect_available(self)), loc, community, "ack"))
        name = inert_plain(user.name or user.id, limit=60)
        async with self.store.transaction():
            for c in cases:
                c.flags.setdefault("join_requests", [])
                if user.to_dict() not in c.flags["join_requests"]:
                    c.flags["join_requests"].append(user.to_dict())
                await self.store.save_case(c)
                await self.audit("bot", "case.join_requested", c.community, c, with_code=m is not None)
            if m is not None and cases:
                c = cases[0]
                out.actions += [PostToTeam(
                    community=c.community, case_number=c.number, destination=await guard.destination(self, c),
                    ping=True, text=self.team_text("team_post_join_code", name=name, number=c.number, id=user.id))]
            elif cases:
                # one post per community and destination: a case about a team member is named only to the
                # escalation destination (roles read now), so nobody it is about learns who came forward
                where: dict[tuple[str, str], list[int]] = {}
                for c in cases:
                    where.setdefault((c.community, await guard.destination(self, c)), []).append(c.number)
                for (com, dest), numbers in sorted(where.items()):
                    out.actions.append(PostToTeam(
                        community=com, destination=dest, ping=True, text=self.team_text(
                            "team_post_join_no_code", name=name, numbers=", ".join(map(str, numbers)), id=user.id)))
            else:
                out.actions.append(PostToTeam(
                    community=community, destination="safety", ping=True,
                    text=self.team_text("team_post_join_no_case", name=name, id=user.id)))
            if found.urgent:  # words of danger: crisis lines first, and the team reads them with the request
                out.reply = self.crisis_reply(None, loc, care.found_intro_key(found)) + "\n\n" + out.reply
                extra = " " + self.team_text("team_post_join_danger", words=inert_line(text, limit=1500))
                out.actions = [dataclasses.replace(a, text=a.text + extra) if isinstance(a, PostToTeam) else a
                               for a in out.actions]
            await self.enqueue(out)
        return out

    async def link_victim(self, case: Case, user: UserRef) -> tuple[Outcome, Intake]:
        """Make `user` the case's victim: their own wishes and consent (the friend's are kept aside)."""
        loc = self.config.locale
        for req in case.flags.get("join_requests", []):
            if req.get("id") == user.id and req.get("platform") == user.platform:
                user = UserRef.from_dict(req)
        case.flags["victim"] = user.to_dict()
        aside = {q: case.answers.pop(q) for q in VICTIM_QUESTIONS if q in case.answers}
        if aside:
            case.flags["bystander_answers"] = aside
        case.flags.pop("consent", None)
        case.flags["join_requests"] = [r for r in case.flags.get("join_requests", []) if r.get("id") != user.id]
        first = VICTIM_QUESTIONS[0]
        intake = Intake(platform=user.platform, user_id=user.id, case_id=case.id, asked=[first], current=first,
                        locale=loc, updated_at=self.clock())
        prompt = intake_rules.prompt_for(self.lib, first, loc)
        body = self.t("linked_victim", loc) + "\n\n" + self.t("resources_intro", loc) + "\n" + \
            self.resources_text(case, loc, victim=True)
        if case.category == care.CHILD:  # the child's first words, for the child themself
            body = first_words.first_short(self.lib, case.category, loc) + "\n\n" + body
        out = Outcome(actions=[self.private(user, body, loc, case.community, "info"),
                               self.private(user, "", loc, case.community, "question", prompt=prompt)],
                      case_number=case.number)
        return out, intake


def reopen(case: Case, now: float) -> None:
    case.status, case.close_reason, case.updated_at = Status.OPEN, None, now
    case.flags.pop("acked_at", None)
    case.flags["reopened_at"] = now


def who_wrote(svc, case: Case, user: UserRef) -> str:
    victim = victim_of(case)
    if victim and victim.key == user.key:
        return svc.team_text("who_victim")
    who = case.alias if case.anonymous or "anonymous" not in case.answers else (case.reporter.name or case.reporter.id)
    return svc.team_text("who_reporter", name=inert_plain(who))
