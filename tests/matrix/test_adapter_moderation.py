"""The Matrix adapter's moderator side against a real Synapse: who may command, usage messages,
removal with evidence and media quarantine, bans across rooms with a policy rule, unban, warnings."""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import time

from tests.matrix.test_adapter_dm import (body_has, call, create_room, harness_factory, join, messages, q,  # noqa: F401
                                          send_text, wait_message)


async def membership(synapse, viewer, room: str, user_id: str) -> str | None:
    resp = await synapse.arequest("GET", f"/_matrix/client/v3/rooms/{q(room)}/state/m.room.member/{q(user_id)}",
                                  token=viewer.access_token)
    return resp.json().get("membership") if resp.status == 200 else None


async def wait_memberships(synapse, viewer, rooms: list[str], user_id: str, want: str) -> list:
    """The user's membership in each room, once all are `want` (or as they are after 10 s)."""
    deadline = time.monotonic() + 60
    while True:
        states = [await membership(synapse, viewer, r, user_id) for r in rooms]
        if states == [want] * len(rooms) or time.monotonic() > deadline:
            return states
        await asyncio.sleep(0.1)


async def wait_redacted(synapse, viewer, room: str, event_id: str) -> dict:
    """The event's content once it is redacted (empty), or as it is after 10 s."""
    deadline = time.monotonic() + 60
    while True:
        got = await call(synapse, "GET", f"/_matrix/client/v3/rooms/{q(room)}/event/{q(event_id)}", viewer)
        if got["content"] == {} or time.monotonic() > deadline:
            return got["content"]
        await asyncio.sleep(0.2)


async def member_event(synapse, viewer, room: str, user_id: str) -> dict:
    resp = await synapse.arequest("GET", f"/_matrix/client/v3/rooms/{q(room)}/state/m.room.member/{q(user_id)}",
                                  token=viewer.access_token, query={"format": "event"})
    return resp.json()


async def test_non_moderators_are_refused_and_nothing_changes(synapse, harness_factory) -> None:
    h = await harness_factory()
    outsider = await synapse.aregister()
    victim = await synapse.aregister()
    await join(synapse, victim, h.rooms[0])
    # A member of the management room without moderator power (level 0).
    await call(synapse, "POST", f"/_matrix/client/v3/rooms/{q(h.mgmt)}/invite", h.mod, {"user_id": outsider.user_id})
    await join(synapse, outsider, h.mgmt)
    for line in (f"!safety ban {victim.user_id} --confirm", "!safety cases", "!safety case 1", "!safety nonsense"):
        ev = await h.command(line, who=outsider)
        reply = await h.reply_to(ev)
        assert reply["content"]["body"] == "This command is for the safety team only. Nothing was changed."
    assert await membership(synapse, h.mod, h.rooms[0], victim.user_id) == "join"
    assert await h.app.store.active_ban("matrix", "matrix:" + victim.user_id) is None
    assert await h.app.store.list_cases("matrix") == []

    # Commands elsewhere (a protected room) are ignored entirely.
    await send_text(synapse, h.mod, h.rooms[0], f"!safety ban {victim.user_id} --confirm")
    await asyncio.sleep(1.0)
    assert await membership(synapse, h.mod, h.rooms[0], victim.user_id) == "join"


async def test_power_level_moderator_and_malformed_commands(synapse, harness_factory) -> None:
    h = await harness_factory()
    mod2 = await synapse.aregister()
    # Moderator by power level (50), not a room creator.
    await call(synapse, "POST", f"/_matrix/client/v3/rooms/{q(h.mgmt)}/invite", h.mod, {"user_id": mod2.user_id})
    await join(synapse, mod2, h.mgmt)
    pl = await call(synapse, "GET", f"/_matrix/client/v3/rooms/{q(h.mgmt)}/state/m.room.power_levels/", h.mod)
    pl["users"][mod2.user_id] = 50
    await call(synapse, "PUT", f"/_matrix/client/v3/rooms/{q(h.mgmt)}/state/m.room.power_levels/", h.mod, pl)

    ev = await h.command("!safety cases", who=mod2)
    assert (await h.reply_to(ev))["content"]["body"] == "No open cases."
    # Usage and help texts show the commands as they are typed here, with the prefix.
    for line, expected in (("!safety case abc", "Usage: !safety case N"),
                           ("!safety note 3", "Usage: !safety note N <text>"),
                           ("!safety ban notanid", "is not a Matrix user id"),
                           ("!safety warn @x:localhost", "Usage: !safety warn"),
                           ("!safety remove https://example.org/nothing", "Usage: !safety remove"),
                           ("!safety frobnicate", "Unknown command 'frobnicate'"),
                           ("!safety", "Safety team commands")):
        ev = await h.command(line, who=mod2)
        body = (await h.reply_to(ev))["content"]["body"]
        assert expected in body, (line, body)
    ev = await h.command("!safety help")
    assert "!safety ban <member or id>" in (await h.reply_to(ev))["content"]["body"]


