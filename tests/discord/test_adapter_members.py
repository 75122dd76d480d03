"""Members on Discord: /report (modal, follow-up buttons, DMs), Report message, /resources, closed DMs.
Each test checks what every party sees: the reporter (ephemeral/DM), the safety channel, public channels."""

from __future__ import annotations

from tests.discord.conftest import (bot_messages, contents, custom_ids, ephemeral_text, nobody_pinged, public_channels,
                                    wait_messages)
from tests.fakes.discord_server import EPHEMERAL


async def _report(fake, world, text, *, user=None, locale="en-US", more=""):
    it = await fake.send_slash_command(world.haven, world.general, user or world.alice, "report", locale=locale)
    await it.wait_response()
    assert it.response_type == 9  # a modal
    sub = await fake.submit_modal(it, {"what": text, "more": more})
    await sub.wait_messages(2)  # the reply, then the first follow-up question
    return it, sub


async def test_report_flow_modal_buttons_skip_and_dms(fake, world, bot):
    it, sub = await _report(fake, world, "He says he will send my pictures to everyone unless I pay @everyone",
                            more="He is called suspect here")
    assert [f["label"] for row in it.modal["components"] for f in row["components"]] == [
        "What happened?", "Link to a message (optional)", "Anything the team should know? (optional)"]
    # the reporter: an ephemeral reply, then the first question with one button per choice plus Skip
    assert all(m["flags"] & EPHEMERAL for m in sub.messages)
    assert "only the safety team can see it" in sub.messages[0]["content"]
    question = sub.messages[-1]
    assert "immediate danger" in question["content"]
    assert custom_ids(question) == ["safety:answer:danger:1", "safety:answer:danger:2", "safety:answer:danger:skip"]
    dms = [m["content"] for m in fake.dm_messages(world.alice)]
    assert len(dms) == 1 and "not your fault" in dms[0] and "B) Who can help?" in dms[0]  # short first words
    # the safety team: one case post with the statement; nobody else saw anything
    [post] = await wait_messages(fake, world.safety)
    assert "He says he will send my pictures" in contents([post]) and post["embeds"][0]["title"] == "New case 1"
    assert custom_ids(post) == [f"safety:{op}:{world.haven}:1" for op in ("remove", "removeblock", "ban", "assign", "close")]
    assert all(bot_messages(fake, c) == [] for c in public_channels(world))
    assert nobody_pinged(fake)  # @everyone in the report pinged no one

    # answer "No" with a button: the question message loses its buttons, the next question comes
    press = await fake.press_button(int(question["id"]), "safety:answer:danger:2", world.alice)
    await press.wait_response()
    assert press.response_type == 7 and fake.messages_by_id[int(question["id"])]["components"] == []
    [nxt] = await press.wait_messages(1)
    assert nxt["flags"] & EPHEMERAL and "see your name" in nxt["content"]
    assert "safety:answer:anonymous:skip" in custom_ids(nxt)
    # Skip
    skip = await fake.press_button(int(nxt["id"]), "safety:answer:anonymous:skip", world.alice)
    [third] = await skip.wait_messages(1)
    assert "What is this about" in third["content"]
    # a button for a question this person is not being asked: refused, nothing changes
    again = await fake.press_button(int(third["id"]), "safety:answer:topic:1", world.bob)
    await again.wait_response()
    assert "already answered" in ephemeral_text(again)
    # the rest in DMs: "stop" finishes, then a DM reaches the team as a reply on the case
    await fake.dispatch_message_create(fake.dm_channel_id(world.alice), world.alice, "stop")
    await fake.wait_for(lambda: any("that is all for now" in m["content"] for m in fake.dm_messages(world.alice)))
    await fake.dispatch_message_create(fake.dm_channel_id(world.alice), world.alice, "He wrote again just now")
    await fake.wait_for(lambda: "He wrote again just now" in contents(fake.messages(world.safety)))
    # the reply to the member is sent after the team post: wait for it rather than race it
    await fake.wait_for(lambda: any("passed that on" in m["content"] for m in fake.dm_messages(world.alice)))
    case = await bot.app.store.get_case(str(world.haven), 1)
    assert case.answers["danger"] == "no" and case.flags.get("anonymous") is True
    assert all(bot_messages(fake, c) == [] for c in public_channels(world))
    # skipping the age question makes the case urgent: only then is the safety role pinged, in #safety
    assert case.urgency.value == "urgent"
    assert nobody_pinged(fake, {world.safety: world.role})
    assert any(f"<@&{world.role}>" in m["content"] for m in fake.messages(world.safety))


