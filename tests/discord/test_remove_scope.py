"""/safety remove on Discord looks the message up first: a message that does not exist opens no case, the
safety team's own channel is not the bot's to clean, and a removal of the accused's message joins their
open case instead of opening a new one."""

from __future__ import annotations

from adapters.discord import DiscordAdapter  # noqa: F401  (the product under test)
from tests.discord.conftest import contents, ephemeral_text, wait_messages
from tests.fakes.discord_server import EPHEMERAL


async def _safety(fake, world, user, sub, options=None):
    it = await fake.send_slash_command(world.haven, world.safety, user, "safety", options or {}, subcommand=sub)
    await it.wait_messages(1)
    assert all(m["flags"] & EPHEMERAL for m in it.messages)
    return it


def _link(world, channel, mid) -> str:
    return f"https://discord.com/channels/{world.haven}/{channel}/{mid}"


async def test_remove_of_a_message_that_does_not_exist_opens_no_case(fake, world, bot):
    missing = fake.snowflake()  # never posted
    it = await _safety(fake, world, world.mod, "remove", {"link": _link(world, world.general, missing)})
    text = ephemeral_text(it)
    assert "I cannot find that message" in text and "Opened case" not in text
    # a channel that does not exist either
    it = await _safety(fake, world, world.mod, "remove", {"link": _link(world, fake.snowflake(), missing)})
    assert "I cannot find that message" in ephemeral_text(it)
    assert await bot.app.store.list_cases(str(world.haven)) == []
    assert not fake.requests_to("DELETE", r"/channels/\d+/messages/\d+")


async def test_remove_of_a_message_in_the_safety_channel_is_refused(fake, world, bot):
    mid = await fake.dispatch_message_create(world.safety, world.mod, "team discussion about case 1")
    it = await _safety(fake, world, world.mod, "remove", {"link": _link(world, world.safety, mid), "block": True})
    text = ephemeral_text(it)
    assert "not in one of the channels the bot protects" in text and "Nothing was changed" in text
    assert mid not in fake.deleted_message_ids and mid in fake.messages_by_id
    assert await bot.app.store.list_cases(str(world.haven)) == []
    # the "Remove & block media" menu on a message there is refused the same way
    menu = await fake.send_message_context_command(world.haven, world.safety, world.mod, "Remove & block media", mid)
    await menu.wait_messages(1)
    assert "not in one of the channels the bot protects" in ephemeral_text(menu)
    assert mid not in fake.deleted_message_ids
    assert await bot.app.store.list_cases(str(world.haven)) == []


async def test_remove_of_the_accused_message_joins_their_open_case(fake, world, bot):
    opened = await _safety(fake, world, world.mod, "open", {"member": world.suspect, "note": "DMs to kids"})
    assert "Opened case 1" in ephemeral_text(opened)
    mid = await fake.dispatch_message_create(world.general, world.suspect, "send more or else")
    it = await _safety(fake, world, world.mod, "remove", {"link": _link(world, world.general, mid)})
    text = ephemeral_text(it)
    assert "(case 1)" in text and "Opened case" not in text
    await fake.wait_for(lambda: mid in fake.deleted_message_ids)
    assert [c.number for c in await bot.app.store.list_cases(str(world.haven))] == [1]
    case = await bot.app.store.get_case(str(world.haven), 1)
    [ev] = await bot.app.store.evidence_for(case.id)
    assert ev.text == "send more or else"


async def test_remove_and_block_menu_joins_the_authors_open_case(fake, world, bot):
    mid = await fake.dispatch_message_create(world.general, world.suspect, "threat")
    it = await fake.send_message_context_command(world.haven, world.general, world.alice, "Report message", mid)
    await it.wait_response()
    sub = await fake.submit_modal(it, {"what": "he threatens me"})
    await sub.wait_messages(1)
    await wait_messages(fake, world.safety)
    other = await fake.dispatch_message_create(world.art, world.suspect, "and here too",
                                               attachments=[{"filename": "a.jpg"}])
    menu = await fake.send_message_context_command(world.haven, world.art, world.mod, "Remove & block media", other)
    await menu.wait_messages(1)
    text = contents(menu.messages)
    assert "(case 1)" in text and "Opened case" not in text
    await fake.wait_for(lambda: other in fake.deleted_message_ids)
    assert [c.number for c in await bot.app.store.list_cases(str(world.haven))] == [1]


async def test_remove_when_the_bot_cannot_read_the_message_is_not_refused(fake, world, bot):
    mid = await fake.dispatch_message_create(world.general, world.suspect, "threat")
    fake.fail("GET", rf"/channels/{world.general}/messages/{mid}", status=403, code=50001, message="Missing Access",
              times=1)  # the adapter's look-up only; the core's capture then reads it
    it = await _safety(fake, world, world.mod, "remove", {"link": _link(world, world.general, mid)})
    text = ephemeral_text(it)
    assert "Capturing evidence" in text and "cannot find" not in text and "Nothing was changed" not in text
    await fake.wait_for(lambda: mid in fake.deleted_message_ids)
