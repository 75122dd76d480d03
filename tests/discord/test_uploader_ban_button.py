"""Issue 13 item 5 on Discord: another uploader of a banked picture (not the accused, not a linked account)
is removed but not banned automatically; the alert to the team carries a "Ban this uploader" button that
the core decides and guards exactly like `/safety ban ... case: confirm:`."""

from __future__ import annotations

from tests.discord.conftest import (bot_messages, contents, custom_ids, discord_config, ephemeral_text, public_channels,
                                    running_bot)
from tests.discord.test_adapter_media import bank_by_block, jpeg, post_image, wait_handled
from tests.media.test_hashing import generate


async def _alert(fake, world, user):
    return await fake.wait_for(lambda: next((m for m in bot_messages(fake, world.safety)
                                             if "Not banned automatically" in m["content"] and str(user) in m["content"]),
                                            None), what="the alert about the uploader")


async def test_ban_this_uploader_button_on_the_alert(fake, world, bot):
    data = jpeg(generate(41, 640, 480))
    await bank_by_block(fake, world, bot, data)  # case 1, about suspect
    handled = bot.messages_handled
    mid, _ = await post_image(fake, world.general, world.bob, data)
    await wait_handled(bot, handled + 1)
    await fake.wait_for(lambda: mid in fake.deleted_message_ids)
    alert = await _alert(fake, world, world.bob)
    button = f"safety:banuploader:{world.haven}:1:{world.bob}"
    assert custom_ids(alert) == [button]
    assert [c["label"] for row in alert["components"] for c in row["components"]] == ["Ban this uploader"]
    assert fake.bans(world.haven) == {} or world.bob not in fake.bans(world.haven)
    # someone outside the safety team presses it: refused, nothing reaches Discord
    press = await fake.press_button(int(alert["id"]), button, world.alice)
    await press.wait_messages(1)
    assert "for the safety team only" in ephemeral_text(press)
    assert world.bob not in fake.bans(world.haven)
    # a moderator presses it: the ban runs network-wide, once; the button goes
    press = await fake.press_button(int(alert["id"]), button, world.mod)
    await press.wait_messages(1)
    assert "Banning bob" in ephemeral_text(press)
    await fake.wait_for(lambda: world.bob in fake.bans(world.haven) and world.bob in fake.bans(world.harbor))
    await fake.wait_for(lambda: fake.messages_by_id[int(alert["id"])]["components"] == [])
    assert len(fake.requests_to("PUT", rf"/guilds/{world.haven}/bans/{world.bob}")) == 1
    [ban] = [a for a in await bot.app.store.audit_entries() if a.action == "ban.requested"
             and f"discord:{world.bob}" in str(a.detail.get("targets"))]
    assert ban.actor == f"discord:{world.mod}"
    # bob hears nothing from the team; nothing public; alice (who reported nothing here) nothing
    assert all(bot_messages(fake, c) == [] for c in public_channels(world))


async def test_the_uploader_button_keeps_the_ban_commands_guards(tmp_path, fake, world):
    # the uploader is a fellow moderator (mod2): only the escalation destination may ban a team member
    mod2 = fake.add_member(world.haven, name="mod2", roles=[world.role])
    async with running_bot(discord_config(tmp_path, fake, world)) as bot:
        await _guarded(fake, world, bot, mod2)


async def _guarded(fake, world, bot, mod2):
    data = jpeg(generate(42, 640, 480))
    await bank_by_block(fake, world, bot, data)  # case 1, about suspect
    handled = bot.messages_handled
    mid, _ = await post_image(fake, world.general, mod2, data)
    await wait_handled(bot, handled + 1)
    alert = await _alert(fake, world, mod2)
    press = await fake.press_button(int(alert["id"]), f"safety:banuploader:{world.haven}:1:{mod2}", world.mod)
    await press.wait_messages(1)
    assert "can only be taken from the escalation destination" in ephemeral_text(press)
    assert mod2 not in fake.bans(world.haven)
    assert custom_ids(fake.messages_by_id[int(alert["id"])]) != []  # still there for the escalation contact
    # the uploader presses the button about themselves: refused with the generic text
    press = await fake.press_button(int(alert["id"]), f"safety:banuploader:{world.haven}:1:{mod2}", mod2)
    await press.wait_messages(1)
    assert "That is not something you can do" in ephemeral_text(press)
    assert mod2 not in fake.bans(world.haven) and not fake.requests_to("PUT", rf"/guilds/\d+/bans/{mod2}")
    assert "posted a picture from the hash bank" not in contents(fake.dm_messages(mod2))
