"""Discord shards across two bot processes sharing one PostgreSQL database (each process here is an App with
its own store connection pool and its own discord.py client, in one test process).

Process A runs shard 0 of 2, process B shard 1. The fake Discord routes each guild's events to the session
running its shard (guild_id >> 22) % 2 and DMs to shard 0, as Discord does."""

from __future__ import annotations

import contextlib

import pytest

from safety_bot.config import load_config
from tests.discord.conftest import contents, ephemeral_text, running_bot, wait_messages
from tests.fakes.discord_server import VIEW_CHANNEL, FakeDiscord
from tests.postgres_server import fresh_database


def guild_on_shard(fake: FakeDiscord, name: str, shard: int, count: int = 2) -> int:
    base = fake.snowflake() >> 22
    return fake.add_guild(name, id=((base - base % count + shard) << 22) | (fake.snowflake() & 0x3FFFFF))


@pytest.fixture
async def sharded(tmp_path, postgres_server):
    async with FakeDiscord() as fake:
        fake.interaction_timeout = 5.0
        haven, harbor = guild_on_shard(fake, "Haven", 0), guild_on_shard(fake, "Harbor", 1)
        assert (FakeDiscord.shard_of(haven, 2), FakeDiscord.shard_of(harbor, 2)) == (0, 1)
        roles = {g: fake.add_role(g, "Safety Team") for g in (haven, harbor)}
        safety = {g: fake.add_channel(g, "safety", private=True, overwrites={roles[g]: (VIEW_CHANNEL, 0)})
                  for g in (haven, harbor)}
        general = {g: fake.add_channel(g, "general") for g in (haven, harbor)}
        alice = fake.add_member(harbor, name="alice")
        mod = fake.add_member(harbor, name="mod", roles=[roles[harbor]])
        suspect = fake.add_member(harbor, name="suspect")
        fake.add_member(haven, mod, roles=[roles[haven]])
        fake.add_member(haven, suspect)
        dsn = await fresh_database(postgres_server)
        env = {"DISCORD_TOKEN": fake.token, "DATABASE_URL": dsn, "SAFETY_BOT_KEY": __import__(
            "safety_bot.crypto", fromlist=["new_key_text"]).new_key_text()}

        def config(name: str, shard_ids: list[int]):
            folder = tmp_path / name
            folder.mkdir()
            path = folder / "config.yaml"
            import yaml
            path.write_text(yaml.safe_dump({
                "playbooks": str(__import__("pathlib").Path(__file__).resolve().parents[2] / "playbooks"),
                "storage": {"backend": "postgres", "dsn": "${DATABASE_URL}", "key": "${SAFETY_BOT_KEY}"},
                "exports_dir": str(folder / "exports"),
                "discord": {"token": "${DISCORD_TOKEN}", "api_base_url": fake.api_base_url,
                            "gateway_url": fake.gateway_url, "shard_count": 2, "shard_ids": shard_ids,
                            "guilds": [{"id": g, "safety_channel": safety[g], "safety_role": roles[g],
                                        "network": "friends"} for g in (haven, harbor)]}}), encoding="utf-8")
            return load_config(path, env=env)

        async with contextlib.AsyncExitStack() as stack:
            a = await stack.enter_async_context(running_bot(config("a", [0])))
            b = await stack.enter_async_context(running_bot(config("b", [1])))
            yield type("World", (), dict(fake=fake, a=a, b=b, haven=haven, harbor=harbor, safety=safety,
                                         general=general, alice=alice, mod=mod, suspect=suspect))


async def test_each_process_gets_its_shards_guilds_and_shard_0_the_dms(sharded):
    w = sharded
    assert sorted(w.fake._shards) == [0, 1]
    assert [g.id for g in w.a.client.guilds] == [w.haven] and [g.id for g in w.b.client.guilds] == [w.harbor]
    # a slash command in Harbor reaches B (shard 1); the case is in the shared database
    it = await w.fake.send_slash_command(w.harbor, w.general[w.harbor], w.alice, "report")
    await it.wait_response(10)
    sub = await w.fake.submit_modal(it, {"what": "He threatens to share my pictures"})
    await sub.wait_messages(1, 10)
    assert "Your report is saved" in ephemeral_text(sub)
    [post] = await wait_messages(w.fake, w.safety[w.harbor])
    assert "New case 1" in contents([post])
    [case] = await w.a.app.store.list_cases(str(w.harbor))  # A reads what B stored
    assert case.reporter.id == str(w.alice)
    # a DM arrives on shard 0 only: A answers it, B never sees it
    dm = w.fake.dm_channel_id(w.alice)
    before = len(w.fake.dm_messages(w.alice))
    await w.fake.dispatch_message_create(dm, w.alice, "report he is blackmailing me")
    await w.fake.wait_for(lambda: len(w.fake.dm_messages(w.alice)) > before, 15)  # answered (by A: B never got it)
    frames = {n: [f["d"] for _, f in w.fake._shards[n].events if f["t"] == "MESSAGE_CREATE"] for n in (0, 1)}
    assert any(d["channel_id"] == str(dm) for d in frames[0])
    assert not any(d["channel_id"] == str(dm) for d in frames[1])


