"""Smoke tests: the real Synapse fixture works, and matrix-nio 0.26 (E2EE via vodozemac) works
against it. Each test fails if the thing it names breaks."""

from __future__ import annotations

import secrets
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from nio import (
    AsyncClient,
    JoinResponse,
    KeysUploadResponse,
    MegolmEvent,
    RoomCreateResponse,
    RoomMessageText,
    RoomPreset,
    RoomSendResponse,
    SyncResponse,
)

from tests.fakes.synapse import SynapseServer

q = urllib.parse.quote


async def sync_until(
    client: AsyncClient, find: Callable[[SyncResponse], Any], timeout: float = 60.0
) -> Any:
    """Sync repeatedly until ``find(response)`` returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resp = await client.sync(timeout=500, full_state=client.next_batch is None)
        assert isinstance(resp, SyncResponse), resp
        found = find(resp)
        if found:
            return found
    raise AssertionError(f"{client.user_id}: condition not met within {timeout} s")


def timeline(resp: SyncResponse, room_id: str) -> list[Any]:
    info = resp.rooms.join.get(room_id)
    return list(info.timeline.events) if info else []


def invited_to(resp: SyncResponse, room_id: str) -> bool:
    return room_id in resp.rooms.invite


async def create_and_join(
    alice: AsyncClient, bob: AsyncClient, **create_kwargs: Any
) -> str:
    created = await alice.room_create(invite=[bob.user_id], **create_kwargs)
    assert isinstance(created, RoomCreateResponse), created
    room_id = created.room_id
    await sync_until(bob, lambda r: invited_to(r, room_id))
    joined = await bob.join(room_id)
    assert isinstance(joined, JoinResponse), joined
    # Alice sees Bob's join before sending, so her member list (and E2EE recipients) includes him.
    def bob_joined(_: SyncResponse) -> bool:
        room = alice.rooms.get(room_id)
        # nio's room.users also lists invitees: require that Bob left the invited list.
        return room is not None and bob.user_id in room.users and bob.user_id not in room.invited_users

    await sync_until(alice, bob_joined)
    return room_id


async def test_message_between_fresh_users(make_user, make_nio_client) -> None:
    alice = await make_nio_client(make_user(), encryption=False)
    bob = await make_nio_client(make_user(), encryption=False)
    await bob.sync(timeout=0, full_state=True)
    room_id = await create_and_join(alice, bob, name="smoke")

    body = f"hello {secrets.token_hex(4)}"
    sent = await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body})
    assert isinstance(sent, RoomSendResponse), sent

    event = await sync_until(
        bob,
        lambda r: next(
            (e for e in timeline(r, room_id) if isinstance(e, RoomMessageText) and e.body == body),
            None,
        ),
    )
    assert event.sender == alice.user_id
    assert event.event_id == sent.event_id


async def test_encrypted_dm_is_decrypted_by_receiver(synapse, make_user, make_nio_client) -> None:
    alice = await make_nio_client(make_user())
    bob = await make_nio_client(make_user())
    # Both devices publish identity and one-time keys before anyone needs an Olm session.
    for client in (alice, bob):
        assert client.should_upload_keys
        uploaded = await client.keys_upload()
        assert isinstance(uploaded, KeysUploadResponse), uploaded
        await client.sync(timeout=0, full_state=True)

    room_id = await create_and_join(
        alice,
        bob,
        is_direct=True,
        preset=RoomPreset.private_chat,
        initial_state=[
            {
                "type": "m.room.encryption",
                "state_key": "",
                "content": {"algorithm": "m.megolm.v1.aes-sha2"},
            }
        ],
    )
    assert alice.rooms[room_id].encrypted

    # Alice must know Bob's device keys before sharing the Megolm session.
    if alice.should_query_keys:
        await alice.keys_query()
    assert bob.device_id in alice.device_store[bob.user_id], "Alice does not know Bob's device"

    body = f"secret {secrets.token_hex(4)}"
    sent = await alice.room_send(
        room_id,
        "m.room.message",
        {"msgtype": "m.text", "body": body},
        ignore_unverified_devices=True,
    )
    assert isinstance(sent, RoomSendResponse), sent

    # On the wire it really is encrypted (nio's room_get_event would decrypt it, so ask raw).
    raw = synapse.request(
        "GET", f"/_matrix/client/v3/rooms/{q(room_id)}/event/{q(sent.event_id)}",
        token=alice.access_token,
    ).json()
    assert raw["type"] == "m.room.encrypted", raw
    assert body not in str(raw)

    def find(resp: SyncResponse) -> Any:
        for event in timeline(resp, room_id):
            if event.event_id == sent.event_id:
                return event
        return None

    event = await sync_until(bob, find)
    assert not isinstance(event, MegolmEvent), "Bob could not decrypt the message"
    assert isinstance(event, RoomMessageText), event
    assert event.body == body
    assert event.decrypted
    assert event.sender == alice.user_id


def test_admin_quarantines_member_media(synapse: SynapseServer, make_user) -> None:
    admin = make_user(admin=True)
    uploader = make_user()
    viewer = make_user()
    # Unique bytes: Synapse auto-quarantines uploads whose sha256 matches quarantined media.
    payload = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(64)

    up = synapse.request(
        "POST",
        "/_matrix/media/v3/upload",
        token=uploader.access_token,
        data=payload,
        content_type="image/png",
        query={"filename": "evidence.png"},
    )
    assert up.status == 200, up
    mxc = up.json()["content_uri"]
    server, media_id = mxc.removeprefix("mxc://").split("/", 1)
    assert server == synapse.server_name
    download = f"/_matrix/client/v1/media/download/{server}/{media_id}"

    before = synapse.request("GET", download, token=viewer.access_token)
    assert before.status == 200, before
    assert before.body == payload
    # Authenticated media: no token, no bytes.
    assert synapse.request("GET", download).status == 401

    # A normal member cannot quarantine.
    denied = synapse.request(
        "POST", f"/_synapse/admin/v1/media/quarantine/{server}/{media_id}",
        token=viewer.access_token, json_body={},
    )
    assert denied.status == 403, denied

    quarantined = synapse.request(
        "POST", f"/_synapse/admin/v1/media/quarantine/{server}/{media_id}",
        token=admin.access_token, json_body={},
    )
    assert quarantined.status == 200, quarantined
    assert quarantined.json() == {}

    after = synapse.request("GET", download, token=viewer.access_token)
    assert after.status == 404, after
    assert after.json()["errcode"] == "M_NOT_FOUND"
    assert synapse.request("GET", download, token=uploader.access_token).status == 404
    assert synapse.request("GET", download, token=admin.access_token).status == 404
    # An admin can still read it for evidence, explicitly.
    bypass = synapse.request(
        "GET", download, token=admin.access_token,
        query={"admin_unsafely_bypass_quarantine": "true"},
    )
    assert bypass.status == 200 and bypass.body == payload

    info = synapse.request(
        "GET", f"/_synapse/admin/v1/media/{server}/{media_id}", token=admin.access_token
    )
    assert info.status == 200, info
    assert info.json()["media_info"]["quarantined_by"] == admin.user_id


def test_event_report_reaches_admin_api(synapse: SynapseServer, make_user) -> None:
    admin = make_user(admin=True)
    accused = make_user()
    reporter = make_user()

    def call(method: str, path: str, user, body: Any = None) -> Any:
        resp = synapse.request(method, path, token=user.access_token, json_body=body)
        assert resp.status == 200, (path, resp)
        return resp.json()

    room_id = call("POST", "/_matrix/client/v3/createRoom", accused,
                   {"preset": "public_chat", "invite": [reporter.user_id]})["room_id"]
    call("POST", f"/_matrix/client/v3/join/{q(room_id)}", reporter, {})
    event_id = call(
        "PUT", f"/_matrix/client/v3/rooms/{q(room_id)}/send/m.room.message/{secrets.token_hex(8)}",
        accused, {"msgtype": "m.text", "body": "pay or I post your pictures"},
    )["event_id"]
    reason = f"sextortion {secrets.token_hex(4)}"
    call("POST", f"/_matrix/client/v3/rooms/{q(room_id)}/report/{q(event_id)}", reporter,
         {"reason": reason})

    reports = call("GET", "/_synapse/admin/v1/event_reports?limit=100&dir=b", admin)
    mine = [r for r in reports["event_reports"] if r["event_id"] == event_id]
    assert len(mine) == 1, reports
    report = mine[0]
    assert report["user_id"] == reporter.user_id  # the reporter
    assert report["sender"] == accused.user_id  # the accused
    assert report["room_id"] == room_id
    assert report["reason"] == reason

    detail = call("GET", f"/_synapse/admin/v1/event_reports/{report['id']}", admin)
    assert detail["event_json"]["content"]["body"] == "pay or I post your pictures"

    # Members cannot read the reports.
    denied = synapse.request("GET", "/_synapse/admin/v1/event_reports", token=reporter.access_token)
    assert denied.status == 403


def test_restart_keeps_data(synapse: SynapseServer, make_user) -> None:
    user = make_user()
    port, pid = synapse.port, synapse.pid
    room_id = synapse.request(
        "POST", "/_matrix/client/v3/createRoom", token=user.access_token, json_body={}
    ).json()["room_id"]

    synapse.restart()

    assert synapse.pid != pid and synapse.running
    assert synapse.port == port
    whoami = synapse.request("GET", "/_matrix/client/v3/account/whoami", token=user.access_token)
    assert whoami.status == 200, whoami
    assert whoami.json()["user_id"] == user.user_id
    assert whoami.json()["device_id"] == user.device_id
    rooms = synapse.request(
        "GET", "/_matrix/client/v3/joined_rooms", token=user.access_token
    ).json()["joined_rooms"]
    assert room_id in rooms
    # And registration still works afterwards (same shared secret).
    assert make_user().access_token
