"""Proves tests/fakes/discord_server.py works with the real, unmodified discord.py client.

The bot here is a tiny stand-in defined in this file, not the product's adapter."""

from __future__ import annotations

import asyncio
import datetime
from types import SimpleNamespace

import discord
import pytest
from discord import app_commands

from tests.fakes.discord_server import (BAN_MEMBERS, DEFAULT_BOT_PERMISSIONS, EPHEMERAL, VIEW_CHANNEL, FakeDiscord,
                                        pings)


class ReportModal(discord.ui.Modal, title="Report"):
    details = discord.ui.TextInput(label="What happened?", custom_id="details", style=discord.TextStyle.long)

    def __init__(self, seen: dict):
        super().__init__(custom_id="report-modal")
        self.seen = seen

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.seen["modal"] = (interaction.user.id, self.details.value)
        await interaction.response.send_message("Thanks, received.", ephemeral=True)


class CaseButtons(discord.ui.View):
    """Persistent view: no timeout, fixed custom_id, registered with add_view at start."""

    def __init__(self, seen: dict):
        super().__init__(timeout=None)
        self.seen = seen

    @discord.ui.button(label="Claim", custom_id="case:claim", style=discord.ButtonStyle.primary)
    async def claim(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.seen["claimed_by"] = interaction.user.id
        await interaction.response.edit_message(content=f"Claimed by {interaction.user.id}", view=self)


def build_bot(*, message_content: bool = True):
    """A minimal bot: slash group /safety, /report (modal), a message context menu, on_message."""
    seen: dict = {"messages": []}
    intents = discord.Intents.default()
    intents.members = True
    intents.message_content = message_content
    client = discord.Client(intents=intents, allowed_mentions=discord.AllowedMentions.none(),
                            guild_ready_timeout=0.05)
    tree = app_commands.CommandTree(client)

    async def setup_hook() -> None:
        client.add_view(CaseButtons(seen))

    client.setup_hook = setup_hook  # type: ignore[method-assign]

    @client.event
    async def on_message(message: discord.Message) -> None:
        seen["messages"].append(message)

    safety = app_commands.Group(name="safety", description="Safety tools")
    case = app_commands.Group(name="case", description="Cases", parent=safety)

    @case.command(name="close", description="Close a case")
    async def case_close(interaction: discord.Interaction, case_id: int, note: str) -> None:
        seen["close"] = (case_id, note, str(interaction.locale), interaction.guild_id)
        await interaction.response.send_message(f"Closed case {case_id}", ephemeral=True)

    @safety.command(name="ban", description="Ban a user")
    async def ban(interaction: discord.Interaction, user: discord.User, reason: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.guild.ban(user, reason=reason, delete_message_seconds=604800)
        await interaction.followup.send(f"Banned {user.id}", ephemeral=True)

    @safety.command(name="status", description="Slow status")
    async def status(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await asyncio.sleep(0.05)
        await interaction.followup.send("All good", ephemeral=True)

    tree.add_command(safety)

    @tree.command(name="report", description="Report privately")
    async def report(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(ReportModal(seen))

    @tree.context_menu(name="Report message")
    async def report_message(interaction: discord.Interaction, message: discord.Message) -> None:
        seen["reported"] = message
        await interaction.response.send_message("Reported.", ephemeral=True)

    return SimpleNamespace(client=client, tree=tree, seen=seen)


@pytest.fixture
async def fake():
    async with FakeDiscord() as f:
        yield f


@pytest.fixture
def world(fake: FakeDiscord) -> SimpleNamespace:
    gid = fake.add_guild("Haven")
    mod_role = fake.add_role(gid, "Safety Team", permissions=BAN_MEMBERS)
    general = fake.add_channel(gid, "general")
    safety = fake.add_channel(gid, "safety", private=True, overwrites={mod_role: (VIEW_CHANNEL, 0)})
    alice = fake.add_member(gid, name="alice")
    mod = fake.add_member(gid, name="mod", roles=[mod_role])
    suspect = fake.add_member(gid, name="suspect")
    return SimpleNamespace(gid=gid, mod_role=mod_role, general=general, safety=safety, alice=alice, mod=mod,
                           suspect=suspect)


async def test_login_ready_and_guild_create_populate_cache(fake, world):
    bot = build_bot()
    async with fake.running(bot.client) as client:
        guild = client.get_guild(world.gid)
        assert guild is not None and guild.name == "Haven"
        assert {c.name for c in guild.text_channels} == {"general", "safety"}
        assert guild.default_role.id == world.gid
        assert guild.get_role(world.mod_role).name == "Safety Team"
        # members arrive through discord.py's chunk request (op 8), as on real Discord
        assert guild.get_member(world.mod).roles[-1].id == world.mod_role
        assert guild.me.id == fake.bot_id and guild.me.guild_permissions.ban_members
        assert guild.member_count == len(guild.members) == 5  # bot, owner, alice, mod, suspect
        assert ("recv", 8, None) in fake.gateway_log
        safety = guild.get_channel(world.safety)
        assert not safety.permissions_for(guild.get_member(world.alice)).view_channel
        assert safety.permissions_for(guild.get_member(world.mod)).view_channel
        assert safety.permissions_for(guild.me).view_channel
        assert fake.requests_to("GET", "/users/@me") and fake.requests_to("GET", "/oauth2/applications/@me")


async def test_slash_command_with_subcommand_group_gets_ephemeral_reply(fake, world):
    bot = build_bot()
    async with fake.running(bot.client):
        await bot.tree.sync()
        assert [c["name"] for c in fake.requests_to("PUT", r"/applications/\d+/commands")[0].json] == [
            "safety", "report", "Report message"]
        it = await fake.send_slash_command(world.gid, world.general, world.alice, "safety",
                                           {"case_id": 7, "note": "done"}, subcommand="case close", locale="de")
        await it.wait_response()
        assert bot.seen["close"] == (7, "done", "de", world.gid)
        [group] = it.payload["data"]["options"]  # /safety case close: group (2) > subcommand (1)
        assert (group["type"], group["options"][0]["type"]) == (2, 1)
        assert it.response_type == 4 and it.ephemeral
        assert it.original["content"] == "Closed case 7" and it.original["flags"] & EPHEMERAL
        assert it.callbacks[0]["data"]["allowed_mentions"] == {"parse": []}
        assert fake.messages(world.general) == []  # ephemeral replies are not public channel messages


async def test_guild_command_is_routed_by_its_guild_id(fake, world):
    bot = build_bot()

    @bot.tree.command(name="ping", description="Guild-only", guild=discord.Object(world.gid))
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong")

    async with fake.running(bot.client):
        await bot.tree.sync(guild=discord.Object(world.gid))
        it = await fake.send_slash_command(world.gid, world.general, world.alice, "ping")
        assert it.payload["data"]["guild_id"] == str(world.gid)
        await it.wait_response()
        assert [m["content"] for m in fake.messages(world.general)] == ["pong"]  # public reply


async def test_modal_opened_and_submission_reaches_on_submit(fake, world):
    bot = build_bot()
    async with fake.running(bot.client):
        it = await fake.send_slash_command(world.gid, world.general, world.alice, "report")
        await it.wait_response()
        assert it.response_type == 9 and it.modal["custom_id"] == "report-modal"
        sub = await fake.submit_modal(it, {"details": "someone is threatening me"})
        await sub.wait_response()
        assert bot.seen["modal"] == (world.alice, "someone is threatening me")
        assert sub.ephemeral and sub.original["content"] == "Thanks, received."


async def test_persistent_view_receives_button_press_after_restart(fake, world):
    # A message with the button as a previous bot process left it: the view was only re-registered.
    mid = fake.add_message(world.safety, fake.bot_id, "New case", components=[
        {"type": 1, "components": [{"type": 2, "style": 1, "label": "Claim", "custom_id": "case:claim"}]}])
    bot = build_bot()
    async with fake.running(bot.client):
        it = await fake.press_button(mid, "case:claim", world.mod)
        await it.wait_response()
        assert bot.seen["claimed_by"] == world.mod
        assert it.response_type == 7
        assert fake.messages_by_id[mid]["content"] == f"Claimed by {world.mod}"


async def test_message_context_menu_gets_resolved_message(fake, world):
    mid = fake.add_message(world.general, world.suspect, "send money or else", attachments=[
        {"filename": "a.png", "url": "https://cdn.example/a.png", "size": 2048, "content_type": "image/png"}])
    bot = build_bot(message_content=False)  # context-menu targets carry content even without the intent
    async with fake.running(bot.client):
        await bot.tree.sync()
        it = await fake.send_message_context_command(world.gid, world.general, world.alice, "Report message", mid)
        await it.wait_response()
        msg = bot.seen["reported"]
        assert (msg.id, msg.author.id, msg.content) == (mid, world.suspect, "send money or else")
        att = msg.attachments[0]
        assert (att.filename, att.size, att.content_type, att.url) == ("a.png", 2048, "image/png",
                                                                      "https://cdn.example/a.png")
        assert it.ephemeral


async def test_defer_then_followup(fake, world):
    bot = build_bot()
    async with fake.running(bot.client):
        it = await fake.send_slash_command(world.gid, world.general, world.mod, "safety", subcommand="status")
        await it.wait_response()
        assert it.response_type == 5
        [msg] = await it.wait_messages()
        assert msg["content"] == "All good" and msg["flags"] == EPHEMERAL  # loading flag cleared


async def test_ban_records_delete_seconds_and_audit_reason(fake, world):
    old = fake.add_message(world.general, world.suspect, "old", timestamp=discord.utils.utcnow()
                           - datetime.timedelta(days=8))
    recent = fake.add_message(world.general, world.suspect, "recent threat")
    bot = build_bot()
    async with fake.running(bot.client):
        await bot.tree.sync()  # the schema makes the int below a USER option
        it = await fake.send_slash_command(world.gid, world.safety, world.mod, "safety",
                                           {"user": world.suspect, "reason": "sextortion"}, subcommand="ban")
        [msg] = await it.wait_messages()
        assert msg["content"] == f"Banned {world.suspect}"
        ban = fake.bans(world.gid)[world.suspect]
        assert (ban.reason, ban.delete_message_seconds) == ("sextortion", 604800)
        [req] = fake.requests_to("PUT", rf"/guilds/{world.gid}/bans/{world.suspect}")
        assert req.query["delete_message_seconds"] == "604800" and req.headers["X-Audit-Log-Reason"] == "sextortion"
        assert recent in fake.deleted_message_ids and old not in fake.deleted_message_ids
        assert world.suspect not in fake.guilds[world.gid]["members"]


async def test_ban_without_ban_members_is_forbidden(fake, world):
    fake.set_bot_permissions(world.gid, DEFAULT_BOT_PERMISSIONS & ~BAN_MEMBERS)
    bot = build_bot()
    async with fake.running(bot.client) as client:
        with pytest.raises(discord.Forbidden) as exc:
            await client.get_guild(world.gid).ban(discord.Object(world.suspect), delete_message_seconds=0)
        assert exc.value.code == 50013
        assert fake.bans(world.gid) == {}


async def test_dm_to_user_with_closed_dms_is_forbidden(fake, world):
    fake.close_dms(world.suspect)
    bot = build_bot()
    async with fake.running(bot.client) as client:
        await (await client.fetch_user(world.alice)).send("Your report was received.")
        assert [m["content"] for m in fake.dm_messages(world.alice)] == ["Your report was received."]
        with pytest.raises(discord.Forbidden) as exc:
            await (await client.fetch_user(world.suspect)).send("hello")
        assert exc.value.code == 50007
        assert fake.dm_messages(world.suspect) == []


async def test_dispatch_message_create_reaches_on_message(fake, world):
    bot = build_bot()
    async with fake.running(bot.client):
        mid = await fake.dispatch_message_create(world.general, world.alice, "hi <@%d>" % world.mod,
                                                 attachments=[{"filename": "x.jpg", "size": 10}])
        msgs = await fake.wait_for(lambda: [m for m in bot.seen["messages"] if m.id == mid])
        assert msgs[0].content.startswith("hi") and msgs[0].author.id == world.alice
        assert msgs[0].attachments[0].filename == "x.jpg"
        assert pings(fake.messages_by_id[mid])["users"] == {world.mod}


async def test_message_content_intent_is_enforced(fake, world):
    bot = build_bot(message_content=False)
    async with fake.running(bot.client):
        mid = await fake.dispatch_message_create(world.general, world.alice, "secret")
        dm = await fake.dispatch_message_create(fake.dm_channel_id(world.alice), world.alice, "in a DM")
        await fake.wait_for(lambda: len(bot.seen["messages"]) == 2)
        by_id = {m.id: m.content for m in bot.seen["messages"]}
        assert by_id == {mid: "", dm: "in a DM"}


async def test_delete_missing_message_raises_not_found(fake, world):
    bot = build_bot()
    async with fake.running(bot.client) as client:
        channel = client.get_channel(world.general)
        with pytest.raises(discord.NotFound) as exc:
            await channel.get_partial_message(fake.snowflake()).delete()
        assert exc.value.code == 10008
        with pytest.raises(discord.NotFound) as exc:
            await client.get_guild(world.gid).fetch_member(fake.snowflake())
        assert exc.value.code == 10007
        sent = await channel.send("to be removed")
        await sent.delete()
        assert sent.id in fake.deleted_message_ids


async def test_timeout_and_channel_overwrite_update(fake, world):
    bot = build_bot()
    async with fake.running(bot.client) as client:
        guild = client.get_guild(world.gid)
        suspect = guild.get_member(world.suspect)
        await suspect.timeout(datetime.timedelta(hours=1), reason="cooling off")
        assert fake.guilds[world.gid]["members"][world.suspect]["communication_disabled_until"]
        assert fake.requests_to("PATCH", rf"/guilds/{world.gid}/members/{world.suspect}")[0].reason == "cooling off"
        with pytest.raises(discord.HTTPException) as exc:
            await suspect.timeout(datetime.timedelta(days=29))
        assert exc.value.code == 50035
        # The safety channel is made public after the bot connected: the client's cache follows.
        await fake.set_overwrite(world.safety, world.gid, allow=VIEW_CHANNEL)
        alice = guild.get_member(world.alice)
        await fake.wait_for(lambda: guild.get_channel(world.safety).permissions_for(alice).view_channel)


async def test_resume_after_dropped_connection_replays_missed_events(fake, world):
    bot = build_bot()
    async with fake.running(bot.client):
        await fake.drop_connection()
        mid = await fake.dispatch_message_create(world.general, world.alice, "while you were away")
        await fake.wait_for(lambda: any(m.id == mid for m in bot.seen["messages"]))
        assert fake.resume_count == 1 and fake.identify_count == 1


async def test_failure_injection_and_unknown_routes(fake, world):
    bot = build_bot()
    async with fake.running(bot.client) as client:
        fake.fail("POST", rf"/channels/{world.general}/messages", status=403, code=50001, message="Missing Access",
                  times=1)
        channel = client.get_channel(world.general)
        with pytest.raises(discord.Forbidden):
            await channel.send("first")
        await channel.send("second")
        assert [m["content"] for m in fake.messages(world.general)] == ["second"]
        with pytest.raises(discord.NotFound):
            await client.fetch_guild_preview(world.gid)  # not implemented by the fake
        assert fake.unhandled[-1].path == f"/guilds/{world.gid}/preview"


async def test_late_interaction_response_is_rejected(fake, world):
    fake.interaction_timeout = 0.1
    bot = build_bot()
    errors: list = []

    @bot.tree.command(name="slow", description="Answers too late")
    async def slow(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.2)
        try:
            await interaction.response.send_message("late")
        except discord.NotFound as e:
            errors.append(e.code)

    async with fake.running(bot.client):
        await fake.send_slash_command(world.gid, world.general, world.alice, "slow")
        await fake.wait_for(lambda: errors)
        assert errors == [10062]
