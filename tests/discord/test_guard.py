"""Issue 13 on Discord, through the real discord.py client and the fake Discord: an accused moderator
learns and does nothing (slash commands and case buttons), a member promoted after a report is kept out,
the escalation channel can act, and team members are banned only from there."""

from __future__ import annotations

from tests.discord.conftest import bot_messages, contents, discord_config, ephemeral_text, running_bot, wait_messages
from tests.fakes.discord_server import VIEW_CHANNEL

GENERIC = "That is not something you can do"


def _guilds(world, esc):
    return [{"id": world.haven, "safety_channel": world.safety, "safety_role": world.role, "network": "friends",
             "escalation_channel": esc},
            {"id": world.harbor, "safety_channel": world.safety2, "safety_role": world.role2, "network": "friends"}]


async def _report(fake, world, mid, text):
    it = await fake.send_message_context_command(world.haven, world.general, world.alice, "Report message", mid)
    await it.wait_response()
    sub = await fake.submit_modal(it, {"what": text})
    await sub.wait_messages(1)


async def _safety(fake, guild, channel, user, sub, options=None):
    it = await fake.send_slash_command(guild, channel, user, "safety", options or {}, subcommand=sub)
    await it.wait_messages(1)
    return ephemeral_text(it)


async def test_accused_moderator_on_discord_learns_and_does_nothing(tmp_path, fake, world):
    owner = fake.guilds[world.haven]["owner_id"]
    esc = fake.add_channel(world.haven, "owners", private=True, overwrites={owner: (VIEW_CHANNEL, 0)})
    async with running_bot(discord_config(tmp_path, fake, world, guilds=_guilds(world, esc))) as bot:
        mid = await fake.dispatch_message_create(world.general, world.mod, "I know what you sent, pay me")
        await _report(fake, world, mid, "a moderator is doing this")
        await wait_messages(fake, esc)
        assert bot_messages(fake, world.safety) == []
        seen = [await _safety(fake, world.haven, world.safety, world.mod, "cases"),
                await _safety(fake, world.haven, world.safety, world.mod, "case", {"case": 1}),
                await _safety(fake, world.haven, world.safety, world.mod, "ban", {"member": world.alice, "confirm": True}),
                await _safety(fake, world.haven, world.safety, world.mod, "warn", {"member": world.mod, "reason": "x"}),
                await _safety(fake, world.haven, world.safety, world.mod, "remove",
                              {"link": f"https://discord.com/channels/{world.haven}/{world.general}/{mid}"}),
                await _safety(fake, world.haven, world.safety, world.mod, "reply", {"case": 1, "text": "just pay"}),
                await _safety(fake, world.haven, world.safety, world.mod, "close", {"case": 1, "reason": "unfounded"})]
        text = "\n".join(seen)
        assert "There is no case 1 here" in text and text.count(GENERIC) == 3
        assert "alice" not in text and "a moderator is doing this" not in text and "#1" not in text
        assert fake.bans(world.haven) == {} and mid not in fake.deleted_message_ids
        assert not any("just pay" in m["content"] for m in fake.dm_messages(world.alice))
        case = await bot.app.store.get_case(str(world.haven), 1)
        assert case.status.value == "open"
        # the escalation channel heard about every attempt
        await fake.wait_for(lambda: contents(fake.messages(esc)).count("Refused: mod") >= 4)
        assert bot_messages(fake, world.safety) == []


