"""Retention: closed cases and their evidence are deleted after `retention.closed_case_days`, unless a
moderator put the case on hold. The purge is audited (case number only; nothing of the content)."""

from __future__ import annotations

import time

from .domain import AuditEntry, Status

DAY = 86400


async def purge_closed(store, days: int, *, now: float | None = None,
                       removed: dict[str, int] | None = None) -> list[tuple[str, int]]:
    """Delete closed, not-held cases last updated more than `days` ago. Returns (community, number) pairs;
    `removed`, when given, is filled with what was removed, by kind, over all purged cases."""
    now = time.time() if now is None else now
    horizon = now - days * DAY
    purged = []
    for case in await store.list_cases(None, (Status.CLOSED.value,)):
        if case.flags.get("hold") or case.updated_at > horizon:
            continue
        async with store.transaction():
            counts = await store.purge_case(case.id) or {}
            await store.append_audit(AuditEntry(at=now, actor="bot:retention", action="case.purged",
                                                community=case.community, case_id=None,
                                                detail={"case_number": case.number, "closed_days": days}))
        purged.append((case.community, case.number))
        if removed is not None:
            for kind, n in counts.items():
                removed[kind] = removed.get(kind, 0) + n
    return purged
