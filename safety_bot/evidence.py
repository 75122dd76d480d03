"""Evidence captured from the platforms: what a message showed when it was reported, and again right before
a removal or a ban purge deletes it. A part of :class:`SafetyService` (a mixin), kept apart for reading."""

from __future__ import annotations

from .actions import Outcome
from .domain import Case, CaseNote, Evidence, MessageRef, MessageSnapshot


class EvidenceRecorder:
    async def record_capture(self, case_id: int, ref: MessageRef, snapshot: MessageSnapshot | None, by: str) -> Outcome:
        """Store what the platform showed of a message (evidence first); note it when it was gone."""
        async with self._lock:
            case = await self.store.get_case_by_id(case_id)
            if case is None:
                return Outcome(ok=False)
            async with self.store.transaction():
                stored = await self._capture(case, ref, snapshot, by)
                await self.audit(by, "evidence.captured", case.community, case, message=ref.message_id,
                                 found=snapshot is not None, new=stored)
            return Outcome(case_number=case.number)

    async def record_captures(self, case_id: int, snapshots: list[MessageSnapshot], by: str) -> int:
        """Store messages captured just before a ban purge deletes them; committed before this returns, so
        the purge only runs once they are durable. Raises when they could not be stored (then no purge).
        Returns how many new evidence rows were added."""
        async with self._lock:
            case = await self.store.get_case_by_id(case_id)
            if case is None:
                raise LookupError("the case of the ban no longer exists")
            async with self.store.transaction():
                stored = 0
                for snap in snapshots:
                    stored += await self._capture(case, snap.ref, snap, by)
                # Counts only: the messages are on the case, the audit log need not repeat them.
                await self.audit(by, "evidence.captured_before_purge", case.community, case, messages=len(snapshots),
                                 new=stored)
            return stored

    async def _capture(self, case: Case, ref: MessageRef, snapshot: MessageSnapshot | None, by: str) -> bool:
        """One capture, inside the caller's transaction. A re-capture that shows nothing new (the message is
        gone, or unchanged since its latest evidence) adds no row: the export would list it twice."""
        same = [e for e in await self.store.evidence_for(case.id)
                if e.ref and (e.ref.platform, e.ref.channel_id, e.ref.message_id) == (ref.platform, ref.channel_id, ref.message_id)]
        latest = same[-1] if same else None
        # Empty content is how a removed message looks on some platforms; without an earlier capture the
        # id, link and author are still worth keeping.
        empty = snapshot is not None and not snapshot.text and not snapshot.attachments
        if snapshot is None or (empty and latest is not None):
            await self.store.add_note(CaseNote(case.id, "system", "system",
                                               self.team_text("note_capture_gone_kept" if latest else "note_capture_gone",
                                                              message=ref.link or ref.message_id), self.clock()))
            return False
        if latest is not None:
            keep_text = self.lib.playbook(case.category).keep_evidence_text
            text = snapshot.text if keep_text else ""
            if latest.text == text and latest.attachments == [a.to_dict() for a in snapshot.attachments]:
                return False
        await self._store_snapshot(case, snapshot, by)
        if not case.accused and snapshot.author:
            case.accused = [snapshot.author]
            await self.store.save_case(case)
        return True

    async def _store_snapshot(self, case: Case, snap: MessageSnapshot, by: str, note: str = "") -> Evidence:
        keep_text = self.lib.playbook(case.category).keep_evidence_text
        return await self.store.add_evidence(Evidence(
            case_id=case.id, ref=snap.ref, author=snap.author,
            text=snap.text if keep_text else "", message_created_at=snap.created_at, captured_at=self.clock(),
            captured_by=by, attachments=[a.to_dict() for a in snap.attachments],
            note=note or ("" if keep_text else self.team_text("evidence_text_not_kept"))))
