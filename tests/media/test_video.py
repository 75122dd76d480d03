"""Videos: hashing (MD5 + PDQ of frames about once per second), the match rule, the limits against
decompression bombs, and banking/matching through the core (console harness). Every video is generated
here with PyAV."""

from __future__ import annotations

import logging

import pytest

from safety_bot.actions import BanUser, PostToTeam, RemoveMessage
from safety_bot.domain import MessageRef, UserRef
from safety_bot.media import MEDIA_ERROR_REASONS, MediaError, hash_video_bytes, is_video, video_frames_match
from safety_bot.media.decode import R_BOMB, R_MALFORMED_VIDEO, R_TOO_LARGE, R_TOO_LONG, R_TOO_MANY_FRAMES
from safety_bot.store.sqlite import SqliteStore
from tests.harness import make_harness
from tests.media.test_hashing import encode, generate
from tests.media.videos import black_video, make_video

BOB = UserRef("console", "bob", "bob")


@pytest.fixture(scope="module")
def clips():
    """One banked video and its copies, made once for the module."""
    return {
        "original": make_video(1, seconds=8),
        "vp9": make_video(1, seconds=8, codec="libvpx-vp9", container="webm", bit_rate=150_000),
        "mpeg4": make_video(1, seconds=8, codec="mpeg4", container="avi", bit_rate=300_000),
        "trimmed": make_video(1, seconds=4, start=2.5),  # 4 s cut from the middle, off the sampling grid
        "other": make_video(2, seconds=8),
    }


def frames_within(a, b, radius=31) -> int:
    return sum(1 for f, _ in a.frame_hashes
               if min((int(f, 16) ^ int(g, 16)).bit_count() for g, _ in b.frame_hashes) <= radius)


def test_video_hashes_md5_and_a_frame_per_second(clips):
    h = hash_video_bytes(clips["original"])
    assert h.video and h.format == "MP4" and (h.width, h.height) == (320, 240)
    assert 7 <= h.duration <= 8 and h.frames == 8  # sampled at 0, 1, ..., 7 s
    assert 4 <= len(h.frame_hashes) <= 8 and h.quality >= 50
    import hashlib

    assert h.md5 == hashlib.md5(clips["original"]).hexdigest()
    assert h.variants == () and set(h.bank_hashes()) == {f for f, _ in h.frame_hashes}
    assert h.pdq not in repr(h) and h.md5 not in repr(h)  # hashes stay out of repr (logs)


def test_recompressed_and_trimmed_copies_match_unrelated_does_not(clips):
    banked = hash_video_bytes(clips["original"])
    frames = len(banked.frame_hashes)
    for name in ("vp9", "mpeg4", "trimmed"):
        copy = hash_video_bytes(clips[name])
        assert copy.md5 != banked.md5
        matched = frames_within(copy, banked)
        assert video_frames_match(matched, len(copy.frame_hashes), frames), name
    other = hash_video_bytes(clips["other"])
    assert frames_within(other, banked, 52) == 0
    assert not video_frames_match(frames_within(other, banked), len(other.frame_hashes), frames)


def test_match_rule():
    assert video_frames_match(5, 10, 40)  # half the query's frames
    assert not video_frames_match(4, 10, 40)
    assert video_frames_match(5, 600, 10)  # half the banked video inside a long upload
    assert not video_frames_match(1, 600, 10)  # one shared frame (a title card) is not enough
    assert not video_frames_match(1, 2, 40)  # a two-frame query: both must match
    assert video_frames_match(1, 1, 40)  # a one-frame query
    assert video_frames_match(1, 30, 1)  # a one-frame banked video
    assert not video_frames_match(0, 1, 1)
    assert not video_frames_match(3, 0, 10)


@pytest.mark.parametrize("limit, kwargs, reason", [
    ("bytes", {"max_bytes": 10_000}, R_TOO_LARGE),
    ("seconds", {"max_seconds": 3.0}, R_TOO_LONG),
    ("frames", {"max_frames": 20}, R_TOO_MANY_FRAMES),
    ("pixels", {"max_pixels": 320 * 240 - 1}, R_BOMB),
])
def test_each_limit_is_a_clear_refusal(clips, limit, kwargs, reason):
    with pytest.raises(MediaError) as err:
        hash_video_bytes(clips["original"], **kwargs)
    assert err.value.reason == reason and reason in MEDIA_ERROR_REASONS


