"""SQLite's group blocks keep a report's writes in memory until the group commits (a mixin of SqliteStore,
placed before the data mixins; the rows: sqlite_kept.py; the transactions: sqlite.py, sqlite_tx.py).

Inside `transaction(group=True)` a new case (with its accused), a report with its reporter's rate mark,
evidence, an intake, outbox actions, audit entries and changes to a case new in the group are kept in the
block's `Part` instead of being written; ids, case numbers and audit sequence numbers are given out here
(the group holds SQLite's write lock from its BEGIN IMMEDIATE, and `_others_wrote` checks once per BEGIN
whether another connection wrote before it: then they are read again). The reads of a report
(`report_context`: rate marks, the open intake and its case, the cases about the reporter; `get_case_by_id`)
read the database and lay the kept rows over it. At commit every kept row is written with one
statement per table (several rows each) and COMMITted in one call on aiosqlite's worker thread.

Any other statement (another store method inside a block, or anywhere while rows are kept) first writes
the kept rows (`_write_kept`, called by `_inline`): the earlier blocks' outside any savepoint, then this
block's inside its own savepoint, so everything else sees them and behaves as before.
"""

from __future__ import annotations

import json

from ..domain import Intake
from .base import StoreError, StoreUnavailable
from .sqlite_common import _j, _unavailable
from .sqlite_kept import Part, write_parts

_FIRST_ID = {"cases": "SELECT COALESCE(MAX(id), 0) + 1 FROM cases",
             "reports": "SELECT COALESCE(MAX(id), 0) + 1 FROM reports",
             "outbox": "SELECT COALESCE(MAX(id), 0) + 1 FROM outbox",
             "evidence": "SELECT COALESCE(MAX(id), 0) + 1 FROM evidence"}


