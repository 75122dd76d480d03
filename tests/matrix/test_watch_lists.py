"""Watched Matrix policy lists against a real Synapse (issue 19, item 3): rules written as Draupnir,
Mjolnir (legacy types, `org.matrix.mjolnir.ban`) and Meowlnir (globs) write them; notify by default, `--apply`
bans like the bot's own bans, removals lift the list's bans, never the team, never against the team's unban."""

from __future__ import annotations

import secrets

from tests.matrix.test_adapter_dm import (body_has, call, create_room, harness_factory, join, q,  # noqa: F401
                                          wait_message)
from tests.matrix.test_adapter_moderation import membership, wait_memberships


async def put_rule(synapse, owner, room: str, event_type: str, entity: str, recommendation: str = "m.ban",
                   reason: str = "spam", state_key: str | None = None) -> str:
    key = state_key or f"rule:{entity}:{secrets.token_hex(3)}"
    await call(synapse, "PUT", f"/_matrix/client/v3/rooms/{q(room)}/state/{event_type}/{q(key)}", owner,
               {"entity": entity, "recommendation": recommendation, "reason": reason})
    return key


async def remove_rule(synapse, owner, room: str, event_type: str, state_key: str) -> None:
    await call(synapse, "PUT", f"/_matrix/client/v3/rooms/{q(room)}/state/{event_type}/{q(state_key)}", owner, {})


async def other_communitys_list(synapse):
    publisher = await synapse.aregister(prefix="publisher")
    room = await create_room(synapse, publisher, join_rule="public", name="their ban list")
    return publisher, room


async def test_watch_shows_matches_from_each_peer_shape_with_a_ban_command(synapse, harness_factory) -> None:
    h = await harness_factory(rooms=1)
    publisher, plist = await other_communitys_list(synapse)
    present = await synapse.aregister(prefix="present")
    await join(synapse, present, h.rooms[0])
    tag = secrets.token_hex(3)
    await put_rule(synapse, publisher, plist, "m.policy.rule.user", present.user_id, reason="sextortion")  # Draupnir
    await put_rule(synapse, publisher, plist, "m.policy.rule.user", f"@glob{tag}-*:localhost")  # Meowlnir glob
    await put_rule(synapse, publisher, plist, "m.policy.rule.user", "@someone:localhost", recommendation="m.mute")

    ev = await h.command(f"!safety watch {plist}")
    assert "Watching" in (await h.reply_to(ev))["content"]["body"]
    notice = await h.mgmt_notice(present.user_id, "is in a protected room", "its reason: sextortion")
    assert f"!safety ban {present.user_id}" in notice["content"]["body"]
    assert "Not banned automatically" in notice["content"]["body"]
    assert await membership(synapse, h.mod, h.rooms[0], present.user_id) == "join"

    # A glob rule: someone matching it joins a protected room.
    joiner = await synapse.aregister(localpart=f"glob{tag}-x{secrets.token_hex(2)}")
    await join(synapse, joiner, h.rooms[0])
    await h.mgmt_notice(joiner.user_id, "joined a protected room")

    # Mjolnir's legacy event type and recommendation, added while watched: a present member is shown.
    legacy = await synapse.aregister(prefix="legacy")
    await join(synapse, legacy, h.rooms[0])
    await put_rule(synapse, publisher, plist, "org.matrix.mjolnir.rule.user", legacy.user_id,
                   recommendation="org.matrix.mjolnir.ban")
    await h.mgmt_notice(legacy.user_id, "is in a protected room")
    old = await synapse.aregister(prefix="oldtype")
    await join(synapse, old, h.rooms[0])
    await put_rule(synapse, publisher, plist, "m.room.rule.user", old.user_id, recommendation="org.matrix.mjolnir.ban")
    await h.mgmt_notice(old.user_id, "is in a protected room")

    ev = await h.command("!safety lists")
    body = (await h.reply_to(ev))["content"]["body"]
    assert f"watched policy room {plist}: action notify, 4 entries" in body  # the mute rule is not a ban rule
    ev = await h.command(f"!safety unwatch {plist}")
    assert "Stopped watching" in (await h.reply_to(ev))["content"]["body"]
    ev = await h.command("!safety lists")
    assert "No shared lists yet" in (await h.reply_to(ev))["content"]["body"]
    # A room the bot cannot join (invite-only): the team is told once; nothing else changes.
    owner, closed = await other_communitys_list(synapse)
    await call(synapse, "PUT", f"/_matrix/client/v3/rooms/{q(closed)}/state/m.room.join_rules/", owner,
               {"join_rule": "invite"})
    ev = await h.command(f"!safety watch {closed}")
    assert "Watching" in (await h.reply_to(ev))["content"]["body"]
    await h.mgmt_notice("I could not join the policy room", "it is not watched yet")
    ev = await h.command(f"!safety unwatch {closed}")
    assert "Stopped watching" in (await h.reply_to(ev))["content"]["body"]
    ev = await h.command("!safety watch not-a-room")
    assert "Give the policy room as" in (await h.reply_to(ev))["content"]["body"]
    ev = await h.command(f"!safety unwatch {plist}")
    assert "is not watched" in (await h.reply_to(ev))["content"]["body"]


