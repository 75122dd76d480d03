"""Questions adapters ask the core instead of reading the store: which community a private message belongs
to, whether a question is still the one a member is being asked, a case's current card. A part of
:class:`SafetyService` (a mixin; `self` is the service). Read-only, but for roles read now (guard.py)."""

from __future__ import annotations

from . import guard
from .domain import Case, UserRef


class Lookups:
    async def dm_community(self, user: UserRef, communities: list[str], joined: list[str]) -> str:
        """Which of the platform's `communities` a private message from `user` belongs to: their report in
        progress, else their latest open case, else the first community they are in (`joined`, as the
        platform knows it), else the first community."""
        intake = await self.store.get_intake(user.platform, user.id)
        if intake is not None:
            case = await self.store.get_case_by_id(intake.case_id)
            if case is not None and case.community in communities:
                return case.community
        best: Case | None = None
        for cid in communities:
            for case in await self.store.list_cases(cid, ("open", "acting")):
                if case.reporter and case.reporter.platform == user.platform and case.reporter.id == user.id:
                    if best is None or case.updated_at > best.updated_at:
                        best = case
        if best is not None:
            return best.community
        for cid in communities:
            if cid in joined:
                return cid
        return communities[0]

    async def is_current_question(self, user: UserRef, question: str) -> bool:
        """Whether `question` is the one this member is being asked now (an old button or form is not)."""
        intake = await self.store.get_intake(user.platform, user.id)
        return intake is not None and intake.current == question

    async def has_open_case(self, user: UserRef, community: str) -> bool:
        return await self._latest_open_case_of(user, community) is not None

    async def card_for(self, community: str, number: int, headline: str = "", *, destination: str | None = None) -> dict | None:
        """The case's current card (status, assignee), or None when there is no such case, or (`destination`: where
        the card to refresh was posted, "safety" or "escalation") when the case goes elsewhere now: a case that
        moved to the escalation destination (its accused joined the team, a report named a team member) never
        shows what was added since on its old card in the safety channel (guard.py)."""
        async with self.exclusive():  # reading roles may mark the case as about the team (a write)
            case = await self.store.get_case(community, number)
            if case is None:
                return None
            if destination is not None and await guard.destination(self, case) != destination:
                return None
            return await self.case_card(case, headline=headline)
