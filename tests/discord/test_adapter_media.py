"""The hash bank on the fake Discord: banking only on an explicit block, re-uploads removed on sight (with
evidence on the case and a zero-tolerance ban), near matches flagged without the image, its URL or hash,
DM images never downloaded. Generated images only (gradients, shapes, noise)."""

from __future__ import annotations

import asyncio
import io

from PIL import Image, ImageOps

from safety_bot.media import hamming, hash_image_bytes
from tests.discord.conftest import bot_messages, contents, ephemeral_text, public_channels
from tests.fakes.discord_server import EPHEMERAL
from tests.media.test_hashing import generate


def jpeg(im: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def image(data: bytes, name: str = "photo.jpg") -> dict:
    return {"filename": name, "content_type": "image/jpeg", "data": data, "width": 640, "height": 480}


async def post_image(fake, channel, author, data, text="", name="photo.jpg") -> tuple[int, int]:
    """Post a message with one image; returns (message id, attachment id)."""
    mid = await fake.dispatch_message_create(channel, author, text, attachments=[image(data, name)])
    return mid, int(fake.messages_by_id[mid]["attachments"][0]["id"])


async def bank_by_block(fake, world, bot, data) -> int:
    """A moderator removes a message with block:true; returns the removed message's id."""
    mid, aid = await post_image(fake, world.general, world.suspect, data, "her pictures", "secret-name.jpg")
    link = f"https://discord.com/channels/{world.haven}/{world.general}/{mid}"
    it = await fake.send_slash_command(world.haven, world.safety, world.mod, "safety", {"link": link, "block": True},
                                       subcommand="remove")
    await it.wait_messages(1)
    text = ephemeral_text(it)
    assert "Added 1 image(s) to the hash bank on case 1" in text, text
    assert mid in fake.deleted_message_ids and aid in fake.cdn_requests
    return mid


async def wait_handled(bot, count: int, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while bot.messages_handled < count:
        assert asyncio.get_running_loop().time() < deadline, "message not handled"
        await asyncio.sleep(0.01)


async def test_reuploads_are_removed_on_sight_and_recorded_on_the_case(fake, world, bot):
    original = generate(31, 640, 480)
    await bank_by_block(fake, world, bot, jpeg(original))
    [entry] = await bot.app.store.bank_entries("friends")
    assert entry.case_number == 1 and entry.added_by == f"discord:{world.mod}" and entry.category == "adult"
    case = await bot.app.store.get_case(str(world.haven), 1)
    # a recompressed, resized, mirrored copy in the other server of the network
    variant = jpeg(ImageOps.mirror(original.resize((480, 360))), 70)
    mid, aid = await post_image(fake, world.lobby, world.suspect, variant, "again")
    await fake.wait_for(lambda: mid in fake.deleted_message_ids, 60, "the re-upload to be removed")
    assert aid in fake.cdn_requests
    await fake.wait_for(lambda: world.suspect in fake.bans(world.harbor) and world.suspect in fake.bans(world.haven))
    assert fake.bans(world.harbor)[world.suspect].reason == "Zero-tolerance ban (safety case 1)"
    evidence = [e for e in await bot.app.store.evidence_for(case.id) if e.captured_by == "bot:hash-bank"]
    [ev] = evidence
    assert ev.ref.message_id == str(mid) and ev.ref.community == str(world.harbor) and ev.text == "again"
    [att] = ev.attachments
    assert att["size"] == len(variant) and att["sha256"] and "url" not in att and "filename" not in att
    # the teams hear of it; no image, URL, filename or hash anywhere the bot wrote
    await fake.wait_for(lambda: "re-upload of banked media" in contents(fake.messages(world.safety)))
    await fake.wait_for(lambda: "re-upload of banked media" in contents(fake.messages(world.safety2)))
    written = contents([m for m in fake.messages_by_id.values() if m["author"]["id"] == str(fake.bot_id)])
    full = hash_image_bytes(variant)
    assert "cdn" not in written and "secret-name" not in written and "photo.jpg" not in written
    assert full.pdq not in written and full.sha256 not in written
    assert all(m["attachments"] == [] for m in fake.messages_by_id.values() if m["author"]["id"] == str(fake.bot_id))
    assert all(bot_messages(fake, c) == [] for c in public_channels(world))
    store_rows = [e for e in await bot.app.store.bank_entries()]
    assert "sha256=" not in repr(store_rows)


async def test_distinct_image_is_not_removed_and_near_match_is_flagged(fake, world, bot):
    original = generate(21, 640, 480)
    banked = await bank_by_block(fake, world, bot, jpeg(original))
    handled = bot.messages_handled
    distinct, _ = await post_image(fake, world.art, world.bob, jpeg(generate(40, 640, 480)), "my drawing")
    await wait_handled(bot, handled + 1)
    near_data = jpeg(Image.blend(original, generate(22, 640, 480), 0.3), 85)
    bank = [e for e in await bot.app.store.bank_entries(with_hashes=True)][0].pdq
    distance = min(hamming(hash_image_bytes(near_data).pdq, b) for b in bank)
    assert 32 <= distance <= 52
    near, _ = await post_image(fake, world.art, world.bob, near_data, "look")
    await fake.wait_for(lambda: "Please review" in contents(fake.messages(world.safety)), 60, "a flag")
    assert distinct not in fake.deleted_message_ids and near not in fake.deleted_message_ids
    assert fake.bans(world.haven) == {} or world.bob not in fake.bans(world.haven)
    [flag] = [m for m in fake.messages(world.safety) if "Please review" in (m["content"] or "")]
    text = flag["content"]
    assert f"https://discord.com/channels/{world.haven}/{world.art}/{near}" in text  # the message, for review
    assert f"distance {distance}" in text and flag["attachments"] == [] and flag["embeds"] == []
    near_hashes = hash_image_bytes(near_data)
    for secret in (*bank, near_hashes.pdq, near_hashes.sha256, near_hashes.md5, "cdn", ".jpg"):
        assert secret not in text
    assert banked in fake.deleted_message_ids


async def test_plain_remove_banks_nothing_and_downloads_nothing(fake, world, bot):
    mid, aid = await post_image(fake, world.general, world.suspect, jpeg(generate(33, 640, 480)))
    link = f"https://discord.com/channels/{world.haven}/{world.general}/{mid}"
    it = await fake.send_slash_command(world.haven, world.safety, world.mod, "safety", {"link": link},
                                       subcommand="remove")
    await it.wait_messages(1)
    assert mid in fake.deleted_message_ids and "hash bank" not in ephemeral_text(it)
    assert await bot.app.store.bank_entries() == [] and aid not in fake.cdn_requests


async def test_images_in_dms_are_never_downloaded(fake, world, bot):
    data = jpeg(generate(34, 640, 480))
    await bank_by_block(fake, world, bot, data)
    dm = fake.dm_channel_id(world.alice)
    before = list(fake.cdn_requests)
    mid = await fake.dispatch_message_create(dm, world.alice, "", attachments=[image(data, "me.jpg")])
    aid = int(fake.messages_by_id[mid]["attachments"][0]["id"])
    await fake.wait_for(lambda: any("I can only read text here" in (m["content"] or "")
                                    for m in fake.dm_messages(world.alice)), 5, "the DM reply")
    with_text = await fake.dispatch_message_create(dm, world.alice, "hello", attachments=[image(data, "me2.jpg")])
    await fake.wait_for(lambda: len([m for m in fake.dm_messages(world.alice)
                                     if m["author"]["id"] == str(fake.bot_id)]) >= 2, 5, "a second reply")
    aid2 = int(fake.messages_by_id[with_text]["attachments"][0]["id"])
    assert fake.cdn_requests == before and aid not in fake.cdn_requests and aid2 not in fake.cdn_requests
    assert mid not in fake.deleted_message_ids


async def test_remove_and_block_context_menu_banks_and_withdrawal_stops_matching(fake, world, bot):
    data = jpeg(generate(35, 640, 480))
    mid, aid = await post_image(fake, world.general, world.suspect, data)
    it = await fake.send_message_context_command(world.haven, world.general, world.mod, "Remove & block media", mid)
    await it.wait_messages(1)
    assert it.messages[0]["flags"] & EPHEMERAL
    assert "Added 1 image(s) to the hash bank" in ephemeral_text(it) and mid in fake.deleted_message_ids
    [entry] = await bot.app.store.bank_entries()
    assert await bot.app.bank.withdraw(entry.id, "operator:test")
    handled = bot.messages_handled
    again, _ = await post_image(fake, world.general, world.bob, data)
    await wait_handled(bot, handled + 1)
    assert again not in fake.deleted_message_ids and fake.bans(world.haven) == {}