async def test_apply_bans_lifts_on_removal_spares_the_team_and_respects_the_teams_unban(synapse, harness_factory) -> None:
    h = await harness_factory(rooms=2, escalation=True)
    publisher, plist = await other_communitys_list(synapse)
    target = await synapse.aregister(prefix="target")
    await join(synapse, target, h.rooms[0])
    key = await put_rule(synapse, publisher, plist, "m.policy.rule.user", target.user_id)
    await put_rule(synapse, publisher, plist, "m.policy.rule.user", h.mod.user_id)  # names a team member

    ev = await h.command(f"!safety watch {plist} --apply")
    assert "applied like the bot's own bans" in (await h.reply_to(ev))["content"]["body"]
    assert await wait_memberships(synapse, h.mod, h.rooms, target.user_id, "ban") == ["ban", "ban"]
    await h.mgmt_notice(target.user_id, "Banned", f"the list {plist} names them")
    # The team member: never banned by a list; the escalation destination is told.
    await wait_message(synapse, h.mod, h.escalation_room, body_has(h.mod.localpart, "is on the safety team", "nothing was done"),
                       sender=h.bot.user_id)
    assert await membership(synapse, h.mod, h.rooms[0], h.mod.user_id) == "join"

    # The publisher removes the rule: the ban this list made is lifted.
    await remove_rule(synapse, publisher, plist, "m.policy.rule.user", key)
    assert await wait_memberships(synapse, h.mod, h.rooms, target.user_id, "leave") == ["leave", "leave"]

    # A rule added again bans again; the team unbans; the list does not ban them again when they rejoin.
    await put_rule(synapse, publisher, plist, "m.policy.rule.user", target.user_id)
    await join(synapse, target, h.rooms[0])
    assert await wait_memberships(synapse, h.mod, h.rooms, target.user_id, "ban") == ["ban", "ban"]
    ev = await h.command(f"!safety unban {target.user_id} we know them, the list is wrong")
    assert "Lifting the ban" in (await h.reply_to(ev))["content"]["body"]
    assert await wait_memberships(synapse, h.mod, h.rooms, target.user_id, "leave") == ["leave", "leave"]
    await join(synapse, target, h.rooms[1])
    await h.mgmt_notice(target.user_id, "joined a protected room", "the team lifted a ban on this account before")
    assert await membership(synapse, h.mod, h.rooms[1], target.user_id) == "join"

    # Unwatching lifts what the list banned (and only that).
    other = await synapse.aregister(prefix="other")
    await join(synapse, other, h.rooms[0])
    await put_rule(synapse, publisher, plist, "m.policy.rule.user", other.user_id)
    assert await wait_memberships(synapse, h.mod, h.rooms, other.user_id, "ban") == ["ban", "ban"]
    ev = await h.command(f"!safety unwatch {plist}")
    assert "Lifting 1 ban(s)" in (await h.reply_to(ev))["content"]["body"]
    assert await wait_memberships(synapse, h.mod, h.rooms, other.user_id, "leave") == ["leave", "leave"]
