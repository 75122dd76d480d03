"""Principle 7 against a real Synapse: a case about a moderator who is also in the escalation room is posted to
neither room (safety_bot/guard.py, the adapter's escalation reader)."""

from __future__ import annotations

import secrets

from tests.matrix.test_adapter_dm import (body_has, call, dm_with_bot, harness_factory, join, messages,  # noqa: F401
                                          send_text, wait_message)


async def test_a_case_about_a_moderator_in_the_escalation_room_goes_to_neither_room(synapse, harness_factory) -> None:
    h = await harness_factory(escalation=True)  # h.mod: on the team and in the escalation room
    member = await synapse.aregister()
    await join(synapse, member, h.rooms[0])
    threat = await send_text(synapse, h.mod, h.rooms[0], "send more or everyone sees your pictures")
    dm = await dm_with_bot(synapse, member, h.bot)
    secret = f"the head moderator threatens me {secrets.token_hex(3)}"
    await send_text(synapse, member, dm, f"{secret} https://matrix.to/#/{h.rooms[0]}/{threat}")
    await wait_message(synapse, member, dm, body_has("Thank you for telling us"), sender=h.bot.user_id)
    case = await h.app.store.get_case("matrix", 1)
    assert [a.id for a in case.accused] == [h.mod.user_id] and case.flags.get("about_moderator")
    withheld = [a for a in await h.app.store.audit_entries() if a.action == "post.withheld"]
    assert withheld and all(a.detail["why"] == "escalation_accused" for a in withheld)
    for room in (h.escalation_room, h.mgmt):
        assert not any(secret in e["content"].get("body", "") for e in await messages(synapse, h.mod, room))
