"""What the runtime needs from a platform adapter (Discord, Matrix, console). Adapters implement it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

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


class Platform(Protocol):
    name: str

    async def send_private(self, action: SendPrivate) -> Result: ...
    async def post_to_team(self, action: PostToTeam) -> Result: ...
    async def fetch_message(self, ref: MessageRef) -> MessageSnapshot | None: ...
    async def remove_message(self, action: RemoveMessage) -> Result: ...
    async def ban(self, action: BanUser) -> Result: ...
    async def unban(self, action: UnbanUser) -> Result: ...
    async def timeout(self, action: TimeoutUser) -> Result: ...
    async def warn(self, action: WarnUser) -> Result: ...


class KnowsDone(Protocol):
    """Optional for a `Platform`: `Runtime.resume()` asks `is_done` before re-running a ban or a removal that
    a crash left pending. True: it already happened, it is not sent again. False: it did not. None: cannot
    tell (then it runs again, so `ban` and `remove_message` must stay safe to repeat)."""

    async def is_done(self, action: Action) -> bool | None: ...
