"""Discord's global rate limit (50 requests/s per bot, interaction routes exempt): the fake enforces it as
Discord does (429 with "global": true), a bare discord.py client waits it out, and the bot paces itself so
that a network-wide ban never meets it."""

from __future__ import annotations

import asyncio
import time

import discord
import pytest

from adapters.discord.pacing import Pacer, share
from tests.discord.conftest import discord_config, running_bot
from tests.fakes.discord_server import EPHEMERAL, VIEW_CHANNEL


async def test_the_fake_answers_429_over_the_global_limit_and_discord_py_waits_it_out(fake, world):
    fake.global_rate_limit = 20
    client = discord.Client(intents=discord.Intents.none(), guild_ready_timeout=0.05)
    async with fake.running(client):
        since = time.monotonic()
        users = await asyncio.gather(*(client.fetch_user(world.alice) for _ in range(45)))
    assert {u.name for u in users} == {"alice"}  # every request answered in the end
    assert fake.rate_limited > 0  # an unpaced client meets the limit...
    assert len(fake.limited) == fake.rate_limited and all(r.status == 429 for r in fake.limited)
    assert all(r.response["global"] is True and r.response["retry_after"] > 0 for r in fake.limited)
    assert all(r.status != 429 for r in fake.requests)  # what was refused did not happen
    assert len(fake.requests_to("GET", rf"/users/{world.alice}")) == 45  # each fetch carried out once
    assert fake.peak_per_second(since) <= 20  # ...and the fake never accepted more than the limit


async def test_interaction_replies_are_exempt_from_the_global_limit(fake, world, bot):
    fake.global_rate_limit = 1
    fake.request_times.clear()
    its = [await fake.send_slash_command(world.haven, world.general, world.alice, "report") for _ in range(3)]
    for it in its:
        await it.wait_response(20)  # each opens its modal through the exempt callback route
    assert fake.rate_limited == 0


async def test_a_network_wide_ban_stays_under_the_rate_and_meets_no_429(tmp_path, fake, world):
    fake.global_rate_limit = 12
    guilds = [{"id": world.haven, "safety_channel": world.safety, "safety_role": world.role, "network": "friends"}]
    for n in range(24):
        gid = fake.add_guild(f"Cove {n}")
        role = fake.add_role(gid, "Safety Team")
        safety = fake.add_channel(gid, "safety", private=True, overwrites={role: (VIEW_CHANNEL, 0)})
        fake.add_member(gid, world.suspect)
        guilds.append({"id": gid, "safety_channel": safety, "safety_role": role, "network": "friends"})
    config = discord_config(tmp_path, fake, world, guilds=guilds)
    config = config.model_copy(update={"discord": config.discord.model_copy(update={"requests_per_second": 10})})
    async with running_bot(config) as bot:
        assert bot.pacer.rate == 10
        since, limited_before = time.monotonic(), fake.rate_limited
        it = await fake.send_slash_command(world.haven, world.safety, world.mod, "safety",
                                           {"member": world.suspect, "confirm": True}, subcommand="ban")
        await it.wait_messages(1, 60)
        assert it.messages[0]["flags"] & EPHEMERAL
        await fake.wait_for(lambda: all(world.suspect in fake.bans(g["id"]) for g in guilds), timeout=60)
        assert fake.rate_limited == limited_before  # not one 429 for the ban
        assert fake.peak_per_second(since) <= 11  # 1.1 x the pace at most, under the fake's 12
        assert bot.pacer.waited > 0  # the pacer, not luck, kept it there


async def test_each_process_takes_its_share_of_the_rate():
    assert share(45, None, None) == 45
    assert share(45, 4, [0, 1]) == 22.5  # two processes of two shards each: 45/s together
    assert share(48, 4, [3]) == 12


async def test_the_pacer_spaces_a_burst_at_its_rate():
    clock = [0.0]

    async def sleep(seconds):  # a clock that advances by what the pacer sleeps
        clock[0] += seconds

    pacer = Pacer(20, clock=lambda: clock[0], sleep=sleep)
    for _ in range(42):
        await pacer.take()
    assert pacer.capacity == 2
    assert clock[0] == pytest.approx(2.0)  # 2 tokens of burst, then 1/20 s for each of the other 40
    assert pacer.waited == pytest.approx(2.0)
