"""Unban is exact (issue 13, item 8).

`unban` records the request and queues the platform unbans in one transaction; the ban stays recorded.
Each platform result comes back through `after_action`: the ban row is ended (with its `ban.lifted` audit
entry, in the same transaction as the result is recorded) only when every community's unban went through.
If any platform refused, the ban stays recorded, the audit log says so, and the moderator is told.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .actions import UnbanUser
from .ports import ALREADY, OK

if TYPE_CHECKING:
    from .service import SafetyService


async def unban_result(svc: "SafetyService", action: UnbanUser, status: str, detail: str, outbox_id: int | None) -> None:
    """Call inside the transaction that records the result."""
    com = svc.communities.get(action.community)
    network = com.network if com else action.community
    ban = await svc.store.active_ban(network, action.user.key)
    if status not in (OK, ALREADY):
        await svc.audit("bot", "ban.unban_refused", action.community, None, target=action.user.key,
                        status=status, detail=(detail or "")[:200])
        return
    if ban is None:
        return
    # other unbans of this lift still waiting to run: the last one decides
    for oid, data in await svc.store.outbox_pending():
        if oid != outbox_id and data.get("kind") == "unban" and (data.get("user") or {}).get("id") == action.user.id \
                and (data.get("user") or {}).get("platform") == action.user.platform:
            return
    entries = await svc.store.audit_entries(actions=("ban.lift_requested", "ban.unban_refused"))
    requested = [a for a in entries if a.action == "ban.lift_requested" and a.detail.get("target") == action.user.key]
    since = requested[-1].at if requested else 0
    if any(a.action == "ban.unban_refused" and a.detail.get("target") == action.user.key and a.at >= since
           for a in entries):
        await svc.audit("bot", "ban.kept", action.community, None, target=action.user.key, ban_id=ban.id,
                        why="a platform refused the unban")
        return
    await svc.store.end_ban(ban.id)
    await svc.audit("bot", "ban.lifted", action.community, None, target=action.user.key, ban_id=ban.id,
                    ban_case_id=ban.case_id,
                    requested_by=requested[-1].actor if requested else "",
                    reason=requested[-1].detail.get("reason", "(no reason given)") if requested else "(no reason given)")
