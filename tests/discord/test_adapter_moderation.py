"""The safety team on Discord: /safety commands, case-post buttons, bans across a network, removal,
refusals, missing permissions, a public safety channel, and a restart between post and button press."""

from __future__ import annotations

from adapters.discord import DiscordAdapter  # noqa: F401  (the product under test)
from tests.discord.conftest import (bot_messages, contents, custom_ids, discord_config, ephemeral_text, nobody_pinged,
                                    public_channels, running_bot, wait_messages)
from tests.fakes.discord_server import BAN_MEMBERS, DEFAULT_BOT_PERMISSIONS, EPHEMERAL, VIEW_CHANNEL


async def _report_message(fake, world, mid, text="he threatens me", user=None):
    it = await fake.send_message_context_command(world.haven, world.general, user or world.alice, "Report message", mid)
    await it.wait_response()
    sub = await fake.submit_modal(it, {"what": text})
    await sub.wait_messages(1)
    return sub


async def _safety(fake, world, user, sub, options=None, *, guild=None, channel=None, count=1):
    it = await fake.send_slash_command(guild or world.haven, channel or world.safety, user, "safety", options or {},
                                       subcommand=sub)
    await it.wait_messages(count)
    assert all(m["flags"] & EPHEMERAL for m in it.messages)  # replies to moderators are ephemeral
    return it


async def test_zero_tolerance_ban_across_two_guilds_of_the_network(fake, world, bot):
    old_here = await fake.dispatch_message_create(world.general, world.suspect, "send more or else")
    there = await fake.dispatch_message_create(world.lobby, world.suspect, "spam in the other server")
    await _report_message(fake, world, old_here, text="He is blackmailing me, alice")
    [post] = await wait_messages(fake, world.safety)
    # Ban button: asks to confirm first; nothing happens yet
    press = await fake.press_button(int(post["id"]), f"safety:ban:{world.haven}:1", world.mod)
    [ask] = await press.wait_messages(1)
    assert ask["flags"] & EPHEMERAL and "Confirm ban" in str(ask["components"])
    assert fake.bans(world.haven) == {} and fake.bans(world.harbor) == {}
    confirm = await fake.press_button(int(ask["id"]), f"safety:banconfirm:{world.haven}:1", world.mod)
    done = await confirm.wait_messages(1)
    assert "Banning suspect in 2 communities" in contents(done)
    for gid in (world.haven, world.harbor):
        ban = fake.bans(gid)[world.suspect]
        # no purge by Discord: the recent messages are stored on the case first, then deleted by the bot
        assert ban.delete_message_seconds == 0
        assert ban.reason == "Zero-tolerance ban (safety case 1)"  # the case, never the reporter
        assert "alice" not in ban.reason and str(world.alice) not in ban.reason
        [req] = fake.requests_to("PUT", rf"/guilds/{gid}/bans/{world.suspect}")
        assert req.query["delete_message_seconds"] == "0"
    await fake.wait_for(lambda: {old_here, there} <= fake.deleted_message_ids, 60, "the recent messages removed")
    # the reporter hears the outcome privately; the accused hears nothing from the bot; public channels empty
    await fake.wait_for(lambda: any("has been removed from the community" in m["content"]
                                    for m in fake.dm_messages(world.alice)))
    assert fake.dm_messages(world.suspect) == []
    assert all(bot_messages(fake, c) == [] for c in public_channels(world))
    assert nobody_pinged(fake)


async def test_ban_by_id_for_someone_who_left_with_confirm_option(fake, world, bot):
    gone = fake.add_user("gone-user")
    it = await _safety(fake, world, world.mod, "ban", {"user_id": str(gone)})
    assert "press Confirm" in it.messages[0]["content"] and fake.bans(world.haven) == {}
    [button] = custom_ids(it.messages[0])
    confirm = await fake.press_button(int(it.messages[0]["id"]), button, world.mod)
    await confirm.wait_messages(1)
    assert gone in fake.bans(world.haven) and gone in fake.bans(world.harbor)
    # already banned: the core says so, nothing changes
    again = await _safety(fake, world, world.mod, "ban", {"user_id": str(gone), "confirm": True})
    assert "already banned" in ephemeral_text(again)
    assert len(fake.requests_to("PUT", rf"/guilds/\d+/bans/{gone}")) == 2


