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


# ------------------------------------------------------------------ at most once for messages (issue 15)
def _dm(purpose: str, text: str) -> SendPrivate:
    return SendPrivate(to=UserRef("console", "alice", "alice"), text=text, community="cafe", purpose=purpose)


async def test_a_recorded_send_is_not_repeated_and_an_unknown_one_only_when_safe(hdb):
    """Each DM gets an idempotency record ('sending') before the platform call. After a stop: a send that was
    recorded as done is not repeated; one whose outcome is unknown is repeated only for first aid and
    resources, never for outcome notices or replies."""
    async with hdb.store.transaction():
        done = await hdb.store.outbox_add(_dm("outcome", "already delivered").to_json(), None)
        ids = {purpose: await hdb.store.outbox_add(_dm(purpose, f"{purpose} text").to_json(), None)
               for purpose in ("ack", "resources", "outcome", "reply")}
    await hdb.store.outbox_done(done, "ok")
    for oid in ids.values():
        await hdb.store.outbox_done(oid, "sending")  # the state a kill during the send leaves
    start = len(hdb.lines)
    assert await hdb.app.runtime.resume() == 2
    sent = hdb.private("alice", hdb.lines[start:])
    assert "ack text" in sent and "resources text" in sent
    assert "outcome text" not in sent and "reply text" not in sent and "already delivered" not in sent
    assert await hdb.store.outbox_sending() == [] and await hdb.store.outbox_pending() == []
    assert await hdb.app.runtime.resume() == 0  # and nothing on the next start either


async def test_a_live_send_leaves_its_idempotency_record_until_done(hdb):
    seen: list[list] = []
    platform = hdb.console.platform

    class Watching:
        name = platform.name

        async def send_private(self, a):
            seen.append(await hdb.store.outbox_sending())  # the record is committed before the call
            return await platform.send_private(a)

        def __getattr__(self, item):
            return getattr(platform, item)

    hdb.app.runtime.add_platform(Watching())
    from safety_bot.actions import Outcome

    await hdb.app.runtime.run(Outcome(actions=[_dm("outcome", "we banned them")]))
    assert [[a["text"] for _, a in s] for s in seen] == [["we banned them"]]
    assert await hdb.store.outbox_sending() == []
