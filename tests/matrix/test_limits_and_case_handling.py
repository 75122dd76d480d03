"""Issue 13 items 6 and 10 against a real Synapse: the two-person rule past `mod_actions_per_hour` and for a
ban of more than 5 accounts (`!safety confirm <code>` by another team member; the moderator's own confirm is
refused), and `assign N member` plus the authors of notes and replies, shown to the team only."""

from __future__ import annotations

import asyncio
import re
import secrets

from tests.matrix.test_adapter_dm import (body_has, call, dm_with_bot, harness_factory, join, messages,  # noqa: F401
                                          q, send_text, wait_message)
from tests.matrix.test_adapter_moderation import membership, wait_memberships


async def _second_moderator(synapse, h):
    mod2 = await synapse.aregister(prefix="modtwo")
    await call(synapse, "POST", f"/_matrix/client/v3/rooms/{q(h.mgmt)}/invite", h.mod, {"user_id": mod2.user_id})
    await join(synapse, mod2, h.mgmt)
    pl = await call(synapse, "GET", f"/_matrix/client/v3/rooms/{q(h.mgmt)}/state/m.room.power_levels/", h.mod)
    pl["users"][mod2.user_id] = 50
    await call(synapse, "PUT", f"/_matrix/client/v3/rooms/{q(h.mgmt)}/state/m.room.power_levels/", h.mod, pl)
    return mod2


async def _said(h, line, who=None) -> str:
    ev = await h.command(line, who=who)
    return (await h.reply_to(ev, who=who))["content"]["body"]


def _code(body: str) -> str:
    return re.search(r"!safety confirm ([0-9A-F]{6})", body).group(1)


async def test_two_person_rule_on_matrix(synapse, harness_factory) -> None:
    h = await harness_factory(escalation=True, config_extra={"limits": {"mod_actions_per_hour": 2}})
    mod2 = await _second_moderator(synapse, h)
    raiders = list(await asyncio.gather(*(synapse.aregister(prefix="raider") for _ in range(3))))
    for u in raiders:
        await join(synapse, u, h.rooms[0])
    for u in raiders[:2]:
        assert "Banning" in await _said(h, f"!safety ban {u.user_id} --confirm spam wave")
    # past the limit: a code for a second person, nothing done, the escalation room told
    body = await _said(h, f"!safety ban {raiders[2].user_id} --confirm spam wave")
    assert "needs a second member of the safety team" in body
    code = _code(body)
    await wait_message(synapse, h.mod, h.escalation_room, body_has("Two-person rule", code), sender=h.bot.user_id)
    assert "Another member of the safety team must confirm" in await _said(h, f"!safety confirm {code}")
    assert await membership(synapse, h.mod, h.rooms[0], raiders[2].user_id) == "join"
    # another team member confirms: the ban runs; a code works once
    assert "Confirmed ban by" in await _said(h, f"!safety confirm {code}", who=mod2)
    assert await wait_memberships(synapse, h.mod, [h.rooms[0]], raiders[2].user_id, "ban") == ["ban"]
    assert "There is no pending action" in await _said(h, f"!safety confirm {code}", who=mod2)
    assert [await membership(synapse, h.mod, h.rooms[0], u.user_id) for u in raiders[:2]] == ["ban", "ban"]
    # a ban of more than 5 accounts at once needs a second person too
    many = [f"@ghost{secrets.token_hex(3)}{i}:{h.mod.user_id.split(':', 1)[1]}" for i in range(6)]
    body = await _said(h, "!safety ban " + " ".join(many) + " --confirm raid", who=mod2)
    assert "a ban of 6 accounts at once" in body
    assert [await membership(synapse, h.mod, h.rooms[0], m) for m in many] == [None] * 6
    assert "Confirmed ban by" in await _said(h, f"!safety confirm {_code(body)}")
    for m in many:
        assert await wait_memberships(synapse, h.mod, [h.rooms[0]], m, "ban") == ["ban"]


async def test_assign_to_a_named_member_and_authors_on_the_timeline_on_matrix(synapse, harness_factory) -> None:
    h = await harness_factory()
    mod2 = await _second_moderator(synapse, h)
    member = await synapse.aregister()
    await join(synapse, member, h.rooms[0])
    dm = await dm_with_bot(synapse, member, h.bot)
    await send_text(synapse, member, dm, "!report someone threatens to post my pictures")
    await h.mgmt_notice("New case 1")
    assert "Case 1 is assigned to" in await _said(h, f"!safety assign 1 {mod2.user_id}")
    assert (await h.app.store.get_case("matrix", 1)).assignee.id == mod2.user_id
    await _said(h, "!safety note 1 called the reporter")
    await _said(h, "!safety reply 1 We are here for you.")
    await wait_message(synapse, member, dm, body_has("We are here for you."), sender=h.bot.user_id)
    body = await _said(h, "!safety case 1", who=mod2)
    author = h.mod.user_id.replace("@", "@\u200b")  # shown inert: no mention, no ping
    name = h.mod.user_id.split(":", 1)[0][1:]  # the moderator's display name (Synapse's default: the localpart)
    assert f"note by {name} ({author}): called the reporter" in body
    assert f"team to reporter by {name} ({author}): We are here for you." in body
    # the reporter hears the team, not which moderator wrote
    seen = "\n".join(e["content"].get("body", "") for e in await messages(synapse, member, dm))
    assert "We are here for you." in seen and h.mod.user_id not in seen and author not in seen
    assert mod2.user_id not in seen