async def test_a_network_ban_from_one_shard_reaches_the_guild_on_the_other(sharded):
    w = sharded
    it = await w.fake.send_slash_command(w.harbor, w.safety[w.harbor], w.mod, "safety",
                                         {"member": w.suspect, "confirm": True}, subcommand="ban")
    await it.wait_messages(1, 15)
    await w.fake.wait_for(lambda: w.suspect in w.fake.bans(w.haven) and w.suspect in w.fake.bans(w.harbor), 15)
    for gid in (w.haven, w.harbor):
        assert len(w.fake.requests_to("PUT", rf"/guilds/{gid}/bans/{w.suspect}")) == 1
    assert w.a.app.store is not w.b.app.store
    assert await w.a.app.store.outbox_pending() == []


async def test_a_sharded_bot_registers_its_commands_once_globally_from_shard_0(sharded):
    w = sharded
    apps = r"/applications/\d+"
    assert len(w.fake.requests_to("PUT", apps + "/commands")) == 1  # process A (shard 0), one request
    assert w.fake.requests_to("PUT", apps + r"/guilds/\d+/commands") == []  # none per guild
    names = set(w.fake.commands[None])
    assert {"report", "resources", "safety"} <= names
    assert all(w.fake.commands.get(g, {}) == {} for g in (w.haven, w.harbor))
    # a slash command in the guild on B's shard still works from the global registration
    it = await w.fake.send_slash_command(w.harbor, w.general[w.harbor], w.alice, "report")
    await it.wait_response(20)
    assert it.modal is not None  # B answered from the global registration with the report form


async def test_a_process_posts_unban_and_timeout_in_a_guild_on_the_other_processs_shard(sharded):
    """Process A (shard 0) acts in Harbor, which only B has in its cache: all by REST, nothing refused."""
    from safety_bot.actions import PostToTeam, TimeoutUser, UnbanUser
    from safety_bot.domain import UserRef
    from safety_bot.ports import OK

    w = sharded
    assert w.a.client.get_guild(w.harbor) is None  # not in A's cache
    before = len(w.fake.messages(w.safety[w.harbor]))
    posted = await w.a.platform.post_to_team(PostToTeam(community=str(w.harbor), text="A notice for the team"))
    assert posted.status == OK
    new = w.fake.messages(w.safety[w.harbor])[before:]
    assert "A notice for the team" in contents(new)  # the full text: the private channel was recognised
    suspect = UserRef("discord", str(w.suspect), "suspect")
    timed = await w.a.platform.timeout(TimeoutUser(community=str(w.harbor), user=suspect, seconds=600, reason="test"))
    assert timed.status == OK
    [patch] = w.fake.requests_to("PATCH", rf"/guilds/{w.harbor}/members/{w.suspect}")
    assert patch.json["communication_disabled_until"]
    await w.fake.send_slash_command(w.harbor, w.safety[w.harbor], w.mod, "safety",
                                    {"member": w.suspect, "confirm": True}, subcommand="ban")
    await w.fake.wait_for(lambda: w.suspect in w.fake.bans(w.harbor), 15)
    unbanned = await w.a.platform.unban(UnbanUser(community=str(w.harbor), user=suspect, reason="test"))
    assert unbanned.status == OK and w.suspect not in w.fake.bans(w.harbor)
    # the same post when that channel is open to everyone: only a short notice, the case text held back
    await w.fake.set_overwrite(w.safety[w.harbor], w.harbor, allow=VIEW_CHANNEL, deny=0)
    before = len(w.fake.messages(w.safety[w.harbor]))
    posted = await w.a.platform.post_to_team(PostToTeam(community=str(w.harbor), text="Second notice", case_number=1))
    assert posted.status != OK
    new = contents(w.fake.messages(w.safety[w.harbor])[before:])
    assert "case 1 is waiting" in new and "Second notice" not in new
