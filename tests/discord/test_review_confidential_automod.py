"""Adversarial review of principle 2 on Discord AutoMod: a blocked threat (which may name the member it
targets) is never copied into a channel @everyone can read."""

from __future__ import annotations

from tests.discord.conftest import discord_config, running_bot
from tests.discord.test_automod import AUTOMOD, allow_manage, our_rules
from tests.fakes.discord_server import VIEW_CHANNEL


async def test_no_automod_alert_goes_to_a_safety_channel_everyone_can_read(tmp_path, fake, world) -> None:
    w = world
    allow_manage(fake, w)
    await fake.set_overwrite(w.safety, w.haven, VIEW_CHANNEL, 0)  # haven's safety channel is public by mistake
    async with running_bot(discord_config(tmp_path, fake, w, discord_extra=AUTOMOD)):
        [public_rule], [private_rule] = our_rules(fake, w.haven), our_rules(fake, w.harbor)
        # threats are still blocked there (and become cases through the block's event) ...
        assert [a["type"] for a in public_rule["actions"]] == [1]
        # ... and the private channel of the other server keeps its alert
        assert {a["type"]: a["metadata"] for a in private_rule["actions"]}[2]["channel_id"] == str(w.safety2)
