"""Homeserver reports, and restarts: of the bot mid-conversation and of Synapse while the bot runs."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time

from tests.matrix.test_adapter_dm import (body_has, call, dm_with_bot, harness_factory, join, messages, q,  # noqa: F401
                                          send_text, wait_message)


async def count_bot(synapse, viewer, room: str, bot_id: str, text: str) -> int:
    return sum(1 for e in await messages(synapse, viewer, room) if e["sender"] == bot_id and text in e["content"].get("body", ""))


async def test_homeserver_report_opens_a_case(synapse, harness_factory, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    h = await harness_factory(admin_api=True, poll=1.0, e2ee=False)
    reporter = await synapse.aregister()
    accused = await synapse.aregister()
    for u in (reporter, accused):
        await join(synapse, u, h.rooms[0])
    event_id = await send_text(synapse, accused, h.rooms[0], "pay 300 or your pictures go to your family")
    reason = f"he is blackmailing me {secrets.token_hex(3)}"
    started = time.monotonic()
    await call(synapse, "POST", f"/_matrix/client/v3/rooms/{q(h.rooms[0])}/report/{q(event_id)}", reporter,
               {"reason": reason})
    notice = await h.mgmt_notice("New case", reason, timeout=h.poll + 8)
    assert time.monotonic() - started < h.poll + 8
    assert notice["content"]["msgtype"] == "m.notice"
    cases = await h.app.store.list_cases("matrix")
    assert len(cases) == 1
    case = cases[0]
    assert case.reporter.id == reporter.user_id and case.accused[0].id == accused.user_id
    reports = await h.app.store.reports_for(case.id)
    assert reports[0].source == "homeserver" and reports[0].reported_message.message_id == event_id
    evidence = await h.app.store.evidence_for(case.id)
    assert evidence and evidence[0].text == "pay 300 or your pictures go to your family"

    # The reporter gets the normal private acknowledgement in a DM the bot opened.
    room = await h.app.store.get_value("matrix.dm." + reporter.user_id)
    assert room
    await join(synapse, reporter, room)
    await wait_message(synapse, reporter, room, body_has("This is not your fault"), sender=h.bot.user_id)
    # None of our log lines names the DM's room: the homeserver links it to the reporter. (Libraries' own
    # debug lines are capped at WARNING when the bot runs: safety_bot/ops/logs.py.)
    ours = [r for r in caplog.records if r.name.split(".")[0] in ("safety_bot", "adapters")]
    assert any(r.name.startswith("adapters.matrix") for r in ours)
    assert not [r.getMessage() for r in ours if room in r.getMessage()]
    # The accused hears nothing.
    rooms = (await call(synapse, "GET", "/_matrix/client/v3/joined_rooms", accused))["joined_rooms"]
    for r in rooms:
        for e in await messages(synapse, accused, r):
            assert reason not in json.dumps(e)

    # Seen report ids are kept: the same report never opens a second case, even after a restart.
    seen = json.loads(await h.app.store.get_value("matrix.seen_reports"))
    assert seen
    await h.stop()
    await h.start()
    await asyncio.sleep(h.poll * 2.5)
    assert len(await h.app.store.list_cases("matrix")) == 1


async def test_bot_restart_mid_conversation(synapse, harness_factory) -> None:
    h = await harness_factory()
    member = await synapse.aregister()
    dm = await dm_with_bot(synapse, member, h.bot)
    await send_text(synapse, member, dm, "!report someone is threatening me")
    await wait_message(synapse, member, dm, body_has("immediate danger"), sender=h.bot.user_id)
    await send_text(synapse, member, dm, "no")
    await wait_message(synapse, member, dm, body_has("Should the safety team see your name"), sender=h.bot.user_id)
    await h.mgmt_notice("New case")
    await asyncio.sleep(0.3)  # let the sync position be saved
    token = await h.app.store.get_value("matrix.next_batch")
    device = await h.app.store.get_value("matrix.device_id")
    assert token and device

    await h.stop()
    # The member answers while the bot is away; the answer must not be lost.
    await send_text(synapse, member, dm, "2")  # keep me anonymous
    await h.start()
    assert await h.app.store.get_value("matrix.device_id") == device  # same device: same encryption keys
    await wait_message(synapse, member, dm, body_has("What is this about?"), sender=h.bot.user_id)
    await send_text(synapse, member, dm, "1")
    await wait_message(synapse, member, dm, body_has("happening to you"), sender=h.bot.user_id)
    await asyncio.sleep(0.5)

    # Nothing was repeated: one acknowledgement, each question once, one case and one new-case notice.
    for text in ("Thank you for telling us", "immediate danger", "Should the safety team see your name",
                 "What is this about?"):
        assert await count_bot(synapse, member, dm, h.bot.user_id, text) == 1, text
    assert await count_bot(synapse, h.mod, h.mgmt, h.bot.user_id, "New case") == 1
    cases = await h.app.store.list_cases("matrix")
    assert len(cases) == 1
    assert cases[0].answers == {"danger": "no", "anonymous": "anonymous", "topic": "sextortion"}


async def test_synapse_restart_while_the_bot_runs(synapse, harness_factory) -> None:
    h = await harness_factory()
    member = await synapse.aregister()
    dm = await dm_with_bot(synapse, member, h.bot)
    await asyncio.to_thread(synapse.restart)
    secret = f"after the restart {secrets.token_hex(3)}"
    await send_text(synapse, member, dm, "!report " + secret)
    await h.mgmt_notice("New case", secret, timeout=20)
    await wait_message(synapse, member, dm, body_has("immediate danger"), sender=h.bot.user_id, timeout=10)
    assert not h.task.done()
