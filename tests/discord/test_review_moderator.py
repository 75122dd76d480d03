"""Principle 7 on Discord (real discord.py client, fake Discord): a case about a team member who also reads
the escalation channel is posted to neither channel (safety_bot/guard.py, the adapter's escalation reader)."""

from __future__ import annotations

from tests.discord.conftest import bot_messages, contents, discord_config, running_bot, wait_messages
from tests.fakes.discord_server import ADMINISTRATOR, VIEW_CHANNEL


def _guilds(world, **escalation) -> list[dict]:
    """The two servers of the network, the first with the given escalation destination."""
    return [{"id": world.haven, "safety_channel": world.safety, "safety_role": world.role, "network": "friends",
             **escalation},
            {"id": world.harbor, "safety_channel": world.safety2, "safety_role": world.role2, "network": "friends"}]


async def _report(fake, world, author: int, threat: str, what: str) -> int:
    """Alice reports the author's message in #general with "Report message"; the message's id."""
    mid = await fake.dispatch_message_create(world.general, author, threat)
    it = await fake.send_message_context_command(world.haven, world.general, world.alice, "Report message", mid)
    await it.wait_response()
    await (await fake.submit_modal(it, {"what": what})).wait_messages(1)
    return mid


async def test_a_case_about_a_moderator_who_reads_the_escalation_channel_goes_to_neither_channel(tmp_path, fake, world):
    lead = fake.add_member(world.haven, name="lead", roles=[world.role])  # on the team, and reads #owners
    esc = fake.add_channel(world.haven, "owners", private=True, overwrites={lead: (VIEW_CHANNEL, 0)})
    guilds = _guilds(world, escalation_channel=esc)
    async with running_bot(discord_config(tmp_path, fake, world, guilds=guilds)) as bot:
        # a case about another moderator, who cannot read #owners, still reaches #owners
        await _report(fake, world, world.mod, "pay me or everyone sees it", "the mod threatens me")
        await wait_messages(fake, esc)
        assert "the mod threatens me" in contents(fake.messages(esc))
        # a case about lead: lead would read it in either channel
        await _report(fake, world, lead, "send more pictures or I post yours", "the lead threatens me")
        store = bot.app.store
        entries = [a for a in await store.audit_entries() if a.action == "post.withheld"]
        assert entries and all(a.detail["why"] == "escalation_accused" for a in entries)
        assert "the lead threatens me" not in contents(fake.messages(esc))
        assert "the lead threatens me" not in contents(bot_messages(fake, world.safety))
        case = await store.get_case(str(world.haven), 2)
        assert case is not None and case.flags.get("about_moderator")


async def test_a_case_about_someone_who_can_read_the_safety_channel_goes_to_the_escalation_contact(tmp_path, fake, world):
    # an administrator without the safety role sees every channel, the safety channel too
    admin_role = fake.add_role(world.haven, "Admins", permissions=ADMINISTRATOR)
    admin = fake.add_member(world.haven, name="admin", roles=[admin_role])
    contact = fake.add_member(world.haven, name="contact")
    guilds = _guilds(world, escalation_user=contact)
    async with running_bot(discord_config(tmp_path, fake, world, guilds=guilds)) as bot:
        await _report(fake, world, admin, "pay me or your pictures go everywhere", "the admin threatens me")
        await fake.wait_for(lambda: any("the admin threatens me" in m["content"] or any(
            "the admin threatens me" in str(e) for e in m.get("embeds", [])) for m in fake.dm_messages(contact)))
        assert "the admin threatens me" not in contents(bot_messages(fake, world.safety))
        case = await bot.app.store.get_case(str(world.haven), 1)
        assert case.flags.get("about_moderator") and f"discord:{admin}" in case.hidden_from
        # the reporter is told, as for any case about the team, and pointed to Discord's own Report button
        await fake.wait_for(lambda: "names someone on the moderation team" in contents(fake.dm_messages(world.alice)))


