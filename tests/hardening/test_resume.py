"""`Runtime.resume()` after a crash: a ban or removal that reached the platform is not sent again, one that
did not is, and an action a live event in this process is running is left to it."""

from __future__ import annotations

import asyncio

import pytest

from safety_bot.actions import BanUser, SendPrivate
from safety_bot.domain import UserRef
from tests.harness import make_harness


@pytest.fixture
async def hs(tmp_path):
    h = await make_harness(tmp_path, sqlite=True)
    yield h
    await h.app.__aexit__(None, None, None)


def _ban(user: str) -> BanUser:
    return BanUser(community="cafe", user=UserRef("console", user, user), case_id=None, reason="Zero-tolerance ban")


async def test_resume_asks_the_platform_before_repeating_a_ban(hdb):
    world = hdb.console.world
    world.bans["cafe"] = {"dave": "Zero-tolerance ban"}  # reached the platform just before the crash
    async with hdb.store.transaction():
        await hdb.store.outbox_add(_ban("dave").to_json(), None)
        await hdb.store.outbox_add(_ban("carol").to_json(), None)  # crashed before the platform call
    start = len(hdb.lines)
    assert await hdb.app.runtime.resume() == 2
    audit = [line for line in hdb.lines[start:] if line.startswith("[audit log @ cafe] ban")]
    assert audit == ["[audit log @ cafe] ban carol: Zero-tolerance ban"]  # dave's ban was not sent again
    assert await hdb.store.outbox_pending() == []
    assert await hdb.store.active_ban("friends", "console:dave") is not None  # the follow-up still ran


async def test_resume_leaves_actions_running_in_this_process_alone(hdb):
    gate = asyncio.Event()
    sent: list[str] = []
    platform = hdb.console.platform
    original = platform.send_private

    class Slow:  # a platform whose DM is slow: the live run is still inside it when resume() starts
        name = platform.name

        async def send_private(self, a):
            sent.append(a.text)
            await gate.wait()
            return await original(a)

        def __getattr__(self, item):
            return getattr(platform, item)

    hdb.app.runtime.add_platform(Slow())
    from safety_bot.actions import Outcome

    out = Outcome(actions=[SendPrivate(to=UserRef("console", "alice", "alice"), text="hello", community="cafe")])
    live = asyncio.create_task(hdb.app.runtime.run(out))
    while not sent:
        await asyncio.sleep(0.01)
    resumed = asyncio.create_task(hdb.app.runtime.resume())
    await asyncio.sleep(0.05)
    gate.set()
    await live
    assert await resumed == 0
    assert sent == ["hello"]  # once, not twice
    assert await hdb.store.outbox_pending() == []