def test_declared_duration_is_checked_and_decoded_time_too():
    # 40 frames at 10 fps = 4 s: refused at 3 s whether the container's duration or the frames say so.
    data = make_video(3, seconds=4)
    with pytest.raises(MediaError) as err:
        hash_video_bytes(data, max_seconds=3.0)
    assert err.value.reason == R_TOO_LONG
    # Many tiny frames in a short file: refused by the frame count before they are all decoded.
    tiny = make_video(3, seconds=1, fps=50, size=(32, 24), frames=400)
    with pytest.raises(MediaError) as err:
        hash_video_bytes(tiny, max_frames=100)
    assert err.value.reason == R_TOO_MANY_FRAMES


def test_garbage_and_playlists_are_refused_without_reaching_ffmpeg_demuxers():
    assert not is_video(b"#EXTM3U\n#EXT-X-TARGETDURATION:1\nfile:///etc/passwd\n")
    assert not is_video(b"ffconcat version 1.0\nfile '/etc/passwd'\n")
    with pytest.raises(MediaError) as err:
        hash_video_bytes(b"#EXTM3U\nfile:///etc/passwd\n")
    assert err.value.reason == "not a video"
    fake_mp4 = b"\x00\x00\x00\x18ftypmp42" + bytes(200)
    assert is_video(fake_mp4)
    with pytest.raises(MediaError) as err:
        hash_video_bytes(fake_mp4)
    assert err.value.reason == R_MALFORMED_VIDEO
    with pytest.raises(MediaError):
        hash_video_bytes(b"")


def ref(mid: str) -> MessageRef:
    return MessageRef("console", "cafe", "general", mid, "")


async def open_case(h):
    await h.run("as mia", "open @bob posts her video --category sextortion")
    return (await h.store.list_cases("cafe"))[-1]


async def test_banked_video_copies_are_removed_unrelated_kept(h, clips, caplog):
    case = await open_case(h)
    banked = await h.app.bank.hash_bytes(clips["original"], with_variants=True)
    out = await h.app.bank.bank_from_hashes(case, [banked], "console:mia")
    assert out.ok
    entry = (await h.store.bank_entries(with_hashes=True))[-1]
    assert entry.kind == "video" and entry.md5 == banked.md5 and len(entry.pdq) == len(banked.frame_hashes)
    for i, name in enumerate(("original", "vp9", "trimmed")):
        found = await h.app.bank.hash_download(clips[name])
        assert found is not None
        q, size = found
        out = await h.app.bank.check("cafe", ref(f"v{i}"), BOB, [q], sizes=[size])
        kinds = [type(a) for a in out.actions]
        assert RemoveMessage in kinds, name
        assert BanUser in kinds  # bob is the case's accused: zero tolerance
    q, _ = await h.app.bank.hash_download(clips["other"])
    out = await h.app.bank.check("cafe", ref("v-other"), UserRef("console", "carol", "carol"), [q])
    assert out.actions == []
    # The evidence describes the removed upload as a video (metadata and hashes, never the file or a URL).
    evidence = await h.store.evidence_for(case.id)
    atts = [a for ev in evidence for a in ev.attachments]
    assert atts and all(a["content_type"] == "video/mp4" for a in atts[:1])
    assert not any("url" in a or "data" in a for a in atts)
    caplog.set_level(logging.INFO)
    with caplog.at_level(logging.INFO):
        assert await h.app.bank.hash_download(b"\x00\x00\x00\x18ftypmp42" + bytes(64)) is None
    assert "malformed video" in caplog.text and "ftyp" not in caplog.text


async def test_low_detail_video_matches_on_its_exact_md5_only(h):
    case = await open_case(h)
    data = black_video()
    banked = await h.app.bank.hash_bytes(data)
    assert banked.quality < 50
    await h.app.bank.bank_from_hashes(case, [banked], "console:mia")
    same = await h.app.bank.hash_bytes(data)
    out = await h.app.bank.check("cafe", ref("b1"), BOB, [same])
    assert RemoveMessage in [type(a) for a in out.actions]
    other = await h.app.bank.hash_bytes(black_video(seconds=4))  # another file, also black: not matched
    out = await h.app.bank.check("cafe", ref("b2"), BOB, [other])
    assert out.actions == []


