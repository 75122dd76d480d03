"""`!safety remove` against a real Synapse: only messages in the protected rooms, never a case for a message
that does not exist, a bare event id found in the protected rooms, and the case of the message's author."""

from __future__ import annotations

from tests.matrix.test_adapter_dm import body_has, call, harness_factory, join, q, send_text, wait_message  # noqa: F401
from tests.matrix.test_adapter_moderation import wait_redacted


async def test_remove_is_refused_outside_the_protected_rooms_and_for_missing_messages(synapse, harness_factory) -> None:
    h = await harness_factory()
    accused = await synapse.aregister()
    await join(synapse, accused, h.rooms[0])

    # A message in the management room: not the bot's to redact, and no case is opened for it.
    own = await send_text(synapse, h.mod, h.mgmt, "a note for the team")
    ev = await h.command(f"!safety remove https://matrix.to/#/{h.mgmt}/{own}")
    body = (await h.reply_to(ev))["content"]["body"]
    assert "not in one of the rooms the bot protects" in body and "Nothing was changed" in body
    got = await call(synapse, "GET", f"/_matrix/client/v3/rooms/{q(h.mgmt)}/event/{q(own)}", h.mod)
    assert got["content"]["body"] == "a note for the team"

    # An event id that does not exist in a protected room: told plainly, no case.
    ev = await h.command(f"!safety remove https://matrix.to/#/{h.rooms[0]}/$doesnotexist123")
    assert "I cannot find that message" in (await h.reply_to(ev))["content"]["body"]
    # A bare id that is in no protected room (the management room's message) is not found either.
    ev = await h.command(f"!safety remove {own}")
    assert "I cannot find that message" in (await h.reply_to(ev))["content"]["body"]
    assert await h.app.store.list_cases("matrix") == []


async def test_remove_by_bare_event_id_joins_the_open_case_about_its_author(synapse, harness_factory) -> None:
    h = await harness_factory(rooms=2)
    accused = await synapse.aregister()
    await join(synapse, accused, h.rooms[1])
    ev = await h.command(f"!safety open {accused.user_id} threatening members --category harassment")
    assert "case 1" in (await h.reply_to(ev))["content"]["body"].lower()
    # The case card's hints are written as commands are typed here.
    card = await wait_message(synapse, h.mod, h.mgmt, body_has("Commands: !safety case 1 | !safety assign 1"))
    assert "!safety ban <member> --case 1" in card["content"]["body"]

    threat = await send_text(synapse, accused, h.rooms[1], "pay or I post it")
    ev = await h.command(f"!safety remove {threat}")
    body = (await h.reply_to(ev))["content"]["body"]
    assert "Opened case" not in body and "(case 1)" in body
    assert await wait_redacted(synapse, h.mod, h.rooms[1], threat) == {}
    cases = await h.app.store.list_cases("matrix")
    assert [c.number for c in cases] == [1]
    evidence = await h.app.store.evidence_for(cases[0].id)
    assert [e.text for e in evidence] == ["pay or I post it"]

    # A message by someone with no open case: a new case that names them.
    other = await synapse.aregister()
    await join(synapse, other, h.rooms[0])
    spam = await send_text(synapse, other, h.rooms[0], "send more or else")
    ev = await h.command(f"!safety remove https://matrix.to/#/{h.rooms[0]}/{spam}")
    assert "Opened case 2" in (await h.reply_to(ev))["content"]["body"]
    case2 = await h.app.store.get_case("matrix", 2)
    assert [a.id for a in case2.accused] == [other.user_id]
