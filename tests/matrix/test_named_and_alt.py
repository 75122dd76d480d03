"""Issue 13 items 1 and 5 against a real Synapse: a moderator only named in a DM report cannot remove its
message, and the case moves to the escalation room; `!safety alt` links another account of the accused
(never the reporter), audited."""

from __future__ import annotations

import secrets

from tests.matrix.test_adapter_dm import (body_has, call, dm_with_bot, harness_factory, join, messages, q,  # noqa: F401
                                          send_text, wait_message)
from tests.matrix.test_limits_and_case_handling import _second_moderator

GENERIC = "That is not something you can do. Please ask another member of the safety team. Nothing was changed."


async def _said(h, line, who=None) -> str:
    ev = await h.command(line, who=who)
    return (await h.reply_to(ev, who=who))["content"]["body"]


async def _seen_by(synapse, h, user) -> str:
    """Everything the bot posted in the team's rooms, as this account can read it (Synapse's own rules)."""
    rooms = [h.mgmt] + ([h.escalation_room] if h.escalation_room else [])
    seen = [e["content"].get("body", "") for r in rooms for e in await messages(synapse, user, r)
            if e["sender"] == h.bot.user_id]
    return "\n".join(seen)


async def test_a_dm_permalink_to_a_moderators_message_goes_to_the_escalation_room_only(synapse, harness_factory) -> None:
    h = await harness_factory(escalation=True)
    mod2 = await _second_moderator(synapse, h)
    member = await synapse.aregister()
    for u in (member, mod2):
        await join(synapse, u, h.rooms[0])
    threat = await send_text(synapse, mod2, h.rooms[0], "send more or I post them")
    dm = await dm_with_bot(synapse, member, h.bot)
    token = secrets.token_hex(3)
    await send_text(synapse, member, dm, f"a moderator threatens me {token} https://matrix.to/#/{h.rooms[0]}/{threat}")
    await wait_message(synapse, member, dm, body_has("moderation team"), sender=h.bot.user_id)
    await wait_message(synapse, h.mod, h.escalation_room, body_has("New case 1", token), sender=h.bot.user_id)
    case = await h.app.store.get_case("matrix", 1)
    assert [a.key for a in case.accused] == [f"matrix:{mod2.user_id}"]  # recorded from the event's sender
    assert case.flags["about_moderator"] and case.hidden_from == [f"matrix:{mod2.user_id}"]
    assert await _said(h, "!safety case 1", who=mod2) == "There is no case 1 here."
    assert token not in await _seen_by(synapse, h, mod2) and "New case 1" not in await _seen_by(synapse, h, mod2)
    assert token in await _seen_by(synapse, h, h.mod)  # h.mod is in the escalation room too
    assert not any(token in e["content"].get("body", "") for e in await messages(synapse, h.mod, h.mgmt))


async def test_named_moderator_and_alt_accounts_on_matrix(synapse, harness_factory) -> None:
    h = await harness_factory(escalation=True)
    mod2 = await _second_moderator(synapse, h)
    suspect = await synapse.aregister(prefix="suspect")
    member = await synapse.aregister()
    other = await synapse.aregister(prefix="second")
    for u in (suspect, member, other, mod2):
        await join(synapse, u, h.rooms[0])
    threat = await send_text(synapse, suspect, h.rooms[0], "pay me or everyone sees them")
    link = f"https://matrix.to/#/{h.rooms[0]}/{threat}"
    dm = await dm_with_bot(synapse, member, h.bot)
    token = secrets.token_hex(3)
    secret = f"he says {mod2.user_id} helps him {token}"
    await send_text(synapse, member, dm, f"{secret} {link}")
    await wait_message(synapse, member, dm, body_has("immediate danger"), sender=h.bot.user_id)
    # the first card goes to the escalation room only: the named moderator (in the management room) never sees it
    await wait_message(synapse, h.mod, h.escalation_room, body_has("New case 1", token, "hidden from them"),
                       sender=h.bot.user_id)
    assert token not in await _seen_by(synapse, h, mod2) and "New case 1" not in await _seen_by(synapse, h, mod2)
    case = await h.app.store.get_case("matrix", 1)
    assert case.flags["about_moderator"] and case.flags["named_team"] == [f"matrix:{mod2.user_id}"]
    assert case.hidden_from == [f"matrix:{mod2.user_id}"]
    # the named moderator: refused with the generic text; nothing removed
    assert await _said(h, f"!safety remove {link}", who=mod2) == GENERIC
    assert await _said(h, "!safety case 1", who=mod2) == "There is no case 1 here."
    event = await call(synapse, "GET", f"/_matrix/client/v3/rooms/{q(h.rooms[0])}/event/{q(threat)}", h.mod)
    assert event["content"].get("body") == "pay me or everyone sees them"
    await wait_message(synapse, h.mod, h.escalation_room, body_has("Refused:", "(named in it)"), sender=h.bot.user_id)
    assert token not in await _seen_by(synapse, h, mod2)
    # alt: the reporter can never be linked; another account of the accused can, from the escalation room too
    body = await _said(h, f"!safety alt 1 {member.user_id}")
    assert "cannot be linked to them. Nothing changed." in body
    assert "Usage: !safety alt N <member or id> [--remove]" in await _said(h, "!safety alt 1")
    await send_text(synapse, h.mod, h.escalation_room, f"!safety alt 1 {other.user_id}")
    await wait_message(synapse, h.mod, h.escalation_room, body_has("is linked to case 1 as an account of the accused"),
                       sender=h.bot.user_id)
    assert (await h.app.store.get_case("matrix", 1)).flags["linked_accounts"] == [f"matrix:{other.user_id}"]
    # nobody outside the team heard of any of it
    said = [e["content"].get("body", "") for e in await messages(synapse, member, dm) if e["sender"] == h.bot.user_id]
    assert not any(mod2.user_id in b or "linked" in b for b in said)
    assert await h.app.store.get_value("matrix.dm." + other.user_id) is None
    assert await h.app.store.get_value("matrix.dm." + suspect.user_id) is None
