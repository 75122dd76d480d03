"""The Matrix adapter against a real Synapse: member DMs (plain and encrypted), the intake questions,
inert case notices, and what a third user can see. Shared helpers for the other adapter tests live here
(`BotHarness`, `messages`, `wait_message`, `dm_with_bot`)."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.matrix import MatrixAdapter
from safety_bot.app import App
from safety_bot.config import load_config
from tests.fakes.synapse import SynapseServer, SynapseUser

q = lambda s: urllib.parse.quote(s, safe="")  # noqa: E731
PLAYBOOKS = str(Path(__file__).resolve().parents[2] / "playbooks")  # this checkout's playbooks


# ---------------------------------------------------------------------------- helpers
async def call(synapse: SynapseServer, method: str, path: str, user: SynapseUser | None, body: Any = None,
               expect: int | None = 200, **kw) -> Any:
    resp = await synapse.arequest(method, path, token=user.access_token if user else None, json_body=body, **kw)
    if expect is not None:
        assert resp.status == expect, (method, path, resp.status, resp.body[:300])
    return resp.json() if resp.body else None


async def create_room(synapse, owner: SynapseUser, *, invite=(), encrypted=False, join_rule="invite",
                      users_power: dict | None = None, is_direct=False, name: str | None = None) -> str:
    body: dict[str, Any] = {"preset": "private_chat", "invite": list(invite), "is_direct": is_direct}
    if name:
        body["name"] = name
    state = []
    if encrypted:
        state.append({"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}})
    if join_rule != "invite":
        state.append({"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": join_rule}})
    if state:
        body["initial_state"] = state
    if users_power:
        body["power_level_content_override"] = {"users": users_power}
    return (await call(synapse, "POST", "/_matrix/client/v3/createRoom", owner, body))["room_id"]


async def join(synapse, user: SynapseUser, room_id: str) -> None:
    await call(synapse, "POST", f"/_matrix/client/v3/join/{q(room_id)}", user, {})


async def send_text(synapse, user: SynapseUser, room_id: str, body: str, msgtype: str = "m.text", **extra) -> str:
    content = {"msgtype": msgtype, "body": body, **extra}
    return (await call(synapse, "PUT", f"/_matrix/client/v3/rooms/{q(room_id)}/send/m.room.message/{secrets.token_hex(8)}",
                       user, content))["event_id"]


async def messages(synapse, user: SynapseUser, room_id: str, limit: int = 100) -> list[dict]:
    """m.room.message events in the room, oldest first, as `user` sees them (raw client API)."""
    resp = await synapse.arequest("GET", f"/_matrix/client/v3/rooms/{q(room_id)}/messages", token=user.access_token,
                                  query={"dir": "b", "limit": limit})
    if resp.status != 200:
        return []
    return [e for e in reversed(resp.json()["chunk"]) if e.get("type") == "m.room.message"]


async def wait_message(synapse, user: SynapseUser, room_id: str, pred: Callable[[dict], bool],
                       timeout: float = 60.0, sender: str | None = None) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for e in await messages(synapse, user, room_id):
            if (sender is None or e["sender"] == sender) and pred(e):
                return e
        await asyncio.sleep(0.1)
    got = [e["content"].get("body", "")[:80] for e in await messages(synapse, user, room_id)]
    raise AssertionError(f"no matching message in {room_id} within {timeout} s; saw {got}")


def replied_to(event: dict) -> str | None:
    """The event id a message replies to (m.in_reply_to), if any."""
    return ((event["content"].get("m.relates_to") or {}).get("m.in_reply_to") or {}).get("event_id")


def body_has(*parts: str) -> Callable[[dict], bool]:
    return lambda e: all(p in e["content"].get("body", "") for p in parts)


class BotHarness:
    """A bot account, a moderator, a management room and protected rooms, and the running adapter."""

    def __init__(self, synapse: SynapseServer, tmp_path: Path, *, admin_api=False, rooms=1, policy=False,
                 poll=1.0, encrypted_mgmt=False, e2ee=True, escalation=False, mgmt_join_rule="invite",
                 config_extra: dict | None = None, matrix_extra: dict | None = None, env_extra: dict | None = None):
        self.synapse, self.tmp = synapse, tmp_path
        self.admin_api, self.n_rooms, self.policy, self.poll = admin_api, rooms, policy, poll
        self.encrypted_mgmt, self.e2ee = encrypted_mgmt, e2ee
        self.escalation, self.mgmt_join_rule = escalation, mgmt_join_rule
        self.config_extra = config_extra or {}  # more top-level config sections (e.g. limits)
        self.matrix_extra = matrix_extra or {}  # more matrix.* keys (e.g. suspend_local_accused)
        self.env_extra = env_extra or {}  # more environment variables for ${...} in the config
        self.store_key = secrets.token_hex(16)
        self.adapter: MatrixAdapter | None = None
        self.task: asyncio.Task | None = None
        self.app: App | None = None

    async def setup(self) -> "BotHarness":
        s = self.synapse
        self.bot = await s.aregister(admin=self.admin_api, prefix="bot")
        self.mod = await s.aregister(prefix="mod")
        power = {self.bot.user_id: 100}
        self.mgmt = await create_room(s, self.mod, invite=[self.bot.user_id], users_power=power,
                                      encrypted=self.encrypted_mgmt, name="safety team", join_rule=self.mgmt_join_rule)
        self.rooms = list(await asyncio.gather(*(create_room(s, self.mod, invite=[self.bot.user_id], users_power=power,
                                                             join_rule="public") for _ in range(self.n_rooms))))
        self.policy_room = await create_room(s, self.mod, invite=[self.bot.user_id], users_power=power) if self.policy else None
        self.escalation_room = (await create_room(s, self.mod, invite=[self.bot.user_id], users_power=power)
                                if self.escalation else None)
        return self

    def write_config(self) -> Path:
        cfg = {
            "storage": {"database": str(self.tmp / "bot.sqlite3")},
            "playbooks": PLAYBOOKS,
            "exports_dir": str(self.tmp / "exports"),
            "matrix": {
                "homeserver": self.synapse.base_url,
                "user_id": self.bot.user_id,
                "password": "${BOT_PASSWORD}",
                "store_path": str(self.tmp / "matrix-store"),
                "management_room": self.mgmt,
                "protected_rooms": self.rooms,
                "admin_api": self.admin_api,
                "report_poll_seconds": self.poll,
                **({"store_key": "${BOT_STORE_KEY}"} if self.e2ee else {}),
                **({"policy_room": self.policy_room} if self.policy_room else {}),
                **({"escalation_room": self.escalation_room} if self.escalation_room else {}),
                **self.matrix_extra,
            },
        }
        cfg.update(self.config_extra)
        path = self.tmp / "config.yaml"
        path.write_text(json.dumps(cfg, indent=2))
        return path

    async def start(self) -> MatrixAdapter:
        config = load_config(self.write_config(), env={"BOT_PASSWORD": self.bot.password, "BOT_STORE_KEY": self.store_key,
                                                        **self.env_extra})
        self.app = App(config)
        await self.app.__aenter__()
        self.adapter = MatrixAdapter(self.app)
        self.task = asyncio.create_task(self.adapter.run())
        ready = asyncio.create_task(self.adapter.ready.wait())
        done, _ = await asyncio.wait([ready, self.task], timeout=90, return_when=asyncio.FIRST_COMPLETED)
        if self.task in done:
            self.task.result()
        assert ready in done, "the adapter did not become ready"
        await self.app.runtime.resume()
        return self.adapter

    async def stop(self) -> None:
        if self.adapter is not None:
            await self.adapter.stop()
            await asyncio.wait_for(self.task, 20)
            self.adapter = None
        if self.app is not None:
            await self.app.__aexit__(None, None, None)
            self.app = None

    async def mgmt_notice(self, *parts: str, timeout: float = 60.0) -> dict:
        return await wait_message(self.synapse, self.mod, self.mgmt, body_has(*parts), timeout, sender=self.bot.user_id)

    async def command(self, line: str, who: SynapseUser | None = None) -> str:
        return await send_text(self.synapse, who or self.mod, self.mgmt, line)

    async def reply_to(self, event_id: str, timeout: float = 60.0, who: SynapseUser | None = None) -> dict:
        """The bot's first answer to the command `event_id` in the management room: a notice that replies to it
        (a notice the bot posts meanwhile for another reason, a list match say, is not the answer)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msgs = await messages(self.synapse, who or self.mod, self.mgmt)
            ids = [e["event_id"] for e in msgs]
            if event_id in ids:
                after = msgs[ids.index(event_id) + 1:]
                for e in after:
                    if e["sender"] == self.bot.user_id and replied_to(e) == event_id:
                        return e
            await asyncio.sleep(0.1)
        raise AssertionError("the bot did not answer the command")