async def test_promoted_member_on_discord_and_escalation_channel_acts(tmp_path, fake, world):
    owner = fake.guilds[world.haven]["owner_id"]
    esc = fake.add_channel(world.haven, "owners", private=True, overwrites={owner: (VIEW_CHANNEL, 0)})
    async with running_bot(discord_config(tmp_path, fake, world, guilds=_guilds(world, esc))) as bot:
        mid = await fake.dispatch_message_create(world.general, world.suspect, "pay me or else")
        await _report(fake, world, mid, "suspect wants money")
        [card] = await wait_messages(fake, world.safety)
        # the accused is made a moderator afterwards: roles are read when needed
        await fake.set_member_roles(world.haven, world.suspect, (world.role,))
        await fake.wait_for(lambda: bot.is_moderator(bot.guilds[world.haven],
                                                     bot.client.get_guild(world.haven).get_member(world.suspect)))
        text = await _safety(fake, world.haven, world.safety, world.suspect, "case", {"case": 1})
        assert "There is no case 1 here" in text and "suspect wants money" not in text
        text = await _safety(fake, world.haven, world.safety, world.suspect, "ban", {"member": world.alice, "confirm": True})
        assert GENERIC in text and fake.bans(world.haven) == {}
        # the case card's buttons, still in the channel they can now read, are refused the same way
        for op in ("close", "remove", "assign"):
            press = await fake.press_button(int(card["id"]), f"safety:{op}:{world.haven}:1", world.suspect)
            await press.wait_messages(1)
            assert "There is no case 1 here" in ephemeral_text(press)
        assert mid not in fake.deleted_message_ids
        assert (await bot.app.store.get_case(str(world.haven), 1)).status.value == "open"
        await fake.wait_for(lambda: "Refused: suspect" in contents(fake.messages(esc)))
        # what a moderator writes to the reporter is checked before it leaves
        text = await _safety(fake, world.haven, world.safety, world.mod, "reply",
                             {"case": 1, "text": "could you send us the pictures he has"})
        assert "Not sent: the team never asks for the pictures" in text and "Nothing was sent." in text
        text = await _safety(fake, world.haven, world.safety, world.mod, "reply",
                             {"case": 1, "text": "please do not pay him"})
        await fake.wait_for(lambda: any("please do not pay him" in m["content"] for m in fake.dm_messages(world.alice)))
        assert not any("send us the pictures" in m["content"] for m in fake.dm_messages(world.alice))
        # a fellow moderator cannot ban the (now) team member; the escalation channel can
        text = await _safety(fake, world.haven, world.safety, world.mod, "ban", {"member": world.suspect, "confirm": True})
        assert "only be taken from the escalation destination" in text and fake.bans(world.haven) == {}
        text = await _safety(fake, world.haven, esc, owner, "ban", {"member": world.suspect, "case": 1, "confirm": True})
        assert "Banning suspect" in text
        await fake.wait_for(lambda: world.suspect in fake.bans(world.haven))


async def test_case_card_offers_remove_and_remove_and_block_separately(tmp_path, fake, world):
    from tests.discord.conftest import custom_ids

    async with running_bot(discord_config(tmp_path, fake, world)) as bot:
        mid = await fake.dispatch_message_create(world.general, world.suspect, "pay up or else")
        await _report(fake, world, mid, "he threatens me")
        [card] = await wait_messages(fake, world.safety)
        ids = custom_ids(card)
        assert f"safety:remove:{world.haven}:1" in ids and f"safety:removeblock:{world.haven}:1" in ids
        labels = [c["label"] for row in card["components"] for c in row["components"]]
        assert "Remove" in labels and "Remove & block" in labels
        press = await fake.press_button(int(card["id"]), f"safety:remove:{world.haven}:1", world.mod)
        await press.wait_messages(1)
        await fake.wait_for(lambda: mid in fake.deleted_message_ids)
        assert "hash bank" not in ephemeral_text(press)
        assert await bot.app.store.bank_entries() == []
        assert not any(a.detail.get("block") for a in await bot.app.store.audit_entries() if a.action == "message.remove")


