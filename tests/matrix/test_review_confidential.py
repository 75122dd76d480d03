"""Adversarial review of principle 4 (evidence first) on Matrix, against a real Synapse."""

from __future__ import annotations

import asyncio
import time

from tests.matrix.test_adapter_dm import call, harness_factory, join, q, send_text  # noqa: F401


async def redactions_finished(synapse, admin, user_id: str) -> list[dict]:
    """The homeserver's redact-all tasks for the user, once none is still running."""
    deadline = time.monotonic() + 60
    while True:
        tasks = (await call(synapse, "GET", "/_synapse/admin/v1/scheduled_tasks", admin,
                            query={"action_name": "redact_all_events", "resource_id": user_id}))["scheduled_tasks"]
        if (tasks and all(t["status"] in ("complete", "failed") for t in tasks)) or time.monotonic() > deadline:
            return tasks
        await asyncio.sleep(0.2)


async def test_a_ban_purge_never_redacts_a_message_it_did_not_capture_first(synapse, harness_factory) -> None:
    """More messages in a room than one capture takes: the purge there stops at the oldest one captured."""
    from adapters.matrix.platform import _PURGE_CAPTURE_MAX
    from safety_bot.actions import BanUser
    from safety_bot.domain import UserRef

    h = await harness_factory(rooms=1, admin_api=True)
    accused = await synapse.aregister()
    await join(synapse, accused, h.rooms[0])
    sent = [await send_text(synapse, accused, h.rooms[0], f"threat {i}") for i in range(_PURGE_CAPTURE_MAX + 5)]
    captured: list = []

    async def before_purge(snapshots) -> None:  # what the runtime stores on the case before the purge
        captured.extend(snapshots)

    ban = BanUser(community="matrix", user=UserRef("matrix", accused.user_id), case_id=1,
                  reason="Zero-tolerance ban (safety case 1)", delete_message_seconds=3600)
    result = await h.adapter.platform.ban(ban, before_purge=before_purge)
    assert result.done
    tasks = await redactions_finished(synapse, h.bot, accused.user_id)
    assert tasks and all(t["status"] == "complete" for t in tasks)
    captured_ids = {s.ref.message_id for s in captured}
    redacted = []
    for eid in sent:
        ev = await call(synapse, "GET", f"/_matrix/client/v3/rooms/{q(h.rooms[0])}/event/{q(eid)}", h.mod)
        if not ev["content"]:
            redacted.append(eid)
    assert redacted and sent[-1] in redacted  # the purge ran
    assert [e for e in redacted if e not in captured_ids] == []  # evidence first: nothing uncaptured is gone
    assert "not removed" in result.detail  # the team is told some were left up


async def test_a_banked_reupload_keeps_its_caption_as_evidence_never_its_file_name(synapse, harness_factory) -> None:
    """The automatic redaction deletes the event's caption with the picture: captured first; the file's name
    (the body of a picture without a caption) never is."""
    import secrets

    from tests.matrix.test_adapter_media import block, jpeg, post_image, upload, wait_redacted
    from tests.media.test_hashing import generate

    h = await harness_factory(rooms=1, e2ee=False)
    suspect = await synapse.aregister()
    await join(synapse, suspect, h.rooms[0])
    original = generate(63, 640, 480)
    first, _ = await post_image(synapse, suspect, h.rooms[0], jpeg(original), "secret-name.jpg")
    assert "Added 1 image(s) to the hash bank on case 1" in await block(h, h.rooms[0], first)
    [case] = await h.app.store.list_cases("matrix")
    said = f"she should have paid {secrets.token_hex(3)}"
    data = jpeg(original, 70)
    mxc = await upload(synapse, suspect, data, "IMG_2041.jpg")
    again = (await call(synapse, "PUT", f"/_matrix/client/v3/rooms/{q(h.rooms[0])}/send/m.room.message/{time.monotonic_ns()}",
                        suspect, {"msgtype": "m.image", "body": said, "filename": "IMG_2041.jpg", "url": mxc,
                                  "info": {"mimetype": "image/jpeg", "size": len(data), "w": 640, "h": 480}}))["event_id"]
    await wait_redacted(synapse, h.mod, h.rooms[0], again)
    deadline = time.monotonic() + 30
    while not (found := [e for e in await h.app.store.evidence_for(case.id) if e.captured_by == "bot:hash-bank"]):
        assert time.monotonic() < deadline, "the re-upload was not recorded"
        await asyncio.sleep(0.05)
    [ev] = found
    assert ev.ref.message_id == again and ev.text == said and ev.message_created_at is not None
    stored = repr(await h.app.store.evidence_for(case.id))
    assert "IMG_2041" not in stored and "mxc://" not in stored and "secret-name" not in stored


async def test_no_case_details_in_a_management_room_anyone_can_join(synapse, harness_factory) -> None:
    """A management room anyone can join (or read) gets only a short notice, like a Discord safety channel
    @everyone can see: never the reporter's words, neither the case card nor a command's answer."""
    import secrets

    from tests.matrix.test_adapter_dm import dm_with_bot, messages

    h = await harness_factory(mgmt_join_rule="public")
    await h.mgmt_notice("not invite-only")
    member = await synapse.aregister()
    dm = await dm_with_bot(synapse, member, h.bot)
    secret = f"he wants 500 euros or he posts my pictures {secrets.token_hex(3)}"
    await send_text(synapse, member, dm, "!report " + secret)
    await h.mgmt_notice("is waiting")
    ev = await h.command("!safety case 1")
    assert "is waiting" in (await h.reply_to(ev))["content"]["body"]
    # once the room is invite-only again, the team sees its cases
    await call(synapse, "PUT", f"/_matrix/client/v3/rooms/{q(h.mgmt)}/state/m.room.join_rules/", h.mod,
               {"join_rule": "invite"})
    deadline = time.monotonic() + 30
    while True:
        ev = await h.command("!safety case 1")
        if secret in (await h.reply_to(ev))["content"]["body"]:
            break
        assert time.monotonic() < deadline, "the case was never shown after the room became invite-only"
        await asyncio.sleep(0.5)
    public_part = [m for m in await messages(synapse, h.mod, h.mgmt, limit=200) if m["sender"] == h.bot.user_id]
    shown = [m["content"].get("body", "") for m in public_part]
    assert sum(secret in b for b in shown) == 1  # only the answer after the change
