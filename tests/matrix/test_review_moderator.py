"""Principle 7 against a real Synapse: a case about a moderator who is also in the escalation room is posted to
neither room (safety_bot/guard.py, the adapter's escalation reader)."""

from __future__ import annotations

import asyncio
import re
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


async def test_a_code_asked_for_by_a_moderator_kicked_from_the_management_room_cannot_be_confirmed(
        synapse, harness_factory) -> None:
    from tests.matrix.test_adapter_dm import q

    h = await harness_factory()
    mod2 = await synapse.aregister(prefix="modtwo")  # a stolen account, say
    await call(synapse, "POST", f"/_matrix/client/v3/rooms/{q(h.mgmt)}/invite", h.mod, {"user_id": mod2.user_id})
    await join(synapse, mod2, h.mgmt)
    pl = await call(synapse, "GET", f"/_matrix/client/v3/rooms/{q(h.mgmt)}/state/m.room.power_levels/", h.mod)
    pl["users"][mod2.user_id] = 50
    await call(synapse, "PUT", f"/_matrix/client/v3/rooms/{q(h.mgmt)}/state/m.room.power_levels/", h.mod, pl)
    targets = " ".join(f"@raid{i}-{secrets.token_hex(2)}:{mod2.user_id.split(':', 1)[1]}" for i in range(6))
    ev = await h.command(f"!safety ban {targets} --confirm raid", who=mod2)
    body = (await h.reply_to(ev, who=mod2))["content"]["body"]
    code = re.search(r"confirm ([0-9A-F]{6})", body).group(1)
    # the owner takes the account off the team the usual Matrix way: out of the room (its power level stays)
    await call(synapse, "POST", f"/_matrix/client/v3/rooms/{q(h.mgmt)}/kick", h.mod, {"user_id": mod2.user_id})
    room = h.adapter.client.rooms[h.mgmt]
    for _ in range(1200):  # until the bot's sync has seen the kick
        if mod2.user_id not in room.users:
            break
        await asyncio.sleep(0.05)
    ev = await h.command(f"!safety confirm {code}")
    body = (await h.reply_to(ev))["content"]["body"]
    assert "no longer on the safety team" in body, body
    assert not [a for a in await h.app.store.audit_entries() if a.action == "ban.requested"]