class KeptMixin:
    _kblock: Part | None = None  # the running group block's kept writes
    _kept = False  # some block's rows are kept, not written yet

    def _init_kept(self) -> None:
        self._next: dict = {}  # table -> next id, (community,) -> next case number: valid under the write lock
        # A member's intake row joined with its case, as the database has it (None: no intake), read in group
        # blocks; kept rows are laid over it as over a read. Dropped with every statement of our own
        # (`_inline`), with `_forget` (rollbacks, another connection wrote) and, for the rows a commit
        # wrote, by `_committed_rows`.
        self._intake_rows: dict = {}
        self._intake_case: dict = {}  # case id -> the key of the intake row holding it
        self._kidx: dict = {"cases": {}, "intakes": {}, "kv": {}}  # key -> the block that kept it last

    def _unindex(self, parts, *, dropped: bool = False) -> None:
        """These blocks' rows are written or (`dropped`) dropped: `_kidx` no longer names them. A dropped
        block's keys go back to the last other block still keeping them (a written block has none: the
        blocks before it are written first)."""
        others = [p for p in self._overlay() if p not in parts] if dropped else ()
        for table, index in self._kidx.items():
            for p in parts:
                for key in getattr(p, table):
                    if index.get(key) is p:
                        del index[key]
                        holder = next((o for o in reversed(others) if key in getattr(o, table)), None)
                        if holder is not None:
                            index[key] = holder

    def _drop_cached_rows(self) -> None:
        if self._intake_rows:
            self._intake_rows.clear()
            self._intake_case.clear()

    def _committed_rows(self, parts) -> None:
        """The kept rows of these blocks are in the database now: what was read before them goes."""
        self._unindex(parts)
        rows, by_case = self._intake_rows, self._intake_case
        if not rows:
            return
        for p in parts:
            for key in p.intakes:
                rows.pop(key, None)
            for case_id in p.cases:
                key = by_case.pop(case_id, None)
                if key is not None:
                    rows.pop(key, None)

    def _raw_rows(self, sql: str, params=()) -> list:
        """A read on this thread that does not write the kept rows first: its answer gets them laid over. In
        a group that has not begun (a commit runs on the connection), on the read-only connection."""
        if self._closing:
            raise StoreUnavailable("the store was closed")
        cur = (self._reader if self._lazy() else self.db._conn).execute(sql, params)
        try:
            return cur.fetchall()
        finally:
            cur.close()

    # ---------------------------------------------------------------- ids
    # Read again (after another connection wrote, or a statement of our own) above the kept rows too: the
    # database may not have them yet.
    def _take_id(self, table: str, count: int = 1) -> int:
        first = self._next.get(table)
        if first is None:
            kept = [i for p in self._overlay() for i in (p.cases if table == "cases" else
                                                         [r[0] for r in getattr(p, table)])]
            first = max([self._raw_rows(_FIRST_ID[table])[0][0], *(i + 1 for i in kept)])
        self._next[table] = first + count
        return first

    def _take_number(self, community: str) -> int:
        key = (community,)
        number = self._next.get(key)
        if number is None:
            kept = [row[3] + 1 for p in self._overlay() for row in p.cases.values() if row[1] == community]
            number = max([self._raw_rows("SELECT COALESCE(MAX(number), 0) + 1 FROM cases WHERE community=?",
                                         (community,))[0][0], *kept])
        self._next[key] = number + 1
        return number

    def _overlay(self) -> list[Part]:
        """Every block whose rows may not be in the database yet, oldest first."""
        part = self._kblock
        return [*self._sealed_parts, *self._kparts, *((part,) if part is not None else ())]

    # ---------------------------------------------------------------- writing what is kept
    def _write_kept(self) -> None:
        """Before a statement of its own: the finished blocks' kept rows, then (inside its savepoint) the
        running block's. A finished block whose row SQLite refuses is refused (its future fails); the
        running block's refusal is raised."""
        conn = self.db._conn
        head = None
        earlier = [p for p in self._kparts if p.has_rows()]
        if earlier:
            refused, head = write_parts(conn, earlier, self.audit_chain, _unavailable)
            self._refuse(refused)
            self._unindex(earlier)
            for p in earlier:
                p.clear()
        part = self._kblock
        if self._group is not None:
            self._group.direct = True
        if part is not None:
            if not part.direct:
                conn.execute("SAVEPOINT tx")
                part.direct = True
            if part.has_rows():
                refused, mine = write_parts(conn, [part], self.audit_chain, _unavailable, alone=True)
                head = mine or head
                if refused:  # its rows stay kept: they are dropped with the block
                    if head is not None:
                        self._audit_head = head
                    raise refused[part]
                self._unindex([part])
                part.clear()
        self._kept = False
        if head is not None:
            self._audit_head = head

    def _refuse(self, refused: dict) -> None:
        """Finished blocks whose rows SQLite refused: their futures fail, what they left in memory goes."""
        if not refused:
            return
        self._kparts[:] = [p for p in self._kparts if p not in refused]
        self._rate_cache.clear()
        for p, exc in refused.items():
            if not p.future.done():
                p.future.set_exception(StoreError(f"the database refused the report: {exc}"))
                p.future.exception()  # retrieved here: nobody may be waiting on it

    def _kept_latest(self, table: str, key, *, sealed: bool = True):
        """The newest row (or value) kept under `key` in one table (cases, intakes, kv), or None: in the open
        group, and (with `sealed`) in the groups being committed. `_kidx` names the block that kept it last."""
        if sealed:
            index = self._kidx[table]
            holder = index.get(key)
            if holder is None:
                return None
            row = getattr(holder, table).get(key)
            if row is not None:
                return row
            index.pop(key, None)  # that block's rows are written or dropped; an earlier block may keep one
        part = self._kblock
        if part is not None:
            row = getattr(part, table).get(key)
            if row is not None:
                return row
        for parts in (self._kparts, self._sealed_parts) if sealed else (self._kparts,):
            for p in reversed(parts):
                row = getattr(p, table).get(key)
                if row is not None:
                    return row
        return None

    # ---------------------------------------------------------------- cases
    def _keep_case(self, part: Part, case) -> None:
        part.cases[case.id] = self._case_row(case)
        self._kidx["cases"][case.id] = part
        part.accused[case.id] = [(case.id, case.network, a.key) for a in case.accused]
        for a in case.accused:
            self._no_cases_about.discard((case.network, a.key))
        self._kept = True

    async def create_case(self, case):
        part = self._kblock
        if part is None:
            return await super().create_case(case)
        case.number = self._take_number(case.community)
        case.id = self._take_id("cases")
        self._keep_case(part, case)
        return case

    async def save_case(self, case) -> None:
        part = self._kblock
        # kept in the open group: the insert carries the change; kept in a group being committed: written
        # after that commit (a statement of its own waits for it)
        if part is None or case.id is None or self._kept_latest("cases", case.id, sealed=False) is None:
            return await super().save_case(case)
        self._keep_case(part, case)

    async def get_case_by_id(self, case_id):
        if self._kblock is None:
            return await super().get_case_by_id(case_id)
        row = self._kept_latest("cases", case_id)
        if row is None:
            rows = self._raw_rows(f"SELECT {self._CASE_COLS} FROM cases WHERE id=?", (case_id,))
            row = rows[0] if rows else None
        return self._case(row) if row is not None else None

    async def cases_about(self, network, user_key):
        part = self._kblock
        if part is None:
            return await super().cases_about(network, user_key)
        known_none = self._no_cases_about  # a kept case naming them took them out of it
        if (network, user_key) in known_none:
            return []
        found = [self._case(r) for r in self._raw_rows(
            f"SELECT {self._C_CASE_COLS} FROM cases c JOIN case_accused a ON a.case_id = c.id "
            "WHERE a.network=? AND a.user_key=? ORDER BY c.id", (network, user_key))]
        kept: dict = {}  # kept cases (newer than the database's, if it has them yet): id -> latest row, or None
        for p in self._overlay():
            for case_id, rows in p.accused.items():
                named = any(r[2] == user_key and r[1] == network for r in rows)
                if named or case_id in kept:
                    kept[case_id] = p.cases[case_id] if named else None
        if kept:
            found = sorted([*(c for c in found if c.id not in kept),
                            *(self._case(row) for row in kept.values() if row is not None)], key=lambda c: c.id)
        if not found and len(known_none) < 100_000:
            known_none.add((network, user_key))
        return found

    # ---------------------------------------------------------------- reports and rate marks
    async def add_report(self, report):
        part = self._kblock
        if part is None:
            return await super().add_report(report)
        if report.reporter is not None:
            key, value = await self._rate_next(report.reporter.key, report.created_at)
            part.kv[key] = value
            self._kidx["kv"][key] = part
            self._kept = True
            await self._rate_sweep(report.created_at)
        report.id = self._take_id("reports")
        part.reports.append((report.id, *self._report_values(report)))
        self._kept = True
        return report

    async def _rate_sweep(self, at: float) -> None:
        """As CasesMixin's, reading without writing the kept rows first (a kept mark is never a day old)."""
        if self._kblock is None:
            return await super()._rate_sweep(at)
        if self._rate_swept_at is not None and abs(at - self._rate_swept_at) < self.RATE_SWEEP_SECONDS:
            return
        for key, value in self._raw_rows("SELECT key, value FROM kv WHERE key LIKE 'rate:%'"):
            if max(json.loads(value) or [0]) < at - self.RATE_KEEP_SECONDS and self._kept_latest("kv", key) is None:
                await self._write("DELETE FROM kv WHERE key=?", (key,))
                self._rate_cache.pop(key, None)
        self._rate_swept_at = at

    async def _rate_cached(self, key: str):
        if self._kblock is None:
            return await super()._rate_cached(key)
        known = self._rate_cache.get(key)
        if known is None:
            value = self._kept_latest("kv", key)
            if value is None:
                rows = self._raw_rows("SELECT value FROM kv WHERE key=?", (key,))
                value = rows[0][0] if rows else None
            times = sorted(json.loads(value)) if value else []
            known = self._rate_cache[key] = (times, _j(times))
        return known

    # ---------------------------------------------------------------- evidence, intakes, outbox
    async def add_evidence(self, evidence):
        part = self._kblock
        if part is None:
            return await super().add_evidence(evidence)
        evidence.id = self._take_id("evidence")
        part.evidence.append((evidence.id, *self._evidence_values(evidence)))
        self._kept = True
        return evidence

    async def put_intake(self, intake) -> None:
        part = self._kblock
        if part is None:
            return await super().put_intake(intake)
        row = self._intake_row(intake)
        part.intakes[row[:2]] = row
        self._kidx["intakes"][row[:2]] = part
        self._kept = True

    async def get_intake_with_case(self, platform, user_id, *, lazy: bool = False):
        if self._kblock is None:
            return await super().get_intake_with_case(platform, user_id, lazy=lazy)
        tag = self._intake_tag(platform, user_id)
        kept = self._kept_latest("intakes", (platform, tag))
        if kept is not None:
            intake = Intake(platform=kept[0], user_id=user_id, case_id=kept[2], asked=json.loads(kept[3]),
                            current=kept[4], locale=kept[5], updated_at=kept[6])
            return intake, await self.get_case_by_id(intake.case_id)
        r = self._intake_rows.get((platform, tag), False)
        if r is False:  # not read since the database last changed under it (see `_intake_rows`)
            rows = self._raw_rows(
                "SELECT i.platform, i.case_id, i.asked, i.current, i.locale, i.updated_at, "
                f"{self._C_CASE_COLS} FROM intakes i LEFT JOIN cases c ON c.id = i.case_id "
                "WHERE i.platform=? AND i.user_id=?", (platform, tag))
            r = rows[0] if rows else None
            if len(self._intake_rows) < 100_000:
                self._intake_rows[(platform, tag)] = r
                if r is not None:
                    self._intake_case[r[1]] = (platform, tag)
        if r is None:
            return None, None
        intake = Intake(platform=r[0], user_id=user_id, case_id=r[1], asked=json.loads(r[2]), current=r[3],
                        locale=r[4], updated_at=r[5])
        kept_case = self._kept_latest("cases", r[1])  # a newer version, not committed yet
        if kept_case is not None:
            return intake, self._case(kept_case)
        return intake, (self._case(r[6:], lazy=lazy) if r[6] is not None else None)

    async def outbox_add_many(self, items):
        part = self._kblock
        if part is None or not items:
            return await super().outbox_add_many(items)
        first = self._take_id("outbox", len(items))
        ids = list(range(first, first + len(items)))
        part.outbox += [(i, self._enc(_j(a)), c) for i, (a, c) in zip(ids, items)]
        self._kept = True
        return ids

    # ---------------------------------------------------------------- audit
    async def append_audit(self, entry):
        part = self._kblock
        if part is None:
            return await super().append_audit(entry)
        head = self._audit_head
        if head is None:
            head = next(((p.audit[-1].seq, p.audit[-1].hash) for p in reversed(self._overlay()) if p.audit), None)
            if head is None:
                rows = self._raw_rows("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
                head = (rows[0][0], rows[0][1]) if rows else (0, "")
        entry.seq = head[0] + 1
        entry.prev_hash = head[1]
        entry.hash = self.audit_chain.link(entry.prev_hash, entry)
        self._audit_head = (entry.seq, entry.hash)
        self._tx_dirty_audit = True
        part.audit.append(entry)
        part.details.append(self._enc(_j(entry.detail)))
        self._kept = True
        return entry
