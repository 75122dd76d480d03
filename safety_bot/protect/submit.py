"""What the page's submissions do: check a one-time link, and turn the hashes a member computed on their
own device into hash-bank entries on their case (the bank's public API, `MediaBank.add_hashes`).

Entries carry `added_by = MEMBER_ADDED`. A match removes the re-upload and tells the team; only the
case's accused is ever banned automatically (bank.py / bank_guard.py decide that, as for every entry).
The team is told how many entries the member added, never a hash. `withdraw_member_entries` takes
them out again when the member withdraws. Submissions and withdrawals are audited with counts only.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass

from ..actions import Outcome
from ..bank_index import ACTIVE, SUSPENDED
from ..domain import Case, CaseNote, Status, UserRef
from ..events import reporter_actor
from ..store import StoreUnavailable
from . import links

log = logging.getLogger(__name__)

MEMBER_ADDED = "member (protect my pictures)"
MAX_ITEMS = 20
MAX_VARIANTS = 7  # the picture turned and mirrored (the reference's dihedral hashes, less the original)
_HEX = {32: re.compile(r"^[0-9a-f]{32}$"), 64: re.compile(r"^[0-9a-f]{64}$")}


@dataclass
class Result:
    ok: bool
    status: int
    message: str
    added: int = 0
    outcome: Outcome | None = None  # what the runtime carries out (the team is told)


def _refusal(svc, why: str, lang: str) -> Result:
    key = {links.EXPIRED: "protect_link_expired", links.USED: "protect_link_used"}.get(why, "protect_link_unknown")
    log.info("protect page: a link was refused (%s)", why)
    return Result(False, 403, svc.t(key, lang))


def _hex(value, length: int) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    return value if _HEX[length].match(value) else None


def parse_items(items) -> list[dict] | None:
    """The submitted items, checked: {pdq, quality, md5[, variants]} for a picture or {video_md5} for a video.
    None when anything is malformed (nothing is added then)."""
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        return None
    out: list[dict] = []
    seen: set[tuple] = set()
    for item in items:
        if not isinstance(item, dict):
            return None
        if set(item) == {"video_md5"}:
            md5 = _hex(item["video_md5"], 32)
            if md5 is None:
                return None
            parsed = {"pdq": None, "quality": 0, "md5": md5, "variants": ()}
        elif set(item) in ({"pdq", "quality", "md5"}, {"pdq", "quality", "md5", "variants"}):
            pdq, md5, quality = _hex(item["pdq"], 64), _hex(item["md5"], 32), item["quality"]
            if pdq is None or md5 is None or type(quality) is not int or not 0 <= quality <= 100:
                return None
            raw = item.get("variants", [])
            if not isinstance(raw, list) or len(raw) > MAX_VARIANTS:
                return None
            variants = tuple(_hex(v, 64) for v in raw)
            if None in variants:
                return None
            parsed = {"pdq": pdq, "quality": quality, "md5": md5, "variants": variants}
        else:
            return None
        key = (parsed["pdq"], parsed["md5"])
        if key not in seen:  # the same file picked twice counts once
            seen.add(key)
            out.append(parsed)
    return out


async def _grant(svc, token, now: float) -> tuple[Case | None, links.Grant | None, str]:
    parsed = links.parse(token)
    if parsed is None:
        return None, None, links.UNKNOWN
    case = await svc.store.get_case_by_id(parsed[0])
    grant, why = links.check(case, parsed[1], now)
    if grant is not None and case.status == Status.CLOSED:  # said only to the link's holder
        return case, None, links.EXPIRED
    return case, grant, why


def _bank(svc):
    bank = getattr(svc, "bank", None)
    return bank if bank is not None and bank.available else None


async def check_link(svc, token, lang: str) -> Result:
    try:
        _, grant, why = await _grant(svc, token, svc.clock())
    except StoreUnavailable:
        return Result(False, 503, svc.t("store_unavailable", lang))
    if grant is None:
        return _refusal(svc, why, lang)
    if _bank(svc) is None:
        return Result(False, 503, svc.t("protect_unavailable", lang))
    return Result(True, 200, "")


async def submit(svc, token, items, lang: str) -> Result:
    parsed = parse_items(items)
    if parsed is None:
        return Result(False, 400, svc.t("protect_invalid", lang))
    bank = _bank(svc)
    if bank is None:
        return Result(False, 503, svc.t("protect_unavailable", lang))
    added: list[int] = []
    try:
        # One submission at a time, like every core decision: a link cannot be used twice at once.
        async with svc.exclusive():
            case, grant, why = await _grant(svc, token, svc.clock())
            if grant is None:
                return _refusal(svc, why, lang)
            claim = links.claim_code(grant.digest)
            if not await svc.store.take_confirmation(claim):  # another process spent it a moment ago
                return _refusal(svc, links.USED, lang)
            try:
                out = await _add_and_spend(svc, bank, case, grant, parsed, added)
            except BaseException:
                with contextlib.suppress(Exception):  # the link stays valid for another try
                    now = svc.clock()
                    await svc.store.put_confirmation(claim, case.community, "", now, now + links.LINK_MINUTES * 60)
                for entry_id in added:  # all or nothing: the link stays valid for another try
                    try:
                        await bank.withdraw(entry_id, MEMBER_ADDED, "submission failed")
                    except Exception:  # noqa: BLE001 - the first error is the one to report
                        log.warning("protect: an entry of a failed submission could not be taken back")
                raise
    except StoreUnavailable:
        return Result(False, 503, svc.t("store_unavailable", lang))
    log.info("protect page: %d entries added", len(added))
    return Result(True, 200, svc.t("protect_done", lang, count=len(added)), added=len(added), outcome=out)


async def _add_and_spend(svc, bank, case: Case, grant: links.Grant, parsed: list[dict], added: list[int]) -> Outcome:
    """The entries (ids appended to `added` as they are made), then the link spent, the note, the audit
    entry and the team's message, in one transaction."""
    for item in parsed:
        entry = await bank.add_hashes(case.network, pdq=item["pdq"], sha256=None, md5=item["md5"],
                                      quality=item["quality"], category="adult", actor=MEMBER_ADDED,
                                      case=case, variants=item["variants"])
        added.append(entry.id)
    now = svc.clock()
    case = await svc.store.get_case_by_id(case.id)
    links.spend(case, grant)
    case.updated_at = now
    pictures = sum(1 for i in parsed if i["pdq"])
    videos = len(parsed) - pictures
    async with svc.store.transaction():
        await svc.store.save_case(case)
        one = len(added) == 1
        await svc.store.add_note(CaseNote(case.id, "system", "system", svc.team_text(
            "protect_note_added_one" if one else "protect_note_added", count=len(added), pictures=pictures,
            videos=videos, ids=", ".join(map(str, added))), now))
        actor = reporter_actor(case) if case.reporter and case.reporter.key == grant.member \
            else f"victim:{case.alias}"
        await svc.audit(actor, "protect.submitted", case.community, case,
                        entries=len(added), pictures=pictures, videos=videos)
        out_actions = await svc.team_post(case, svc.team_text(
            "team_post_protect_added_one" if one else "team_post_protect_added", number=case.number, count=len(added)))
        out = Outcome(actions=out_actions, case_number=case.number)
        await svc.enqueue(out)
    return out


