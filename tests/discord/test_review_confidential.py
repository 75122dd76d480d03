"""Adversarial review of principle 4 (evidence first) on the fake Discord."""

from __future__ import annotations

import secrets

from tests.discord.test_adapter_media import bank_by_block, jpeg, post_image
from tests.media.test_hashing import generate


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