@pytest.fixture
async def harness_factory(synapse, tmp_path):
    made: list[BotHarness] = []

    async def make(**kw) -> BotHarness:
        h = await BotHarness(synapse, tmp_path / f"bot{len(made)}", **kw).setup()
        (tmp_path / f"bot{len(made)}").mkdir(exist_ok=True)
        made.append(h)
        await h.start()
        return h

    yield make
    for h in made:
        await h.stop()


async def dm_with_bot(synapse, member: SynapseUser, bot: SynapseUser, encrypted=False) -> str:
    """The member opens a DM with the bot (as Element does) and waits for the bot to join."""
    room = await create_room(synapse, member, invite=[bot.user_id], is_direct=True, encrypted=encrypted)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        st = await synapse.arequest("GET", f"/_matrix/client/v3/rooms/{q(room)}/state/m.room.member/{q(bot.user_id)}",
                                    token=member.access_token)
        if st.status == 200 and st.json().get("membership") == "join":
            return room
        await asyncio.sleep(0.1)
    raise AssertionError("the bot did not join the DM")


# ---------------------------------------------------------------------------- tests
async def test_plain_dm_report_reaches_only_the_team(synapse, harness_factory) -> None:
    h = await harness_factory()
    member = await synapse.aregister()
    outsider = await synapse.aregister()
    for r in h.rooms:
        await join(synapse, member, r)
        await join(synapse, outsider, r)
    dm = await dm_with_bot(synapse, member, h.bot)
    secret = f"he wants 500 euros or he posts my pictures {secrets.token_hex(3)}"
    await send_text(synapse, member, dm, "!report " + secret)

    # The member: the acknowledgement, the short first words with their choices, then the first question.
    await wait_message(synapse, member, dm, body_has("Thank you for telling us"), sender=h.bot.user_id)
    await wait_message(synapse, member, dm, body_has("This is not your fault", "B) Who can help?"), sender=h.bot.user_id)
    q1 = await wait_message(synapse, member, dm, body_has("immediate danger", "1) Yes", "2) No"), sender=h.bot.user_id)
    assert q1["content"]["msgtype"] == "m.notice"

    # The team: a case notice with the statement, as an m.notice, in the management room.
    notice = await h.mgmt_notice("New case", secret)
    assert notice["content"]["msgtype"] == "m.notice"
    assert notice["content"]["m.mentions"] == {}
    # The reporter's identity is not shown until they choose (the intake asks first).
    assert member.user_id not in notice["content"]["body"]

    # Nobody else sees anything: not in the protected rooms, and the outsider has no DM with the report.
    for r in h.rooms:
        for e in await messages(synapse, outsider, r):
            assert secret not in json.dumps(e)
    rooms = (await call(synapse, "GET", "/_matrix/client/v3/joined_rooms", outsider))["joined_rooms"]
    for r in rooms:
        for e in await messages(synapse, outsider, r):
            assert secret not in json.dumps(e)
    denied = await synapse.arequest("GET", f"/_matrix/client/v3/rooms/{q(h.mgmt)}/messages", token=outsider.access_token,
                                    query={"dir": "b"})
    assert denied.status == 403

    # The bot marked nothing in the DM as anything but notices, and the DM is known as the member's.
    assert await h.app.store.get_value("matrix.dm." + member.user_id) == dm


