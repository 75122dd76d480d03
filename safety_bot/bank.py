"""The exposed-media hash bank: banking a removed message's images on its case, and checking new uploads.

Platform-neutral (no discord/nio). Adapters hand over hashes they computed in memory (`hash_bytes`, which
runs in a worker thread) and carry out the actions `check` returns, like any other core outcome::

    hashes = [await app.bank.hash_bytes(data) for data in images]          # MediaError on bad input
    out = await app.bank.check(community, message_ref, author, hashes, sizes=[len(d) for d in images])
    await app.runtime.run(out)                                             # remove, ban, tell the team

Banking is only ever an explicit moderator choice (`RemoveMessage.block_media`): the adapter's
`remove_message` downloads the message's images in memory *before* deleting it, hashes them with variants,
and calls `bank_removed(action, hashes, platform)`.

Hashes are sensitive (PDQ hashes can be roughly inverted): they are encrypted at rest, never logged, never
put into audit details, notes or chat. Only entry ids, case numbers, quality and distances are shown.
`safety_bot.media` (numpy, pdqhash) is imported lazily so the core runs without the media extra.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from .actions import BanUser, Outcome, PostToTeam, RemoveMessage
from .domain import AttachmentMeta, Case, CaseNote, Evidence, MessageRef, Report, Status, Urgency, UserRef
from .store import BankEntry, StoreUnavailable
from .text import inert_plain

if TYPE_CHECKING:
    from .media import HashMatcher, MediaHashes
    from .service import SafetyService

log = logging.getLogger(__name__)
HOUR = 3600.0
ACTIVE, SUSPENDED, WITHDRAWN = "active", "suspended", "withdrawn"


def category_for(case_category: str) -> str:
    """Bank category from the case's playbook: child-safety material is 'minor', everything else 'adult'."""
    return "minor" if case_category == "child_safety" else "adult"


@dataclass
class _Info:
    """What the matcher needs about a loaded entry (no hashes)."""

    network: str
    quality: int
    case_id: int | None
    case_number: int | None
    community: str
    category: str


@dataclass
class _Hit:
    entry_id: int
    decision: str  # remove | flag
    distance: int  # 0 for an exact (SHA-256/MD5) match
    exact: bool
    media_index: int


