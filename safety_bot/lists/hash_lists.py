"""Hash lists (issue 19, items 1 and 5): import, follow, export and remove lists of hashes in the
ThreatExchange local-file format, each bank entry remembering the list that brought it.

- A list's action is `flag` (tell the team only; the default) or `remove` (remove and tell the team). A
  match never bans anyone by itself: the case opened for it has no accused (bank_guard.py).
- Syncing a list adds what is new and withdraws what disappeared (their hashes are deleted), in one
  transaction, after the whole file was read, verified (Ed25519, when the list has a public key) and
  validated. A bad file or a failed fetch changes nothing but the list's last error.
- Export writes only the bank's own entries (from no list) whose case's reporter consented to sharing,
  as hashes only: never a case number, a name or a note.

Hashes are never logged, audited or shown; the audit records counts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..store import BankEntry, ListItem, SharedList, StoreError
from ..store.list_types import HASH_ACTIONS
from .fetch import DEFAULT_MAX_BYTES, FetchError, fetch
from .fileformat import HashItem, ListFormatError, hash_list_text, parse_hash_list, sign, verify

if TYPE_CHECKING:
    from ..bank import MediaBank

log = logging.getLogger(__name__)
LIST_QUALITY = 100  # a listed PDQ hash is taken as its publisher computed it


class ListError(Exception):
    """A list command was refused; the message is for the operator. Nothing was changed."""


@dataclass
class SyncResult:
    added: int = 0
    withdrawn: int = 0
    size: int = 0
    unchanged: bool = False
    signed: bool = False


async def read_list(lst: SharedList, parse, store, audit, *, now, actor: str, create: bool, max_bytes: int,
                    timeout: float):
    """Fetch a list (If-None-Match / If-Modified-Since), check its signature and parse it: (items, signed),
    with the list's fetch fields updated; None when unchanged since the last fetch (the fetch time saved).
    A failure is saved as an existing list's last error, audited, and raised as ListError."""
    try:
        got = await fetch(lst.source, etag=lst.etag, last_modified=lst.last_modified, max_bytes=max_bytes,
                          timeout=timeout)
        if got.data is None:
            lst.last_fetch, lst.last_error = now, ""
            await store.save_shared_list(lst)
            return None
        if not got.data.strip() and lst.size and not create:  # an empty answer (a proxy, a failed upload)
            raise FetchError(f"the list came back empty where it had {lst.size} entries; it was kept as it was "
                             "(a list emptied on purpose has at least a comment line)")
        body, offset, signed = verify(got.data, lst.public_key)
        items = parse(body, offset)
    except (FetchError, ListFormatError) as exc:
        if not create:
            lst.last_fetch, lst.last_error = now, str(exc)[:300]
            await store.save_shared_list(lst)
            await audit(actor, "list.fetch_failed", "", None, list=lst.name, error=str(exc)[:300])
        raise ListError(str(exc)) from None
    lst.etag, lst.last_modified, lst.last_fetch, lst.last_error = got.etag, got.last_modified, now, ""
    return items, signed


async def restore_settings(store, kept: SharedList, tried: SharedList) -> None:
    """Put back an existing list's source and options after a refused import or follow, keeping the
    failed read's last fetch and last error."""
    kept.last_fetch, kept.last_error = tried.last_fetch, tried.last_error
    await store.save_shared_list(kept)


async def add_new_list(store, lst: SharedList) -> SharedList:
    """Store a new list (inside the caller's transaction); a name already taken is refused."""
    try:
        return await store.add_shared_list(lst)
    except StoreError:
        raise ListError(f"a list named {lst.name} already exists") from None


async def follow_due(store, kind: str, sync, now: float, what: str) -> list[tuple[str, str]]:
    """Re-read every followed list of this kind whose time has come, with `sync`. Returns (list, problem)
    for those that failed (logged without the list's contents)."""
    failed: list[tuple[str, str]] = []
    for lst in await store.shared_lists(kind):
        if lst.every and (lst.last_fetch is None or now - lst.last_fetch >= lst.every):
            try:
                await sync(lst, actor="bot")
            except ListError as exc:
                log.warning("%s %s could not be refreshed: %s", what, lst.name, exc)
                failed.append((lst.name, str(exc)))
    return failed


