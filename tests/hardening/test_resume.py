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


async def test_resume_asks_the_platform_before_repeating_a_ban(hs):
    world = hs.console.world
    world.bans["cafe"] = {"dave": "Zero-tolerance ban"}  # reached the platform just before the crash
    async with hs.store.transaction():
        await hs.store.outbox_add(_ban("dave").to_json(), None)
        await hs.store.outbox_add(_ban("carol").to_json(), None)  # crashed before the platform call
    start = len(hs.lines)
    assert await hs.app.runtime.resume() == 2
    audit = [line for line in hs.lines[start:] if line.startswith("[audit log @ cafe] ban")]
    assert audit == ["[audit log @ cafe] ban carol: Zero-tolerance ban"]  # dave's ban was not sent again
    assert await hs.store.outbox_pending() == []
    assert await hs.store.active_ban("friends", "console:dave") is not None  # the follow-up still ran


async def test_resume_leaves_actions_running_in_this_process_alone(hs):
    gate = asyncio.Event()
    sent: list[str] = []
    platform = hs.console.platform
    original = platform.send_private

    class Slow:  # a platform whose DM is slow: the live run is still inside it when resume() starts
        name = platform.name

        async def send_private(self, a):
            sent.append(a.text)
            await gate.wait()
            return await original(a)

        def __getattr__(self, item):
            return getattr(platform, item)

    hs.app.runtime.add_platform(Slow())
    from safety_bot.actions import Outcome

    out = Outcome(actions=[SendPrivate(to=UserRef("console", "alice", "alice"), text="hello", community="cafe")])
    live = asyncio.create_task(hs.app.runtime.run(out))
    while not sent:
        await asyncio.sleep(0.01)
    resumed = asyncio.create_task(hs.app.runtime.resume())
    await asyncio.sleep(0.05)
    gate.set()
    await live
    assert await resumed == 0
    assert sent == ["hello"]  # once, not twice
    assert await hs.store.outbox_pending() == []
