"""Issue 13 items 4 and 7 on Discord, through the real discord.py client and the fake Discord.

Sextortion stays sextortion: the reporter's "Something else" answer does not turn the case into harassment,
and while it is open the bot never messages the accused (warn, resources, outcome notices).
Withdrawal is honoured: the reporter's words, links and follow-ups are gone, consent is revoked, any later
action needs --confirm and a reason, and the reporter is not messaged about it.
Each test checks what the actor, the reporter, the accused, the team and the escalation channel see, and
what reached Discord."""

from __future__ import annotations

from tests.discord.conftest import (bot_messages, contents, discord_config, ephemeral_text, public_channels,
                                    running_bot, wait_messages)
from tests.fakes.discord_server import VIEW_CHANNEL


def _guilds(world, esc):
    return [{"id": world.haven, "safety_channel": world.safety, "safety_role": world.role, "network": "friends",
             "escalation_channel": esc},
            {"id": world.harbor, "safety_channel": world.safety2, "safety_role": world.role2, "network": "friends"}]


def _escalation(fake, world):
    owner = fake.guilds[world.haven]["owner_id"]
    return fake.add_channel(world.haven, "owners", private=True, overwrites={owner: (VIEW_CHANNEL, 0)})


async def _report_message(fake, world, reporter, mid, text):
    it = await fake.send_message_context_command(world.haven, world.general, reporter, "Report message", mid)
    await it.wait_response()
    sub = await fake.submit_modal(it, {"what": text})
    await sub.wait_messages(2)  # the reply, then the first question
    return sub


async def _press(fake, message, custom_id, user):
    press = await fake.press_button(int(message["id"]), custom_id, user)
    [nxt] = await press.wait_messages(1)
    return nxt


async def _safety(fake, world, user, sub, options=None, channel=None):
    it = await fake.send_slash_command(world.haven, channel or world.safety, user, "safety", options or {}, subcommand=sub)
    await it.wait_messages(1)
    return ephemeral_text(it)


def _timeouts(fake, user):
    return [r for r in fake.requests_to("PATCH", rf"/guilds/\d+/members/{user}")]


async def test_sextortion_stays_sextortion_and_the_accused_is_never_messaged_on_discord(tmp_path, fake, world):
    esc = _escalation(fake, world)
    async with running_bot(discord_config(tmp_path, fake, world, guilds=_guilds(world, esc))) as bot:
        mid = await fake.dispatch_message_create(world.general, world.suspect, "pay me or everyone sees your pictures")
        sub = await _report_message(fake, world, world.alice, mid, "he wants money")
        question = sub.messages[-1]
        nxt = await _press(fake, question, "safety:answer:danger:skip", world.alice)
        nxt = await _press(fake, nxt, "safety:answer:anonymous:skip", world.alice)
        assert "What is this about" in nxt["content"]
        await _press(fake, nxt, "safety:answer:topic:3", world.alice)  # "Something else"
        # the team sees the reporter's answer; the case stays sextortion
        await fake.wait_for(lambda: "the case stays sextortion" in contents(fake.messages(world.safety)))
        case = await bot.app.store.get_case(str(world.haven), 1)
        assert case.category == "sextortion" and case.flags["reporter_suggested_category"] == "harassment"
        dms_before = len(fake.dm_messages(world.suspect))
        # the actor: warn and resources to the accused are refused with the reason
        warned = await _safety(fake, world, world.mod, "warn", {"member": world.suspect, "reason": "stop it"})
        helped = await _safety(fake, world, world.mod, "resources", {"member": world.suspect})
        for text in (warned, helped):
            assert "case 1 is a sextortion or child-safety case" in text and "Nothing was changed" in text
        # the accused: nothing; Discord: no DM, no timeout, no strike
        assert len(fake.dm_messages(world.suspect)) == dms_before == 0
        assert _timeouts(fake, world.suspect) == []
        assert await bot.app.store.strikes_for("friends", f"discord:{world.suspect}") == []
        # the reporter heard nothing of this; nothing public; the escalation channel is not involved
        assert not any("stop it" in m["content"] for m in fake.dm_messages(world.alice))
        assert all(bot_messages(fake, c) == [] for c in public_channels(world))
        assert bot_messages(fake, esc) == []

        # a counter-report by the accused: the team acts on it, and he gets no outcome notice
        mid2 = await fake.dispatch_message_create(world.general, world.alice, "leave me alone")
        sub2 = await _report_message(fake, world, world.suspect, mid2, "alice is rude")
        await fake.dispatch_message_create(fake.dm_channel_id(world.suspect), world.suspect, "stop")
        await fake.wait_for(lambda: "New case 2" in contents(fake.messages(world.safety)))
        await fake.wait_for(lambda: any("that is all for now" in m["content"] for m in fake.dm_messages(world.suspect)))
        await fake.wait_for(lambda: any("Here is a list that fits your answers" in m["content"]
                                        for m in fake.dm_messages(world.suspect)))
        before = len(fake.dm_messages(world.suspect))
        link = f"https://discord.com/channels/{world.haven}/{world.general}/{mid2}"
        text = await _safety(fake, world, world.mod, "remove", {"link": link, "case": 2})
        assert "Nothing was changed" not in text
        await fake.wait_for(lambda: mid2 in fake.deleted_message_ids)
        text = await _safety(fake, world, world.mod, "close", {"case": 2, "reason": "actioned"})
        assert "Nothing was changed" not in text
        # the notices were withheld when they were decided (audited); none reached Discord
        withheld = [a for a in await bot.app.store.audit_entries() if a.action == "message.withheld"]
        assert len(withheld) == 2 and all(a.case_id == case.id for a in withheld)
        # a later message to the reporter of case 1 arrives; still nothing reached the accused
        await _safety(fake, world, world.mod, "reply", {"case": 1, "text": "We are with you."})
        await fake.wait_for(lambda: any("We are with you." in m["content"] for m in fake.dm_messages(world.alice)))
        assert len(fake.dm_messages(world.suspect)) == before
        assert not any("We are with you." in m["content"] for m in fake.dm_messages(world.suspect))
        assert sub2.messages  # the reporter of case 2 had the usual private answer


