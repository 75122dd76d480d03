"""The Synapse module (adapters/matrix/synapse_module.py) inside the real Synapse the tests start, asking the
real bot over loopback: a banked picture, a recompressed and a resized copy are refused at upload and the
case hears of it; unrelated pictures pass; threats in protected rooms are refused and open a case; when the
bot is down the homeserver fails open, logs once, and the doctor says the module is not heard from."""

from __future__ import annotations

import asyncio
import secrets
import socket
import time

import pytest

from safety_bot.ops.health import start_http
from tests.fakes.synapse import SynapseServer
from tests.matrix.test_adapter_dm import body_has, call, harness_factory, join, q, send_text  # noqa: F401
from tests.matrix.test_adapter_media import block, jpeg, post_image
from tests.media.test_hashing import generate

SECRET = secrets.token_hex(16)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BOT_PORT = _free_port()


@pytest.fixture(scope="module")
def synapse(tmp_path_factory):
    """This file's own Synapse, with the module loaded in its homeserver.yaml (the two lines the README gives)."""
    server = SynapseServer(tmp_path_factory.mktemp("synapse-module"), extra_config={"modules": [
        {"module": "adapters.matrix.synapse_module.SafetyBotSpamChecker",
         "config": {"bot_url": f"http://127.0.0.1:{BOT_PORT}", "secret": SECRET, "timeout": 5}}]})
    server.start()
    try:
        yield server
    finally:
        server.stop(cleanup=True)


@pytest.fixture
async def module_bot(synapse, harness_factory):
    h = await harness_factory(admin_api=True, config_extra={"http": {"listen": f"127.0.0.1:{BOT_PORT}"}},
                              matrix_extra={"synapse_module_secret": "${MODULE_SECRET}"},
                              env_extra={"MODULE_SECRET": SECRET})
    await start_http(h.app)
    # The module says hello every 10 s: the bot knows it is heard once the first one arrived.
    deadline = time.monotonic() + 30
    while h.app.homeserver_check.last_hello is None:
        assert time.monotonic() < deadline, "the module never said hello to the bot"
        await asyncio.sleep(0.1)
    return h


async def try_upload(synapse, user, data: bytes) -> int:
    resp = await synapse.arequest("POST", "/_matrix/media/v3/upload", token=user.access_token, data=data,
                                  content_type="image/jpeg", query={"filename": "p.jpg"})
    return resp.status


async def test_banked_pictures_are_refused_at_upload(synapse, module_bot) -> None:
    h = module_bot
    member, accused = await synapse.aregister(), await synapse.aregister()
    for u in (member, accused):
        await join(synapse, u, h.rooms[0])
    picture = generate(1801, 1024, 1024)
    # First time it is posted nobody has banked it: it passes; the team removes it and blocks it.
    event_id, _ = await post_image(synapse, accused, h.rooms[0], jpeg(picture, 92))
    assert "hash bank" in await block(h, h.rooms[0], event_id)
    case_number = (await h.app.store.list_cases("matrix"))[0].number

    # The same file, a recompressed copy and a resized copy: refused by the homeserver itself.
    for copy in (jpeg(picture, 92), jpeg(picture, 60), jpeg(picture.resize((700, 700)), 85)):
        assert await try_upload(synapse, accused, copy) == 400
    # Other pictures pass (several, to show the check lets ordinary uploads through).
    for seed in (1802, 1803, 1804):
        assert await try_upload(synapse, member, jpeg(generate(seed, 800, 600))) == 200

    # The case hears it, without the file: uploader and time.
    notice = await h.mgmt_notice(f"Case {case_number}: a banked picture was blocked at upload")
    body = notice["content"]["body"]
    assert accused.localpart in body and "Uploader" in body and "mxc://" not in body
    notes = [n.text for n in await h.app.store.notes_for((await h.app.store.list_cases("matrix"))[0].id)]
    assert sum("blocked at upload" in n for n in notes) == 3


async def test_refused_uploads_count_toward_the_flood_breaker(synapse, module_bot) -> None:
    """Refused uploads by three different accounts: each is refused (nobody saw it), and at the third the
    entry is suspended as on every platform (probably not private); the team is told, later uploads pass."""
    h = module_bot
    accused = await synapse.aregister()
    others = [await synapse.aregister() for _ in range(3)]
    for u in (accused, *others):
        await join(synapse, u, h.rooms[0])
    picture = generate(1811, 1024, 1024)
    event_id, _ = await post_image(synapse, accused, h.rooms[0], jpeg(picture, 92))
    assert "hash bank" in await block(h, h.rooms[0], event_id)
    [entry] = [e for e in await h.app.store.bank_entries() if e.status == "active"][-1:]
    for u in others:
        assert await try_upload(synapse, u, jpeg(picture, 80)) == 400
    deadline = time.monotonic() + 20
    while (await h.app.store.get_bank_entry(entry.id)).status != "suspended":
        assert time.monotonic() < deadline, "the flood breaker did not count the refused uploads"
        await asyncio.sleep(0.1)
    await h.mgmt_notice(f"Hash bank entry {entry.id}")
    assert await try_upload(synapse, others[0], jpeg(picture, 80)) == 200  # suspended: no longer refused