async def test_free_text_question_answered_in_dm_and_through_small_modal(fake, world, bot):
    await _report(fake, world, "threats")
    dm = fake.dm_channel_id(world.alice)
    for n in range(5):  # danger, anonymous, topic, about, minor: skipped by writing "skip" in DM
        await fake.dispatch_message_create(dm, world.alice, "skip")
        await fake.wait_for(lambda: sum(bool(custom_ids(m)) for m in fake.dm_messages(world.alice)) == n + 1)
    question = fake.dm_messages(world.alice)[-1]
    assert "safety:answer:country:text" in custom_ids(question)  # free text: an Answer button
    press = await fake.press_button(int(question["id"]), "safety:answer:country:text", world.alice)
    await press.wait_response()
    assert press.response_type == 9
    answer = await fake.submit_modal(press, {"answer": "Germany"})
    [nxt] = await answer.wait_messages(1)
    assert nxt["flags"] & EPHEMERAL
    case = await bot.app.store.get_case(str(world.haven), 1)
    assert case.flags.get("country") == "DE"


async def test_report_message_captures_evidence_before_the_message_can_go(fake, world, bot):
    threat = await fake.dispatch_message_create(world.general, world.suspect, "pay 500 or your photos go public")
    it = await fake.send_message_context_command(world.haven, world.general, world.alice, "Report message", threat)
    await it.wait_response()
    assert it.response_type == 9
    # before the member submits, the accused deletes the message (or something else removes it)
    await fake.dispatch_message_delete(threat)
    assert threat in fake.deleted_message_ids
    sub = await fake.submit_modal(it, {"what": "this is a threat"})
    await sub.wait_messages(1)
    case = await bot.app.store.get_case(str(world.haven), 1)
    [ev] = await bot.app.store.evidence_for(case.id)
    assert ev.text == "pay 500 or your photos go public" and ev.author.id == str(world.suspect)
    assert ev.ref.link == f"https://discord.com/channels/{world.haven}/{world.general}/{threat}"
    assert case.accused[0].id == str(world.suspect)
    post = (await wait_messages(fake, world.safety))[-1]
    assert ev.ref.link in contents([post])
    assert all("pay 500" not in m["content"] for m in fake.messages(world.general))


async def test_resources_ephemeral_and_dm_in_members_language(fake, world, bot):
    it = await fake.send_slash_command(world.haven, world.general, world.alice, "resources", locale="de")
    await it.wait_messages(1)
    assert all(m["flags"] & EPHEMERAL for m in it.messages)
    await fake.wait_for(lambda: "Direktnachricht" in ephemeral_text(it))  # the DM note, in German too
    dm = contents(fake.dm_messages(world.alice))
    assert dm and "places that can help" not in dm  # German, not English
    assert "Stellen, die helfen können" in dm
    assert dm.splitlines()[1] in ephemeral_text(it)
    assert all(bot_messages(fake, c) == [] for c in public_channels(world))


async def test_dms_closed_reply_carries_the_resources(fake, world, bot):
    fake.close_dms(world.alice)
    it = await fake.send_slash_command(world.haven, world.general, world.alice, "resources")
    await it.wait_messages(1)
    text = await fake.wait_for(lambda: (lambda t: t if "places that can help" in t else None)(ephemeral_text(it)))
    assert "direct messages are closed" in text and all(m["flags"] & EPHEMERAL for m in it.messages)
    _, sub = await _report(fake, world, "threats")
    text = ephemeral_text(sub)
    # the short first words (the helplines come with /resources, shown here above, or with B in a DM)
    assert "direct messages are closed" in text and "not your fault" in text and "B) Who can help?" in text
    assert fake.dm_messages(world.alice) == []
    assert len(fake.messages(world.safety)) == 1


