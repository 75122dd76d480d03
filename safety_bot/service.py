"""The core: events in, actions out. `SafetyService` is the one object adapters call; its parts live in
their own modules: member reports (`reports.py`), the intake conversation (`conversation.py`), the reply
channel, consent and withdrawal (`reply_channel.py`), timers and escalation (`timers.py`), action results
(`action_results.py`), evidence (`evidence.py`) and moderator commands (`moderation.py`). Here: the
community registry and what those parts share (audit, outbox, texts, case cards, resources).

Each public method takes one event, updates the store inside one transaction (so a report is durable
before the member hears "received"), and returns an `Outcome` with actions for the runtime to carry
out. Nothing here talks to a platform.
"""

from __future__ import annotations

import asyncio
import logging
import time

from . import care
from . import guard
from . import intake as intake_rules
from . import resources as res
from .action_results import ActionResults
from .actions import Outcome, PostToTeam, SendPrivate
from .config import Config
from .conversation import Conversation
from .domain import AuditEntry, Case, Status, UserRef
from .events import Community, ModContext, ReportEvent, Resolved, reporter_actor
from .evidence import EvidenceRecorder
from .followup import FollowUp
from .member_care import MemberCare
from .lookups import Lookups
from .moderation import case_refusal, moderate
from .playbooks import Library
from .protect.offer import ProtectRequests
from .plugins import command_prefix
from .reply_channel import ReplyChannel
from .reports import Reports
from .store import Store
from .timers import Timers
from .views import card

__all__ = ["Community", "ModContext", "ReportEvent", "Resolved", "SafetyService", "reporter_actor"]

log = logging.getLogger(__name__)


