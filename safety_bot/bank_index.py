"""The hash bank's matching index: which entries are loaded (one `HashMatcher` per network), how recent
posts matched them (for the flood breaker), and hashing image bytes for adapters. It holds no case logic:
`bank.MediaBank` decides what a match means; `bank_admin.BankAdmin` changes entries for operators.

Hashes are sensitive: never logged. `safety_bot.media` (numpy, pdqhash) is imported lazily."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .store import BankEntry

if TYPE_CHECKING:
    from .config import MediaConfig
    from .media import HashMatcher, MediaHashes
    from .store import Store

log = logging.getLogger("safety_bot.bank")
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
    kind: str = "image"  # image | video
    frames: int = 0  # a banked video's frames (its stored hashes)


@dataclass
class _Hit:
    entry_id: int
    decision: str  # remove | flag
    distance: int  # 0 for an exact (SHA-256/MD5) match
    exact: bool
    media_index: int


class BankIndex:
    """Active entries in memory, by network; loaded from the store at start and refreshed from it."""

    def __init__(self, store: "Store", cfg: "MediaConfig"):
        self.store = store
        self.cfg = cfg
        self._matchers: dict[str, "HashMatcher"] = {}
        self._info: dict[int, _Info] = {}
        self.available = _media_available()
        # Decoding a video takes up to seconds of CPU: at most two at once, so a burst of video uploads
        # cannot starve the rest of the bot (pictures are not limited here).
        self._video_slots = asyncio.Semaphore(2)

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
            self.load_entry(e)
        for m in self._matchers.values():
            m.optimize()  # build the multi-index now, not on the first upload's query
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
        self.recategorise({e.id: e.category for e in states if e.id in self._info})
        gone = [i for i in self._info if i not in active]
        for entry_id in gone:
            self.unload(entry_id)
        new = sorted(active - set(self._info))
        if new:
            for e in await self.store.bank_entries(statuses=(ACTIVE,), with_hashes=True, ids=new):
                self.load_entry(e)

    def _matcher(self, network: str) -> "HashMatcher":
        m = self._matchers.get(network)
        if m is None:
            from .media import HashMatcher

            # media.match_index off: never build the multi-index (36 bytes per hash instead of 100; scans)
            m = self._matchers[network] = HashMatcher() if self.cfg.match_index else HashMatcher(index_from=2**62)
        return m

    def load_entry(self, e: BankEntry) -> None:
        m = self._matcher(e.network)
        if e.pdq:
            m.add(e.id, e.pdq)
        if e.sha256 or e.md5:
            m.add_exact(e.id, e.sha256, e.md5)
        self._info[e.id] = _Info(e.network, e.quality, e.case_id, e.case_number, e.community, e.category,
                                 e.kind, len(set(e.pdq)) if e.kind == "video" else 0)

    def recategorise(self, categories: dict[int, str]) -> None:
        """Loaded entries take a new category (their case became a child-safety case)."""
        for entry_id, category in categories.items():
            info = self._info.get(entry_id)
            if info is not None:
                info.category = category

    def unload(self, entry_id: int) -> None:
        info = self._info.pop(entry_id, None)
        if info is not None and info.network in self._matchers:
            self._matchers[info.network].remove(entry_id)

    def has_entries(self, network: str) -> bool:
        """Whether anything is banked for this network (adapters skip downloads when nothing is)."""
        return self.available and any(i.network == network for i in self._info.values())

    def entries_loaded(self) -> int:
        return len(self._info)

    def info(self, entry_id: int) -> _Info | None:
        return self._info.get(entry_id)

    def has_network(self, network: str) -> bool:
        return network in self._matchers

    def match(self, network: str, media: list["MediaHashes"], *, removals_only: bool = False) -> list[_Hit]:
        """Every entry of the network that one of the images matches, with the distance rule's decision.
        CPU-bound: run it in a worker thread. Searches to `media.flag_distance` (the scored multi-index,
        ~1 ms per hash at 1M banked hashes); `removals_only=True` searches to `media.remove_distance`
        only (~0.3 ms at 1M) and so returns no "flag" hits: for checks that can only refuse, such as an
        upload filter."""
        from .media import classify

        matcher = self._matchers[network]
        hits: list[_Hit] = []
        cfg = self.cfg
        radius = cfg.remove_distance if removals_only else cfg.flag_distance
        for i, h in enumerate(media):
            for entry_id in matcher.query_exact(h.sha256, h.md5):
                if entry_id in self._info:
                    hits.append(_Hit(entry_id, "remove", 0, True, i))
            if h.video:
                hits.extend(video_hits(matcher, self._info, h, i, cfg, radius))
                continue
            queries = h.query_hashes()
            quality = {h.pdq: h.quality}
            for fh, fq in h.frame_hashes:
                quality.setdefault(fh, fq)
            for m in matcher.query_many(queries, radius):
                info = self._info.get(m.entry_id)
                if info is None:
                    continue
                decision = classify(m.distance, quality.get(queries[m.query_index], h.quality), info.quality,
                                    remove_at=cfg.remove_distance, flag_at=cfg.flag_distance,
                                    min_quality=cfg.min_quality)
                if decision:
                    hits.append(_Hit(m.entry_id, decision, m.distance, False, i))
        return hits

    # ------------------------------------------------------------------ hashing (for adapters)
    async def hash_bytes(self, data: bytes, *, with_variants: bool = False) -> "MediaHashes":
        """Hash image or video bytes held in memory, in a worker thread, with the configured limits (a
        video is recognised by its first bytes; `media.max_video_bytes` applies to it). Raises
        `MediaError` for anything that is not a readable image or video (the reason is safe to log)."""
        from .media import hash_image_bytes
        from .media.video import hash_video_bytes, is_video

        if is_video(data):
            async with self._video_slots:
                return await asyncio.to_thread(hash_video_bytes, data, max_bytes=self.cfg.max_video_bytes)
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
            log.info("an image or video could not be hashed (%s)", exc.reason)
            return None


def video_hits(matcher, infos: dict[int, _Info], h: "MediaHashes", media_index: int, cfg: "MediaConfig",
               radius: int) -> list[_Hit]:
    """Hits of one video (rule: `safety_bot.media.video`): each usable frame is looked up on its own; a
    banked video is hit when enough frames match it, a banked picture when any frame does."""
    from .media.video import video_frames_match

    frames = [f for f, q in h.frame_hashes if q >= cfg.min_quality]
    near: dict[int, list[int]] = {}  # entry id -> best distance of each query frame that came within the radius
    for f in frames:
        for m in matcher.query(f, radius):
            near.setdefault(m.entry_id, []).append(m.distance)
    hits: list[_Hit] = []
    for entry_id, dists in sorted(near.items()):
        info = infos.get(entry_id)
        if info is None or info.quality < cfg.min_quality:
            continue
        removed = sum(d <= cfg.remove_distance for d in dists)
        if info.kind == "video":
            if video_frames_match(removed, len(frames), info.frames):
                hits.append(_Hit(entry_id, "remove", min(dists), False, media_index))
            elif video_frames_match(sum(d <= cfg.flag_distance for d in dists), len(frames), info.frames) \
                    and radius >= cfg.flag_distance:
                hits.append(_Hit(entry_id, "flag", min(dists), False, media_index))
        elif removed:
            hits.append(_Hit(entry_id, "remove", min(dists), False, media_index))
        elif radius >= cfg.flag_distance and min(dists) <= cfg.flag_distance:
            hits.append(_Hit(entry_id, "flag", min(dists), False, media_index))
    return hits


def _media_available() -> bool:
    try:
        import numpy  # noqa: F401
        import pdqhash  # noqa: F401
    except ImportError:
        return False
    return True
