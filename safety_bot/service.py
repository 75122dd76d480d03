"""The core: events in, actions out. Member reports, the intake conversation, the reply channel,
and escalation timers live here; moderator commands are in `moderation.py`.

Each public method takes one event, updates the store inside one transaction (so a report is durable
before the member hears "received"), and returns an `Outcome` with actions for the runtime to carry
out. Nothing here talks to a platform.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field

from . import faults
from . import intake as intake_rules
from . import resources as res
from .actions import Outcome, PostToTeam, SendPrivate
from .config import Config
from .commands import PREFIXES
from .domain import (AuditEntry, Case, CaseNote, CloseReason, Intake, MessageRef, MessageSnapshot,
                     Report, Status, Urgency, UserRef)
from .evidence import EvidenceRecorder
from .playbooks import Library
from .store import Store, StoreUnavailable
from .text import inert_plain, strip_controls
from .views import card, card_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Community:
    id: str
    platform: str
    network: str
    name: str = ""
    has_escalation: bool = False


@dataclass
class ReportEvent:
    community: str
    reporter: UserRef
    text: str
    locale: str = "en"
    message: MessageSnapshot | None = None  # the reported message, captured at once by the adapter
    message_ref: MessageRef | None = None  # when only the reference is known
    accused: UserRef | None = None
    accused_is_moderator: bool = False
    source: str = "member"


def reporter_actor(case: Case) -> str:
    """Who did it, in the audit log, when the reporter did something: the case's alias, never their
    account. The log is exported with cases; only an audited `reveal` shows who reported."""
    return f"reporter:{case.alias}"


@dataclass
class ModContext:
    actor: UserRef
    community: str
    is_moderator: bool
    locale: str = "en"
    command_prefix: str = ""  # how commands are typed on this platform, for help and usage texts ("!safety ")


@dataclass
class Resolved:
    """A command's targets as the adapter found them on the platform."""

    targets: list[UserRef] = field(default_factory=list)
    moderators: set[str] = field(default_factory=set)  # keys of targets who hold moderator power
    message: MessageRef | None = None
    message_author: UserRef | None = None  # who wrote `message`, when the adapter could look it up