async def test_non_moderators_are_refused_and_nothing_changes(fake, world, bot):
    mid = await fake.dispatch_message_create(world.general, world.suspect, "threat")
    await _report_message(fake, world, mid)
    [post] = await wait_messages(fake, world.safety)
    for user in (world.bob, world.oldmod):  # oldmod has Ban Members, but the safety role is what counts
        press = await fake.press_button(int(post["id"]), f"safety:ban:{world.haven}:1", user)
        await press.wait_messages(1)
        assert "for the safety team only" in ephemeral_text(press)
        it = await _safety(fake, world, user, "ban", {"member": world.suspect, "confirm": True}, channel=world.general)
        assert "for the safety team only" in ephemeral_text(it)
        closing = await fake.press_button(int(post["id"]), f"safety:close:{world.haven}:1", user)
        await closing.wait_messages(1)
    assert fake.bans(world.haven) == {} and fake.bans(world.harbor) == {}
    case = await bot.app.store.get_case(str(world.haven), 1)
    assert case.status.value == "open" and case.assignee is None
    assert mid not in fake.deleted_message_ids


async def test_unknown_case_and_link_from_another_guild(fake, world, bot):
    it = await _safety(fake, world, world.mod, "case", {"case": 99})
    assert "There is no case 99 here" in ephemeral_text(it)
    elsewhere = await fake.dispatch_message_create(world.lobby, world.suspect, "bad")
    it = await _safety(fake, world, world.mod, "remove",
                       {"link": f"https://discord.com/channels/{world.harbor}/{world.lobby}/{elsewhere}"})
    assert "from another server" in ephemeral_text(it) and "Nothing was changed" in ephemeral_text(it)
    assert elsewhere not in fake.deleted_message_ids
    it = await _safety(fake, world, world.mod, "remove", {"link": "not a link"})
    assert "not a message link" in ephemeral_text(it)
    assert await bot.app.store.list_cases(str(world.haven)) == []


async def test_remove_by_link_captures_then_removes(fake, world, bot):
    mid = await fake.dispatch_message_create(world.art, world.suspect, "here are her pictures", attachments=[
        {"filename": "x.png", "size": 5000, "content_type": "image/png", "width": 10, "height": 20}])
    link = f"https://discord.com/channels/{world.haven}/{world.art}/{mid}"
    it = await _safety(fake, world, world.mod, "remove", {"link": link, "block": True})
    text = ephemeral_text(it)
    assert "Opened case 1" in text and "hash bank" in text
    assert mid in fake.deleted_message_ids and fake.messages(world.art) == []
    case = await bot.app.store.get_case(str(world.haven), 1)
    [ev] = await bot.app.store.evidence_for(case.id)
    assert ev.text == "here are her pictures" and ev.ref.link == link
    assert ev.attachments == [{"content_type": "image/png", "size": 5000, "width": 10, "height": 20}]  # no URL
    assert not any("cdn" in str(r.json) for r in fake.requests)  # nothing re-posted
    # again: the message is gone; the case says so
    it = await _safety(fake, world, world.mod, "remove", {"link": link, "case": 1})
    assert "already gone" in ephemeral_text(it)


async def test_remove_and_block_media_context_menu(fake, world, bot):
    mid = await fake.dispatch_message_create(world.general, world.suspect, "leak", attachments=[{"filename": "a.jpg"}])
    refused = await fake.send_message_context_command(world.haven, world.general, world.bob, "Remove & block media", mid)
    await refused.wait_messages(1)
    assert "for the safety team only" in ephemeral_text(refused) and mid not in fake.deleted_message_ids
    it = await fake.send_message_context_command(world.haven, world.general, world.mod, "Remove & block media", mid)
    await it.wait_messages(1)
    assert mid in fake.deleted_message_ids and "hash bank" in ephemeral_text(it)


async def test_bot_lacking_ban_members_gets_a_clear_message(fake, world, bot):
    fake.set_bot_permissions(world.haven, DEFAULT_BOT_PERMISSIONS & ~BAN_MEMBERS)
    mid = await fake.dispatch_message_create(world.general, world.suspect, "threat")
    await _report_message(fake, world, mid)
    it = await _safety(fake, world, world.mod, "ban", {"member": world.suspect, "case": 1, "confirm": True})
    text = ephemeral_text(it)
    assert "the bot lacks the Ban Members permission" in text and "Not done" in text
    assert fake.bans(world.haven) == {}
    assert world.suspect in fake.bans(world.harbor)  # the other server of the network still bans
    shown = ephemeral_text(await _safety(fake, world, world.mod, "case", {"case": 1}))
    assert "FAILED: the bot lacks the Ban Members permission. Not marked done." in shown
    # the reporter was told about the ban that did happen (harbor), the failure is recorded for the team
    strikes = ephemeral_text(await _safety(fake, world, world.mod, "strikes", {"member": world.suspect}))
    assert "Currently banned" in strikes


