"""Issue 13 items 4 and 7 against a real Synapse.

Sextortion stays sextortion: the reporter's "Something else" answer does not turn the case into harassment,
and while it is open the bot never messages the accused (warn, resources, outcome notices).
Withdrawal is honoured: the reporter's words, the permalink they gave and their follow-ups are gone,
consent is revoked, any later action needs --confirm and a reason, and the reporter is not messaged.
Each test checks what the actor, the reporter, the accused, the team and the escalation room see, and what
Synapse received (memberships, invites, redactions)."""

from __future__ import annotations

import secrets

from tests.matrix.test_adapter_dm import (body_has, call, dm_with_bot, harness_factory, join, messages, q,  # noqa: F401
                                          send_text, wait_message)
from tests.matrix.test_adapter_moderation import membership, wait_memberships


async def _said(h, line, who=None) -> str:
    ev = await h.command(line, who=who)
    return (await h.reply_to(ev, who=who))["content"]["body"]


async def _invites(synapse, user) -> dict:
    return (await call(synapse, "GET", "/_matrix/client/v3/sync", user, query={"timeout": 0})).get("rooms", {}).get("invite", {})


async def _bot_said(synapse, h, user, room) -> list[str]:
    return [e["content"].get("body", "") for e in await messages(synapse, user, room) if e["sender"] == h.bot.user_id]


async def test_sextortion_stays_sextortion_and_the_accused_is_never_messaged_on_matrix(synapse, harness_factory):
    h = await harness_factory(escalation=True)
    suspect = await synapse.aregister(prefix="suspect")
    member = await synapse.aregister()
    for u in (suspect, member):
        await join(synapse, u, h.rooms[0])
    threat = await send_text(synapse, suspect, h.rooms[0], "pay me or everyone sees your pictures")
    dm = await dm_with_bot(synapse, member, h.bot)
    secret = f"he wants money {secrets.token_hex(3)}"
    await send_text(synapse, member, dm, f"{secret} https://matrix.to/#/{h.rooms[0]}/{threat}")
    await wait_message(synapse, member, dm, body_has("immediate danger"), sender=h.bot.user_id)
    await send_text(synapse, member, dm, "skip")
    await wait_message(synapse, member, dm, body_has("Should the safety team see your name"), sender=h.bot.user_id)
    await send_text(synapse, member, dm, "skip")
    await wait_message(synapse, member, dm, body_has("What is this about?"), sender=h.bot.user_id)
    await send_text(synapse, member, dm, "2")  # harassment: a strike-based category
    await h.mgmt_notice("the case stays sextortion")
    case = await h.app.store.get_case("matrix", 1)
    assert case.category == "sextortion" and case.flags["reporter_suggested_category"] == "harassment"
    assert [a.id for a in case.accused] == [suspect.user_id]
    # the actor: warn and resources to the accused are refused with the reason
    for line in (f"!safety warn {suspect.user_id} stop it", f"!safety resources {suspect.user_id}"):
        body = await _said(h, line)
        assert "case 1 is a sextortion or child-safety case" in body and "Nothing was changed" in body, body
    # the accused: no DM opened, no invite; still a member (a warning's timeout never ran)
    assert await h.app.store.get_value("matrix.dm." + suspect.user_id) is None
    assert await _invites(synapse, suspect) == {}
    assert await membership(synapse, h.mod, h.rooms[0], suspect.user_id) == "join"
    assert await h.app.store.strikes_for(case.network, f"matrix:{suspect.user_id}") == []
    # the reporter heard nothing of it; the escalation room is not involved
    assert not any("stop it" in b for b in await _bot_said(synapse, h, member, dm))
    assert not any("case 1" in b.lower() or secret in b for b in await _bot_said(synapse, h, h.mod, h.escalation_room))

    # the accused files a counter-report; the team removes the message and closes it: no outcome notice
    counter = await send_text(synapse, member, h.rooms[0], "leave me alone")
    sdm = await dm_with_bot(synapse, suspect, h.bot)
    await send_text(synapse, suspect, sdm, f"she is rude https://matrix.to/#/{h.rooms[0]}/{counter}")
    await wait_message(synapse, suspect, sdm, body_has("immediate danger"), sender=h.bot.user_id)
    await send_text(synapse, suspect, sdm, "stop")
    await wait_message(synapse, suspect, sdm, body_has("that is all for now"), sender=h.bot.user_id)
    await wait_message(synapse, suspect, sdm, body_has("Here is a list that fits your answers"), sender=h.bot.user_id)
    before = await _bot_said(synapse, h, suspect, sdm)
    body = await _said(h, f"!safety remove https://matrix.to/#/{h.rooms[0]}/{counter} --case 2")
    assert "Nothing was changed" not in body, body
    body = await _said(h, "!safety close 2 actioned")
    assert "Nothing was changed" not in body, body
    withheld = [a for a in await h.app.store.audit_entries() if a.action == "message.withheld"]
    assert len(withheld) == 2 and {a.case_id for a in withheld} == {case.id}
    # a later message to the reporter of case 1 arrives; nothing more reached the accused
    await _said(h, "!safety reply 1 We are with you.")
    await wait_message(synapse, member, dm, body_has("We are with you."), sender=h.bot.user_id)
    assert await _bot_said(synapse, h, suspect, sdm) == before


