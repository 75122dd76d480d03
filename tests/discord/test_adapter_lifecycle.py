"""Start-up and shutdown as `safety-bot run` does it: the CLI resumes unfinished actions right after
constructing the adapter and before `run()`; the adapter connects for them. Commands are registered,
persistent buttons re-registered, the http logger kept quiet, and the client sends no mentions by default."""

from __future__ import annotations

import asyncio
import logging

from adapters.discord import DiscordAdapter
from safety_bot.actions import Outcome, SendPrivate
from safety_bot.app import App
from safety_bot.domain import UserRef
from tests.discord.conftest import discord_config


async def test_cli_order_resume_before_run_delivers_pending_actions(tmp_path, fake, world):
    config = discord_config(tmp_path, fake, world)
    async with App(config) as app:
        adapter = DiscordAdapter(app, ready_timeout=0.05)
        # an action a crash left in the outbox
        pending = Outcome(actions=[SendPrivate(to=UserRef("discord", str(world.alice), "alice"), text="Hello again",
                                               community=str(world.haven))])
        async with app.store.transaction():
            await app.service.enqueue(pending)
        assert await app.runtime.resume() == 1  # what cli._run does before run()
        assert [m["content"] for m in fake.dm_messages(world.alice)] == ["Hello again"]
        task = asyncio.create_task(adapter.run())
        await asyncio.wait_for(adapter.ready.wait(), 60)
        assert fake.identify_count == 1  # one connection for both
        names = {c["name"] for c in fake.commands[world.haven].values()}
        assert names == {"report", "resources", "protect", "Report message", "Remove & block media", "safety"}
        safety = fake.commands[world.haven]["safety"]
        assert {o["name"] for o in safety["options"]} >= {
            "case", "cases", "note", "assign", "close", "ban", "unban", "remove", "warn", "strikes", "resources",
            "reply", "open", "export"}
        assert adapter.client.allowed_mentions.to_dict() == {"parse": []}
        assert logging.getLogger("discord.http").getEffectiveLevel() >= logging.WARNING
        assert {c.name for c in app.service.communities.values()} == {"Haven", "Harbor"}
        assert all(c.network == "friends" and c.platform == "discord" for c in app.service.communities.values())
        await adapter.close()
        await asyncio.wait_for(task, 60)
        assert task.done() and task.exception() is None


async def test_gateway_disconnect_and_resume_loses_nothing(tmp_path, fake, world):
    """The gateway drops mid-session: discord.py resumes, events sent meanwhile are replayed, and a
    report made right after the drop is stored and reaches the safety channel exactly once."""
    from tests.discord.conftest import contents, running_bot

    cfg = discord_config(tmp_path, fake, world)
    async with running_bot(cfg) as bot:
        resumes = fake.resume_count
        await fake.drop_connection()
        mid = await fake.dispatch_message_create(world.general, world.suspect, "pay me or else")
        it = await fake.send_message_context_command(world.haven, world.general, world.alice, "Report message", mid)
        await it.wait_response()
        sub = await fake.submit_modal(it, {"what": "he threatens me after the drop"})
        await sub.wait_messages(1)
        await fake.wait_for(lambda: fake.resume_count > resumes, what="a RESUME")
        posts = await fake.wait_for(lambda: [m for m in fake.messages(world.safety)
                                             if "he threatens me after the drop" in contents([m])])
        assert len(posts) == 1
        case = await bot.app.store.get_case(str(world.haven), 1)
        assert case is not None and case.accused[0].id == str(world.suspect)
