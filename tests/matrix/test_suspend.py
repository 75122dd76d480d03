"""`matrix.suspend_local_accused` against a real Synapse: a ban of an accused on the bot's own homeserver first
suspends the account (they cannot send anywhere on the server, not only in the protected rooms), the
suspension outlives an unban, and only `unsuspend` lifts it."""

from __future__ import annotations

import asyncio
import secrets
import time

from tests.matrix.test_adapter_dm import call, create_room, harness_factory, join, q  # noqa: F401
from tests.matrix.test_adapter_moderation import wait_memberships


async def try_send(synapse, user, room: str) -> tuple[int, str]:
    resp = await synapse.arequest("PUT", f"/_matrix/client/v3/rooms/{q(room)}/send/m.room.message/{secrets.token_hex(8)}",
                                  token=user.access_token, json_body={"msgtype": "m.text", "body": "pay me"})
    return resp.status, (resp.json() or {}).get("errcode", "") if resp.body else ""


async def suspended(synapse, admin, user_id: str) -> bool:
    return bool((await call(synapse, "GET", f"/_synapse/admin/v2/users/{q(user_id)}", admin))["suspended"])


async def wait_send_status(synapse, user, room: str, want: int, timeout: float = 60) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while True:
        got = await try_send(synapse, user, room)
        if got[0] == want or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.1)


async def test_ban_suspends_a_local_accused_first_and_only_unsuspend_lifts_it(synapse, harness_factory) -> None:
    h = await harness_factory(rooms=2, admin_api=True, matrix_extra={"suspend_local_accused": True})
    accused = await synapse.aregister()
    for r in h.rooms:
        await join(synapse, accused, r)
    # A room the bot does not protect (the accused's own): a ban alone would not stop them there.
    elsewhere = await create_room(synapse, accused)
    assert (await try_send(synapse, accused, elsewhere))[0] == 200

    ev = await h.command(f"!safety ban {accused.user_id} --confirm")
    assert "Banning" in (await h.reply_to(ev))["content"]["body"]
    assert await wait_memberships(synapse, h.mod, h.rooms, accused.user_id, "ban") == ["ban", "ban"]
    assert await suspended(synapse, h.bot, accused.user_id)
    assert await try_send(synapse, accused, elsewhere) == (403, "M_USER_SUSPENDED")

    # An unban gives the rooms back but leaves the suspension: the team lifts it separately.
    ev = await h.command(f"!safety unban {accused.user_id}")
    assert "Lifting the ban" in (await h.reply_to(ev))["content"]["body"]
    assert await wait_memberships(synapse, h.mod, h.rooms, accused.user_id, "leave") == ["leave", "leave"]
    assert await suspended(synapse, h.bot, accused.user_id)
    assert await try_send(synapse, accused, elsewhere) == (403, "M_USER_SUSPENDED")

    ev = await h.command(f"!safety unsuspend {accused.user_id} they were hacked")
    assert "Lifting the suspension" in (await h.reply_to(ev))["content"]["body"]
    assert (await wait_send_status(synapse, accused, elsewhere, 200))[0] == 200
    assert not await suspended(synapse, h.bot, accused.user_id)
    audit = [a for a in await h.app.store.audit_entries() if a.action == "member.unsuspend_requested"]
    assert len(audit) == 1 and audit[0].detail["reason"] == "they were hacked"
    assert audit[0].detail["target"] == "matrix:" + accused.user_id


async def test_bad_unsuspend_commands_change_nothing(synapse, harness_factory) -> None:
    h = await harness_factory(admin_api=True, matrix_extra={"suspend_local_accused": True})
    accused = await synapse.aregister()
    await join(synapse, accused, h.rooms[0])
    elsewhere = await create_room(synapse, accused)
    ev = await h.command(f"!safety ban {accused.user_id} --confirm")
    await h.reply_to(ev)
    assert await wait_memberships(synapse, h.mod, h.rooms, accused.user_id, "ban") == ["ban"]
    assert await suspended(synapse, h.bot, accused.user_id)

    outsider = await synapse.aregister()
    await call(synapse, "POST", f"/_matrix/client/v3/rooms/{q(h.mgmt)}/invite", h.mod, {"user_id": outsider.user_id})
    await join(synapse, outsider, h.mgmt)
    cases = [
        ("!safety unsuspend", "Usage: !safety unsuspend <member or id> [reason]", h.mod),
        ("!safety unsuspend notanid", "is not a Matrix user id", h.mod),
        (f"!safety unsuspend {accused.user_id}", "for the safety team only", outsider),
        (f"!safety unsuspend {h.mod.user_id}", "", h.mod),  # yourself: refused like a conflict of interest
    ]
    for line, want, who in cases:
        ev = await h.command(line, who=who)
        body = (await h.reply_to(ev))["content"]["body"]
        assert "Lifting the suspension" not in body, line
        assert want in body, (line, body)
    assert await suspended(synapse, h.bot, accused.user_id)
    assert await try_send(synapse, accused, elsewhere) == (403, "M_USER_SUSPENDED")


async def test_without_the_option_a_ban_does_not_suspend(synapse, harness_factory) -> None:
    h = await harness_factory(admin_api=True)
    accused = await synapse.aregister()
    await join(synapse, accused, h.rooms[0])
    elsewhere = await create_room(synapse, accused)
    ev = await h.command(f"!safety ban {accused.user_id} --confirm")
    await h.reply_to(ev)
    assert await wait_memberships(synapse, h.mod, h.rooms, accused.user_id, "ban") == ["ban"]
    assert not await suspended(synapse, h.bot, accused.user_id)
    assert (await try_send(synapse, accused, elsewhere))[0] == 200


async def test_an_account_elsewhere_is_only_banned(synapse, harness_factory) -> None:
    """Suspension is for accounts of the bot's own homeserver; a remote id is banned room by room only."""
    from safety_bot.actions import BanUser, LiftSuspension
    from safety_bot.domain import UserRef

    h = await harness_factory(admin_api=True, matrix_extra={"suspend_local_accused": True})
    remote = UserRef("matrix", "@someone:elsewhere.example")
    result = await h.adapter.platform.ban(BanUser(community="matrix", user=remote, case_id=None, reason="x",
                                                  delete_message_seconds=0))
    assert result.done and "suspend" not in result.detail
    lifted = await h.adapter.platform.lift_suspension(LiftSuspension(community="matrix", user=remote))
    assert not lifted.done and "own homeserver" in lifted.detail