async def test_a_withdrawn_report_on_discord(tmp_path, fake, world):
    esc = _escalation(fake, world)
    async with running_bot(discord_config(tmp_path, fake, world, guilds=_guilds(world, esc))) as bot:
        mid = await fake.dispatch_message_create(world.general, world.suspect, "pay me or else")
        await _report_message(fake, world, world.alice, mid, "secret words from alice")
        dm = fake.dm_channel_id(world.alice)
        await fake.dispatch_message_create(dm, world.alice, "stop")
        await fake.wait_for(lambda: any("that is all for now" in m["content"] for m in fake.dm_messages(world.alice)))
        await fake.dispatch_message_create(dm, world.alice, "he wrote again at https://example.org/alice-proof")
        await fake.wait_for(lambda: "he wrote again" in contents(fake.messages(world.safety)))
        await fake.dispatch_message_create(dm, world.alice, "consent yes")
        await fake.wait_for(lambda: any("consent" in m["content"].lower() for m in fake.dm_messages(world.alice)[-1:]))
        await fake.dispatch_message_create(dm, world.alice, "withdraw")
        await fake.wait_for(lambda: "withdrawn by the reporter" in contents(fake.messages(world.safety)))
        await fake.wait_for(lambda: any("withdrawn" in m["content"].lower() for m in fake.dm_messages(world.alice)[-1:]))
        dms_after_withdrawal = len(fake.dm_messages(world.alice))
        case = await bot.app.store.get_case(str(world.haven), 1)
        assert case.flags["withdrawn"] and case.flags["consent"] == "withdrawn" and case.answers == {}
        assert all(r.reported_message is None and not r.text for r in await bot.app.store.reports_for(case.id))
        # the team's view keeps nothing the reporter gave: statement, follow-up, the message they pointed at
        view = await _safety(fake, world, world.mod, "case", {"case": 1})
        assert "Case 1" in view or "#1" in view
        assert "secret words" not in view and "alice-proof" not in view and "he wrote again" not in view
        assert str(mid) not in view
        # acting on it needs --confirm and a reason; a reply to the reporter is refused outright
        text = await _safety(fake, world, world.mod, "reply", {"case": 1, "text": "are you sure?"})
        assert "was withdrawn by the reporter. The bot does not write to them" in text
        text = await _safety(fake, world, world.mod, "ban", {"member": world.suspect, "case": 1})
        assert "To act on it anyway, run the command again with --confirm and a reason" in text
        text = await _safety(fake, world, world.mod, "ban", {"member": world.suspect, "case": 1, "confirm": True})
        assert "To act on it anyway, run the command again with --confirm and a reason" in text
        assert fake.bans(world.haven) == {} and not fake.requests_to("PUT", rf"/guilds/\d+/bans/{world.suspect}")
        # the case card's Remove button has nothing of the reporter's left to remove
        [card] = [m for m in fake.messages(world.safety) if (m.get("embeds") or [{}])[0].get("title") == "New case 1"]
        press = await fake.press_button(int(card["id"]), f"safety:remove:{world.haven}:1", world.mod)
        await press.wait_messages(1)
        assert "has no reported message to remove" in ephemeral_text(press)
        assert mid not in fake.deleted_message_ids
        # with --confirm and a reason: done, audited, and the reporter is not told
        text = await _safety(fake, world, world.mod, "ban", {"member": world.suspect, "case": 1, "confirm": True,
                                                               "reason": "he threatened others too"})
        assert "Banning suspect" in text
        await fake.wait_for(lambda: world.suspect in fake.bans(world.haven) and world.suspect in fake.bans(world.harbor))
        [override] = [a for a in await bot.app.store.audit_entries() if a.action == "case.withdrawn_override"]
        assert override.actor == f"discord:{world.mod}" and override.detail == {"command": "ban",
                                                                                "reason": "he threatened others too"}
        assert len(fake.dm_messages(world.alice)) == dms_after_withdrawal
        assert fake.dm_messages(world.suspect) == []
        assert all(bot_messages(fake, c) == [] for c in public_channels(world))
        assert bot_messages(fake, esc) == []
