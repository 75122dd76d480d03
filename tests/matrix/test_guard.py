"""Issue 13 against a real Synapse: a DM report with a permalink records the accused; the accused moderator
learns and does nothing; a fellow moderator cannot ban them; the escalation room can."""

from __future__ import annotations

import secrets

from tests.matrix.test_adapter_dm import (body_has, call, dm_with_bot, harness_factory, join, q,  # noqa: F401
                                          send_text, wait_message)
from tests.matrix.test_adapter_moderation import membership, wait_memberships

GENERIC = "That is not something you can do. Please ask another member of the safety team. Nothing was changed."


async def test_accused_moderator_on_matrix_and_the_escalation_room(synapse, harness_factory) -> None:
    h = await harness_factory(escalation=True)
    mod2 = await synapse.aregister(prefix="modtwo")
    member = await synapse.aregister()
    await call(synapse, "POST", f"/_matrix/client/v3/rooms/{q(h.mgmt)}/invite", h.mod, {"user_id": mod2.user_id})
    await join(synapse, mod2, h.mgmt)
    pl = await call(synapse, "GET", f"/_matrix/client/v3/rooms/{q(h.mgmt)}/state/m.room.power_levels/", h.mod)
    pl["users"][mod2.user_id] = 50
    await call(synapse, "PUT", f"/_matrix/client/v3/rooms/{q(h.mgmt)}/state/m.room.power_levels/", h.mod, pl)
    for u in (mod2, member):
        await join(synapse, u, h.rooms[0])
    threat = await send_text(synapse, mod2, h.rooms[0], "I still have your pictures, you know what to do")
    # a DM report with a permalink: the message's sender is recorded as the accused
    dm = await dm_with_bot(synapse, member, h.bot)
    secret = f"this moderator threatens me {secrets.token_hex(3)}"
    await send_text(synapse, member, dm, f"{secret} https://matrix.to/#/{h.rooms[0]}/{threat}")
    await wait_message(synapse, member, dm, body_has("Thank you for telling us"), sender=h.bot.user_id)
    await wait_message(synapse, h.mod, h.escalation_room, body_has("New case 1", secret), sender=h.bot.user_id)
    case = await h.app.store.get_case("matrix", 1)
    assert [a.id for a in case.accused] == [mod2.user_id] and case.flags.get("about_moderator")

    # the accused moderator: nothing learned, nothing done
    for line, expected in ((f"!safety case 1", "There is no case 1 here."),
                           (f"!safety ban {member.user_id} --confirm", GENERIC),
                           (f"!safety remove https://matrix.to/#/{h.rooms[0]}/{threat} --confirm", GENERIC),
                           ("!safety reply 1 just pay him", "There is no case 1 here."),
                           ("!safety close 1 unfounded", "There is no case 1 here.")):
        ev = await h.command(line, who=mod2)
        body = (await h.reply_to(ev, who=mod2))["content"]["body"]
        assert body == expected, (line, body)
        assert secret not in body
    assert await membership(synapse, h.mod, h.rooms[0], member.user_id) == "join"
    assert (await h.app.store.get_case("matrix", 1)).status.value == "open"
    await wait_message(synapse, h.mod, h.escalation_room, body_has("Refused:", "tried 'ban' on case 1"),
                       sender=h.bot.user_id)

    # a fellow moderator cannot ban a team member from the management room
    ev = await h.command(f"!safety ban {mod2.user_id} --confirm")
    assert "only be taken from the escalation destination" in (await h.reply_to(ev))["content"]["body"]
    assert await membership(synapse, h.mod, h.rooms[0], mod2.user_id) == "join"
    # the escalation room can view and ban
    await send_text(synapse, h.mod, h.escalation_room, "!safety case 1")
    await wait_message(synapse, h.mod, h.escalation_room, body_has("Case 1", secret, "Commands:"), sender=h.bot.user_id)
    # replies to the reporter are checked: "pay him" is refused, "please do not pay him" is delivered
    await send_text(synapse, h.mod, h.escalation_room, "!safety reply 1 honestly it might be easiest to just pay him")
    await wait_message(synapse, h.mod, h.escalation_room, body_has("Not sent", "Nothing was sent."), sender=h.bot.user_id)
    await send_text(synapse, h.mod, h.escalation_room, "!safety reply 1 please do not pay him")
    await wait_message(synapse, member, dm, body_has("please do not pay him"), sender=h.bot.user_id)
    from tests.matrix.test_adapter_dm import messages
    assert not any("easiest to just pay" in e["content"].get("body", "") for e in await messages(synapse, member, dm))
    await send_text(synapse, h.mod, h.escalation_room, f"!safety ban {mod2.user_id} --case 1 --confirm threats")
    await wait_message(synapse, h.mod, h.escalation_room, body_has("Banning"), sender=h.bot.user_id)
    assert await wait_memberships(synapse, h.mod, [h.rooms[0]], mod2.user_id, "ban") == ["ban"]


async def test_member_promoted_after_a_report_is_kept_out_on_matrix(synapse, harness_factory) -> None:
    h = await harness_factory()
    suspect = await synapse.aregister(prefix="suspect")
    member = await synapse.aregister()
    for u in (suspect, member):
        await join(synapse, u, h.rooms[0])
    threat = await send_text(synapse, suspect, h.rooms[0], "pay me or everyone sees them")
    dm = await dm_with_bot(synapse, member, h.bot)
    secret = f"he wants money {secrets.token_hex(3)}"
    await send_text(synapse, member, dm, f"{secret} https://matrix.to/#/{h.rooms[0]}/{threat}")
    await h.mgmt_notice("New case 1", secret)  # an ordinary member then: the team room sees it
    # the suspect is made a moderator: invited to the management room with power 50
    await call(synapse, "POST", f"/_matrix/client/v3/rooms/{q(h.mgmt)}/invite", h.mod, {"user_id": suspect.user_id})
    await join(synapse, suspect, h.mgmt)
    pl = await call(synapse, "GET", f"/_matrix/client/v3/rooms/{q(h.mgmt)}/state/m.room.power_levels/", h.mod)
    pl["users"][suspect.user_id] = 50
    await call(synapse, "PUT", f"/_matrix/client/v3/rooms/{q(h.mgmt)}/state/m.room.power_levels/", h.mod, pl)
    ev = await h.command("!safety cases", who=suspect)
    import time
    deadline = time.monotonic() + 15
    body = (await h.reply_to(ev, who=suspect))["content"]["body"]
    while "for the safety team only" in body and time.monotonic() < deadline:  # until the bot synced
        ev = await h.command("!safety cases", who=suspect)
        body = (await h.reply_to(ev, who=suspect))["content"]["body"]
    assert body == "No open cases."
    for line in ("!safety case 1", "!safety close 1 unfounded", f"!safety ban {member.user_id} --confirm"):
        ev = await h.command(line, who=suspect)
        body = (await h.reply_to(ev, who=suspect))["content"]["body"]
        assert secret not in body and body in ("There is no case 1 here.", GENERIC), (line, body)
    assert (await h.app.store.get_case("matrix", 1)).status.value == "open"
    assert await membership(synapse, h.mod, h.rooms[0], member.user_id) == "join"