async def withdraw_closed_cases_entries(svc, user) -> int:
    """`withdraw` with no open case: the entries the member added to their closed cases. Returns how many."""
    if getattr(svc, "bank", None) is None:
        return 0
    entries = await svc.store.bank_entries(None, (ACTIVE, SUSPENDED))
    total = 0
    for case_id in sorted({e.case_id for e in entries if e.added_by == MEMBER_ADDED and e.case_id}):
        case = await svc.store.get_case_by_id(case_id)
        if case is None or case.status != Status.CLOSED:
            continue
        parties = {u.key for u in (case.reporter, UserRef.from_dict(case.flags.get("victim"))) if u is not None}
        if user.key in parties:
            actor = reporter_actor(case) if case.reporter and case.reporter.key == user.key else f"victim:{case.alias}"
            total += await withdraw_member_entries(svc, case, actor)
    return total


async def withdraw_member_entries(svc, case: Case, actor: str) -> int:
    """Withdraw the entries the member added to `case` (their hashes are deleted). Returns how many."""
    bank = getattr(svc, "bank", None)
    if bank is None or case.id is None:
        return 0
    entries = await svc.store.bank_entries(case.network, (ACTIVE, SUSPENDED))
    mine = [e.id for e in entries if e.case_id == case.id and e.added_by == MEMBER_ADDED]
    for entry_id in mine:
        await bank.withdraw(entry_id, actor, "withdrawn by the member")
    if mine:
        log.info("protect: %d member-added entries withdrawn", len(mine))
    return len(mine)