async def test_a_withdrawn_report_on_matrix(synapse, harness_factory):
    h = await harness_factory(escalation=True)
    suspect = await synapse.aregister(prefix="suspect")
    member = await synapse.aregister()
    for u in (suspect, member):
        await join(synapse, u, h.rooms[0])
    threat = await send_text(synapse, suspect, h.rooms[0], "pay me or else")
    dm = await dm_with_bot(synapse, member, h.bot)
    secret = f"secret words {secrets.token_hex(3)}"
    await send_text(synapse, member, dm, f"{secret} https://matrix.to/#/{h.rooms[0]}/{threat}")
    await wait_message(synapse, member, dm, body_has("immediate danger"), sender=h.bot.user_id)
    await send_text(synapse, member, dm, "stop")
    await wait_message(synapse, member, dm, body_has("that is all for now"), sender=h.bot.user_id)
    await send_text(synapse, member, dm, "he wrote again at https://example.org/alice-proof")
    await h.mgmt_notice("he wrote again")
    await send_text(synapse, member, dm, "consent yes")
    await wait_message(synapse, member, dm, body_has("consent"), sender=h.bot.user_id)
    await send_text(synapse, member, dm, "withdraw")
    await h.mgmt_notice("withdrawn by the reporter")
    said_after_withdrawal = len(await _bot_said(synapse, h, member, dm))
    case = await h.app.store.get_case("matrix", 1)
    assert case.flags["withdrawn"] and case.flags["consent"] == "withdrawn" and case.answers == {}
    assert all(r.reported_message is None and not r.text for r in await h.app.store.reports_for(case.id))
    # the team's view keeps nothing the reporter gave
    view = await _said(h, "!safety case 1")
    assert "Case 1" in view or "#1" in view
    assert secret not in view and "alice-proof" not in view and "he wrote again" not in view and threat not in view
    # acting on it needs --confirm and a reason; a reply to the reporter is refused outright
    assert "The bot does not write to them" in await _said(h, "!safety reply 1 are you sure?")
    for line in (f"!safety ban {suspect.user_id} --case 1", f"!safety ban {suspect.user_id} --case 1 --confirm",
                 "!safety export 1 --reason police asked"):
        assert "run the command again with --confirm and a reason" in await _said(h, line)
    assert await membership(synapse, h.mod, h.rooms[0], suspect.user_id) == "join"
    # with --confirm and a reason: done, audited, and the reporter is not told
    assert "Banning" in await _said(h, f"!safety ban {suspect.user_id} --case 1 --confirm he threatened others too")
    assert await wait_memberships(synapse, h.mod, [h.rooms[0]], suspect.user_id, "ban") == ["ban"]
    [override] = [a for a in await h.app.store.audit_entries() if a.action == "case.withdrawn_override"]
    assert override.actor == f"matrix:{h.mod.user_id}"
    assert override.detail == {"command": "ban", "reason": "he threatened others too"}
    # the reported message was not removed by anyone; the reporter heard nothing more; the accused nothing at all
    threat_event = await call(synapse, "GET", f"/_matrix/client/v3/rooms/{q(h.rooms[0])}/event/{q(threat)}", h.mod)
    assert threat_event["content"].get("body") == "pay me or else"
    assert len(await _bot_said(synapse, h, member, dm)) == said_after_withdrawal
    assert await h.app.store.get_value("matrix.dm." + suspect.user_id) is None
    assert not any(secret in b for b in await _bot_said(synapse, h, h.mod, h.escalation_room))
