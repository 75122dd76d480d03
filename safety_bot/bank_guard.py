"""The hash bank cannot be used to mass-ban (issue 13, item 5).

A troll can get a common picture banked on a case, then wait for many members to share it. So:

- An automatic match always removes the upload, but bans automatically only the case's accused and the
  accounts the team linked to them (`case.flags["linked_accounts"]`). Anyone else is reported to the team
  with the ban command (and, on Discord, a button) to press if they decide so.
- A persisted flood breaker counts distinct uploaders per entry (`media.flood_uploaders` within
  `media.flood_window_hours`, default 3 in 24 hours). At the limit the entry's automatic actions are
  suspended and the team is told that the picture is being shared widely and may not be private. The
  counts live in the store (keyed tags: HMAC with the database's tag key, never account ids), so a
  restart does not reset them.
- A banked picture the homeserver refused at upload (the Synapse module) counts like a removed post
  (`refused_upload`): the refusal stands, and at a limit the entry is suspended as on every platform.
- The second breaker, matches per hour (`media.flood_matches_per_hour`), is kept in the store too, so
  several processes count together and a restart does not reset it. Reactivating an entry starts both
  counts again.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .actions import Outcome
from .domain import Case, UserRef

if TYPE_CHECKING:
    from .bank import MediaBank
    from .service import SafetyService

_KEY = "bank.uploaders.{entry}"
_MATCHES = "bank.matches.{entry}"


def may_ban_automatically(case: Case, uploader: UserRef) -> bool:
    """Only the case's accused, or an account the team linked to them."""
    return (any(a.key == uploader.key for a in case.accused)
            or uploader.key in case.flags.get("linked_accounts", []))


def _tag(svc: "SafetyService", entry_id: int, uploader: UserRef) -> str:
    """Keyed (HMAC with the database's tag key): without the key nobody can test whether an account is among
    the uploaders. Values stored before this used unkeyed SHA-256 tags; they are kept and still counted until
    they leave the window (at most `flood_window_hours`), so the breaker never counts fewer people than were
    seen: an uploader seen both before and after the upgrade counts twice for that while, which only makes
    the breaker trip sooner."""
    return "k:" + svc.store.keyed_tag("bank-uploader", f"{entry_id}\x00{uploader.key}")[:32]


async def count_uploader(svc: "SafetyService", entry_id: int, uploader: UserRef) -> int:
    """Record this uploader for the entry; the number of distinct uploaders within the window, this one
    included. Stored, so it survives a restart."""
    cfg = svc.config.media
    now = svc.clock()
    horizon = now - cfg.flood_window_hours * 3600
    key = _KEY.format(entry=entry_id)
    raw = await svc.store.get_value(key)
    seen = {t: at for t, at in (json.loads(raw) if raw else {}).items() if at >= horizon}
    seen[_tag(svc, entry_id, uploader)] = now
    await svc.store.set_value(key, json.dumps(seen))
    return len(seen)


async def count_match(svc: "SafetyService", entry_id: int, now: float, window: float) -> int:
    """Record one matching post for the entry; how many matched within `window` seconds, this one included.
    Stored (call inside a transaction), so every process counts together and a restart does not reset it."""
    key = _MATCHES.format(entry=entry_id)
    raw = await svc.store.get_value(key)
    times = [t for t in (json.loads(raw) if raw else []) if t > now - window]
    times.append(now)
    await svc.store.set_value(key, json.dumps(times))
    return len(times)


async def reset(svc: "SafetyService", entry_id: int) -> None:
    """Both breakers start again for an entry the team checked and put back (call inside a transaction)."""
    await svc.store.set_value(_KEY.format(entry=entry_id), "{}")
    await svc.store.set_value(_MATCHES.format(entry=entry_id), "[]")


async def refused_upload(bank: "MediaBank", entry_id: int, uploader: UserRef, community: str) -> Outcome:
    """Count an upload the homeserver refused toward both breakers. The refusal stands (nobody saw the
    picture); at a limit the entry is suspended and the team told, as when posts of it are removed."""
    svc = bank.service
    now = svc.clock()
    async with svc.exclusive():
        async with svc.store.transaction():
            matched = await count_match(svc, entry_id, now, 3600.0)
            uploaders = await count_uploader(svc, entry_id, uploader)
    if uploaders >= svc.config.media.flood_uploaders:
        return await bank._suspend([entry_id], community, widely_shared=uploaders)
    if matched > svc.config.media.flood_matches_per_hour:
        return await bank._suspend([entry_id], community)
    return Outcome()
