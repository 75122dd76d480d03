"""Issue 13 items 1 and 5 on Discord, through the real discord.py client and the fake Discord: a moderator
only named in a report (not the accused) cannot remove its message or press its buttons, and the case moves
to the escalation channel; `/safety alt` links another account of the accused, which a hash-bank match then
bans like the accused, and never the reporter."""

from __future__ import annotations

from tests.discord.conftest import bot_messages, contents, discord_config, ephemeral_text, public_channels, running_bot
from tests.discord.test_adapter_media import bank_by_block, jpeg, post_image, wait_handled
from tests.fakes.discord_server import VIEW_CHANNEL
from tests.media.test_hashing import generate

GENERIC = "That is not something you can do"


def _setup(tmp_path, fake, world):
    owner = fake.guilds[world.haven]["owner_id"]
    esc = fake.add_channel(world.haven, "owners", private=True, overwrites={owner: (VIEW_CHANNEL, 0)})
    guilds = [{"id": world.haven, "safety_channel": world.safety, "safety_role": world.role, "network": "friends",
               "escalation_channel": esc},
              {"id": world.harbor, "safety_channel": world.safety2, "safety_role": world.role2, "network": "friends"}]
    return esc, discord_config(tmp_path, fake, world, guilds=guilds)


async def _safety(fake, world, user, sub, options=None):
    it = await fake.send_slash_command(world.haven, world.safety, user, "safety", options or {}, subcommand=sub)
    await it.wait_messages(1)
    return ephemeral_text(it)


def _readable(fake, world, esc, user) -> str:
    """Everything the bot posted in the channels this member can open (Discord's own permission rules)."""
    channels = [world.safety, esc, *public_channels(world)]
    return contents([m for c in channels if fake.permissions(world.haven, user, c) & VIEW_CHANNEL
                     for m in bot_messages(fake, c)])


async def test_a_moderator_named_in_a_report_never_sees_its_card_and_is_kept_out(tmp_path, fake, world):
    helper = fake.add_member(world.haven, name="rowan", roles=[world.role])  # on the team, named in the report
    esc, config = _setup(tmp_path, fake, world)
    async with running_bot(config) as bot:
        mid = await fake.dispatch_message_create(world.general, world.suspect, "pay me, rowan from the team helps me")
        it = await fake.send_message_context_command(world.haven, world.general, world.alice, "Report message", mid)
        await it.wait_response()
        sub = await fake.submit_modal(it, {"what": "suspect says rowan from the safety team is in on it"})
        await sub.wait_messages(1)
        # the first card goes to the escalation channel only: rowan (who reads #safety) never sees it
        [card] = await fake.wait_for(lambda: bot_messages(fake, esc) or None)
        assert "in on it" in contents([card]) and "hidden from them" in contents([card])
        await fake.wait_for(lambda: any("moderation team" in m["content"] for m in fake.dm_messages(world.alice)))
        assert bot_messages(fake, world.safety) == []
        assert not fake.permissions(world.haven, helper, esc) & VIEW_CHANNEL
        assert "in on it" not in _readable(fake, world, esc, helper) and "alice" not in _readable(fake, world, esc, helper)
        case = await bot.app.store.get_case(str(world.haven), 1)
        assert case.flags["about_moderator"] and case.flags["named_team"] == [f"discord:{helper}"]
        assert case.hidden_from == [f"discord:{helper}"]
        link = f"https://discord.com/channels/{world.haven}/{world.general}/{mid}"
        # rowan: removing the reported message and opening the case are refused, nothing is learned (the
        # escalation card has no buttons; the buttons' guard is tested in test_guard.py)
        text = await _safety(fake, world, helper, "remove", {"link": link})
        assert GENERIC in text and "in on it" not in text
        text = await _safety(fake, world, helper, "case", {"case": 1})
        assert "There is no case 1 here" in text and "in on it" not in text
        assert mid not in fake.deleted_message_ids and not fake.requests_to("DELETE", rf"/messages/{mid}")
        # the escalation channel hears of the attempt
        await fake.wait_for(lambda: "Refused: rowan" in contents(fake.messages(esc)))
        seen = contents(fake.messages(esc))
        assert "(named in it)" in seen
        # what the reporter writes next goes to the escalation channel, not the channel rowan reads
        dm = fake.dm_channel_id(world.alice)
        await fake.dispatch_message_create(dm, world.alice, "stop")
        await fake.wait_for(lambda: any("that is all for now" in m["content"] for m in fake.dm_messages(world.alice)))
        await fake.dispatch_message_create(dm, world.alice, "he wrote to me again")
        await fake.wait_for(lambda: "he wrote to me again" in contents(fake.messages(esc)))
        # another moderator (not named) removes it; the reporter and the public saw nothing of this
        text = await _safety(fake, world, world.mod, "remove", {"link": link, "case": 1})
        await fake.wait_for(lambda: mid in fake.deleted_message_ids)
        assert bot_messages(fake, world.safety) == [] and "he wrote to me again" not in _readable(fake, world, esc, helper)
        assert not any("rowan" in m["content"] for m in fake.dm_messages(world.alice))
        assert all(bot_messages(fake, c) == [] for c in public_channels(world))
        assert fake.dm_messages(helper) == [] and fake.dm_messages(world.suspect) == []


