"""Adversarial review of principle 4 (evidence first) on the fake Discord."""

from __future__ import annotations

import secrets

from tests.discord.test_adapter_media import bank_by_block, jpeg, post_image
from tests.media.test_hashing import generate

SUPPRESS_EMBEDS = 1 << 2  # message flag: no link previews


async def test_a_banked_reupload_keeps_its_words_as_evidence_before_it_is_removed(fake, world, bot):
    """The automatic removal deletes the whole message: what it said is captured first, like any removal."""
    original = generate(35, 640, 480)
    await bank_by_block(fake, world, bot, jpeg(original))
    case = await bot.app.store.get_case(str(world.haven), 1)
    said = f"she should have paid {secrets.token_hex(3)}"
    mid, _ = await post_image(fake, world.lobby, world.suspect, jpeg(original, 75), said)
    await fake.wait_for(lambda: mid in fake.deleted_message_ids, 60, "the re-upload to be removed")
    [ev] = [e for e in await bot.app.store.evidence_for(case.id) if e.captured_by == "bot:hash-bank"]
    assert ev.ref.message_id == str(mid) and ev.text == said
    assert ev.message_created_at is not None


async def test_a_ban_with_a_case_stores_the_accuseds_recent_messages_before_they_are_deleted(fake, world, bot):
    """Discord's own purge (delete_message_seconds) would delete them unseen: they are read, stored on the
    case, and only then deleted; in every server of the network, in channels and threads."""
    from tests.discord.test_adapter_moderation import _report_message

    reported = await fake.dispatch_message_create(world.general, world.suspect, "send more or else")
    await _report_message(fake, world, reported, text="He is blackmailing me")
    thread = fake.add_channel(world.haven, "a thread", type=11, parent_id=world.art)
    said = {}  # message id -> (channel, text) of what nobody reported
    for channel, text in ((world.art, "I will send them to your school"), (world.art, "and another"),
                          (world.lobby, "last chance"), (thread, "in a thread")):
        text += " " + secrets.token_hex(2)
        said[await fake.dispatch_message_create(channel, world.suspect, text)] = (channel, text)
    bystander = await fake.dispatch_message_create(world.art, world.bob, "nice drawing")
    it = await fake.send_slash_command(world.haven, world.safety, world.mod, "safety",
                                       {"member": world.suspect, "case": 1, "confirm": True}, subcommand="ban")
    await it.wait_messages(1)
    gone = {reported, *said}
    await fake.wait_for(lambda: gone <= fake.deleted_message_ids, 60, "the accused's recent messages to be removed")
    assert bystander not in fake.deleted_message_ids
    for gid in (world.haven, world.harbor):
        assert fake.bans(gid)[world.suspect].delete_message_seconds == 0  # no purge nobody could see first
    case = await bot.app.store.get_case(str(world.haven), 1)
    evidence = {e.ref.message_id: e for e in await bot.app.store.evidence_for(case.id) if e.ref}
    assert {str(m) for m in gone} <= set(evidence)
    for mid, (channel, text) in said.items():
        ev = evidence[str(mid)]
        assert (ev.text, ev.ref.channel_id, ev.author.id) == (text, str(channel), str(world.suspect))
        assert ev.captured_by == "bot:discord"
    assert "evidence.captured_before_purge" in [a.action for a in await bot.app.store.audit_entries(case.id)]


async def test_a_link_in_a_members_words_is_never_previewed_in_the_team_channel(fake, world, bot):
    """A reporter shows the team where their picture was posted: Discord would unfurl the bare link into the
    picture itself in the safety channel. Team notices carrying member words are sent without link previews."""
    from tests.discord.conftest import contents
    from tests.discord.test_adapter_members import _report

    await _report(fake, world, "He says he will send my pictures to everyone unless I pay")
    dm = fake.dm_channel_id(world.alice)
    await fake.dispatch_message_create(dm, world.alice, "stop")
    await fake.wait_for(lambda: any("that is all for now" in m["content"] for m in fake.dm_messages(world.alice)))
    await fake.dispatch_message_create(dm, world.alice, "he posted it here https://images.example.org/p/123.jpg")
    await fake.wait_for(lambda: "images.example.org" in contents(fake.messages(world.safety)))
    [post] = [m for m in fake.messages(world.safety) if "images.example.org" in (m["content"] or "")]
    assert post["flags"] & SUPPRESS_EMBEDS
