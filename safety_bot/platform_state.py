"""Small values an adapter keeps across restarts (a sync token, its device id, which room is a member's
DM, which homeserver reports it has seen), kept in the core's database under the platform's name.
Adapters use this, never the store: it holds no case data and can read or change nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .store import Store


class PlatformState:
    def __init__(self, store: "Store", platform: str):
        self._store = store
        self._prefix = platform + "."

    async def get(self, key: str) -> str | None:
        return await self._store.get_value(self._prefix + key)

    async def set(self, key: str, value: str) -> None:
        await self._store.set_value(self._prefix + key, value)