class SafetyService(Reports, Conversation, ReplyChannel, Timers, ActionResults, EvidenceRecorder, Lookups,
                    MemberCare, FollowUp, ProtectRequests):
    def __init__(self, store: Store, library: Library, config: Config, clock=time.time):
        self.store = store
        self.lib = library
        self.config = config
        self.clock = clock
        self.texts = library.texts
        self.communities: dict[str, Community] = {}
        self.role_readers: dict = {}  # platform -> guard.RoleReader, registered by adapters (roles read when needed)
        self.team_readers: dict = {}  # platform -> team_named.TeamReader: the safety team now (team_named.py)
        self.destination_readers: dict = {}  # platform -> guard.DestinationReader: who reads a team destination now
        self._lock = asyncio.Lock()
        # Called as observe(event, community, case, **detail) after each audit entry and action result:
        # logs and metrics (safety_bot/ops). They must not raise.
        self.observers: list = []

    # ------------------------------------------------------------------ setup and helpers
    def exclusive(self) -> asyncio.Lock:
        """The core decides one event at a time. Parts of the core with their own decisions (the hash bank)
        hold this while they read and change cases, so they never interleave with the service's."""
        return self._lock

    def add_community(self, community: Community) -> None:
        self.communities[community.id] = community

    def community(self, cid: str) -> Community:
        return self.communities[cid]

    def network_communities(self, network: str, platform: str) -> list[Community]:
        return [c for c in self.communities.values() if c.network == network and c.platform == platform]

    async def audit(self, actor: str, action: str, community: str = "", case: Case | None = None, **detail) -> None:
        await self.store.append_audit(AuditEntry(at=self.clock(), actor=actor, action=action, community=community,
                                                 case_id=case.id if case else None, detail=detail))
        for observe in self.observers:
            observe(action, community, case, **detail)

    async def enqueue(self, out: Outcome) -> None:
        """Write the outcome's actions to the outbox. Call inside the transaction that caused them."""
        if out.queued:
            done = {id(a) for _, a in out.queued}
            todo = [a for a in out.actions if id(a) not in done]
        else:  # nothing of this outcome queued yet (a new report): all of its actions
            done, todo = set(), list(out.actions)
        allowed = await guard.drop_messages_to_the_accused(self, todo)
        if len(allowed) != len(todo):
            out.actions = [a for a in out.actions if id(a) in done or any(a is k for k in allowed)]
            todo = allowed
        ids = await self.store.outbox_add_many([(a.to_json(), getattr(a, "case_id", None)) for a in todo])
        out.queued.extend(zip(ids, todo))

    def t(self, key: str, locale: str, **kw) -> str:
        return self.texts.t(key, locale, **kw)

    def team_text(self, key: str, **kw) -> str:
        """A text for the team's channels (case posts, notices): in the configured locale, else English."""
        return self.texts.t(key, self.config.locale, **kw)

    def private(self, to: UserRef, body: str, locale: str, community: str, purpose: str, prompt=None) -> SendPrivate:
        """A DM whose first line is neutral: lock screens show it."""
        return SendPrivate(to=to, text=self.t("dm_header", locale) + "\n" + body.strip(), community=community,
                           purpose=purpose, prompt=prompt)

    async def linked_cases(self, case: Case, viewer: UserRef | None = None) -> list[int]:
        """Other open cases naming an accused of this one: those `viewer` may see; without one (a card), a case
        about a team member only on a card that goes to the escalation destination too (guard.py)."""
        numbers: set[int] = set()
        to_safety = viewer is None and await guard.destination(self, case) == "safety"
        for a in case.accused:
            for other in await self.store.cases_about(case.network, a.key):
                if other.id != case.id and other.status != Status.CLOSED and other.community == case.community:
                    if (viewer is not None and await guard.conflict(self, other, viewer)) or \
                            (to_safety and await guard.destination(self, other) == "escalation"):
                        continue
                    numbers.add(other.number)
        return sorted(numbers)

    async def case_card(self, case: Case, headline: str = "", known: tuple | None = None) -> dict:
        """`known`: (reports, evidence) of the case when the caller has just written all of them."""
        reports, evidence = known if known is not None else (await self.store.reports_for(case.id),
                                                             await self.store.evidence_for(case.id))
        linked = await self.linked_cases(case) if case.accused else []  # linked through an accused only
        return card(self.lib, case, reports, evidence, linked, headline=headline, locale=self.config.locale)

    async def team_post(self, case: Case, headline: str, *, ping: bool = False,
                        known: tuple | None = None) -> list[PostToTeam]:
        """A case card for the team. Cases about a moderator go to the escalation destination only."""
        c = await self.case_card(case, headline, known)
        destination = await guard.destination(self, case)  # roles read now, not at intake (guard.py)
        if destination == "escalation" and not self.community(case.community).has_escalation:
            log.warning("case %s in %s is about a moderator and no escalation destination is configured; "
                        "it is only visible through the case commands", case.number, case.community)
            return []
        prefix = command_prefix(self.community(case.community).platform)
        return [PostToTeam.of_card(c, prefix, community=case.community, case_number=case.number, ping=ping,
                                   destination=destination)]

    def resources_text(self, case: Case | None, locale: str, *, country: str | None = None,
                       urgent_only: bool = False, needs: set[str] | None = None, victim: bool = False) -> str:
        minor_first = False
        if case is not None:
            country = country or case.flags.get("country") or intake_rules.country_from_locale(case.locale)
            audiences, minor_first = care.audiences_for(case, victim=victim)
            needs = needs or set(self.lib.playbook(case.category).resource_needs)
        else:
            country = country or intake_rules.country_from_locale(locale)
            audiences = {"adult", "minor", "parent"}
            needs = needs or {"sextortion", "image_removal", "emotional_support"}
        chosen = res.select(self.lib.resources, country=country, audiences=audiences, needs=needs,
                            urgent_only=urgent_only, minor_first=minor_first)
        body = res.render(self.texts, chosen, locale)
        if not any(r.region == country for r in chosen):  # no local lines: what to do in danger all the same
            body += "\n" + self.t("resources_no_local", locale)
        return body

    # ------------------------------------------------------------------ moderators (moderation.py)
    async def moderate(self, ctx: ModContext, cmd, resolved: Resolved | None = None) -> Outcome:
        async with self._lock:
            return await moderate(self, ctx, cmd, resolved)

    async def case_refusal(self, ctx: ModContext, number: int) -> Outcome | None:
        """Buttons on a case post ask this first (guard.py): a refusal, or None when the actor may act."""
        async with self._lock:
            return await case_refusal(self, ctx, number)