class SafetyService(EvidenceRecorder):
    def __init__(self, store: Store, library: Library, config: Config, clock=time.time):
        self.store = store
        self.lib = library
        self.config = config
        self.clock = clock
        self.texts = library.texts
        self.communities: dict[str, Community] = {}
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------ setup and helpers
    def add_community(self, community: Community) -> None:
        self.communities[community.id] = community

    def community(self, cid: str) -> Community:
        return self.communities[cid]

    def network_communities(self, network: str, platform: str) -> list[Community]:
        return [c for c in self.communities.values() if c.network == network and c.platform == platform]

    async def audit(self, actor: str, action: str, community: str = "", case: Case | None = None, **detail) -> None:
        await self.store.append_audit(AuditEntry(at=self.clock(), actor=actor, action=action, community=community,
                                                 case_id=case.id if case else None, detail=detail))

    async def enqueue(self, out: Outcome) -> None:
        """Write the outcome's actions to the outbox. Call inside the transaction that caused them."""
        done = {id(a) for _, a in out.queued}
        todo = [a for a in out.actions if id(a) not in done]
        ids = await self.store.outbox_add_many([(a.to_json(), getattr(a, "case_id", None)) for a in todo])
        out.queued.extend(zip(ids, todo))

    def t(self, key: str, locale: str, **kw) -> str:
        return self.texts.t(key, locale, **kw)

    def private(self, to: UserRef, body: str, locale: str, community: str, purpose: str, prompt=None) -> SendPrivate:
        """A DM whose first line is neutral: lock screens show it."""
        return SendPrivate(to=to, text=self.t("dm_header", locale) + "\n" + body.strip(), community=community,
                           purpose=purpose, prompt=prompt)

    async def linked_cases(self, case: Case) -> list[int]:
        numbers: set[int] = set()
        for a in case.accused:
            for other in await self.store.cases_about(case.network, a.key):
                if other.id != case.id and other.status != Status.CLOSED and other.community == case.community:
                    numbers.add(other.number)
        return sorted(numbers)

    async def case_card(self, case: Case, headline: str = "") -> dict:
        return card(self.lib, case, await self.store.reports_for(case.id), await self.store.evidence_for(case.id),
                    await self.linked_cases(case), headline=headline)

    async def team_post(self, case: Case, headline: str, *, ping: bool = False) -> list[PostToTeam]:
        """A case card for the team. Cases about a moderator go to the escalation destination only."""
        c = await self.case_card(case, headline)
        destination = "escalation" if case.flags.get("about_moderator") else "safety"
        if destination == "escalation" and not self.community(case.community).has_escalation:
            log.warning("case %s in %s is about a moderator and no escalation destination is configured; "
                        "it is only visible through the case commands", case.number, case.community)
            return []
        prefix = PREFIXES.get(self.community(case.community).platform, "")
        return [PostToTeam(community=case.community, text=card_text(c, prefix=prefix), case_number=case.number, ping=ping,
                           destination=destination, card=c)]

    def resources_text(self, case: Case | None, locale: str, *, country: str | None = None,
                       urgent_only: bool = False, needs: set[str] | None = None) -> str:
        if case is not None:
            country = country or case.flags.get("country") or intake_rules.country_from_locale(case.locale)
            audiences = set()
            if intake_rules.wants_adult_resources(case):
                audiences.add("adult")
            if intake_rules.wants_minor_resources(case):
                audiences |= {"minor", "parent"}
            needs = needs or set(self.lib.playbook(case.category).resource_needs)
        else:
            country = country or intake_rules.country_from_locale(locale)
            audiences = {"adult", "minor", "parent"}
            needs = needs or {"sextortion", "image_removal", "emotional_support"}
        chosen = res.select(self.lib.resources, country=country, audiences=audiences, needs=needs,
                            urgent_only=urgent_only)
        return res.render(self.texts, chosen, locale)

    # ------------------------------------------------------------------ member reports
    async def report(self, ev: ReportEvent) -> Outcome:
        async with self._lock:
            return await self._report(ev)

    async def _report(self, ev: ReportEvent) -> Outcome:
        loc = ev.locale or self.config.locale
        text = strip_controls(ev.text or "").strip()
        ref = ev.message.ref if ev.message else ev.message_ref
        if not text and ref is None:
            return Outcome(ok=False, reply=self.t("report_empty", loc))
        max_chars = self.config.limits.report_max_chars
        if len(text) > max_chars:
            return Outcome(ok=False, reply=self.t("report_too_long", loc, limit=max_chars, length=len(text)))
        community = self.community(ev.community)
        now = self.clock()
        try:
            recent = await self.store.report_times_since(ev.reporter.key, now - 3600)
        except StoreUnavailable:
            return Outcome(ok=False, reply=self.t("store_unavailable", loc))
        limit = self.config.limits.reports_per_hour
        if len(recent) >= limit:
            # the window frees up when the oldest report in it turns an hour old
            minutes = max(1, int((recent[-limit] + 3600 - now) // 60) + 1)
            return Outcome(ok=False, reply=self.t("report_rate_limited", loc, minutes=minutes))
        accused = ev.message.author if ev.message else ev.accused
        case = Case(community=community.id, network=community.network, number=0, category="sextortion",
                    urgency=Urgency.NORMAL, status=Status.OPEN, created_at=now, updated_at=now,
                    reporter=ev.reporter, accused=[accused] if accused else [], locale=loc,
                    alias=f"reporter-{secrets.token_hex(2)}")
        if accused and ev.accused_is_moderator:
            case.flags["about_moderator"] = True
            case.hidden_from = [accused.key]
        if accused and accused.key == ev.reporter.key:
            case.accused = []
        try:
            async with self.store.transaction():
                retaliation = [c for c in await self.store.cases_about(community.network, ev.reporter.key)
                               if c.status != Status.CLOSED]
                if retaliation:
                    case.flags["retaliation_suspected"] = [c.number for c in retaliation]
                case = await self.store.create_case(case)
                for other in retaliation:
                    other.flags.setdefault("retaliation_reports", []).append(case.number)
                    await self.store.save_case(other)
                await self.store.add_report(Report(case_id=case.id, reporter=ev.reporter, text=text, source=ev.source,
                                                   created_at=now, reported_message=ref, locale=loc))
                if ev.message:
                    await self._store_snapshot(case, ev.message, "reporter")
                first = intake_rules.next_question(self.lib, case, [])
                await self.store.put_intake(Intake(platform=ev.reporter.platform, user_id=ev.reporter.id,
                                                   case_id=case.id, asked=[first] if first else [],
                                                   current=first, locale=loc, updated_at=now))
                await self.audit(reporter_actor(case), "report.received", community.id, case, source=ev.source,
                                 with_message=ref is not None)
                out = Outcome(reply=self.t("report_received", loc), case_number=case.number)
                pb = self.lib.playbook(case.category)
                out.actions.append(self.private(ev.reporter, pb.text("first_reply", loc), loc, community.id, "ack"))
                out.actions.append(self.private(ev.reporter, self.t("resources_intro", loc) + "\n" +
                                                self.resources_text(case, loc), loc, community.id, "resources"))
                if case.flags.get("about_moderator"):
                    out.actions.append(self.private(ev.reporter, self.t("about_moderator_notice", loc), loc,
                                                    community.id, "info"))
                out.actions += await self.team_post(case, f"New case {case.number}", ping=case.urgency == Urgency.URGENT)
                if first:
                    out.prompt = intake_rules.prompt_for(self.lib, first, loc)
                await self.enqueue(out)
        except StoreUnavailable:
            log.warning("a report could not be stored (database unavailable); the member was asked to try again")
            return Outcome(ok=False, reply=self.t("store_unavailable", loc))
        # Committed (and fsynced) here: only now is the member told it was received.
        faults.point("report.committed")
        return out

    # ------------------------------------------------------------------ the intake conversation
    async def member_message(self, user: UserRef, community: str, text: str, locale: str | None = None,
                             *, start_report: bool = False) -> Outcome:
        """A private message from a member: an intake answer, a reply on their case, or a new report."""
        async with self._lock:
            loc = locale or self.config.locale
            try:
                current = await self.store.get_intake(user.platform, user.id)
            except StoreUnavailable:
                return Outcome(ok=False, reply=self.t("store_unavailable", loc))
            if current is not None:
                return await self._answer(current, text, locale or current.locale)
            word = text.strip().lower()
            if word.startswith("consent"):
                return await self._consent(user, word.split()[-1] if len(word.split()) > 1 else "", loc)
            if word in ("withdraw", "zurückziehen"):
                return await self._withdraw(user, loc)
            case = await self._latest_open_case_of(user, community)
            if case is not None and not start_report:
                return await self._reply_in(case, user, text, loc)
            if start_report:
                return await self._report(ReportEvent(community=community, reporter=user, text=text, locale=loc))
            return Outcome(reply=self.t("member_hint", loc))

    async def _latest_open_case_of(self, user: UserRef, community: str | None) -> Case | None:
        for case in reversed(await self.store.list_cases(community, ("open", "acting"))):
            if case.reporter and case.reporter.key == user.key:
                return case
        return None

    async def _answer(self, current: Intake, text: str, loc: str) -> Outcome:
        case = await self.store.get_case_by_id(current.case_id)
        qid = current.current
        if case is None or qid is None:
            await self.store.delete_intake(current.platform, current.user_id)
            return Outcome(reply=self.t("member_hint", loc))
        qdef = self.lib.questions[qid]
        answer = intake_rules.parse_answer(qdef, text, loc)
        if answer.kind == "invalid":
            return Outcome(ok=False, reply=self.t("answer_invalid", loc), prompt=intake_rules.prompt_for(self.lib, qid, loc))
        if len(text) > self.config.limits.report_max_chars:
            return Outcome(ok=False, reply=self.t("report_too_long", loc, limit=self.config.limits.report_max_chars,
                                                  length=len(text)), prompt=intake_rules.prompt_for(self.lib, qid, loc))
        out = Outcome(case_number=case.number)
        before_category, before_urgency = case.category, case.urgency
        value = intake_rules.SKIP if answer.kind in ("skip", "stop") else answer.value
        changes = intake_rules.apply_answer(self.lib, case, qid, value)
        if qid == "country" and answer.kind == "value":
            country = intake_rules.parse_country(value)
            if country:
                case.flags["country"] = country
        nxt = None if answer.kind == "stop" else intake_rules.next_question(self.lib, case, current.asked)
        try:
            async with self.store.transaction():
                if case.category == "child_safety" and before_category != "child_safety":
                    await self._drop_evidence_text(case)
                case.updated_at = self.clock()
                if nxt is None:
                    case = await self._finish_intake(case)
                await self.store.save_case(case)
                if nxt is None:
                    await self.store.delete_intake(current.platform, current.user_id)
                else:
                    current.asked.append(nxt)
                    current.current = nxt
                    current.updated_at = self.clock()
                    await self.store.put_intake(current)
                await self.audit(reporter_actor(case), "intake.answer", case.community,
                                 case, question=qid, skipped=answer.kind != "value")
                if qid == "danger" and value == "yes":
                    # Crisis lines first, before anything else.
                    out.reply = self.t("crisis_first", loc) + "\n" + self.resources_text(case, loc, urgent_only=True)
                if case.urgency == Urgency.URGENT and before_urgency != Urgency.URGENT:
                    out.actions += await self.team_post(case, f"Case {case.number} is now URGENT ({'; '.join(changes)})", ping=True)
                elif case.category != before_category:
                    out.actions += await self.team_post(case, f"Case {case.number} changed ({'; '.join(changes)})")
                if nxt is not None:
                    out.prompt = intake_rules.prompt_for(self.lib, nxt, loc)
                else:
                    out.extend(await self._intake_finished_messages(case, loc))
                await self.enqueue(out)
        except StoreUnavailable:
            return Outcome(ok=False, reply=self.t("store_unavailable", loc), prompt=intake_rules.prompt_for(self.lib, qid, loc))
        return out

    async def _finish_intake(self, case: Case) -> Case:
        """Unanswered questions count as skipped: a skipped age question means 'possibly a minor'."""
        for q in self.lib.playbook(case.category).questions:
            if q not in case.answers:
                intake_rules.apply_answer(self.lib, case, q, intake_rules.SKIP)
        if "anonymous" in case.answers and case.answers["anonymous"] == intake_rules.SKIP:
            case.flags["anonymous"] = True
        case.flags["intake_done"] = True
        return case

    async def _intake_finished_messages(self, case: Case, loc: str) -> Outcome:
        out = Outcome(reply=self.t("intake_done", loc), case_number=case.number)
        if case.reporter:
            more = self.resources_text(case, loc)
            out.actions.append(self.private(case.reporter, self.t("resources_final", loc) + "\n" + more, loc,
                                            case.community, "resources"))
        out.actions += await self.team_post(case, f"Case {case.number}: the reporter has finished the questions",
                                            ping=False)
        return out

    async def _drop_evidence_text(self, case: Case) -> None:
        for ev in await self.store.evidence_for(case.id):
            if ev.text:
                await self.store.add_note(CaseNote(case.id, "system", "system",
                                                   f"Text of evidence {ev.id} dropped: child-safety case.", self.clock()))
        await self.store.clear_evidence_text(case.id)

    # ------------------------------------------------------------------ reply channel, consent, withdrawal
    async def _reply_in(self, case: Case, user: UserRef, text: str, loc: str) -> Outcome:
        text = strip_controls(text).strip()
        if not text:
            return Outcome(ok=False, reply=self.t("report_empty", loc))
        if len(text) > self.config.limits.report_max_chars:
            return Outcome(ok=False, reply=self.t("report_too_long", loc, limit=self.config.limits.report_max_chars,
                                                  length=len(text)))
        try:
            async with self.store.transaction():
                await self.store.add_note(CaseNote(case.id, "reporter", "reply_in", text, self.clock()))
                await self.audit(reporter_actor(case), "case.reply_in", case.community, case)
        except StoreUnavailable:
            return Outcome(ok=False, reply=self.t("store_unavailable", loc))
        who = case.alias if case.anonymous or "anonymous" not in case.answers else (case.reporter.name or case.reporter.id)
        post = PostToTeam(community=case.community, case_number=case.number,
                          destination="escalation" if case.flags.get("about_moderator") else "safety",
                          text=f"Case {case.number}: the reporter ({inert_plain(who)}) wrote: {inert_plain(text, limit=1500)}")
        return Outcome(actions=[post], reply=self.t("reply_forwarded", loc), case_number=case.number)

    async def _consent(self, user: UserRef, value: str, loc: str) -> Outcome:
        case = await self._latest_open_case_of(user, None)
        if case is None:
            return Outcome(ok=False, reply=self.t("no_open_case", loc))
        if value not in ("yes", "no", "ja", "nein"):
            return Outcome(ok=False, reply=self.t("consent_usage", loc))
        value = {"ja": "yes", "nein": "no"}.get(value, value)
        case.flags["consent"] = value
        case.answers["consent"] = value
        async with self.store.transaction():
            await self.store.save_case(case)
            await self.audit(reporter_actor(case), "case.consent", case.community, case, consent=value)
        return Outcome(reply=self.t("consent_recorded_yes" if value == "yes" else "consent_recorded_no", loc))

    async def _withdraw(self, user: UserRef, loc: str) -> Outcome:
        case = await self._latest_open_case_of(user, None)
        if case is None:
            return Outcome(ok=False, reply=self.t("no_open_case", loc))
        case.status, case.close_reason, case.updated_at = Status.CLOSED, CloseReason.WITHDRAWN, self.clock()
        async with self.store.transaction():
            await self.store.save_case(case)
            await self.store.withdraw_reports(case.id)
            await self.audit(reporter_actor(case), "case.withdrawn", case.community, case)
        out = Outcome(reply=self.t("withdrawn", loc), case_number=case.number)
        out.actions.append(PostToTeam(community=case.community, case_number=case.number,
                                      text=f"Case {case.number} was withdrawn by the reporter and is closed. Their statement was deleted.",
                                      destination="escalation" if case.flags.get("about_moderator") else "safety"))
        return out

    async def resources_request(self, user: UserRef, community: str, locale: str | None = None,
                                country: str | None = None) -> Outcome:
        loc = locale or self.config.locale
        cc = intake_rules.parse_country(country) if country else None
        body = self.t("resources_intro", loc) + "\n" + self.resources_text(None, loc, country=cc)
        return Outcome(reply=body, actions=[self.private(user, body, loc, community, "resources")])

    # ------------------------------------------------------------------ timers
    async def tick(self) -> Outcome:
        """Escalate urgent cases nobody picked up; close intakes left idle. Call every minute or so."""
        async with self._lock:
            out = Outcome()
            now = self.clock()
            ack_after = self.config.escalation.ack_minutes * 60
            for case in await self.store.list_cases(None, ("open",)):
                if case.urgency != Urgency.URGENT or case.flags.get("acked_at"):
                    continue
                rounds = int(case.flags.get("escalations", 0))
                due = case.created_at + ack_after * (rounds + 1)
                if rounds >= 3 or now < due:
                    continue
                case.flags["escalations"] = rounds + 1
                async with self.store.transaction():
                    await self.store.save_case(case)
                    await self.audit("bot", "case.escalated", case.community, case, round=rounds + 1)
                headline = f"Case {case.number} is URGENT and nobody has picked it up yet (alert {rounds + 2})"
                out.actions += await self.team_post(case, headline, ping=True)
                if self.community(case.community).has_escalation and not case.flags.get("about_moderator"):
                    out.actions.append(PostToTeam(community=case.community, case_number=case.number, destination="escalation",
                                                  text=f"Case {case.number} is urgent and has not been picked up by the safety team "
                                                       f"for {int((now - case.created_at) // 60)} minutes."))
                if case.reporter:
                    out.actions.append(self.private(case.reporter, self.t("realerted", case.locale), case.locale,
                                                    case.community, "info"))
            idle = self.config.escalation.intake_idle_minutes * 60
            for it in await self.store.list_intakes():
                if now - it.updated_at < idle:
                    continue
                case = await self.store.get_case_by_id(it.case_id)
                async with self.store.transaction():
                    await self.store.delete_intake(it.platform, it.user_id)
                    if case is not None:
                        before = case.urgency
                        case = await self._finish_intake(case)
                        await self.store.save_case(case)
                if case is not None:
                    if case.urgency == Urgency.URGENT and before != Urgency.URGENT:
                        out.actions += await self.team_post(case, f"Case {case.number} is now URGENT (questions left unanswered)", ping=True)
                    if case.reporter:
                        out.actions.append(self.private(case.reporter, self.t("resources_final", case.locale) + "\n" +
                                                        self.resources_text(case, case.locale), case.locale,
                                                        case.community, "resources"))
            return out

    # ------------------------------------------------------------------ moderators and action results
    async def moderate(self, ctx: ModContext, cmd, resolved: Resolved | None = None) -> Outcome:
        from .moderation import moderate

        async with self._lock:
            return await moderate(self, ctx, cmd, resolved)

    async def after_action(self, action, status: str, detail: str = "", outbox_id: int | None = None) -> Outcome:
        """Record an action's result on its case and tell the reporter about outcomes that happened."""
        from .actions import BanUser, RemoveMessage, UnbanUser
        from .domain import Ban
        from .ports import ALREADY, NOT_FOUND, OK

        async with self._lock:
            out = Outcome()
            case_id = getattr(action, "case_id", None)
            case = await self.store.get_case_by_id(case_id) if case_id else None
            async with self.store.transaction():
                if isinstance(action, RemoveMessage) and case is not None:
                    where = action.ref.link or action.ref.message_id
                    if status in (OK, ALREADY):  # ALREADY: it went through before a restart (Runtime.resume)
                        await self.store.add_note(CaseNote(case.id, "system", "system", f"Removed message {where}.", self.clock()))
                        if case.reporter and not case.flags.get("told_removed"):
                            case.flags["told_removed"] = True
                            out.actions.append(self.private(case.reporter, self.t("outcome_removed", case.locale),
                                                            case.locale, case.community, "outcome"))
                    elif status == NOT_FOUND:
                        await self.store.add_note(CaseNote(case.id, "system", "system",
                                                           f"Message {where} was already gone; nothing to remove.", self.clock()))
                    else:
                        await self.store.add_note(CaseNote(case.id, "system", "system",
                                                           f"Could not remove message {where}: {detail or status}.", self.clock()))
                elif isinstance(action, BanUser):
                    com = self.communities.get(action.community)
                    network = com.network if com else action.community
                    if status in (OK, ALREADY):
                        if await self.store.active_ban(network, action.user.key) is None:
                            await self.store.add_ban(Ban(network=network, user_id=action.user.key, case_id=action.case_id,
                                                         at=self.clock(), by="safety-team", reason=action.reason))
                        if case is not None and case.reporter and not case.flags.get("told_banned"):
                            case.flags["told_banned"] = True
                            out.actions.append(self.private(case.reporter, self.t("outcome_banned", case.locale),
                                                            case.locale, case.community, "outcome"))
                    if case is not None:
                        text = (f"Banned {action.user.name or action.user.id} in {action.community}."
                                if status in (OK, ALREADY) else
                                f"Ban of {action.user.name or action.user.id} in {action.community} FAILED: {detail or status}. Not marked done.")
                        await self.store.add_note(CaseNote(case.id, "system", "system", text, self.clock()))
                elif isinstance(action, UnbanUser) and case is not None:
                    await self.store.add_note(CaseNote(case.id, "system", "system",
                                                       f"Unban of {action.user.name or action.user.id} in {action.community}: {status}.",
                                                       self.clock()))
                if case is not None:
                    await self.store.save_case(case)
                await self.audit("bot", f"action.{action.kind}", getattr(action, "community", "") or "", case,
                                 status=status)
                await self.enqueue(out)
                if outbox_id is not None:
                    await self.store.outbox_done(outbox_id, status, detail[:500])
            return out
