"""In-memory fake of the Store, for core tests. Same behaviour as SQLite, no disk."""

from __future__ import annotations

import copy
import os
from contextlib import asynccontextmanager

from ..audit_chain import AuditChain, AuditKeys
from ..domain import AuditEntry, Ban, Case, CaseNote, Evidence, Intake, Report, Strike
from .base import BankEntry, StoreUnavailable
from .memory_lists import MemoryListsMixin


class MemoryStore(MemoryListsMixin):
    def __init__(self) -> None:
        self.cases: dict[int, Case] = {}
        self.reports: list[Report] = []
        self.evidence: list[Evidence] = []
        self.notes: list[CaseNote] = []
        self.strikes: list[Strike] = []
        self.bans: list[Ban] = []
        self.audit: list[AuditEntry] = []
        self.audit_chain = AuditChain(AuditKeys(os.urandom(32)))  # head kept in memory
        self.intakes: dict[tuple[str, str], Intake] = {}
        self.outbox: dict[int, dict] = {}
        self.values: dict[str, str] = {}
        self.bank: dict[int, BankEntry] = {}
        self.lists: dict = {}  # shared lists (memory_lists.py)
        self.list_rows: dict = {}
        self._list_key = os.urandom(32)
        self.confirmations: dict[str, tuple[str, str, float]] = {}  # two-person codes: community, data, expiry
        self.unavailable = False  # set by tests to simulate a locked/read-only database
        self._ids = 0

    def _id(self) -> int:
        self._ids += 1
        return self._ids

    def keyed_tag(self, purpose: str, text: str) -> str:
        import hashlib
        import hmac

        return hmac.new(self._list_key, purpose.encode() + b"\x00" + text.encode(), hashlib.sha256).hexdigest()

    def _check(self) -> None:
        if self.unavailable:
            raise StoreUnavailable("database unavailable")

    async def close(self) -> None:
        pass

    @asynccontextmanager
    async def transaction(self):
        self._check()
        snapshot = copy.deepcopy(self.__dict__)
        try:
            yield
            self._check()
        except BaseException:
            self.__dict__.update(snapshot)
            raise

    async def create_case(self, case: Case) -> Case:
        self._check()
        case = copy.deepcopy(case)
        case.number = 1 + max((c.number for c in self.cases.values() if c.community == case.community), default=0)
        case.id = self._id()
        self.cases[case.id] = case
        return copy.deepcopy(case)

    async def save_case(self, case: Case) -> None:
        self._check()
        self.cases[case.id] = copy.deepcopy(case)

    async def get_case(self, community, number):
        for c in self.cases.values():
            if c.community == community and c.number == number:
                return copy.deepcopy(c)
        return None

    async def get_case_by_id(self, case_id):
        c = self.cases.get(case_id)
        return copy.deepcopy(c) if c else None

    async def list_cases(self, community=None, statuses=()):
        out = [c for c in self.cases.values() if (community is None or c.community == community)
               and (not statuses or c.status.value in statuses)]
        return [copy.deepcopy(c) for c in sorted(out, key=lambda c: (c.community, c.number))]

    async def cases_about(self, network, user_key):
        out = [c for c in self.cases.values() if c.network == network and any(a.key == user_key for a in c.accused)]
        return [copy.deepcopy(c) for c in sorted(out, key=lambda c: c.id)]

    async def add_report(self, report):
        self._check()
        report = copy.deepcopy(report)
        report.id = self._id()
        self.reports.append(report)
        return copy.deepcopy(report)

    async def reports_for(self, case_id):
        return [copy.deepcopy(r) for r in self.reports if r.case_id == case_id]

    async def report_times_since(self, reporter_key, since):
        return sorted(r.created_at for r in self.reports
                      if r.reporter and r.reporter.key == reporter_key and r.created_at >= since)

    async def add_evidence(self, evidence):
        self._check()
        evidence = copy.deepcopy(evidence)
        evidence.id = self._id()
        self.evidence.append(evidence)
        return copy.deepcopy(evidence)

    async def evidence_for(self, case_id):
        return [copy.deepcopy(e) for e in self.evidence if e.case_id == case_id]

    async def clear_evidence_text(self, case_id):
        self._check()
        for e in self.evidence:
            if e.case_id == case_id:
                e.text = ""

    async def withdraw_reports(self, case_id):
        self._check()
        given = [r.reported_message for r in self.reports if r.case_id == case_id and r.reported_message]
        keys = {(g.platform, g.channel_id, g.message_id) for g in given}
        links = {g.link for g in given if g.link}
        for r in self.reports:
            if r.case_id == case_id:
                r.text, r.reported_message = "", None
        for e in self.evidence:
            if e.case_id == case_id and e.ref and (e.ref.platform, e.ref.channel_id, e.ref.message_id) in keys:
                e.ref = None
        for n in self.notes:
            if n.case_id == case_id and n.kind == "reply_in":
                n.text = ""
            elif n.case_id == case_id and n.kind == "system":
                for link in links:
                    n.text = n.text.replace(link, "(a link the reporter gave; withdrawn)")

    async def add_note(self, note):
        self._check()
        note = copy.deepcopy(note)
        note.id = self._id()
        self.notes.append(note)
        return copy.deepcopy(note)

    async def notes_for(self, case_id):
        return [copy.deepcopy(n) for n in self.notes if n.case_id == case_id]

    async def add_strike(self, strike):
        self._check()
        strike = copy.deepcopy(strike)
        strike.id = self._id()
        self.strikes.append(strike)
        return copy.deepcopy(strike)

    async def strikes_for(self, network, user_key):
        return [copy.deepcopy(s) for s in self.strikes if s.network == network and s.user_id == user_key]

    async def add_ban(self, ban):
        self._check()
        ban = copy.deepcopy(ban)
        ban.id = self._id()
        self.bans.append(ban)
        return copy.deepcopy(ban)

    async def active_ban(self, network, user_key):
        for b in self.bans:
            if b.network == network and b.user_id == user_key and b.active:
                return copy.deepcopy(b)
        return None

    async def end_ban(self, ban_id):
        self._check()
        for b in self.bans:
            if b.id == ban_id:
                b.active = False

    async def append_audit(self, entry):
        self._check()
        entry = copy.deepcopy(entry)
        entry.seq = len(self.audit) + 1
        entry.prev_hash = self.audit[-1].hash if self.audit else ""
        entry.hash = self.audit_chain.link(entry.prev_hash, entry)
        self.audit.append(entry)
        self.audit_chain.anchor(entry.seq, entry.hash)
        return copy.deepcopy(entry)

    async def audit_entries(self, case_id=None, *, actions=()):
        return [copy.deepcopy(e) for e in self.audit
                if (case_id is None or e.case_id == case_id) and (not actions or e.action in actions)]

    async def get_intake(self, platform, user_id):
        i = self.intakes.get((platform, user_id))
        return copy.deepcopy(i) if i else None

    async def get_intake_with_case(self, platform, user_id):
        intake = await self.get_intake(platform, user_id)
        return intake, (await self.get_case_by_id(intake.case_id) if intake else None)

    async def report_context(self, reporter, network):
        intake, case = await self.get_intake_with_case(reporter.platform, reporter.id)
        return (await self.report_times_since(reporter.key, 0), intake, case,
                await self.cases_about(network, reporter.key))

    async def put_intake(self, intake):
        self._check()
        self.intakes[(intake.platform, intake.user_id)] = copy.deepcopy(intake)

    async def delete_intake(self, platform, user_id):
        self._check()
        self.intakes.pop((platform, user_id), None)

    async def list_intakes(self):
        return [copy.deepcopy(i) for i in self.intakes.values()]

    async def outbox_add(self, action, case_id):
        self._check()
        oid = self._id()
        self.outbox[oid] = {"action": copy.deepcopy(action), "case_id": case_id, "status": "pending", "detail": ""}
        return oid

    async def outbox_add_many(self, items):
        return [await self.outbox_add(a, c) for a, c in items]

    async def outbox_done(self, outbox_id, status, detail=""):
        self._check()
        self.outbox[outbox_id].update(status=status, detail=detail)
        if status != "sending":  # carried out: no copy of what it said is kept (base.SENT_ACTION)
            self.outbox[outbox_id]["action"] = {}

    async def outbox_pending(self):
        return [(k, copy.deepcopy(v["action"])) for k, v in sorted(self.outbox.items()) if v["status"] == "pending"]

    shared = False  # one process: it holds every lease, always leads and needs no change notices

    async def outbox_claim(self, limit=None):
        pending = await self.outbox_pending()
        return pending if limit is None else pending[:limit]

    async def outbox_renew(self, ids):
        return None

    async def try_lead(self):
        return True

    async def on_bank_change(self, callback):
        return None

    async def outbox_sending(self):
        return [(k, copy.deepcopy(v["action"])) for k, v in sorted(self.outbox.items()) if v["status"] == "sending"]

    async def add_bank_entry(self, entry):
        self._check()
        entry = copy.deepcopy(entry)
        entry.id = self._id()
        entry.updated_at = entry.updated_at or entry.added_at
        self.bank[entry.id] = entry
        return copy.deepcopy(entry)

    async def get_bank_entry(self, entry_id, *, with_hashes=True):
        found = await self.bank_entries(ids=[entry_id], with_hashes=with_hashes)
        return found[0] if found else None

    async def bank_entries(self, network=None, statuses=(), *, with_hashes=False, ids=None):
        out = []
        for e in sorted(self.bank.values(), key=lambda e: e.id):
            if (network is not None and e.network != network) or (statuses and e.status not in statuses) \
                    or (ids is not None and e.id not in ids):
                continue
            e = copy.deepcopy(e)
            if not with_hashes:
                e.pdq, e.sha256, e.md5 = [], None, None
            out.append(e)
        return out

    async def set_bank_status(self, entry_id, status, at):
        self._check()
        if entry_id in self.bank:
            self.bank[entry_id].status, self.bank[entry_id].updated_at = status, at

    async def set_case_bank_category(self, case_id, category):
        self._check()
        changed = [e for e in self.bank.values() if e.case_id == case_id and e.category != category]
        for e in changed:
            e.category = category
        return [e.id for e in changed]

    async def withdraw_bank_entry(self, entry_id, at):
        self._check()
        e = self.bank.get(entry_id)
        if e is not None:
            e.status, e.pdq, e.sha256, e.md5, e.quality, e.updated_at = "withdrawn", [], None, None, 0, at

    async def put_confirmation(self, code, community, data, created_at, expires_at):
        self._check()
        for k in [k for k, v in self.confirmations.items() if v[2] < created_at]:
            del self.confirmations[k]
        self.confirmations[code] = (community, data, expires_at)

    async def get_confirmation(self, code, now):
        found = self.confirmations.get(code)
        return (found[0], found[1]) if found and found[2] >= now else None

    async def take_confirmation(self, code):
        self._check()
        return self.confirmations.pop(code, None) is not None

    async def get_value(self, key):
        return self.values.get(key)

    async def set_value(self, key, value):
        self._check()
        self.values[key] = value

    async def purge_case(self, case_id):
        self._check()
        removed = {"reports": sum(r.case_id == case_id for r in self.reports),
                   "evidence items": sum(e.case_id == case_id for e in self.evidence),
                   "notes": sum(n.case_id == case_id for n in self.notes),
                   "intake conversations": sum(i.case_id == case_id for i in self.intakes.values())}
        self.cases.pop(case_id, None)
        self.reports = [r for r in self.reports if r.case_id != case_id]
        self.evidence = [e for e in self.evidence if e.case_id != case_id]
        self.notes = [n for n in self.notes if n.case_id != case_id]
        self.intakes = {k: v for k, v in self.intakes.items() if v.case_id != case_id}
        kept = {k: v for k, v in self.outbox.items() if v["case_id"] != case_id or v["status"] == "pending"}
        removed["sent messages and actions"] = len(self.outbox) - len(kept)
        self.outbox = kept
        emptied = 0
        for e in self.audit:
            if e.case_id == case_id and set(e.detail) != {"purged_detail_mac"}:
                e.detail = self.audit_chain.keys.purged_detail(e)
                emptied += 1
        removed["audit details"] = emptied
        unlinked = [b for b in self.bank.values() if b.case_id == case_id]
        for b in unlinked:
            b.case_id = b.case_number = None
        removed["hash-bank entries unlinked"] = len(unlinked)
        removed["cases"] = 1
        return removed
