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
from typing import TYPE_CHECKING, Sequence

from . import bank_guard, guard
from .actions import BanUser, Outcome, PostToTeam, RemoveMessage, removal_reason
from .bank_admin import BankAdmin, describe_entry
from .bank_index import ACTIVE, SUSPENDED, WITHDRAWN, BankIndex, _Hit, category_for
from .domain import AttachmentMeta, Case, CaseNote, Evidence, MessageRef, Report, Status, Urgency, UserRef
from .store import BankEntry, StoreUnavailable
from .case_buttons import _case_option, uploader_ban
from .plugins import command_prefix
from .text import inert_plain

if TYPE_CHECKING:
    from .media import MediaHashes
    from .service import SafetyService

log = logging.getLogger(__name__)
HOUR = 3600.0
__all__ = ["ACTIVE", "SUSPENDED", "WITHDRAWN", "MediaBank", "category_for", "describe_entry"]


class MediaBank:
    """The hash bank's decisions: what a match means (remove, ban, flag, suspend) and banking a case's
    images. The index (`bank_index.BankIndex`) and the operator commands (`bank_admin.BankAdmin`) are its parts."""

    def __init__(self, service: "SafetyService"):
        self.service = service
        self.store = service.store
        self.cfg = service.config.media
        self.clock = service.clock
        self.index = BankIndex(service.store, service.config.media)
        self.admin = BankAdmin(service, self.index)
        from .bank_provenance import Provenance

        self.provenance = Provenance(service.store)  # which shared list an entry came from (lists/)
        from .bank_hma import HmaBackend

        self.hma = HmaBackend(self) if self.cfg.hma is not None else None  # optional HMA lookups

    # ------------------------------------------------------------------ the matching index (bank_index.py)
    @property
    def available(self) -> bool:
        return self.index.available

    async def load(self) -> int:
        """Load every active entry into the matchers (call once at start). Returns entries loaded."""
        return await self.index.load()

    async def refresh(self) -> None:
        """Pick up changes made by other processes (the `safety-bot bank` CLI)."""
        self.provenance.forget()
        await self.index.refresh()

    def has_entries(self, network: str) -> bool:
        """Whether anything is banked for this network (adapters skip downloads when nothing is)."""
        return self.index.has_entries(network) or (self.hma is not None and self.available)

    def entries_loaded(self) -> int:
        return self.index.entries_loaded()

    # ------------------------------------------------------------------ hashing (for adapters)
    async def hash_bytes(self, data: bytes, *, with_variants: bool = False) -> "MediaHashes":
        """Hash image bytes held in memory, in a worker thread (see `BankIndex.hash_bytes`)."""
        return await self.index.hash_bytes(data, with_variants=with_variants)

    async def hash_download(self, data: bytes | None, *, with_variants: bool = False) -> "tuple[MediaHashes, int] | None":
        """(hashes, size) of downloaded image bytes, or None (see `BankIndex.hash_download`)."""
        return await self.index.hash_download(data, with_variants=with_variants)

    # ------------------------------------------------------------------ banking
    async def bank_from_hashes(self, case: Case | int, hashes: Sequence["MediaHashes"], actor: str) -> Outcome:
        """Add images (hashed with variants) to the bank on `case`. Returns a reply for the moderator;
        entries already banked on the case (same file) are skipped."""
        if isinstance(case, int):
            found = await self.store.get_case_by_id(case)
            if found is None:
                return Outcome(ok=False, reply=self.service.team_text("bank_case_gone"))
            case = found
        if not hashes:
            return Outcome(reply=self.service.team_text("bank_no_images"), case_number=case.number)
        now = self.clock()
        existing = await self.store.bank_entries(case.network, (ACTIVE, SUSPENDED), with_hashes=True)
        known = {e.sha256 for e in existing if e.case_id == case.id and e.sha256}
        added: list[BankEntry] = []
        low = 0
        skipped = 0
        async with self.service.exclusive():
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
                        community=case.community, kind="video" if h.video else "image"))
                    added.append(entry)
                    low += h.quality < self.cfg.min_quality
                    await self.service.audit(actor, "bank.added", case.community, case, entry=entry.id,
                                             quality=int(h.quality), hashes=len(entry.pdq))
                if added:
                    ids = ", ".join(str(e.id) for e in added)
                    await self.store.add_note(CaseNote(case.id, "system", "system", self.service.team_text(
                        "bank_note_added", count=len(added), ids=ids), now))
        if self.available:
            for e in added:
                self.index.load_entry(e)
        t, parts = self.service.team_text, []
        if added:
            parts.append(t("bank_added", count=len(added), number=case.number))
        if low:
            parts.append(t("bank_added_low_quality", count=low))
        if skipped:
            parts.append(t("bank_added_skipped", count=skipped))
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
            from .media import MediaError

            async def one(data):
                if data is None:
                    return None, None
                try:
                    return await self.hash_bytes(data, with_variants=True), None
                except MediaError as exc:  # e.g. a video longer than the limit: the moderator is told why
                    log.info("an image or video could not be hashed (%s)", exc.reason)
                    return None, exc.reason

            found = await asyncio.gather(*(one(data) for data in await read_images()))
            out = await self.bank_removed(action, [h for h, _ in found if h is not None], platform)
            refused = sorted({reason for _, reason in found if reason})
            if refused:
                count = sum(1 for _, reason in found if reason)
                return (out.reply + " " + self.service.team_text("bank_files_refused", count=count,
                                                                  reasons=", ".join(refused))).strip()
            return out.reply
        except Exception as exc:  # never lose the removal over the bank
            log.error("banking the images of a removed message failed (%s)", exc.__class__.__name__)
            return self.service.team_text("bank_failed")

    # ------------------------------------------------------------------ operator commands (bank_admin.py)
    async def add_hashes(self, network: str, **kw) -> BankEntry:
        return await self.admin.add_hashes(network, **kw)

    async def withdraw(self, entry_id: int, actor: str = "operator", reason: str = "") -> bool:
        return await self.admin.withdraw(entry_id, actor, reason)

    async def reactivate(self, entry_id: int, actor: str = "operator") -> bool:
        return await self.admin.reactivate(entry_id, actor)

    # ------------------------------------------------------------------ checking uploads
    async def check(self, community: str, message_ref: MessageRef, author: UserRef, media: Sequence["MediaHashes"],
                    *, sizes: Sequence[int] | None = None, text: str = "", created_at: float | None = None) -> Outcome:
        """Compare a new message's images with the bank of its network and decide.

        - exact file match (SHA-256/MD5), or PDQ distance <= remove_distance with quality >= min_quality on
          both sides: remove the message, record evidence metadata on the entry's case, ban the uploader when
          the case's playbook is zero-tolerance, and tell the team;
        - distance up to flag_distance: tell the team (a link to the message; never the image, URL or hash);
        - an entry matching more than flood_matches_per_hour posts in an hour is suspended and the team alerted.
        `text` and `created_at`: what the message said (its caption) and when; the removal deletes them, so they
        are captured with the evidence first (not on the child-safety path, which keeps no message text).
        Returns an empty Outcome when nothing matched. Run the result with `runtime.run(out)`.
        """
        com = self.service.communities.get(community)
        if com is None or not media or not self.available:
            return Outcome()
        hits = await asyncio.to_thread(self.index.match, com.network, list(media)) \
            if self.index.has_network(com.network) else []
        if not hits and self.hma is not None:  # the optional HMA backend (bank_hma.py)
            found, notice = await self.hma.check(com, media)
            if not found:
                return await self._notice(notice)
            hits = await asyncio.to_thread(self.index.match, com.network, list(media))
        if not hits:
            return Outcome()
        hits = await self.provenance.apply(hits)  # entries from a `flag` list are only flagged
        now = self.clock()
        # Flood breaker: one count per post and entry.
        tripped: list[int] = []
        async with self.service.exclusive():
            async with self.store.transaction():  # counted in the store: shared by processes, kept over a restart
                for entry_id in dict.fromkeys(h.entry_id for h in hits):
                    matched = await bank_guard.count_match(self.service, entry_id, now, HOUR)
                    if matched > self.cfg.flood_matches_per_hour:
                        tripped.append(entry_id)
        out = Outcome()
        if tripped:
            out.extend(await self._suspend(tripped, community))
            hits = [h for h in hits if h.entry_id not in tripped]
        removes = sorted((h for h in hits if h.decision == "remove"), key=lambda h: (h.distance, h.entry_id))
        flags = sorted((h for h in hits if h.decision == "flag"), key=lambda h: (h.distance, h.entry_id))
        if removes:
            # Persisted flood breaker: many different people posting one banked picture means it is probably
            # not private (a meme, a poisoned entry): no automatic action on it any more (bank_guard.py).
            async with self.service.exclusive():
                async with self.store.transaction():
                    uploaders = await bank_guard.count_uploader(self.service, removes[0].entry_id, author)
            if uploaders >= self.cfg.flood_uploaders:
                out.extend(await self._suspend([removes[0].entry_id], community, widely_shared=uploaders))
                flags, removes = [], []  # the team's alert says why; nothing automatic
        if removes:
            out.extend(await self._remove(com, message_ref, author, list(media), sizes, removes[0], text, created_at))
        elif flags:
            out.extend(await self._flag(com, message_ref, flags[0]))
        if out.actions and not out.queued:
            async with self.store.transaction():
                await self.service.enqueue(out)
        return out

    async def _notice(self, out: Outcome) -> Outcome:
        """Send a notice (HMA unavailable) through the outbox."""
        if out.actions:
            async with self.store.transaction():
                await self.service.enqueue(out)
        return out

    async def _case_for(self, entry_id: int, com) -> Case:
        """The case that banked the entry; a new one when it was purged or the entry came from the CLI."""
        info = self.index.info(entry_id)
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
                                           self.service.team_text("bank_note_opened", entry=entry_id), now))
        await self.service.audit("bot", "case.open", com.id, case, category=category, bank_entry=entry_id)
        return case

    async def _remove(self, com, ref: MessageRef, author: UserRef, media: list, sizes, hit: _Hit, said: str = "",
                      created_at: float | None = None) -> Outcome:
        svc = self.service
        now = self.clock()
        t = svc.team_text
        how = t("bank_how_exact") if hit.exact else t("bank_how_distance", distance=hit.distance)
        async with svc.exclusive():
            try:
                async with self.store.transaction():
                    case = await self._case_for(hit.entry_id, com)
                    atts = []
                    for i, h in enumerate(media):
                        size = int(sizes[i]) if sizes is not None and i < len(sizes) else 0
                        atts.append(AttachmentMeta(content_type=f"{'video' if h.video else 'image'}/{h.format.lower()}" if h.format else "",
                                                   size=size, width=h.width or None, height=h.height or None,
                                                   sha256=h.sha256, md5=h.md5, pdq=h.pdq,
                                                   pdq_quality=h.quality).to_dict())
                    keep_text = svc.lib.playbook(case.category).keep_evidence_text  # evidence first: the words too
                    await self.store.add_evidence(Evidence(
                        case_id=case.id, ref=ref, author=author, captured_at=now, message_created_at=created_at,
                        text=said if keep_text else "",
                        captured_by="bot:hash-bank", attachments=atts,
                        note=t("bank_evidence_note", entry=hit.entry_id, how=how)))
                    case.updated_at = now
                    await self.store.save_case(case)
                    out = Outcome(case_number=case.number)
                    out.actions.append(RemoveMessage(case_id=case.id, ref=ref, reason=removal_reason(t, case.number)))
                    pb = svc.lib.playbook(case.category)
                    banned = False
                    # Only the case's accused (or accounts the team linked) are banned automatically (bank_guard.py)
                    may_ban = bank_guard.may_ban_automatically(case, author)
                    if pb.zero_tolerance and may_ban and await self.store.active_ban(com.network, author.key) is None:
                        for target in svc.network_communities(com.network, author.platform):
                            out.actions.append(BanUser(community=target.id, user=author, case_id=case.id,
                                                       reason=t("ban_reason_case", number=case.number)))
                        banned = True
                    who = inert_plain(author.name or author.id, limit=64)
                    where = ref.link or f"{ref.channel_id}/{ref.message_id}"
                    text = t("bank_removed_post", number=case.number, how=how, entry=hit.entry_id,
                             source=self.provenance.label(hit.entry_id, t), where=where, who=who,
                             id=inert_plain(author.id, limit=80)) + " " + (
                        t("bank_removed_banned") if banned else t(
                            "bank_removed_not_banned", ban=f"{command_prefix(com.platform)}ban {author.id} "
                            f"{_case_option(com.platform, case.number)}") if not may_ban else t("bank_removed_already"))
                    destination = await guard.destination(svc, case)  # roles read now (guard.py)
                    home = svc.community(case.community)
                    offer = () if may_ban or author.platform != home.platform else (uploader_ban(case.number, author),)
                    out.actions.append(PostToTeam(community=case.community, text=text, case_number=case.number,
                                                  destination=destination, buttons=offer))
                    if com.id != case.community:
                        out.actions.append(PostToTeam(community=com.id, text=t(
                            "bank_removed_elsewhere_banned" if banned else "bank_removed_elsewhere", where=where),
                            destination="safety"))
                    await svc.audit("bot", "media.match_removed", com.id, case, entry=hit.entry_id,
                                    distance=hit.distance, exact=hit.exact, message=ref.message_id, ban=banned)
                    await svc.enqueue(out)
            except StoreUnavailable:
                # Still remove the upload: a missing evidence row is better than leaving the image up.
                log.warning("the database is unavailable; removing a banked re-upload without recording it")
                info = self.index.info(hit.entry_id)
                return Outcome(actions=[RemoveMessage(case_id=info.case_id or 0, ref=ref,
                                                      reason=removal_reason(svc.team_text, info.case_number if info.case_id else None))])
        return out

    async def _flag(self, com, ref: MessageRef, hit: _Hit) -> Outcome:
        svc = self.service
        info = self.index.info(hit.entry_id)
        now = self.clock()
        where = ref.link or f"{ref.channel_id}/{ref.message_id}"
        async with svc.exclusive():
            async with self.store.transaction():
                case = await self.store.get_case_by_id(info.case_id) if info.case_id else None
                t = svc.team_text
                label = t("bank_label_case", number=case.number) if case is not None and case.community == com.id else \
                    t("bank_label_entry", entry=hit.entry_id, source=self.provenance.label(hit.entry_id, t))
                how = t("bank_how_exact") if hit.exact else t("bank_how_similar", distance=hit.distance)
                text = t("bank_flag_post", label=label, how=how, where=where)
                if case is not None:
                    await self.store.add_note(CaseNote(case.id, "system", "system", t(
                        "bank_flag_note", where=where, entry=hit.entry_id, distance=hit.distance), now))
                destination = await guard.destination(svc, case) if case is not None and case.community == com.id \
                    else "safety"
                out = Outcome(case_number=case.number if case is not None else None)
                out.actions.append(PostToTeam(community=com.id, text=text, destination=destination,
                                              case_number=case.number if case is not None and case.community == com.id
                                              else None))
                await svc.audit("bot", "media.match_flagged", com.id, case, entry=hit.entry_id, distance=hit.distance,
                                message=ref.message_id)
                await svc.enqueue(out)
        return out

    async def _suspend(self, entry_ids: list[int], community: str, *, widely_shared: int = 0) -> Outcome:
        svc = self.service
        now = self.clock()
        out = Outcome()
        async with svc.exclusive():
            async with self.store.transaction():
                for entry_id in entry_ids:
                    info = self.index.info(entry_id)
                    await self.store.set_bank_status(entry_id, SUSPENDED, now)
                    await svc.audit("bot", "bank.suspended", community, None, entry=entry_id,
                                    limit=self.cfg.flood_matches_per_hour)
                    where = info.community if info and info.community in svc.communities else community
                    t = svc.team_text
                    case_part = t("bank_suspended_case", number=info.case_number) \
                        if info and info.case_number and where == info.community else ""
                    why = t("bank_suspended_shared", people=widely_shared, hours=f"{self.cfg.flood_window_hours:g}") \
                        if widely_shared else t("bank_suspended_matches", limit=self.cfg.flood_matches_per_hour)
                    out.actions.append(PostToTeam(community=where, ping=True, text=t(
                        "bank_suspended_post", entry=entry_id, case=case_part, why=why)))
                await svc.enqueue(out)
        for entry_id in entry_ids:
            self.index.unload(entry_id)
        log.warning("hash bank: %d entr%s suspended by the flood breaker", len(entry_ids),
                     "y" if len(entry_ids) == 1 else "ies")
        return out