async def test_banked_videos_are_refused_at_upload(synapse, module_bot) -> None:
    from tests.matrix.test_adapter_video import post_video
    from tests.media.videos import make_video

    h = module_bot
    accused = await synapse.aregister()
    await join(synapse, accused, h.rooms[0])
    first = await post_video(synapse, accused, h.rooms[0], make_video(31, seconds=4), "call.mp4", "video/mp4")
    assert "hash bank" in await block(h, h.rooms[0], first)
    for data, mimetype in ((make_video(31, seconds=4), "video/mp4"),
                           (make_video(31, seconds=4, codec="libvpx-vp9", container="webm", bit_rate=150_000), "video/webm")):
        resp = await synapse.arequest("POST", "/_matrix/media/v3/upload", token=accused.access_token, data=data,
                                      content_type=mimetype, query={"filename": "v"})
        assert resp.status == 400, mimetype
    resp = await synapse.arequest("POST", "/_matrix/media/v3/upload", token=accused.access_token,
                                  data=make_video(32, seconds=4), content_type="video/mp4", query={"filename": "v"})
    assert resp.status == 200


async def test_threats_in_protected_rooms_are_refused_and_open_a_case(synapse, module_bot) -> None:
    h = module_bot
    accused, member = await synapse.aregister(), await synapse.aregister()
    for u in (accused, member):
        await join(synapse, u, h.rooms[0])
    threat = f"{member.user_id} pay me 300 or I will post your nudes everywhere"
    resp = await synapse.arequest("PUT", f"/_matrix/client/v3/rooms/{q(h.rooms[0])}/send/m.room.message/t1",
                                  token=accused.access_token,
                                  json_body={"msgtype": "m.text", "body": threat, "m.mentions": {"user_ids": [member.user_id]}})
    assert resp.status == 403 and resp.json()["errcode"] == "M_FORBIDDEN"
    await h.mgmt_notice("a threat was blocked before delivery (the homeserver)")
    cases = [c for c in await h.app.store.list_cases("matrix") if any(a.id == accused.user_id for a in c.accused)]
    assert len(cases) == 1
    assert [e.text for e in await h.app.store.evidence_for(cases[0].id)] == [threat]
    notes = " ".join(n.text for n in await h.app.store.notes_for(cases[0].id))
    assert member.localpart in notes and "possibly the person threatened" in notes
    # Ordinary messages pass, and so does the same text outside the protected rooms (a DM-like room).
    await send_text(synapse, accused, h.rooms[0], "good morning everyone")
    other = (await call(synapse, "POST", "/_matrix/client/v3/createRoom", member, {"preset": "private_chat"}))["room_id"]
    await send_text(synapse, member, other, "he said: pay me or I will post your nudes")


async def test_when_the_bot_is_down_the_homeserver_fails_open_and_doctor_says_so(synapse, harness_factory) -> None:
    # No bot listens on the module's address now.
    user = await synapse.aregister()
    assert await try_upload(synapse, user, jpeg(generate(1805, 640, 480))) == 200
    port = _free_port()
    h = await harness_factory(config_extra={"http": {"listen": f"127.0.0.1:{port}"}},
                              matrix_extra={"synapse_module_secret": "${MODULE_SECRET}"},
                              env_extra={"MODULE_SECRET": SECRET})
    await start_http(h.app)
    # Without the secret the listener answers nothing but 401, and remembers no hello.
    import aiohttp

    async with aiohttp.ClientSession() as session:
        for method, path, data in (("POST", "/synapse/media", b"\xff\xd8"), ("POST", "/synapse/hello", b"{}"),
                                   ("POST", "/synapse/event", b'{"room_id": "!x", "sender": "@a:b", "body": "pay me or"}'),
                                   ("GET", "/synapse/status", None)):
            for auth in ({}, {"Authorization": "Bearer wrong-secret-0000000"}, {"Authorization": SECRET}):
                async with session.request(method, f"http://127.0.0.1:{port}{path}", data=data, headers=auth) as resp:
                    assert resp.status == 401, (path, auth)
        async with session.post(f"http://127.0.0.1:{port}/synapse/event", data=b"not json",
                                headers={"Authorization": f"Bearer {SECRET}"}) as resp:
            assert resp.status == 400 and "room_id" in (await resp.json())["error"]
    assert h.app.homeserver_check.last_hello is None
    room = h.rooms[0]
    await join(synapse, user, room)
    await send_text(synapse, user, room, "pay me or I will post your nudes")  # allowed: fail open
    log = synapse.log_path.read_text()
    # Logged once per outage, not per request: every "did not answer" but the current one has its "answers again".
    assert log.count("did not answer") == log.count("answers again") + 1, log[-2000:]
    from safety_bot.ops.doctor import all_checks

    failed = [c for c in await all_checks(h.app.config) if c.failed]
    assert any("Synapse module" in c.name for c in failed), [c.name for c in failed]
