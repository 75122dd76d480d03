"""Carries out the core's actions through platform adapters and records each result.

Order matters: evidence is captured (and committed) before any removal of the same message; if the
capture fails, the removal does not happen. Every action sits in the outbox before it runs and is
marked done after; `resume()` finishes what a crash interrupted, asking the platform first whether a
ban or delete already happened so nothing runs twice.
"""

from __future__ import annotations

import logging

from . import faults
from .actions import (Action, BanUser, CaptureEvidence, LiftSuspension, Outcome, PostToTeam, RemoveMessage, SendPrivate, TimeoutUser,
                      UnbanUser, WarnUser, action_from_json)
from .domain import MessageSnapshot
from .text import inert_plain
from .ports import ALREADY, FAILED, BeforePurge, CaptureFailed, Platform, Result
from .service import SafetyService
from .store import StoreUnavailable

log = logging.getLogger(__name__)
SENDING = "sending"  # outbox status: the platform call started, its result is not recorded yet
UNKNOWN = "unknown"  # outbox status: a stop came during the send; it was not repeated
# Messages that may reach a member twice without harm: first aid, resources, the next question, team cards.
# Outcome notices and replies are never repeated: a duplicate "we banned them" is worse than none.
REPEATABLE_PURPOSES = frozenset({"ack", "crisis", "resources", "question"})


def safe_to_repeat(action: Action) -> bool:
    if isinstance(action, PostToTeam):
        return True
    return isinstance(action, SendPrivate) and action.purpose in REPEATABLE_PURPOSES