def parse_every(text: str | None) -> float:
    """'1h', '30m', '2d', '45s' or seconds -> seconds (at least 60)."""
    if not text:
        return 0.0
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    t = text.strip().lower()
    try:
        seconds = float(t[:-1]) * units[t[-1]] if t[-1] in units else float(t)
    except (ValueError, IndexError):
        raise ListError(f"--every {text!r}: give a duration such as 30m, 1h or 1d") from None
    if not math.isfinite(seconds) or seconds > 366 * 86400:  # 'nan', 'inf', '1e400m' are floats too
        raise ListError(f"--every {text!r}: give a duration such as 30m, 1h or 1d (at most a year)")
    if seconds < 60:
        raise ListError("--every: at least one minute, so that the list's server is not hammered")
    return seconds


class HashLists:
    def __init__(self, bank: "MediaBank", *, max_bytes: int = DEFAULT_MAX_BYTES, timeout: float = 30.0):
        self.bank = bank
        self.service = bank.service
        self.store = bank.store
        self.max_bytes = max_bytes
        self.timeout = timeout

    # ------------------------------------------------------------------ import and follow
    async def import_list(self, source: str, name: str, *, network: str, action: str | None = None,
                          public_key: str | None = None, every: float = 0.0, actor: str = "operator",
                          category: str | None = None) -> tuple[SharedList, SyncResult]:
        """Create the list (or update how an existing one is read) and sync it now. A new list whose first
        read fails is not created."""
        if not name or len(name) > 64 or any(c.isspace() for c in name):
            raise ListError("--list: a name of 1 to 64 characters without spaces")
        if action is not None and action not in HASH_ACTIONS:
            raise ListError("--action must be remove or flag")
        if category is not None and category not in ("adult", "minor"):
            raise ListError("--category must be adult or minor")
        lst = await self.store.get_shared_list(name)
        if lst is not None and lst.kind != "hashes":
            raise ListError(f"{name} is a ban list, not a hash list")
        if lst is not None and lst.network != network:
            raise ListError(f"the list {name} protects network {lst.network}, not {network}")
        new = lst is None
        if new:
            lst = SharedList(name=name, kind="hashes", network=network, source=source, action=action or "flag",
                             added_by=actor, added_at=self.service.clock(), public_key=public_key, every=every,
                             category=category or "adult")
        else:
            kept = dataclasses.replace(lst)
            lst.source = source
            lst.action = action or lst.action
            lst.public_key = public_key or lst.public_key
            lst.every = every or lst.every
            lst.category = category or lst.category  # for entries added from now on
            lst.etag = lst.last_modified = None  # a new source: read it whole
        try:
            result = await self.sync(lst, actor=actor, create=new)
        except ListError:
            if not new:  # a refused read keeps how the list was read before; only its last error is new
                await restore_settings(self.store, kept, lst)
            raise
        return lst, result

    async def sync(self, lst: SharedList, *, actor: str = "bot", create: bool = False) -> SyncResult:
        """Read the list and bring the bank in line with it. Raises ListError (recorded as the list's last
        error when the list exists)."""
        now = self.service.clock()
        read = await read_list(lst, parse_hash_list, self.store, self.service.audit, now=now, actor=actor,
                               create=create, max_bytes=self.max_bytes, timeout=self.timeout)
        if read is None:
            return SyncResult(size=lst.size, unchanged=True)
        items, signed = read
        result = SyncResult(size=len(items), signed=signed)
        lst.size = len(items)
        added: list[BankEntry] = []
        gone_ids: list[int] = []
        async with self.service.exclusive():
            async with self.store.transaction():
                if create:
                    lst = await add_new_list(self.store, lst)
                current = await self.store.list_items(lst.id)
                wanted = {self.store.list_tag(i.text): i for i in items}
                new_items: list[ListItem] = []
                for key, item in wanted.items():
                    if key in current:
                        continue
                    entry = await self.store.add_bank_entry(self._entry(lst, item, now))
                    added.append(entry)
                    new_items.append(ListItem(key, entry.id))
                await self.store.add_list_items(lst.id, new_items)
                gone = [k for k in current if k not in wanted]
                for key in gone:
                    if current[key].entry_id is not None:
                        await self.store.withdraw_bank_entry(current[key].entry_id, now)
                        gone_ids.append(current[key].entry_id)
                await self.store.remove_list_items(lst.id, gone)
                await self.store.save_shared_list(lst)
                await self.service.audit(actor, "list.synced", "", None, list=lst.name, network=lst.network,
                                         added=len(added), withdrawn=len(gone_ids), size=len(items), signed=signed)
        for entry_id in gone_ids:
            self.bank.index.unload(entry_id)
        if self.bank.available:
            for e in added:
                self.bank.index.load_entry(e)
        self.bank.provenance.forget()
        result.added, result.withdrawn = len(added), len(gone_ids)
        return result

    def _entry(self, lst: SharedList, item: HashItem, now: float) -> BankEntry:
        pdq = [item.value] if item.signal_type == "pdq" else []
        md5 = item.value if item.signal_type in ("md5", "video_md5") else None  # a file's MD5, image or video
        return BankEntry(network=lst.network, category=lst.category, status="active", quality=LIST_QUALITY,
                         added_by=f"list:{lst.name}", added_at=now, pdq=pdq, md5=md5,
                         kind="video" if item.signal_type == "video_md5" else "image")

    async def follow_due(self) -> list[tuple[str, str]]:
        """Re-read every followed list whose time has come. Returns (list, problem) for those that failed."""
        return await follow_due(self.store, "hashes", self.sync, self.service.clock(), "hash list")

    # ------------------------------------------------------------------ remove
    async def remove_list(self, name: str, actor: str = "operator") -> int:
        """Remove a hash list and withdraw every entry it brought. Returns the entries withdrawn."""
        lst = await self.store.get_shared_list(name)
        if lst is None or lst.kind != "hashes":
            raise ListError(f"there is no hash list named {name}")
        now = self.service.clock()
        async with self.service.exclusive():
            async with self.store.transaction():
                items = await self.store.list_items(lst.id)
                ids = [i.entry_id for i in items.values() if i.entry_id is not None]
                for entry_id in ids:
                    await self.store.withdraw_bank_entry(entry_id, now)
                await self.store.delete_shared_list(lst.id)
                await self.service.audit(actor, "list.removed", "", None, list=name, withdrawn=len(ids))
        for entry_id in ids:
            self.bank.index.unload(entry_id)
        self.bank.provenance.forget()
        return len(ids)

    # ------------------------------------------------------------------ export
    async def export(self, name: str, network: str, *, signed: bool = False) -> tuple[bytes, int]:
        """The bank's own entries of `network` whose case consent allows sharing, as a list named `name`.
        Returns (file bytes, entries exported)."""
        entries = await self.store.bank_entries(network, ("active",), with_hashes=True)
        from_lists = await self.store.entry_lists([e.id for e in entries])
        consent: dict[int, bool] = {}
        items: list[HashItem] = []
        count = 0
        for e in entries:
            if e.id in from_lists or e.case_id is None:
                continue  # other communities' lists are theirs to share; no case, no consent
            if e.case_id not in consent:
                case = await self.store.get_case_by_id(e.case_id)
                consent[e.case_id] = case is not None and case.flags.get("consent") == "yes"
            if not consent[e.case_id]:
                continue
            count += 1
            if e.kind == "video":  # a video's PDQ hashes are its frames: shared as the file's MD5 only
                if e.md5:
                    items.append(HashItem("video_md5", e.md5))
                continue
            if e.pdq:
                items.append(HashItem("pdq", e.pdq[0]))
            if e.md5:
                items.append(HashItem("md5", e.md5))
        stamp = dt.datetime.fromtimestamp(self.service.clock(), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = hash_list_text(name, list(dict.fromkeys(items)), stamp)
        await self.service.audit("operator:cli", "list.exported", "", None, list=name, network=network,
                                 entries=count, signed=signed)
        return (sign(body, self.store.audit_chain.keys) if signed else body), count