async def test_video_in_a_longer_upload_and_a_picture_in_a_video(h, clips):
    """The banked video inside a longer upload matches (half of the banked frames); a video that shows a
    banked picture matches the picture, as an animated GIF frame does."""
    case = await open_case(h)
    short = await h.app.bank.hash_bytes(make_video(5, seconds=4))
    await h.app.bank.bank_from_hashes(case, [short], "console:mia")
    longer = await h.app.bank.hash_bytes(make_video(5, seconds=14))  # the same 4 s, then 10 s more
    out = await h.app.bank.check("cafe", ref("l1"), BOB, [longer])
    assert RemoveMessage in [type(a) for a in out.actions]
    # A picture: the first scene of video 6 (what its first frame shows), banked as a JPEG.
    picture = generate(6 * 1000, 344, 240, noise=0).crop((0, 0, 320, 240))
    pic = await h.app.bank.hash_bytes(encode(picture, "JPEG", quality=90), with_variants=True)
    assert not pic.video
    await h.app.bank.bank_from_hashes(case, [pic], "console:mia")
    video = await h.app.bank.hash_bytes(make_video(6, seconds=6))
    out = await h.app.bank.check("cafe", ref("p1"), UserRef("console", "carol", "carol"), [video])
    assert RemoveMessage in [type(a) for a in out.actions]


async def test_video_entries_survive_a_restart_and_stay_videos(tmp_path, clips):
    h = await make_harness(tmp_path, sqlite=True)
    try:
        case = await open_case(h)
        banked = await h.app.bank.hash_bytes(clips["original"])
        await h.app.bank.bank_from_hashes(case, [banked], "console:mia")
    finally:
        await h.app.__aexit__(None, None, None)
    h = await make_harness(tmp_path, sqlite=True)
    try:
        assert isinstance(h.store, SqliteStore)
        [entry] = await h.store.bank_entries(with_hashes=True)
        assert entry.kind == "video"
        q = await h.app.bank.hash_bytes(clips["trimmed"])
        out = await h.app.bank.check("cafe", ref("r1"), BOB, [q])
        assert RemoveMessage in [type(a) for a in out.actions]
        assert not any(isinstance(a, PostToTeam) and banked.md5 in a.text for a in out.actions)
    finally:
        await h.app.__aexit__(None, None, None)


async def test_video_kind_is_stored_on_both_databases(hdb, clips):
    case = await open_case(hdb)
    banked = await hdb.app.bank.hash_bytes(clips["original"])
    pic = await hdb.app.bank.hash_bytes(encode(generate(7, 320, 240), "JPEG", quality=90))
    await hdb.app.bank.bank_from_hashes(case, [banked, pic], "console:mia")
    kinds = {e.md5: e.kind for e in await hdb.store.bank_entries(with_hashes=True)}
    assert kinds == {banked.md5: "video", pic.md5: "image"}


async def test_a_refused_video_is_named_to_the_moderator_who_banks_it(tmp_path, clips, caplog):
    """Remove with block on a message whose video is over media.max_video_bytes: the picture beside it is
    banked, the moderator is told the video could not be (with the reason), the log has the reason only."""
    h = await make_harness(tmp_path, {"media": {"max_video_bytes": 4096}})
    try:
        case = await open_case(h)
        picture = encode(generate(8, 320, 240), "JPEG", quality=90)

        async def read_images():
            return [clips["original"], picture, None]

        with caplog.at_level(logging.INFO):
            reply = await h.app.bank.bank_removed_images(RemoveMessage(case_id=case.id, ref=ref("x1")), "console",
                                                         read_images)
        assert "Added 1 image(s) to the hash bank" in reply
        assert "1 file(s) could not be added to the hash bank (file too large)" in reply
        [entry] = await h.store.bank_entries(with_hashes=True)
        assert entry.kind == "image"
        import hashlib

        assert "file too large" in caplog.text and hashlib.md5(clips["original"]).hexdigest() not in caplog.text
    finally:
        await h.app.__aexit__(None, None, None)


async def test_console_picture_command_takes_a_video(h, clips, tmp_path):
    case = await open_case(h)
    await h.app.bank.bank_from_hashes(case, [await h.app.bank.hash_bytes(clips["original"])], "console:mia")
    path = tmp_path / "clip.webm"
    path.write_bytes(clips["vp9"])
    lines = await h.run("as bob", f"picture general {path}")
    assert any("re-upload of banked media" in line for line in lines), lines
    [posted] = [m for m in h.console.world.messages.values() if m.author == "bob"]
    assert posted.deleted
    other = tmp_path / "other.mp4"
    other.write_bytes(clips["other"])
    lines = await h.run("as carol", f"picture general {other}")
    assert not any("re-upload" in line for line in lines)
