"""Videos on the fake Discord: "Remove & block" banks a video (hashes only), a recompressed copy posted
later is removed on sight with a zero-tolerance ban, an unrelated video stays. Videos generated with PyAV."""

from __future__ import annotations

from tests.discord.conftest import contents, ephemeral_text
from tests.media.videos import make_video


def video(data: bytes, name: str, ctype: str) -> dict:
    return {"filename": name, "content_type": ctype, "data": data}


async def test_banked_video_copies_are_removed_and_unrelated_videos_stay(fake, world, bot):
    original = make_video(11, seconds=6)
    mid = await fake.dispatch_message_create(world.general, world.suspect, "her video",
                                             attachments=[video(original, "call.mp4", "video/mp4")])
    link = f"https://discord.com/channels/{world.haven}/{world.general}/{mid}"
    it = await fake.send_slash_command(world.haven, world.safety, world.mod, "safety", {"link": link, "block": True},
                                       subcommand="remove")
    await it.wait_messages(1)
    assert "Added 1 image(s) to the hash bank on case 1" in ephemeral_text(it)
    [entry] = await bot.app.store.bank_entries("friends", with_hashes=True)
    assert entry.kind == "video" and entry.md5 and len(entry.pdq) >= 3
    # An unrelated video by someone else: downloaded and checked, not removed.
    handled = bot.messages_handled
    other = await fake.dispatch_message_create(world.general, world.alice, "my cat",
                                               attachments=[video(make_video(12, seconds=6), "cat.mp4", "video/mp4")])
    await fake.wait_for(lambda: bot.messages_handled > handled, 60, "the unrelated video to be checked")
    other_att = int(fake.messages_by_id[other]["attachments"][0]["id"])
    assert other_att in fake.cdn_requests and other not in fake.deleted_message_ids
    # A recompressed copy (VP9 in WebM, low bitrate) in the other server of the network: removed, uploader banned.
    copy = make_video(11, seconds=6, codec="libvpx-vp9", container="webm", bit_rate=150_000)
    again = await fake.dispatch_message_create(world.lobby, world.suspect, "again",
                                               attachments=[video(copy, "again.webm", "video/webm")])
    await fake.wait_for(lambda: again in fake.deleted_message_ids, 60, "the re-uploaded video to be removed")
    await fake.wait_for(lambda: world.suspect in fake.bans(world.harbor))
    await fake.wait_for(lambda: "re-upload of banked media" in contents(fake.messages(world.safety2)))
    assert other not in fake.deleted_message_ids
    written = contents([m for m in fake.messages_by_id.values() if m["author"]["id"] == str(fake.bot_id)])
    assert entry.md5 not in written and "call.mp4" not in written and "again.webm" not in written