async def test_report_with_a_message_link_attaches_it_and_refuses_other_servers(fake, world, bot):
    here = await fake.dispatch_message_create(world.art, world.suspect, "I have your pics")
    it = await fake.send_slash_command(world.haven, world.general, world.alice, "report")
    await it.wait_response()
    sub = await fake.submit_modal(it, {"what": "see this", "link":
                                       f"https://discord.com/channels/{world.haven}/{world.art}/{here}"})
    await sub.wait_messages(2)
    case = await bot.app.store.get_case(str(world.haven), 1)
    [ev] = await bot.app.store.evidence_for(case.id)
    assert ev.text == "I have your pics"
    other = await fake.dispatch_message_create(world.lobby, world.suspect, "elsewhere")
    it2 = await fake.send_slash_command(world.haven, world.general, world.bob, "report")
    await it2.wait_response()
    sub2 = await fake.submit_modal(it2, {"what": "and this", "link":
                                         f"https://discord.com/channels/{world.harbor}/{world.lobby}/{other}"})
    await sub2.wait_messages(2)
    assert "another server" in ephemeral_text(sub2)
    case2 = await bot.app.store.get_case(str(world.haven), 2)
    assert await bot.app.store.evidence_for(case2.id) == []


async def test_consent_and_withdraw_by_dm(fake, world, bot):
    await _report(fake, world, "threats")
    dm = fake.dm_channel_id(world.alice)
    await fake.dispatch_message_create(dm, world.alice, "stop")
    await fake.wait_for(lambda: any("that is all for now" in m["content"] for m in fake.dm_messages(world.alice)))
    before = len(fake.dm_messages(world.alice))
    await fake.dispatch_message_create(dm, world.alice, "consent yes")
    await fake.wait_for(lambda: len(fake.dm_messages(world.alice)) > before)
    await fake.dispatch_message_create(dm, world.alice, "withdraw")
    await fake.wait_for(lambda: "withdrawn by the reporter" in contents(fake.messages(world.safety)))
    case = await bot.app.store.get_case(str(world.haven), 1)
    # withdrawing revokes the consent given before (issue 13)
    assert case.status.value == "closed" and case.flags.get("consent") == "withdrawn" and case.flags.get("withdrawn")
    assert all(bot_messages(fake, c) == [] for c in public_channels(world))


async def test_report_about_a_moderator_goes_to_the_escalation_contact_only(tmp_path, fake, world):
    from tests.discord.conftest import discord_config, running_bot

    owner = fake.guilds[world.haven]["owner_id"]
    guilds = [{"id": world.haven, "safety_channel": world.safety, "safety_role": world.role, "network": "friends",
               "escalation_user": owner}]
    async with running_bot(discord_config(tmp_path, fake, world, guilds=guilds)):
        mid = await fake.dispatch_message_create(world.general, world.mod, "I know what you sent, pay me")
        it = await fake.send_message_context_command(world.haven, world.general, world.alice, "Report message", mid)
        await it.wait_response()
        sub = await fake.submit_modal(it, {"what": "a moderator is doing this"})
        await sub.wait_messages(1)
        await fake.wait_for(lambda: "a moderator is doing this" in contents(fake.dm_messages(owner)),
                            what="the case in the escalation contact's DMs")
        assert bot_messages(fake, world.safety) == []  # the accused moderator's team channel sees nothing
        # the accused moderator cannot see the case
        look = await fake.send_slash_command(world.haven, world.safety, world.mod, "safety", {"case": 1},
                                             subcommand="case")
        await look.wait_messages(1)
        assert "There is no case 1 here" in ephemeral_text(look)


async def test_a_report_form_filled_to_the_brim_is_never_refused_as_too_long(fake, world, bot):
    """Discord closes the form on submit: a report refused as too long would lose all the member typed. The
    boxes stop the typing where the joined report still fits limits.report_max_chars."""
    it = await fake.send_slash_command(world.haven, world.general, world.alice, "report")
    await it.wait_response()
    sizes = {f["custom_id"]: f["max_length"] for row in it.modal["components"] for f in row["components"]}
    assert sizes["what"] + sizes["more"] + sizes["link"] < bot.app.config.limits.report_max_chars
    link = "see " + "x" * (sizes["link"] - 4)  # not a message link: it joins the text
    sub = await fake.submit_modal(it, {"what": "w" * sizes["what"], "more": "m" * sizes["more"], "link": link})
    await sub.wait_messages(1)
    assert "too long" not in ephemeral_text(sub)
    case = await bot.app.store.get_case(str(world.haven), 1)
    [report] = await bot.app.store.reports_for(case.id)
    assert "w" * sizes["what"] in report.text and "m" * sizes["more"] in report.text and link in report.text