async def test_remove_with_evidence_and_media_quarantine(synapse, harness_factory) -> None:
    h = await harness_factory(admin_api=True)
    accused = await synapse.aregister()
    viewer = await synapse.aregister()
    for u in (accused, viewer):
        await join(synapse, u, h.rooms[0])
    payload = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(64)  # unique: quarantine works by hash
    up = await synapse.arequest("POST", "/_matrix/media/v3/upload", token=accused.access_token, data=payload,
                                content_type="image/png", query={"filename": "x.png"})
    mxc = up.json()["content_uri"]
    server, media_id = mxc.removeprefix("mxc://").split("/", 1)
    download = f"/_matrix/client/v1/media/download/{server}/{media_id}"
    event_id = await send_text(synapse, accused, h.rooms[0], "x.png", msgtype="m.image", url=mxc,
                               info={"mimetype": "image/png", "size": len(payload), "w": 1, "h": 1})
    before = await synapse.arequest("GET", download, token=viewer.access_token)
    assert before.status == 200 and before.body == payload

    ev = await h.command(f"!safety remove https://matrix.to/#/{h.rooms[0]}/{event_id}?via=localhost")
    reply = await h.reply_to(ev)
    assert "Capturing evidence, then removing the message" in reply["content"]["body"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        after = await synapse.arequest("GET", download, token=viewer.access_token)
        if after.status == 404:
            break
        await asyncio.sleep(0.1)
    assert after.status == 404, after
    got = await call(synapse, "GET", f"/_matrix/client/v3/rooms/{q(h.rooms[0])}/event/{q(event_id)}", viewer)
    assert got["content"] == {}
    reason = got["unsigned"]["redacted_because"]["content"]["reason"]
    assert reason.startswith("Removed by the safety team (safety case ")

    # Evidence came first and keeps no media URL.
    cases = await h.app.store.list_cases("matrix")
    assert len(cases) == 1
    evidence = await h.app.store.evidence_for(cases[0].id)
    assert len(evidence) == 1 and evidence[0].author.id == accused.user_id
    assert evidence[0].attachments and evidence[0].attachments[0]["content_type"] == "image/png"
    assert "mxc://" not in json.dumps([e.__dict__ for e in evidence], default=str)

    # The matrix: URI form with --block, on a text message.
    text_id = await send_text(synapse, accused, h.rooms[0], "pay me or else")
    ev = await h.command(f"!safety remove matrix:roomid/{h.rooms[0][1:]}/e/{text_id[1:]} --case {cases[0].number} --block")
    assert "hash bank" in (await h.reply_to(ev))["content"]["body"]
    assert await wait_redacted(synapse, viewer, h.rooms[0], text_id) == {}
    evidence = await h.app.store.evidence_for(cases[0].id)
    assert any(e.text == "pay me or else" for e in evidence)

    # A message that does not exist: nothing removed, no case opened, the reply says so.
    ev = await h.command(f"!safety remove https://matrix.to/#/{h.rooms[0]}/$doesnotexist{secrets.token_hex(4)}")
    assert "I cannot find that message" in (await h.reply_to(ev))["content"]["body"]
    assert len(await h.app.store.list_cases("matrix")) == 1


async def test_ban_across_rooms_with_policy_rule_then_unban(synapse, harness_factory) -> None:
    h = await harness_factory(rooms=2, policy=True, admin_api=True)
    accused = await synapse.aregister()
    for r in h.rooms:
        await join(synapse, accused, r)
    spam = await send_text(synapse, accused, h.rooms[0], "send me more pictures or else")
    await call(synapse, "POST", f"/_matrix/client/v3/rooms/{q(h.rooms[1])}/leave", accused, {})  # left one room

    ev = await h.command(f"!safety ban {accused.user_id} he threatened a member")
    body = (await h.reply_to(ev))["content"]["body"]
    assert "--confirm" in body
    assert await membership(synapse, h.mod, h.rooms[0], accused.user_id) == "join"

    ev = await h.command(f"!safety ban {accused.user_id} --confirm he threatened a member")
    assert "Banning" in (await h.reply_to(ev))["content"]["body"]
    states = await wait_memberships(synapse, h.mod, h.rooms, accused.user_id, "ban")
    assert states == ["ban", "ban"]  # also in the room they had left: bans work by id
    for r in h.rooms:
        reason = (await member_event(synapse, h.mod, r, accused.user_id))["content"].get("reason", "")
        assert reason == "Zero-tolerance ban by the safety team"
    state = await call(synapse, "GET", f"/_matrix/client/v3/rooms/{q(h.policy_room)}/state", h.mod)
    rules = [e for e in state if e["type"] == "m.policy.rule.user" and e["content"]]
    assert len(rules) == 1
    assert rules[0]["content"] == {"entity": accused.user_id, "recommendation": "m.ban",
                                   "reason": "Zero-tolerance ban by the safety team"}
    assert await h.app.store.active_ban("matrix", "matrix:" + accused.user_id) is not None
    # Without a case there is nowhere to keep their recent messages as evidence first: none are redacted
    # (with a case they are captured, then redacted: test_review_confidential, and the window test below).
    assert "recent messages stay up" in (await h.reply_to(ev))["content"]["body"]
    kept = await call(synapse, "GET", f"/_matrix/client/v3/rooms/{q(h.rooms[0])}/event/{q(spam)}", h.mod)
    assert kept["content"].get("body") == "send me more pictures or else"

    ev = await h.command(f"!safety ban {accused.user_id} --confirm")
    assert "already banned" in (await h.reply_to(ev))["content"]["body"]
    # After a crash, the runtime asks whether the ban already happened before running it again.
    from safety_bot.actions import BanUser
    from safety_bot.domain import UserRef
    ban = BanUser(community="matrix", user=UserRef("matrix", accused.user_id), case_id=None, reason="x")
    assert await h.adapter.platform.is_done(ban) is True

    ev = await h.command(f"!safety unban {accused.user_id}")  # the form: no reason needed
    assert "Lifting the ban" in (await h.reply_to(ev))["content"]["body"]
    states = await wait_memberships(synapse, h.mod, h.rooms, accused.user_id, "leave")
    assert states == ["leave", "leave"]
    state = await call(synapse, "GET", f"/_matrix/client/v3/rooms/{q(h.policy_room)}/state", h.mod)
    assert [e for e in state if e["type"] == "m.policy.rule.user" and e["content"]] == []
    assert await h.adapter.platform.is_done(ban) is False


async def test_ban_purge_redacts_only_the_window_the_moderator_was_told(synapse, harness_factory) -> None:
    from safety_bot.actions import BanUser
    from safety_bot.domain import UserRef

    h = await harness_factory(rooms=1, admin_api=True)
    accused = await synapse.aregister()
    await join(synapse, accused, h.rooms[0])
    older = await send_text(synapse, accused, h.rooms[0], "an older message")
    await asyncio.sleep(4.0)  # the gap between the two messages (not a wait for anything)
    recent = await send_text(synapse, accused, h.rooms[0], "pay or I post your pictures")
    # The window reaches just past the recent message, however long the busy machine took to get here:
    # ceil(its age) + 2 s covers it (if the ban starts within 2 s), and stays short of the older one (4 s older).
    sent_ms = (await call(synapse, "GET", f"/_matrix/client/v3/rooms/{q(h.rooms[0])}/event/{q(recent)}", h.mod)
               )["origin_server_ts"]
    window = math.ceil(time.time() - sent_ms / 1000) + 2
    ban = BanUser(community="matrix", user=UserRef("matrix", accused.user_id), case_id=1,  # a purge needs a case
                  reason="Zero-tolerance ban by the safety team", delete_message_seconds=window)
    assert (await h.adapter.platform.ban(ban)).done
    assert await wait_redacted(synapse, h.mod, h.rooms[0], recent) == {}
    await asyncio.sleep(1.0)  # the purge runs as one task on the homeserver: it is finished by now
    kept = await call(synapse, "GET", f"/_matrix/client/v3/rooms/{q(h.rooms[0])}/event/{q(older)}", h.mod)
    assert kept["content"].get("body") == "an older message"
    assert await membership(synapse, h.mod, h.rooms[0], accused.user_id) == "ban"


async def test_warnings_dm_and_timeout_is_not_available(synapse, harness_factory) -> None:
    h = await harness_factory(e2ee=False)
    member = await synapse.aregister()
    await join(synapse, member, h.rooms[0])
    for i in range(3):
        ev = await h.command(f"!safety warn {member.user_id} spamming the room")
        body = (await h.reply_to(ev))["content"]["body"]
        assert f"strike {i + 1}" in body
    assert "Matrix has no timeouts" in body
    room = await h.app.store.get_value("matrix.dm." + member.user_id)
    await join(synapse, member, room)
    await wait_message(synapse, member, room, body_has("spamming the room"), sender=h.bot.user_id)
    ev = await h.command(f"!safety strikes {member.user_id}")
    assert "3 active strike(s)" in (await h.reply_to(ev))["content"]["body"]


async def test_case_about_a_moderator_goes_to_the_escalation_room_only(synapse, harness_factory) -> None:
    h = await harness_factory(escalation=True, mgmt_join_rule="public")
    # The management room is not invite-only: the bot says so at start.
    await h.mgmt_notice("not invite-only")
    mod2 = await synapse.aregister()
    await join(synapse, mod2, h.mgmt)
    pl = await call(synapse, "GET", f"/_matrix/client/v3/rooms/{q(h.mgmt)}/state/m.room.power_levels/", h.mod)
    pl["users"][mod2.user_id] = 50
    await call(synapse, "PUT", f"/_matrix/client/v3/rooms/{q(h.mgmt)}/state/m.room.power_levels/", h.mod, pl)
    # invite-only again: the bot answers with case details only then (test_review_confidential.py)
    await call(synapse, "PUT", f"/_matrix/client/v3/rooms/{q(h.mgmt)}/state/m.room.join_rules/", h.mod,
               {"join_rule": "invite"})
    secret = f"moderator abuse {secrets.token_hex(3)}"
    ev = await h.command(f"!safety open {mod2.user_id} {secret}")
    assert "escalation destination" in (await h.reply_to(ev))["content"]["body"]
    await wait_message(synapse, h.mod, h.escalation_room, body_has("opened by a moderator"), sender=h.bot.user_id)
    await asyncio.sleep(0.5)
    assert all("opened by a moderator" not in e["content"].get("body", "")
               for e in await messages(synapse, h.mod, h.mgmt))


async def test_group_room_marked_direct_is_left_and_dm_commands_are_refused(synapse, harness_factory) -> None:
    from tests.matrix.test_adapter_dm import dm_with_bot

    h = await harness_factory()
    member, other = await synapse.aregister(), await synapse.aregister()
    group = await create_room(synapse, member, invite=[h.bot.user_id, other.user_id], is_direct=True)
    await join(synapse, other, group)
    await wait_memberships(synapse, member, [group], h.bot.user_id, "leave")
    assert await membership(synapse, member, group, h.bot.user_id) == "leave"

    dm = await dm_with_bot(synapse, member, h.bot)
    await send_text(synapse, member, dm, f"!safety ban {other.user_id} --confirm")
    await wait_message(synapse, member, dm, body_has("only in the management room"), sender=h.bot.user_id)
    assert await h.app.store.list_cases("matrix") == []


async def test_ban_purge_captures_the_accused_messages_as_evidence_first(synapse, harness_factory) -> None:
    h = await harness_factory(admin_api=True)
    reporter, accused = await synapse.aregister(), await synapse.aregister()
    for u in (reporter, accused):
        await join(synapse, u, h.rooms[0])
    reported = await send_text(synapse, accused, h.rooms[0], "pay 300 or your pictures go to your family")
    reason = f"he is blackmailing me {secrets.token_hex(3)}"
    await call(synapse, "POST", f"/_matrix/client/v3/rooms/{q(h.rooms[0])}/report/{q(reported)}", reporter,
               {"reason": reason})
    await h.mgmt_notice("New case", reason, timeout=h.poll + 8)
    case = (await h.app.store.list_cases("matrix"))[0]
    # A second threat nobody reported: only the ban's purge would ever touch it.
    unreported = f"last chance, 500 by tonight {secrets.token_hex(3)}"
    second = await send_text(synapse, accused, h.rooms[0], unreported)

    ev = await h.command(f"!safety ban {accused.user_id} --case {case.number} --confirm")
    assert "Banning" in (await h.reply_to(ev))["content"]["body"]
    assert await wait_redacted(synapse, h.mod, h.rooms[0], second) == {}
    assert await wait_redacted(synapse, h.mod, h.rooms[0], reported) == {}

    # Stored before the purge redacted it: the message's text, author and link are on the case.
    evidence = await h.app.store.evidence_for(case.id)
    of_second = [e for e in evidence if e.ref.message_id == second]
    assert [e.text for e in of_second] == [unreported]
    assert of_second[0].author.id == accused.user_id and of_second[0].captured_by == "bot:matrix"
    assert of_second[0].ref.link.startswith("https://matrix.to/#/")
    # The reported message was captured with the report and has not changed since: stored once, not again
    # by the ban's re-capture or by the capture before the purge.
    assert [e.text for e in evidence if e.ref.message_id == reported] == ["pay 300 or your pictures go to your family"]
    audit = [a.action for a in await h.app.store.audit_entries(case.id)]
    assert audit.index("evidence.captured_before_purge") < audit.index("action.ban")
