"""README: `/safety unban` lifts a ban network-wide; "the reason, if given, is audited" (usage
`unban <member or id> [reason]`). So a moderator may leave the reason out on Discord too."""

from __future__ import annotations

from adapters.discord import DiscordAdapter  # noqa: F401  (the product under test)
from tests.discord.conftest import ephemeral_text
from tests.fakes.discord_server import EPHEMERAL


async def _safety(fake, world, user, sub, options):
    it = await fake.send_slash_command(world.haven, world.safety, user, "safety", options, subcommand=sub)
    await it.wait_messages(1)
    assert all(m["flags"] & EPHEMERAL for m in it.messages)
    return it


async def test_unban_by_id_without_a_reason(fake, world, bot):
    gone = fake.add_user("gone-user")
    banned = await _safety(fake, world, world.mod, "ban", {"user_id": str(gone), "confirm": True})
    await fake.wait_for(lambda: gone in fake.bans(world.haven) and gone in fake.bans(world.harbor))
    assert "ban" in ephemeral_text(banned).lower()
    lifted = await _safety(fake, world, world.mod, "unban", {"user_id": str(gone)})
    assert "Lifting the ban" in ephemeral_text(lifted)
    await fake.wait_for(lambda: gone not in fake.bans(world.haven) and gone not in fake.bans(world.harbor))