async def test_a_moderator_who_joined_after_start_up_and_is_not_cached_counts_as_the_team(tmp_path, fake, world):
    esc, config = _setup(tmp_path, fake, world)
    async with running_bot(config) as bot:
        # joins with the safety role after start-up; no GUILD_MEMBER_ADD reaches the bot, so it is not cached
        late = fake.add_member(world.haven, name="latecomer", roles=[world.role])
        guild = bot.client.get_guild(world.haven)
        assert guild.get_member(late) is None and bot.client.get_user(late) is None
        # banning them is an action against the team: only from the escalation channel
        text = await _safety(fake, world, world.mod, "ban", {"user_id": str(late), "confirm": True})
        assert "can only be taken from the escalation destination" in text
        assert late not in fake.bans(world.haven) and late not in fake.bans(world.harbor)
        assert fake.requests_to("GET", rf"/guilds/{world.haven}/members/{late}")  # read by REST, not guessed
        await fake.wait_for(lambda: "Refused: mod" in contents(fake.messages(esc)))
        # a report naming them goes to the escalation channel only
        mid = await fake.dispatch_message_create(world.general, world.suspect, "pay me")
        it = await fake.send_message_context_command(world.haven, world.general, world.alice, "Report message", mid)
        await it.wait_response()
        sub = await fake.submit_modal(it, {"what": "suspect says latecomer from the team helps him"})
        await sub.wait_messages(1)
        await fake.wait_for(lambda: "helps him" in contents(bot_messages(fake, esc)) or None)
        assert "helps him" not in contents(bot_messages(fake, world.safety))
        case = await bot.app.store.get_case(str(world.haven), 1)
        assert case.flags["named_team"] == [f"discord:{late}"]


async def test_alt_links_another_account_of_the_accused_and_a_banked_picture_bans_it(tmp_path, fake, world):
    alt = fake.add_member(world.haven, name="suspect2")
    fake.add_member(world.harbor, alt)
    esc, config = _setup(tmp_path, fake, world)
    async with running_bot(config) as bot:
        threat = await fake.dispatch_message_create(world.general, world.suspect, "pay me or else")
        it = await fake.send_message_context_command(world.haven, world.general, world.alice, "Report message", threat)
        await it.wait_response()
        sub = await fake.submit_modal(it, {"what": "he threatens me"})
        await sub.wait_messages(1)
        await fake.wait_for(lambda: bot_messages(fake, world.safety) or None)
        data = jpeg(generate(43, 640, 480))
        await bank_by_block(fake, world, bot, data)  # joins case 1 (about suspect); the picture is banked
        # bad inputs first: each answered, nothing changed
        for options, expected in (({"case": 1, "member": world.alice}, "cannot be linked to them"),
                                  ({"case": 1, "member": world.suspect}, "is the accused in case 1 already"),
                                  ({"case": 1, "member": world.mod}, GENERIC),
                                  ({"case": 9, "user_id": str(alt)}, "There is no case 9 here"),
                                  ({"case": 1, "user_id": "not-an-id"}, "is not a Discord user id"),
                                  ({"case": 1, "user_id": str(alt), "remove": True}, "is not linked to case 1")):
            text = await _safety(fake, world, world.mod, "alt", options)
            assert expected in text and ("Nothing" in text or "There is no case" in text), (options, text)
        assert (await bot.app.store.get_case(str(world.haven), 1)).flags.get("linked_accounts") is None
        text = await _safety(fake, world, world.mod, "alt", {"case": 1, "user_id": str(alt)})
        assert "suspect2 is linked to case 1 as an account of the accused" in text
        assert (await bot.app.store.get_case(str(world.haven), 1)).flags["linked_accounts"] == [f"discord:{alt}"]
        # the other account posts the banked picture: removed and banned network-wide, like the accused
        handled = bot.messages_handled
        mid, _ = await post_image(fake, world.general, alt, data)
        await wait_handled(bot, handled + 1)
        await fake.wait_for(lambda: mid in fake.deleted_message_ids)
        await fake.wait_for(lambda: alt in fake.bans(world.haven) and alt in fake.bans(world.harbor))
        await fake.wait_for(lambda: "Banned across the network" in contents(fake.messages(world.safety)))
        # nobody outside the team heard of the link; the linked account got no message from the team
        assert fake.dm_messages(alt) == [] and bot_messages(fake, esc) == []
        assert all(bot_messages(fake, c) == [] for c in public_channels(world))
        [entry] = [a for a in await bot.app.store.audit_entries() if a.action == "case.alt_linked"]
        assert entry.actor == f"discord:{world.mod}" and entry.detail == {"account": f"discord:{alt}"}
