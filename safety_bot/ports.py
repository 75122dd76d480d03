"""What the runtime needs from a platform adapter (Discord, Matrix, console). Adapters implement it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

from .actions import Action, BanUser, PostToTeam, RemoveMessage, SendPrivate, TimeoutUser, UnbanUser, WarnUser
from .domain import MessageRef, MessageSnapshot

OK, ALREADY, NOT_FOUND, FORBIDDEN, FAILED = "ok", "already", "not_found", "forbidden", "failed"
DONE_STATUSES = (OK, ALREADY)


@dataclass(frozen=True)
class Result:
    status: str
    detail: str = ""

    @property
    def done(self) -> bool:
        return self.status in DONE_STATUSES


class CaptureFailed(Exception):
    """The platform could not be asked for the message (permissions, network): do not remove it."""


# Stores messages as evidence of the ban's case, durably, before it returns; raises when it could not.
BeforePurge = Callable[[list[MessageSnapshot]], Awaitable[None]]


class Platform(Protocol):
    name: str

    async def send_private(self, action: SendPrivate) -> Result: ...
    async def post_to_team(self, action: PostToTeam) -> Result: ...
    async def fetch_message(self, ref: MessageRef) -> MessageSnapshot | None: ...
    async def remove_message(self, action: RemoveMessage) -> Result: ...
    # Platforms that set `captures_before_purge` (see `CapturesBeforePurge`) also take `before_purge=`.
    async def ban(self, action: BanUser) -> Result: ...
    async def unban(self, action: UnbanUser) -> Result: ...
    async def timeout(self, action: TimeoutUser) -> Result: ...
    async def warn(self, action: WarnUser) -> Result: ...


class KnowsDone(Protocol):
    """Optional for a `Platform`: `Runtime.resume()` asks `is_done` before re-running a ban or a removal that
    a crash left pending. True: it already happened, it is not sent again. False: it did not. None: cannot
    tell (then it runs again, so `ban` and `remove_message` must stay safe to repeat)."""

    async def is_done(self, action: Action) -> bool | None: ...


class CapturesBeforePurge(Protocol):
    """Optional for a `Platform` whose `ban` deletes the member's recent messages (the purge). With
    `captures_before_purge = True`, the runtime passes `before_purge` to `ban` for bans with a case: the
    platform bans first, then collects the messages the purge will delete, awaits `before_purge(snapshots)`
    and only then purges. When `before_purge` raises, the ban stands and the purge is skipped."""

    captures_before_purge: ClassVar[bool]

    async def ban(self, action: BanUser, *, before_purge: BeforePurge | None = None) -> Result: ...
