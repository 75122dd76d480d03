"""Action results: what the platform did with an action (removed, banned, failed) is recorded on its case,
and the reporter hears about outcomes that happened. A part of :class:`SafetyService` (a mixin)."""

from __future__ import annotations

from .actions import BanUser, Outcome, RemoveMessage, UnbanUser
from .domain import Ban, CaseNote
from .ports import ALREADY, NOT_FOUND, OK
from .unban import unban_result


class ActionResults:
    async def after_action(self, action, status: str, detail: str = "", outbox_id: int | None = None) -> Outcome:
        """Record an action's result on its case and tell the reporter about outcomes that happened."""
        async with self._lock:
            out, t = Outcome(), self.team_text
            case_id = getattr(action, "case_id", None)
            case = await self.store.get_case_by_id(case_id) if case_id else None
            async with self.store.transaction():
                if isinstance(action, RemoveMessage) and case is not None:
                    where = action.ref.link or action.ref.message_id
                    if status in (OK, ALREADY):  # ALREADY: it went through before a restart (Runtime.resume)
                        await self.store.add_note(CaseNote(case.id, "system", "system", t("note_removed", where=where), self.clock()))
                        if case.reporter and not case.flags.get("told_removed") and not case.flags.get("withdrawn"):
                            case.flags["told_removed"] = True
                            out.actions.append(self.private(case.reporter, self.t("outcome_removed", case.locale),
                                                            case.locale, case.community, "outcome"))
                    elif status == NOT_FOUND:
                        await self.store.add_note(CaseNote(case.id, "system", "system",
                                                           t("note_remove_gone", where=where), self.clock()))
                    else:
                        await self.store.add_note(CaseNote(case.id, "system", "system",
                                                           t("note_remove_failed", where=where, detail=detail or status),
                                                           self.clock()))
                elif isinstance(action, BanUser):
                    com = self.communities.get(action.community)
                    network = com.network if com else action.community
                    if status in (OK, ALREADY):
                        if await self.store.active_ban(network, action.user.key) is None:
                            await self.store.add_ban(Ban(network=network, user_id=action.user.key, case_id=action.case_id,
                                                         at=self.clock(), by="safety-team", reason=action.reason))
                        if case is not None and case.reporter and not case.flags.get("told_banned") \
                                and not case.flags.get("withdrawn"):  # a withdrawn report: the reporter is not messaged
                            case.flags["told_banned"] = True
                            out.actions.append(self.private(case.reporter, self.t("outcome_banned", case.locale),
                                                            case.locale, case.community, "outcome"))
                    if case is not None:
                        name = action.user.name or action.user.id
                        text = (t("note_banned_detail" if detail else "note_banned", name=name,
                                  community=action.community, detail=detail) if status in (OK, ALREADY) else
                                t("note_ban_failed", name=name, community=action.community, detail=detail or status))
                        await self.store.add_note(CaseNote(case.id, "system", "system", text, self.clock()))
                if isinstance(action, UnbanUser):  # the ban ends only when the platforms confirm (unban.py)
                    await unban_result(self, action, status, detail, outbox_id)
                if isinstance(action, UnbanUser) and case is not None:
                    await self.store.add_note(CaseNote(case.id, "system", "system",
                                                       t("note_unban", name=action.user.name or action.user.id,
                                                         community=action.community, status=status),
                                                       self.clock()))
                if case is not None:
                    await self.store.save_case(case)
                await self.audit("bot", f"action.{action.kind}", getattr(action, "community", "") or "", case,
                                 status=status)
                await self.enqueue(out)
                if outbox_id is not None:
                    await self.store.outbox_done(outbox_id, status, detail[:500])
            return out