async def test_pressing_an_old_card_never_refreshes_it_with_what_was_added_since_the_case_left_that_channel(
        tmp_path, fake, world):
    owner = fake.guilds[world.haven]["owner_id"]
    esc = fake.add_channel(world.haven, "owners", private=True, overwrites={owner: (VIEW_CHANNEL, 0)})
    guilds = _guilds(world, escalation_channel=esc)
    async with running_bot(discord_config(tmp_path, fake, world, guilds=guilds)) as bot:
        mid = await _report(fake, world, world.suspect, "pay me or else", "he wants money")
        [card] = await wait_messages(fake, world.safety)
        # the accused joins the team; the reporter adds more, which goes to the escalation channel only
        await fake.set_member_roles(world.haven, world.suspect, (world.role,))
        await fake.wait_for(lambda: bot.is_moderator(bot.guilds[world.haven],
                                                     bot.client.get_guild(world.haven).get_member(world.suspect)))
        it = await fake.send_message_context_command(world.haven, world.general, world.alice, "Report message", mid)
        await it.wait_response()
        await (await fake.submit_modal(it, {"what": "he knows my school, it is Hill Street"})).wait_messages(1)
        await fake.wait_for(lambda: "Hill Street" in contents(fake.messages(esc)))
        # the accused (refused) and another moderator press the old card's buttons in the safety channel; each press
        # refreshes the card it was pressed on (here run to its end, so the check below waits on nothing)
        for who in (world.suspect, world.mod):
            press = await fake.press_button(int(card["id"]), f"safety:assign:{world.haven}:1", who)
            await press.wait_messages(1)
        message = await bot.client.get_channel(world.safety).fetch_message(int(card["id"]))
        await bot.refresh_card(message, world.haven, 1)
        live = fake.messages_by_id[int(card["id"])]
        assert "Hill Street" not in str(live.get("embeds")) + str(live.get("content"))
        assert "Hill Street" not in contents(bot_messages(fake, world.safety))


async def test_a_public_safety_channel_does_not_make_every_accused_a_reader_of_the_teams_posts(tmp_path, fake, world):
    # everyone can view it, so the bot only says "case N is waiting" there: the accused reads no case in it
    public = fake.add_channel(world.haven, "oops-public")
    guilds = [{"id": world.haven, "safety_channel": public, "safety_role": world.role, "network": "friends"}]
    async with running_bot(discord_config(tmp_path, fake, world, guilds=guilds)) as bot:
        mid = await fake.dispatch_message_create(world.general, world.suspect, "pay me or else")
        it = await fake.send_message_context_command(world.haven, world.general, world.alice, "Report message", mid)
        await it.wait_response()
        await (await fake.submit_modal(it, {"what": "he wants money"})).wait_messages(1)
        [notice] = await wait_messages(fake, public)
        assert "case 1 is waiting" in notice["content"]
        assert not (await bot.app.store.get_case(str(world.haven), 1)).flags.get("about_moderator")


async def test_a_code_asked_for_from_the_escalation_channel_by_someone_removed_from_it_cannot_be_confirmed(
        tmp_path, fake, world):
    import re

    from tests.discord.conftest import ephemeral_text

    owner_of_esc = fake.add_member(world.haven, name="deputy")  # not on the team: reads #owners only
    esc = fake.add_channel(world.haven, "owners", private=True, overwrites={owner_of_esc: (VIEW_CHANNEL, 0)})
    config = discord_config(tmp_path, fake, world, guilds=_guilds(world, escalation_channel=esc))
    config = config.model_copy(update={"limits": config.limits.model_copy(update={"mod_actions_per_hour": 1})})
    async with running_bot(config) as bot:
        texts = []
        for reason in ("please be kind", "please be kind, again"):
            it = await fake.send_slash_command(world.haven, esc, owner_of_esc, "safety",
                                               {"member": world.bob, "reason": reason}, subcommand="warn")
            await it.wait_messages(1)
            texts.append(ephemeral_text(it))
        code = re.search(r"confirm ([0-9A-F]{6})", texts[1]).group(1)
        # the account is taken out of the escalation channel (stolen, say) before anyone confirms
        await fake.set_overwrite(esc, owner_of_esc, deny=VIEW_CHANNEL)
        guild = bot.client.get_guild(world.haven)
        await fake.wait_for(lambda: not guild.get_channel(esc).permissions_for(guild.get_member(owner_of_esc)).view_channel)
        it = await fake.send_slash_command(world.haven, world.safety, world.mod, "safety", {"code": code},
                                           subcommand="confirm")
        await it.wait_messages(1)
        assert "no longer on the safety team" in ephemeral_text(it)
        assert len([a for a in await bot.app.store.audit_entries() if a.action == "member.warned"]) == 1