async def test_followup_questions_answered_and_skipped(synapse, harness_factory) -> None:
    h = await harness_factory()
    member = await synapse.aregister()
    dm = await dm_with_bot(synapse, member, h.bot)
    # Just writing starts a report.
    await send_text(synapse, member, dm, "someone threatens to share my photos")
    await wait_message(synapse, member, dm, body_has("immediate danger"), sender=h.bot.user_id)
    await h.mgmt_notice("New case")
    await send_text(synapse, member, dm, "2")  # no danger
    await wait_message(synapse, member, dm, body_has("Should the safety team see your name"), sender=h.bot.user_id)
    await send_text(synapse, member, dm, "skip")
    await wait_message(synapse, member, dm, body_has("What is this about?", "1) Someone threatens"), sender=h.bot.user_id)
    await send_text(synapse, member, dm, "1")
    await wait_message(synapse, member, dm, body_has("happening to you"), sender=h.bot.user_id)
    await send_text(synapse, member, dm, "stop")
    await wait_message(synapse, member, dm, body_has("that is all for now"), sender=h.bot.user_id)
    case = (await h.app.store.list_cases("matrix"))[-1]
    assert case.answers["danger"] == "no"
    assert case.answers["anonymous"] == "skipped"
    assert case.answers["topic"] == "sextortion"
    assert case.flags.get("intake_done")
    # Skipping the age question made it urgent: the team hears about it.
    await h.mgmt_notice(f"Case {case.number}")
    # After the questions, writing goes to the team as a reply on the case.
    await send_text(synapse, member, dm, "he wrote again just now")
    await wait_message(synapse, member, dm, body_has("passed that on"), sender=h.bot.user_id)
    await h.mgmt_notice(f"Case {case.number}: the reporter", "he wrote again just now")
    assert len(await h.app.store.list_cases("matrix")) == 1