async def test_case_buttons_survive_a_restart(tmp_path, fake, world):
    cfg = discord_config(tmp_path, fake, world)
    async with running_bot(cfg):
        mid = await fake.dispatch_message_create(world.general, world.suspect, "pay up")
        await _report_message(fake, world, mid)
        [post] = await wait_messages(fake, world.safety)
    # a new process on the same SQLite database; the old post's buttons still work
    async with running_bot(cfg) as bot:
        press = await fake.press_button(int(post["id"]), f"safety:assign:{world.haven}:1", world.mod)
        await press.wait_messages(1)
        assert "assigned to mod" in ephemeral_text(press)
        case = await bot.app.store.get_case(str(world.haven), 1)
        assert case.assignee.id == str(world.mod)
        # the post is edited to show the assignee (the edit may land just after the ephemeral reply)
        await fake.wait_for(lambda: "mod" in contents([fake.messages_by_id[int(post["id"])]]))
        ban = await fake.press_button(int(post["id"]), f"safety:ban:{world.haven}:1", world.mod)
        [ask] = await ban.wait_messages(1)
        ok = await fake.press_button(int(ask["id"]), f"safety:banconfirm:{world.haven}:1", world.mod)
        await ok.wait_messages(1)
        assert world.suspect in fake.bans(world.haven)
        close = await fake.press_button(int(post["id"]), f"safety:close:{world.haven}:1", world.mod)
        await close.wait_messages(1)
        assert "closed" in ephemeral_text(close)
        assert (await bot.app.store.get_case(str(world.haven), 1)).status.value == "closed"
        # closed: no more buttons (the edit may land just after the ephemeral reply)
        await fake.wait_for(lambda: fake.messages_by_id[int(post["id"])]["components"] == [])


async def test_public_safety_channel_only_gets_case_waiting(tmp_path, fake, world, caplog):
    public = fake.add_channel(world.haven, "oops-public")
    guilds = [{"id": world.haven, "safety_channel": public, "safety_role": world.role, "network": "friends"}]
    async with running_bot(discord_config(tmp_path, fake, world, guilds=guilds)) as bot:
        assert "visible to @everyone" in caplog.text
        it = await fake.send_slash_command(world.haven, world.general, world.alice, "report")
        await it.wait_response()
        sub = await fake.submit_modal(it, {"what": "secret words from alice"})
        await sub.wait_messages(2)
        [notice] = await wait_messages(fake, public)
        assert "case 1 is waiting" in notice["content"]
        assert "secret" not in contents([notice]) and "alice" not in contents([notice]) and not notice["embeds"]
        # later the channel is made private: full case posts from then on
        await fake.set_overwrite(public, world.haven, deny=VIEW_CHANNEL)
        await fake.set_overwrite(public, world.role, allow=VIEW_CHANNEL)
        await fake.set_overwrite(public, fake.guilds[world.haven]["bot_role_id"], allow=VIEW_CHANNEL)
        await fake.wait_for(lambda: bot.channel_is_private(bot.client.get_channel(public)))
        it = await fake.send_slash_command(world.haven, world.general, world.bob, "report")
        await it.wait_response()
        sub = await fake.submit_modal(it, {"what": "second report"})
        await sub.wait_messages(2)
        msgs = await wait_messages(fake, public, 2)
        assert msgs[-1]["embeds"] and "second report" in contents([msgs[-1]])


async def test_other_safety_commands(fake, world, bot):
    mid = await fake.dispatch_message_create(world.general, world.suspect, "threat")
    await _report_message(fake, world, mid)
    assert "#1" in ephemeral_text(await _safety(fake, world, world.mod, "cases"))
    assert "Note added" in ephemeral_text(await _safety(fake, world, world.mod, "note", {"case": 1, "text": "seen"}))
    sent = await _safety(fake, world, world.mod, "reply", {"case": 1, "text": "We are on it"})
    assert "Sent to the reporter" in ephemeral_text(sent)
    await fake.wait_for(lambda: any("We are on it" in m["content"] for m in fake.dm_messages(world.alice)))
    warned = await _safety(fake, world, world.mod, "warn", {"member": world.bob, "reason": "spam"})
    assert "Warned bob" in ephemeral_text(warned)
    assert any("spam" in m["content"] for m in fake.dm_messages(world.bob))
    res = await _safety(fake, world, world.mod, "resources", {"member": world.bob})
    assert "privately" in ephemeral_text(res)
    opened = await _safety(fake, world, world.mod, "open", {"member": world.suspect, "note": "suspicious DMs"})
    assert "Opened case 2" in ephemeral_text(opened)
    exp = await _safety(fake, world, world.mod, "export", {"case": 2})
    assert "on the bot's host" in ephemeral_text(exp)
    assert not any(r.files for r in fake.requests)  # nothing uploaded to Discord
    unban = await _safety(fake, world, world.mod, "unban", {"user_id": str(world.suspect), "reason": "appeal"})
    assert "not banned" in ephemeral_text(unban)
    assert all(bot_messages(fake, c) == [] for c in public_channels(world))