async def test_a_refused_unban_keeps_the_ban_recorded(tmp_path, fake, world):
    async with running_bot(discord_config(tmp_path, fake, world)) as bot:
        await _safety(fake, world.haven, world.safety, world.mod, "ban", {"user_id": str(world.suspect), "confirm": True})
        await fake.wait_for(lambda: world.suspect in fake.bans(world.haven) and world.suspect in fake.bans(world.harbor))
        key = f"discord:{world.suspect}"
        assert await bot.app.store.active_ban("friends", key) is not None
        fake.fail("DELETE", rf"/guilds/{world.haven}/bans/{world.suspect}", status=403)
        text = await _safety(fake, world.haven, world.safety, world.mod, "unban",
                             {"user_id": str(world.suspect), "reason": "appeal"})
        assert "Not done" in text
        assert await bot.app.store.active_ban("friends", key) is not None  # the refusal keeps it recorded
        actions = [a.action for a in await bot.app.store.audit_entries()]
        assert "ban.unban_refused" in actions and "ban.kept" in actions and "ban.lifted" not in actions
        fake.clear_failures()
        text = await _safety(fake, world.haven, world.safety, world.mod, "unban",
                             {"user_id": str(world.suspect), "reason": "appeal, second try"})
        await fake.wait_for(lambda: world.suspect not in fake.bans(world.haven))
        assert await bot.app.store.active_ban("friends", key) is None
        [lifted] = [a for a in await bot.app.store.audit_entries() if a.action == "ban.lifted"]
        assert lifted.detail["reason"] == "appeal, second try"


async def test_a_markdown_link_in_a_followup_is_not_live_in_the_safety_channel(tmp_path, fake, world):
    async with running_bot(discord_config(tmp_path, fake, world)):
        mid = await fake.dispatch_message_create(world.general, world.suspect, "pay up")
        await _report(fake, world, mid, "he threatens me")
        await wait_messages(fake, world.safety)
        await fake.dispatch_message_create(fake.dm_channel_id(world.alice), world.alice, "stop")
        await fake.wait_for(lambda: any("that is all for now" in m["content"] for m in fake.dm_messages(world.alice)))
        await fake.dispatch_message_create(fake.dm_channel_id(world.alice), world.alice,
                                           "[Verify your moderator account](https://evil.example/login)\n# URGENT")
        post = await fake.wait_for(lambda: next((m for m in fake.messages(world.safety)
                                                 if "Verify your moderator account" in m["content"]), None))
        content = post["content"]
        assert "\\[Verify your moderator account\\]" in content and "\\\\[" not in content  # no masked link
        assert "\n# URGENT" not in content and "\n\\# URGENT" not in content  # no heading: one line (views.py)
        assert "\u21b5 # URGENT" in content


async def test_a_report_link_into_the_safety_channel_copies_nothing(tmp_path, fake, world):
    async with running_bot(discord_config(tmp_path, fake, world)) as bot:
        mid = await fake.dispatch_message_create(world.general, world.suspect, "pay up")
        await _report(fake, world, mid, "first reporter's private words")
        [card] = await wait_messages(fake, world.safety)
        it = await fake.send_slash_command(world.haven, world.general, world.bob, "report")
        await it.wait_response()
        link = f"https://discord.com/channels/{world.haven}/{world.safety}/{card['id']}"
        sub = await fake.submit_modal(it, {"what": "look at this", "link": link})
        await sub.wait_messages(1)
        case = await bot.app.store.get_case(str(world.haven), 2)
        evidence = await bot.app.service.store.evidence_for(case.id)
        assert evidence == [] and "first reporter" not in contents(fake.messages(world.safety)[1:])
        assert "not attached as evidence" in ephemeral_text(sub)


async def test_a_failed_ban_names_the_account_inert(tmp_path, fake, world):
    """The moderator's "Not done" line names the account by its display name, which its owner chose: shown
    inert (no live mention, no markdown), like every name in the team's texts."""
    uid = fake.add_member(world.haven, name="@everyone")
    async with running_bot(discord_config(tmp_path, fake, world)):
        fake.fail("PUT", rf"/guilds/{world.haven}/bans/{uid}", status=403)
        text = await _safety(fake, world.haven, world.safety, world.mod, "ban", {"user_id": str(uid), "confirm": True})
        assert "Not done" in text and "everyone" in text
        assert "@everyone" not in text