async def test_case_notice_stays_inert(synapse, harness_factory) -> None:
    h = await harness_factory()
    member = await synapse.aregister()
    other = await synapse.aregister(prefix="other")  # not on the team (a report naming a moderator goes to escalation)
    dm = await dm_with_bot(synapse, member, h.bot)
    evil = f"@room <b>bold</b> <a href='https://x.example'>x</a> {other.user_id} <img src=x> {secrets.token_hex(2)}"
    await send_text(synapse, member, dm, "!report " + evil)
    notice = await h.mgmt_notice("New case", "bold")
    c = notice["content"]
    assert c["m.mentions"] == {}
    assert "@room" not in c["body"]  # a zero-width space breaks it
    assert other.user_id not in c["body"]
    fb = c["formatted_body"]
    assert "<b>bold</b>" not in fb and "<a " not in fb and "<img" not in fb
    assert "&lt;b&gt;bold&lt;/b&gt;" in fb
    assert "@room" not in fb and other.user_id not in fb and "matrix.to/#/@" not in fb


async def test_encrypted_dm_report(synapse, harness_factory, make_nio_client) -> None:
    from nio import MegolmEvent, RoomMessageNotice, SyncResponse

    h = await harness_factory()
    member_user = await synapse.aregister()
    member = await make_nio_client(member_user)
    await member.keys_upload()
    await member.sync(timeout=0, full_state=True)
    dm = await dm_with_bot(synapse, member_user, h.bot, encrypted=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        await member.sync(timeout=300)
        room = member.rooms.get(dm)
        if room and h.bot.user_id in room.users and h.bot.user_id not in room.invited_users:
            break
    if member.should_query_keys:
        await member.keys_query()
    assert member.device_store[h.bot.user_id], "the member does not know the bot's device"
    secret = f"encrypted report {secrets.token_hex(3)}"
    await member.room_send(dm, "m.room.message", {"msgtype": "m.text", "body": "!report " + secret},
                           ignore_unverified_devices=True)

    # The report really was encrypted on the wire, and the team got it.
    await h.mgmt_notice("New case", secret)
    seen: list[str] = []
    undecryptable = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any("immediate danger" in b for b in seen):
        resp = await member.sync(timeout=300)
        assert isinstance(resp, SyncResponse)
        info = resp.rooms.join.get(dm)
        for ev in (info.timeline.events if info else []):
            if isinstance(ev, RoomMessageNotice) and ev.sender == h.bot.user_id:
                assert ev.decrypted, "the bot answered in clear text in an encrypted DM"
                seen.append(ev.body)
            elif isinstance(ev, MegolmEvent):
                undecryptable += 1
    assert any("Thank you for telling us" in b for b in seen), seen
    assert any("immediate danger" in b for b in seen), seen
    assert undecryptable == 0
    raw = await messages(synapse, member_user, dm)
    assert all(secret not in json.dumps(e) for e in raw)  # nothing in clear on the server

    # The bot's key store uses the configured key, not nio's default.
    store_files = list((h.tmp / "matrix-store").glob("*.db"))
    assert store_files, "no encryption store on disk"


async def test_undecryptable_message_asks_to_resend(synapse, harness_factory) -> None:
    h = await harness_factory()
    member = await synapse.aregister()
    dm = await dm_with_bot(synapse, member, h.bot, encrypted=True)
    # A ciphertext the bot has no key for (as from a client that did not share the session).
    await call(synapse, "PUT", f"/_matrix/client/v3/rooms/{q(dm)}/send/m.room.encrypted/{secrets.token_hex(6)}", member,
               {"algorithm": "m.megolm.v1.aes-sha2", "sender_key": "x" * 43, "ciphertext": "AwgAEnAg" + "A" * 40,
                "session_id": "s" * 43, "device_id": member.device_id})
    # The bot answers encrypted: read it through the raw API only as "something arrived".
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        resp = await synapse.arequest("GET", f"/_matrix/client/v3/rooms/{q(dm)}/messages", token=member.access_token,
                                      query={"dir": "b", "limit": 20})
        bot_events = [e for e in resp.json()["chunk"] if e["sender"] == h.bot.user_id and e["type"] == "m.room.encrypted"]
        if len(bot_events) >= 2:  # the greeting and the "could not read" notice
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the bot did not answer the undecryptable message")
    assert await h.app.store.list_cases("matrix") == []


async def test_member_resources_and_team_resources_open_a_dm(synapse, harness_factory) -> None:
    h = await harness_factory(e2ee=False)
    member = await synapse.aregister()
    dm = await dm_with_bot(synapse, member, h.bot)
    await send_text(synapse, member, dm, "!resources DE")
    await wait_message(synapse, member, dm, body_has("places that can help"), sender=h.bot.user_id)
    assert await h.app.store.list_cases("matrix") == []

    # The team sends resources to someone with no DM yet: the bot opens one, marked as direct.
    target = await synapse.aregister()
    ev = await h.command(f"!safety resources {target.user_id}")
    reply = await h.reply_to(ev)
    assert "privately" in reply["content"]["body"]
    room = await h.app.store.get_value("matrix.dm." + target.user_id)
    assert room
    invites = (await call(synapse, "GET", "/_matrix/client/v3/sync", target, query={"timeout": 0}))["rooms"]["invite"]
    assert room in invites
    direct = await call(synapse, "GET", f"/_matrix/client/v3/user/{q(h.bot.user_id)}/account_data/m.direct", h.bot)
    assert room in direct[target.user_id]
    await join(synapse, target, room)
    await wait_message(synapse, target, room, body_has("places that can help"), sender=h.bot.user_id)


async def test_bot_opened_encrypted_dm_is_readable(synapse, harness_factory, make_nio_client) -> None:
    """The team sends resources to a member using an E2EE client who has no DM with the bot yet."""
    from nio import RoomMessageNotice

    h = await harness_factory()
    target_user = await synapse.aregister()
    target = await make_nio_client(target_user)
    await target.keys_upload()
    await target.sync(timeout=0, full_state=True)
    ev = await h.command(f"!safety resources {target_user.user_id}")
    await h.reply_to(ev)
    room = await h.app.store.get_value("matrix.dm." + target_user.user_id)
    assert room
    await target.join(room)
    bodies: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any("places that can help" in b for b in bodies):
        resp = await target.sync(timeout=300)
        info = resp.rooms.join.get(room)
        for e in (info.timeline.events if info else []):
            if isinstance(e, RoomMessageNotice):
                bodies.append(e.body)
    assert any("places that can help" in b for b in bodies), bodies
    assert target.rooms[room].encrypted