class Runtime:
    def __init__(self, service: SafetyService, platforms: dict[str, Platform] | None = None):
        self.service = service
        self.store = service.store
        self.platforms: dict[str, Platform] = dict(platforms or {})
        self.results: list[tuple[Action, Result]] = []  # the latest run's results, for summaries
        # Outbox ids this process is running now, and (while `resume()` reads the outbox) ids finished
        # meanwhile: `resume()` skips both, so an action started by a live event is never run twice.
        self._busy: set[int] = set()
        self._finished_while_resuming: set[int] | None = None

    def running(self) -> list[int]:
        """Outbox ids this process is running now (their leases are kept alive)."""
        return list(self._busy)

    def add_platform(self, platform: Platform) -> None:
        self.platforms[platform.name] = platform

    def platform_for(self, action: Action) -> Platform:
        if isinstance(action, (CaptureEvidence, RemoveMessage)):
            return self.platforms[action.ref.platform]
        if isinstance(action, SendPrivate) and not action.community:
            return self.platforms[action.to.platform]
        return self.platforms[self.service.community(action.community).platform]

    async def run(self, outcome: Outcome) -> Outcome:
        """Execute an outcome's actions in order, then any follow-ups (outcome notices, case notes)."""
        if not outcome.queued and outcome.actions:
            async with self.store.transaction():
                await self.service.enqueue(outcome)
        try:
            results = await self._run_queued(outcome.queued)
        except StoreUnavailable:
            # Disk full, read-only or locked: stop here instead of failing the process. What is left stays
            # in the outbox and runs on the next start (messages only when safe to repeat).
            log.error("storage unavailable while carrying out actions; the rest stay queued")
            self._busy.difference_update(oid for oid, _ in outcome.queued)  # resume() may take them
            outcome.reply = ((outcome.reply + "\n") if outcome.reply else "") + \
                self.service.team_text("run_store_unavailable")
            self.results = []
            return outcome
        t = self.service.team_text  # replies to the moderator: the team's texts, in the configured locale
        failures = [f"{_describe(t, a)}: {r.detail or r.status}" for a, r in results if not r.done and r.status != "not_found"]
        if failures:
            outcome.reply = (outcome.reply + "\n" if outcome.reply else "") + t("run_not_done", failures="; ".join(failures))
        banked = [r.detail for a, r in results if isinstance(a, RemoveMessage) and a.block_media and r.done and r.detail]
        if banked:  # what the hash bank did with the removed message's images (said by the core)
            outcome.reply = (outcome.reply + "\n" if outcome.reply else "") + "\n".join(banked)
        gone = [a for a, r in results if isinstance(a, RemoveMessage) and r.status == "not_found"]
        if gone:
            outcome.reply += "\n" + t("run_message_gone")
        outcome.reply = _confirm(t, outcome.reply, results)
        self.results = results
        return outcome

    async def _run_queued(self, queued: list, *, resumed: bool = False) -> list[tuple[Action, Result]]:
        results: list[tuple[Action, Result]] = []
        failed_captures: set[tuple[str, str]] = set()
        self._busy.update(oid for oid, _ in queued)
        for oid, action in queued:
            if isinstance(action, RemoveMessage) and (action.ref.channel_id, action.ref.message_id) in failed_captures:
                result = Result(FAILED, self.service.team_text("run_not_removed_no_capture"))
            elif resumed and await self._already_done(action):
                result = Result(ALREADY, self.service.team_text("run_already_before_restart"))
            else:
                if isinstance(action, (SendPrivate, PostToTeam)):
                    # The idempotency record: from here on a crash leaves "sent or not, unknown", and
                    # resume() repeats the message only when it is safe to (see `safe_to_repeat`).
                    await self.store.outbox_done(oid, SENDING)
                faults.point("action.before_call." + action.kind)
                result = await self._execute(action)
                faults.point("action.after_call." + action.kind)
                if isinstance(action, CaptureEvidence) and not result.done:
                    failed_captures.add((action.ref.channel_id, action.ref.message_id))
            follow = None
            try:
                if isinstance(action, (SendPrivate, PostToTeam, CaptureEvidence)):
                    await self.store.outbox_done(oid, result.status, result.detail[:500])
                else:
                    # Marked done in the same transaction as its record (ban list, case note, reporter
                    # notice), so a crash cannot keep one without the other.
                    follow = await self.service.after_action(action, result.status, result.detail, outbox_id=oid)
            finally:
                self._busy.discard(oid)
                if self._finished_while_resuming is not None:
                    self._finished_while_resuming.add(oid)
            results.append((action, result))
            for observe in self.service.observers:
                observe("outbox.done", getattr(action, "community", "") or "", None, kind=action.kind,
                        status=result.status, platform=self._platform_name(action))
            if follow is not None and follow.queued:
                results += await self._run_queued(follow.queued)
        return results

    def _platform_name(self, action: Action) -> str:
        try:
            return self.platform_for(action).name
        except KeyError:
            return "none"

    async def _execute(self, action: Action) -> Result:
        try:
            platform = self.platform_for(action)
        except KeyError:
            return Result(FAILED, self.service.team_text("run_no_adapter"))
        try:
            if isinstance(action, CaptureEvidence):
                try:
                    snapshot = await platform.fetch_message(action.ref)
                except CaptureFailed as exc:
                    return Result(FAILED, self.service.team_text("run_capture_failed", error=exc))
                await self.service.record_capture(action.case_id, action.ref, snapshot, f"bot:{platform.name}")
                return Result("ok")
            # Only platforms that say they take it get `before_purge` (ports.CapturesBeforePurge).
            if isinstance(action, BanUser) and action.case_id is not None and \
                    getattr(platform, "captures_before_purge", False) is True:
                return await platform.ban(action, before_purge=self._capture_before_purge(action.case_id, platform.name))
            if isinstance(action, LiftSuspension):  # Matrix only (matrix.suspend_local_accused)
                lift = getattr(platform, "lift_suspension", None)
                if lift is None:
                    return Result(FAILED, self.service.team_text("run_no_suspensions", platform=platform.name))
                return await lift(action)
            method = {SendPrivate: platform.send_private, PostToTeam: platform.post_to_team,
                      RemoveMessage: platform.remove_message, BanUser: platform.ban, UnbanUser: platform.unban,
                      TimeoutUser: platform.timeout, WarnUser: platform.warn}[type(action)]
            return await method(action)
        except Exception as exc:  # an adapter bug must not lose the rest of the actions
            log.exception("action %s failed in the %s adapter", action.kind, platform.name)
            return Result(FAILED, exc.__class__.__name__)

    def _capture_before_purge(self, case_id: int, platform_name: str) -> BeforePurge:
        """Evidence first for ban purges: the platform hands over the messages it is about to delete, and they
        are committed on the case before it may delete them. Raising (store down) keeps them up."""
        async def store(snapshots: list[MessageSnapshot]) -> None:
            if snapshots:
                await self.service.record_captures(case_id, snapshots, f"bot:{platform_name}")
        return store

    async def _already_done(self, action: Action) -> bool:
        """A ban or removal left pending by a crash may have reached the platform before it: ask."""
        if not isinstance(action, (BanUser, RemoveMessage)):
            return False
        try:
            ask = getattr(self.platform_for(action), "is_done", None)
            return ask is not None and await ask(action) is True
        except Exception:  # cannot tell: run it again (bans and removals are safe to repeat)
            log.warning("could not ask the platform whether a %s already happened", action.kind, exc_info=True)
            return False

    async def resume(self) -> int:
        """Run actions a crash left pending. Returns how many were resumed."""
        self._finished_while_resuming = set()
        try:
            pending = await self.store.outbox_claim()  # with several processes: only what no live one holds
            skip = self._busy | self._finished_while_resuming
        finally:
            self._finished_while_resuming = None
        queued = []
        for oid, data in await self.store.outbox_sending():
            if oid in skip:
                continue
            try:
                action = action_from_json(data)
            except Exception:
                await self.store.outbox_done(oid, FAILED, "unreadable")
                continue
            if safe_to_repeat(action):
                queued.append((oid, action))
            else:
                log.warning("outbox entry %s (%s) may have been sent before the stop; not sent again", oid, action.kind)
                await self.store.outbox_done(oid, UNKNOWN, "sent or not before a stop; not repeated")
        for oid, data in pending:
            if oid in skip:  # a live event in this process is running it
                continue
            try:
                queued.append((oid, action_from_json(data)))
            except Exception:
                log.error("outbox entry %s cannot be read; marking it failed", oid)
                await self.store.outbox_done(oid, FAILED, "unreadable")
        if queued:
            log.info("resuming %d action(s) left unfinished", len(queued))
            await self._run_queued(queued, resumed=True)
        return len(queued)