class MediaBank:
    """Hash bank service: one `HashMatcher` per network, loaded from the store at start."""

    def __init__(self, service: "SafetyService"):
        self.service = service
        self.store = service.store
        self.cfg = service.config.media
        self.clock = service.clock
        self._matchers: dict[str, "HashMatcher"] = {}
        self._info: dict[int, _Info] = {}
        self._recent: dict[int, deque] = {}  # entry id -> times of recent matching posts (flood breaker)
        self.available = _media_available()

    # ------------------------------------------------------------------ loading
    async def load(self) -> int:
        """Load every active entry into the matchers (call once at start). Returns entries loaded."""
        self._matchers.clear()
        self._info.clear()
        if not self.available:
            log.warning("media hashing is not installed (pip install 'safety-bot[media]'): the hash bank is off")
            return 0
        entries = await self.store.bank_entries(statuses=(ACTIVE,), with_hashes=True)
        for e in entries:
            self._load_entry(e)
        if entries:
            log.info("hash bank: %d active entries loaded", len(entries))
        return len(entries)

    async def refresh(self) -> None:
        """Pick up changes made by other processes (the `safety-bot bank` CLI): new active entries are loaded,
        withdrawn or suspended ones stop matching. Cheap: it reads ids and statuses only."""
        if not self.available:
            return
        states = await self.store.bank_entries()
        active = {e.id for e in states if e.status == ACTIVE}
        gone = [i for i in self._info if i not in active]
        for entry_id in gone:
            self._unload(entry_id)
        new = sorted(active - set(self._info))
        if new:
            for e in await self.store.bank_entries(statuses=(ACTIVE,), with_hashes=True, ids=new):
                self._load_entry(e)

    def _matcher(self, network: str) -> "HashMatcher":
        m = self._matchers.get(network)
        if m is None:
            from .media import HashMatcher

            m = self._matchers[network] = HashMatcher()
        return m

    def _load_entry(self, e: BankEntry) -> None:
        m = self._matcher(e.network)
        if e.pdq:
            m.add(e.id, e.pdq)
        if e.sha256 or e.md5:
            m.add_exact(e.id, e.sha256, e.md5)
        self._info[e.id] = _Info(e.network, e.quality, e.case_id, e.case_number, e.community, e.category)

    def _unload(self, entry_id: int) -> None:
        info = self._info.pop(entry_id, None)
        if info is not None and info.network in self._matchers:
            self._matchers[info.network].remove(entry_id)
        self._recent.pop(entry_id, None)

    def has_entries(self, network: str) -> bool:
        """Whether anything is banked for this network (adapters skip downloads when nothing is)."""
        return self.available and any(i.network == network for i in self._info.values())

    def entries_loaded(self) -> int:
        return len(self._info)

    # ------------------------------------------------------------------ hashing (for adapters)
    async def hash_bytes(self, data: bytes, *, with_variants: bool = False) -> "MediaHashes":
        """Hash image bytes held in memory, in a worker thread, with the configured limits.
        Raises `MediaError` for anything that is not a readable image (the reason is safe to log)."""
        from .media import hash_image_bytes

        return await asyncio.to_thread(hash_image_bytes, data, max_bytes=self.cfg.max_bytes,
                                       max_pixels=self.cfg.max_pixels, with_variants=with_variants)

    async def hash_download(self, data: bytes | None, *, with_variants: bool = False) -> "tuple[MediaHashes, int] | None":
        """(hashes, size) of image bytes an adapter downloaded, or None when there are none or they are not
        a usable image. Logs the reason only: never a URL, a filename or a hash."""
        from .media import MediaError

        if data is None:
            return None
        try:
            return await self.hash_bytes(data, with_variants=with_variants), len(data)
        except MediaError as exc:
            log.info("an image could not be hashed (%s)", exc.reason)
            return None

    # ------------------------------------------------------------------ banking
    async def bank_from_hashes(self, case: Case | int, hashes: Sequence["MediaHashes"], actor: str) -> Outcome:
        """Add images (hashed with variants) to the bank on `case`. Returns a reply for the moderator;
        entries already banked on the case (same file) are skipped."""
        if isinstance(case, int):
            found = await self.store.get_case_by_id(case)
            if found is None:
                return Outcome(ok=False, reply="That case no longer exists; nothing was added to the hash bank.")
            case = found
        if not hashes:
            return Outcome(reply="No images were found in the message, so nothing was added to the hash bank.",
                           case_number=case.number)
        now = self.clock()
        existing = await self.store.bank_entries(case.network, (ACTIVE, SUSPENDED), with_hashes=True)
        known = {e.sha256 for e in existing if e.case_id == case.id and e.sha256}
        added: list[BankEntry] = []
        low = 0
        skipped = 0
        async with self.service._lock:
            async with self.store.transaction():
                for h in hashes:
                    if h.sha256 in known:
                        skipped += 1
                        continue
                    known.add(h.sha256)
                    entry = await self.store.add_bank_entry(BankEntry(
                        network=case.network, category=category_for(case.category), status=ACTIVE,
                        quality=int(h.quality), added_by=actor, added_at=now, pdq=list(h.bank_hashes()),
                        sha256=h.sha256, md5=h.md5, case_id=case.id, case_number=case.number,
                        community=case.community))
                    added.append(entry)
                    low += h.quality < self.cfg.min_quality
                    await self.service.audit(actor, "bank.added", case.community, case, entry=entry.id,
                                             quality=int(h.quality), hashes=len(entry.pdq))
                if added:
                    ids = ", ".join(str(e.id) for e in added)
                    await self.store.add_note(CaseNote(case.id, "system", "system",
                                                       f"Added {len(added)} image(s) to the hash bank (entries {ids}).",
                                                       now))
        if self.available:
            for e in added:
                self._load_entry(e)
        parts = []
        if added:
            parts.append(f"Added {len(added)} image(s) to the hash bank on case {case.number}: "
                         "re-uploads will be removed on sight.")
        if low:
            parts.append(f"{low} of them show little detail, so only exact copies of those files will match.")
        if skipped:
            parts.append(f"{skipped} image(s) were already in the bank for this case.")
        return Outcome(reply=" ".join(parts), case_number=case.number)

    async def bank_removed(self, action: RemoveMessage, hashes: Sequence["MediaHashes"], platform: str) -> Outcome:
        """Bank the images of a message removed with `block_media`, crediting the moderator who chose it."""
        actor = f"bot:{platform}"
        for entry in reversed(await self.store.audit_entries(action.case_id)):
            if entry.action == "message.remove" and entry.detail.get("block") and \
                    str(entry.detail.get("message")) == str(action.ref.message_id):
                actor = entry.actor
                break
        return await self.bank_from_hashes(action.case_id, hashes, actor)

    async def bank_removed_images(self, action: RemoveMessage, platform: str, read_images) -> str:
        """A removal with block, for every adapter: `read_images()` returns the message's images as bytes read
        into memory (None for one that could not be read). They are hashed with variants and banked on the
        case. Returns the summary for the moderator. Never raises: the removal goes ahead whatever happens."""
        try:
            found = await asyncio.gather(*(self.hash_download(data, with_variants=True) for data in await read_images()))
            out = await self.bank_removed(action, [f[0] for f in found if f is not None], platform)
            return out.reply
        except Exception as exc:  # never lose the removal over the bank
            log.error("banking the images of a removed message failed (%s)", exc.__class__.__name__)
            return "The images could not be added to the hash bank (an error was logged)."

    async def add_hashes(self, network: str, *, pdq: str | None, sha256: str | None, md5: str | None,
                         quality: int, category: str, actor: str, case: Case | None = None) -> BankEntry:
        """An operator adds hex hashes (never images of other people). Validated; audited without the hashes."""
        from .media import is_pdq_hex
        from .media.matcher import _check_digest

        if pdq is None and sha256 is None and md5 is None:
            raise ValueError("give a PDQ hash and/or --sha256/--md5")
        if pdq is not None and not is_pdq_hex(pdq):
            raise ValueError("the PDQ hash must be 64 hex characters")
        sha256, md5 = _check_digest(sha256, 64), _check_digest(md5, 32)
        if category not in ("adult", "minor"):
            raise ValueError("category must be adult or minor")
        if case is not None:
            network, category = case.network, category_for(case.category)
        now = self.clock()
        async with self.store.transaction():
            entry = await self.store.add_bank_entry(BankEntry(
                network=network, category=category, status=ACTIVE, quality=int(quality), added_by=actor,
                added_at=now, pdq=[pdq.lower()] if pdq else [], sha256=sha256, md5=md5,
                case_id=case.id if case else None, case_number=case.number if case else None,
                community=case.community if case else ""))
            await self.service.audit(actor, "bank.added", case.community if case else "", case, entry=entry.id,
                                     quality=int(quality), network=network, via="hashes")
        if self.available:
            self._load_entry(entry)
        return entry

    async def withdraw(self, entry_id: int, actor: str = "operator", reason: str = "") -> bool:
        """Withdraw an entry (the victim's request): its hashes are deleted and it stops matching at once."""
        entry = await self.store.get_bank_entry(entry_id, with_hashes=False)
        if entry is None:
            return False
        now = self.clock()
        case = await self.store.get_case_by_id(entry.case_id) if entry.case_id else None
        async with self.store.transaction():
            await self.store.withdraw_bank_entry(entry_id, now)
            await self.service.audit(actor, "bank.withdrawn", entry.community, case, entry=entry_id,
                                     previous_status=entry.status, reason=reason)
            if case is not None:
                await self.store.add_note(CaseNote(case.id, "system", "system",
                                                   f"Hash bank entry {entry_id} was withdrawn; its hashes were deleted.",
                                                   now))
        self._unload(entry_id)
        return True

    async def reactivate(self, entry_id: int, actor: str = "operator") -> bool:
        """Put a suspended entry (flood breaker) back into service after checking it."""
        entry = await self.store.get_bank_entry(entry_id, with_hashes=True)
        if entry is None or entry.status != SUSPENDED:
            return False
        async with self.store.transaction():
            await self.store.set_bank_status(entry_id, ACTIVE, self.clock())
            await self.service.audit(actor, "bank.reactivated", entry.community, None, entry=entry_id)
        entry.status = ACTIVE
        if self.available:
            self._load_entry(entry)
        return True

    # ------------------------------------------------------------------ checking uploads
    async def check(self, community: str, message_ref: MessageRef, author: UserRef, media: Sequence["MediaHashes"],
                    *, sizes: Sequence[int] | None = None) -> Outcome:
        """Compare a new message's images with the bank of its network and decide.

        - exact file match (SHA-256/MD5), or PDQ distance <= remove_distance with quality >= min_quality on
          both sides: remove the message, record evidence metadata on the entry's case, ban the uploader when
          the case's playbook is zero-tolerance, and tell the team;
        - distance up to flag_distance: tell the team (a link to the message; never the image, URL or hash);
        - an entry matching more than flood_matches_per_hour posts in an hour is suspended and the team alerted.
        Returns an empty Outcome when nothing matched. Run the result with `runtime.run(out)`.
        """
        com = self.service.communities.get(community)
        if com is None or not media or not self.available or com.network not in self._matchers:
            return Outcome()
        matcher = self._matchers[com.network]
        hits = await asyncio.to_thread(self._match, matcher, list(media))
        if not hits:
            return Outcome()
        now = self.clock()
        # Flood breaker: one count per post and entry.
        tripped: list[int] = []
        for entry_id in dict.fromkeys(h.entry_id for h in hits):
            times = self._recent.setdefault(entry_id, deque())
            while times and times[0] <= now - HOUR:
                times.popleft()
            times.append(now)
            if len(times) > self.cfg.flood_matches_per_hour:
                tripped.append(entry_id)
        out = Outcome()
        if tripped:
            out.extend(await self._suspend(tripped, community))
            hits = [h for h in hits if h.entry_id not in tripped]
        removes = sorted((h for h in hits if h.decision == "remove"), key=lambda h: (h.distance, h.entry_id))
        flags = sorted((h for h in hits if h.decision == "flag"), key=lambda h: (h.distance, h.entry_id))
        if removes:
            out.extend(await self._remove(com, message_ref, author, list(media), sizes, removes[0]))
        elif flags:
            out.extend(await self._flag(com, message_ref, flags[0]))
        if out.actions and not out.queued:
            async with self.store.transaction():
                await self.service.enqueue(out)
        return out

    def _match(self, matcher: "HashMatcher", media: list["MediaHashes"]) -> list[_Hit]:
        from .media import classify

        hits: list[_Hit] = []
        cfg = self.cfg
        for i, h in enumerate(media):
            for entry_id in matcher.query_exact(h.sha256, h.md5):
                if entry_id in self._info:
                    hits.append(_Hit(entry_id, "remove", 0, True, i))
            queries = h.query_hashes()
            quality = {h.pdq: h.quality}
            for fh, fq in h.frame_hashes:
                quality.setdefault(fh, fq)
            for m in matcher.query_many(queries, cfg.flag_distance):
                info = self._info.get(m.entry_id)
                if info is None:
                    continue
                decision = classify(m.distance, quality.get(queries[m.query_index], h.quality), info.quality,
                                    remove_at=cfg.remove_distance, flag_at=cfg.flag_distance,
                                    min_quality=cfg.min_quality)
                if decision:
                    hits.append(_Hit(m.entry_id, decision, m.distance, False, i))
        return hits

    async def _case_for(self, entry_id: int, com) -> Case:
        """The case that banked the entry; a new one when it was purged or the entry came from the CLI."""
        info = self._info[entry_id]
        case = await self.store.get_case_by_id(info.case_id) if info.case_id else None
        if case is not None:
            return case
        category = "child_safety" if info.category == "minor" else "sextortion"
        if category not in self.service.lib.playbooks:
            category = "sextortion"
        pb = self.service.lib.playbook(category)
        now = self.clock()
        case = Case(community=com.id, network=com.network, number=0, category=category,
                    urgency=Urgency.URGENT if pb.always_urgent else Urgency.NORMAL, status=Status.OPEN,
                    created_at=now, updated_at=now, locale=self.service.config.locale,
                    flags={"opened_by_bot": True, "intake_done": True})
        case = await self.store.create_case(case)
        await self.store.add_report(Report(case_id=case.id, reporter=None, text="", source="moderator", created_at=now))
        await self.store.add_note(CaseNote(case.id, "system", "system",
                                           f"Opened automatically for a re-upload of hash bank entry {entry_id}.", now))
        await self.service.audit("bot", "case.open", com.id, case, category=category, bank_entry=entry_id)
        return case

    async def _remove(self, com, ref: MessageRef, author: UserRef, media: list, sizes, hit: _Hit) -> Outcome:
        svc = self.service
        now = self.clock()
        how = "an exact copy of the file" if hit.exact else f"PDQ distance {hit.distance}"
        async with svc._lock:
            try:
                async with self.store.transaction():
                    case = await self._case_for(hit.entry_id, com)
                    atts = []
                    for i, h in enumerate(media):
                        size = int(sizes[i]) if sizes is not None and i < len(sizes) else 0
                        atts.append(AttachmentMeta(content_type=f"image/{h.format.lower()}" if h.format else "",
                                                   size=size, width=h.width or None, height=h.height or None,
                                                   sha256=h.sha256, md5=h.md5, pdq=h.pdq,
                                                   pdq_quality=h.quality).to_dict())
                    await self.store.add_evidence(Evidence(
                        case_id=case.id, ref=ref, author=author, text="", message_created_at=None, captured_at=now,
                        captured_by="bot:hash-bank", attachments=atts,
                        note=f"re-upload of hash bank entry {hit.entry_id} ({how}); removed automatically, text not kept"))
                    if all(a.key != author.key for a in case.accused):
                        case.accused.append(author)
                    case.updated_at = now
                    await self.store.save_case(case)
                    out = Outcome(case_number=case.number)
                    out.actions.append(RemoveMessage(case_id=case.id, ref=ref))
                    pb = svc.lib.playbook(case.category)
                    banned = False
                    if pb.zero_tolerance and await self.store.active_ban(com.network, author.key) is None:
                        for target in svc.network_communities(com.network, author.platform):
                            out.actions.append(BanUser(community=target.id, user=author, case_id=case.id,
                                                       reason=f"Zero-tolerance ban (safety case {case.number})"))
                        banned = True
                    who = inert_plain(author.name or author.id, limit=64)
                    where = ref.link or f"{ref.channel_id}/{ref.message_id}"
                    text = (f"Case {case.number}: a re-upload of banked media ({how}, bank entry {hit.entry_id}) was "
                            f"removed automatically: {where}. Uploader: {who} ({inert_plain(author.id, limit=80)})."
                            + (" Banned across the network (zero tolerance)." if banned else
                               " Not banned automatically; decide on the next step."))
                    destination = "escalation" if case.flags.get("about_moderator") else "safety"
                    out.actions.append(PostToTeam(community=case.community, text=text, case_number=case.number,
                                                  destination=destination))
                    if com.id != case.community:
                        out.actions.append(PostToTeam(community=com.id, text=(
                            f"A re-upload of banked media was removed automatically here: {where}. It belongs to a "
                            f"case of another community of this network"
                            + (", and the uploader was banned across the network." if banned else ".")),
                            destination="safety"))
                    await svc.audit("bot", "media.match_removed", com.id, case, entry=hit.entry_id,
                                    distance=hit.distance, exact=hit.exact, message=ref.message_id, ban=banned)
                    await svc.enqueue(out)
            except StoreUnavailable:
                # Still remove the upload: a missing evidence row is better than leaving the image up.
                log.warning("the database is unavailable; removing a banked re-upload without recording it")
                info = self._info[hit.entry_id]
                return Outcome(actions=[RemoveMessage(case_id=info.case_id or 0, ref=ref)])
        return out

    async def _flag(self, com, ref: MessageRef, hit: _Hit) -> Outcome:
        svc = self.service
        info = self._info[hit.entry_id]
        now = self.clock()
        where = ref.link or f"{ref.channel_id}/{ref.message_id}"
        async with svc._lock:
            async with self.store.transaction():
                case = await self.store.get_case_by_id(info.case_id) if info.case_id else None
                label = f"case {case.number}" if case is not None and case.community == com.id else \
                    f"hash bank entry {hit.entry_id}"
                text = (f"Please review: a new message may show an image from {label} (similar, not certain: "
                        f"PDQ distance {hit.distance}). It was not removed. Message: {where}")
                if case is not None:
                    await self.store.add_note(CaseNote(case.id, "system", "system",
                                                       f"Possible re-upload flagged for review: {where} "
                                                       f"(bank entry {hit.entry_id}, distance {hit.distance}).", now))
                destination = "escalation" if case is not None and case.flags.get("about_moderator") and \
                    case.community == com.id else "safety"
                out = Outcome(case_number=case.number if case is not None else None)
                out.actions.append(PostToTeam(community=com.id, text=text, destination=destination,
                                              case_number=case.number if case is not None and case.community == com.id
                                              else None))
                await svc.audit("bot", "media.match_flagged", com.id, case, entry=hit.entry_id, distance=hit.distance,
                                message=ref.message_id)
                await svc.enqueue(out)
        return out

    async def _suspend(self, entry_ids: list[int], community: str) -> Outcome:
        svc = self.service
        now = self.clock()
        out = Outcome()
        async with svc._lock:
            async with self.store.transaction():
                for entry_id in entry_ids:
                    info = self._info.get(entry_id)
                    await self.store.set_bank_status(entry_id, SUSPENDED, now)
                    await svc.audit("bot", "bank.suspended", community, None, entry=entry_id,
                                    limit=self.cfg.flood_matches_per_hour)
                    where = info.community if info and info.community in svc.communities else community
                    case_part = f" (case {info.case_number})" if info and info.case_number and where == info.community else ""
                    out.actions.append(PostToTeam(community=where, ping=True, text=(
                        f"Hash bank entry {entry_id}{case_part} matched more than {self.cfg.flood_matches_per_hour} "
                        f"posts in the last hour, which is unusual. It is suspended: its matches are no longer removed "
                        f"automatically. An operator can check it with 'safety-bot bank list' and put it back with "
                        f"'safety-bot bank reactivate {entry_id}'.")))
                await svc.enqueue(out)
        for entry_id in entry_ids:
            self._unload(entry_id)
        log.warning("hash bank: %d entr%s suspended by the flood breaker", len(entry_ids),
                     "y" if len(entry_ids) == 1 else "ies")
        return out


def _media_available() -> bool:
    try:
        import numpy  # noqa: F401
        import pdqhash  # noqa: F401
    except ImportError:
        return False
    return True


def describe_entry(e: BankEntry) -> dict[str, Any]:
    """An entry for listings: metadata only, never a hash value."""
    return {"id": e.id, "network": e.network, "category": e.category, "status": e.status, "quality": e.quality,
            "case": f"{e.community} #{e.case_number}" if e.case_number is not None else "-",
            "added_by": e.added_by, "added_at": e.added_at}
