"""The hash bank's operator commands (`safety-bot bank add|withdraw|reactivate|list`): entries are added
from hex hashes, withdrawn (the victim's request: hashes deleted) or put back after the flood breaker.
Changes the store and the matching index; decides nothing about cases."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import bank_guard
from .bank_index import ACTIVE, SUSPENDED, BankIndex, category_for
from .domain import Case, CaseNote
from .store import BankEntry

if TYPE_CHECKING:
    from .service import SafetyService


class BankAdmin:
    def __init__(self, service: "SafetyService", index: BankIndex):
        self.service = service
        self.store = service.store
        self.clock = service.clock
        self.index = index

    async def add_hashes(self, network: str, *, pdq: str | None, sha256: str | None, md5: str | None,
                         quality: int, category: str, actor: str, case: Case | None = None,
                         variants: tuple[str, ...] = ()) -> BankEntry:
        """An operator adds hex hashes (never images of other people). Validated; audited without the hashes.
        `variants`: more PDQ hashes of the same picture (turned, mirrored), matched like `pdq`."""
        from .media import is_pdq_hex
        from .media.exact import check_digest

        if pdq is None and sha256 is None and md5 is None:
            raise ValueError("give a PDQ hash and/or --sha256/--md5")
        if pdq is not None and not is_pdq_hex(pdq):
            raise ValueError("the PDQ hash must be 64 hex characters")
        if variants and (pdq is None or not all(is_pdq_hex(v) for v in variants)):
            raise ValueError("variants must be 64 hex characters each, beside a PDQ hash")
        sha256, md5 = check_digest(sha256, 64), check_digest(md5, 32)
        if category not in ("adult", "minor"):
            raise ValueError("category must be adult or minor")
        if case is not None:
            network, category = case.network, category_for(case.category)
        now = self.clock()
        async with self.store.transaction():
            entry = await self.store.add_bank_entry(BankEntry(
                network=network, category=category, status=ACTIVE, quality=int(quality), added_by=actor,
                added_at=now, pdq=list(dict.fromkeys(h.lower() for h in (pdq, *variants))) if pdq else [],
                sha256=sha256, md5=md5,
                case_id=case.id if case else None, case_number=case.number if case else None,
                community=case.community if case else ""))
            await self.service.audit(actor, "bank.added", case.community if case else "", case, entry=entry.id,
                                     quality=int(quality), network=network, via="hashes")
        if self.index.available:
            self.index.load_entry(entry)
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
                                                   self.service.team_text("bank_note_withdrawn", entry=entry_id), now))
        self.index.unload(entry_id)
        return True

    async def reactivate(self, entry_id: int, actor: str = "operator") -> bool:
        """Put a suspended entry (flood breaker) back into service after checking it."""
        entry = await self.store.get_bank_entry(entry_id, with_hashes=True)
        if entry is None or entry.status != SUSPENDED:
            return False
        async with self.store.transaction():
            await self.store.set_bank_status(entry_id, ACTIVE, self.clock())
            await bank_guard.reset(self.service, entry_id)  # both flood breakers count from zero again
            await self.service.audit(actor, "bank.reactivated", entry.community, None, entry=entry_id)
        entry.status = ACTIVE
        if self.index.available:
            self.index.load_entry(entry)
        return True


def describe_entry(e: BankEntry) -> dict[str, Any]:
    """An entry for listings: metadata only, never a hash value."""
    return {"id": e.id, "network": e.network, "category": e.category, "status": e.status, "quality": e.quality,
            "case": f"{e.community} #{e.case_number}" if e.case_number is not None else "-",
            "added_by": e.added_by, "added_at": e.added_at}