def _name(user) -> str:
    """A display name is chosen by its owner (the accused, often): shown inert, like every name in team texts."""
    return inert_plain(user.name or user.id, limit=64)


def _describe(t, action: Action) -> str:
    """What an action was, for a moderator told it was not done (team texts `run_action_*`)."""
    if isinstance(action, BanUser):
        return t("run_action_ban", name=_name(action.user), community=action.community)
    if isinstance(action, UnbanUser):
        return t("run_action_unban", name=_name(action.user), community=action.community)
    if isinstance(action, RemoveMessage):
        return t("run_action_remove", message=action.ref.link or action.ref.message_id)
    if isinstance(action, CaptureEvidence):
        return t("run_action_capture", message=action.ref.link or action.ref.message_id)
    if isinstance(action, SendPrivate):
        return t("run_action_private")
    if isinstance(action, TimeoutUser):
        return t("run_action_timeout", name=_name(action.user))
    if isinstance(action, WarnUser):
        return t("run_action_warn", name=_name(action.user))
    if isinstance(action, LiftSuspension):
        return t("run_action_unsuspend", name=_name(action.user))
    return action.kind


def _confirm(t, reply: str, results: list[tuple[Action, Result]]) -> str:
    """The moderator hears that a ban, unban or removal has happened, not only that it was started."""
    lines = []
    bans = [(a, r) for a, r in results if isinstance(a, BanUser)]
    if bans and all(r.done for _, r in bans):
        n = len({a.community for a, _ in bans})
        lines.append(t("run_ban_done_one" if n == 1 else "run_ban_done", count=n))
        lines += [t("run_note", detail=r.detail) for _, r in bans if r.detail and r.status != ALREADY]
    unbans = [(a, r) for a, r in results if isinstance(a, UnbanUser)]
    if unbans and all(r.done for _, r in unbans):
        n = len({a.community for a, _ in unbans})
        lines.append(t("run_unban_done_one" if n == 1 else "run_unban_done", count=n))
    removed = [a for a, r in results if isinstance(a, RemoveMessage) and r.done and r.status != ALREADY]
    if removed:
        lines.append(t("run_removed_one") if len(removed) == 1 else t("run_removed", count=len(removed)))
    if not lines:
        return reply
    return (reply + "\n" if reply else "") + "\n".join(lines)
