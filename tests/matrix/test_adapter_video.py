"""Videos on the real Synapse: a moderator's remove --block banks an m.video (hashes only), a recompressed
copy posted later as m.video is redacted, an unrelated video stays. Videos generated with PyAV."""

from __future__ import annotations

import time

from tests.matrix.test_adapter_dm import call, harness_factory, join, q  # noqa: F401
from tests.matrix.test_adapter_media import block, redacted, wait_checked, wait_redacted
from tests.media.videos import make_video


async def post_video(synapse, user, room: str, data: bytes, name: str, mimetype: str) -> str:
    up = await synapse.arequest("POST", "/_matrix/media/v3/upload", token=user.access_token, data=data,
                                content_type=mimetype, query={"filename": name})
    assert up.status == 200, up
    content = {"msgtype": "m.video", "body": name, "url": up.json()["content_uri"],
               "info": {"mimetype": mimetype, "size": len(data), "w": 320, "h": 240}}
    resp = await call(synapse, "PUT", f"/_matrix/client/v3/rooms/{q(room)}/send/m.room.message/{time.monotonic_ns()}",
                      user, content)
    return resp["event_id"]


async def test_banked_video_copies_are_redacted_unrelated_videos_stay(synapse, harness_factory) -> None:
    h = await harness_factory(rooms=1, admin_api=True, e2ee=False)
    suspect, viewer = await synapse.aregister(), await synapse.aregister()
    for u in (suspect, viewer):
        await join(synapse, u, h.rooms[0])
    first = await post_video(synapse, suspect, h.rooms[0], make_video(21, seconds=6), "call.mp4", "video/mp4")
    reply = await block(h, h.rooms[0], first)
    assert "Added 1 image(s) to the hash bank on case 1" in reply, reply
    [entry] = await h.app.store.bank_entries("matrix", with_hashes=True)
    assert entry.kind == "video" and len(entry.pdq) >= 3

    checked = h.adapter.media_checked
    other = await post_video(synapse, viewer, h.rooms[0], make_video(22, seconds=6), "cat.mp4", "video/mp4")
    await wait_checked(h, checked + 1, timeout=30)
    copy = make_video(21, seconds=6, codec="libvpx-vp9", container="webm", bit_rate=150_000)
    again = await post_video(synapse, suspect, h.rooms[0], copy, "again.webm", "video/webm")
    await wait_redacted(synapse, viewer, h.rooms[0], again)
    assert not await redacted(synapse, viewer, h.rooms[0], other)
