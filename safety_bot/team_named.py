"""A report that names someone on the safety team goes to the escalation destination from its first card.

`guard.py` refuses a team member named in a report at every action, but that only starts when they act. So
when a case is created, and when a later report joins it, the core reads who is on the safety team now (a
team reader the adapter registers: `register_team`), keeps the members the report's words name (the same
comparison as the check at every action: `names(..., parts=False)`), and confirms each through the role
reader (`guard.holds_team_role`, read now, never cached). Any found: the case is about a team member, is
hidden from them, and its cards go to the escalation destination only, exactly as for an accused moderator
(the safety channel gets nothing about it).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from .domain import Case, UserRef
from .guard import holds_team_role
from .names import names

if TYPE_CHECKING:
    from .service import SafetyService

log = logging.getLogger(__name__)

# "Who is on the safety team of this community right now?" (one per platform, from the adapter)
TeamReader = Callable[[str], Awaitable[list[UserRef]]]


def register_team(svc: "SafetyService", platform: str, reader: TeamReader) -> None:
    svc.team_readers[platform] = reader


async def team_named(svc: "SafetyService", case: Case, texts: list[str]) -> list[UserRef]:
    """The members of the safety team (now) these texts name, other than the reporter."""
    texts = [t for t in texts if t]
    reader = svc.team_readers.get(svc.community(case.community).platform)
    if not texts or reader is None:
        return []
    try:
        team = list(await reader(case.community))
    except Exception:  # a platform error must not stop a report; the check at every action still holds
        log.warning("could not read the safety team of %s", case.community)
        return []
    reporter = case.reporter.key if case.reporter else None
    found: dict[str, UserRef] = {}  # a member may come under several names (display name, user name)
    for m in team:
        if m.key != reporter and m.key not in found and any(names(t, m, parts=False) for t in texts):
            found[m.key] = m
    return [m for m in found.values() if await holds_team_role(svc, case.community, m)]


async def mark_named(svc: "SafetyService", case: Case, texts: list[str]) -> bool:
    """Mark the case as about a team member when these texts name one (not saved here). True when it changed."""
    named = await team_named(svc, case, texts)
    if not named:  # most reports name nobody on the team (or no team reader is registered)
        return False
    known = set(case.flags.get("named_team", []))
    new = [m.key for m in named if m.key not in known]
    if not new:
        return False
    case.flags["named_team"] = sorted(known | set(new))
    case.flags["about_moderator"] = True
    case.hidden_from = sorted(set(case.hidden_from) | set(new))
    return True
