"""Issue 13 items 6 and 10 on Discord, through the real discord.py client and the fake Discord: the
two-person rule past `mod_actions_per_hour` (`/safety confirm` by another team member; the moderator's own
confirm is refused), and `assign N member` plus the authors of notes and replies, shown to the team only."""

from __future__ import annotations

import re

import yaml

from safety_bot.config import load_config
from tests.discord.conftest import bot_messages, contents, discord_config, ephemeral_text, running_bot, wait_messages
from tests.fakes.discord_server import VIEW_CHANNEL


def _config(tmp_path, fake, world, esc, limits=None):
    guilds = [{"id": world.haven, "safety_channel": world.safety, "safety_role": world.role, "network": "friends",
               "escalation_channel": esc},
              {"id": world.harbor, "safety_channel": world.safety2, "safety_role": world.role2, "network": "friends"}]
    discord_config(tmp_path, fake, world, guilds=guilds)
    path = tmp_path / "config.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if limits:
        data["limits"] = limits
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_config(path, env={"DISCORD_TOKEN": fake.token})


def _escalation(fake, world):
    owner = fake.guilds[world.haven]["owner_id"]
    return fake.add_channel(world.haven, "owners", private=True, overwrites={owner: (VIEW_CHANNEL, 0)})


async def _safety(fake, world, user, sub, options=None):
    it = await fake.send_slash_command(world.haven, world.safety, user, "safety", options or {}, subcommand=sub)
    await it.wait_messages(1)
    return ephemeral_text(it)


async def test_two_person_rule_on_discord_past_the_hourly_limit(tmp_path, fake, world):
    mod2 = fake.add_member(world.haven, name="mod2", roles=[world.role])
    esc = _escalation(fake, world)
    targets = [fake.add_user(f"raider{i}") for i in range(3)]
    async with running_bot(_config(tmp_path, fake, world, esc, {"mod_actions_per_hour": 2})):
        for t in targets[:2]:
            text = await _safety(fake, world, world.mod, "ban", {"user_id": str(t), "confirm": True})
            assert "Banning" in text
        await fake.wait_for(lambda: all(t in fake.bans(world.haven) and t in fake.bans(world.harbor)
                                        for t in targets[:2]))
        # the third ban in the hour does not run: the moderator gets a code for a second person
        text = await _safety(fake, world, world.mod, "ban", {"user_id": str(targets[2]), "confirm": True})
        assert "needs a second member of the safety team" in text and "/safety confirm" in text
        code = re.search(r"confirm ([0-9A-F]{6})", text).group(1)
        # the escalation channel is told who asked, and the code; the team channel is not flooded with it
        post = await fake.wait_for(lambda: next((m for m in fake.messages(esc) if "Two-person rule" in m["content"]),
                                                None))
        assert "mod" in post["content"] and code in post["content"]
        assert code not in contents(bot_messages(fake, world.safety))
        # the moderator's own confirm is refused; nothing reaches the platform
        text = await _safety(fake, world, world.mod, "confirm", {"code": code})
        assert "Another member of the safety team must confirm" in text and "Nothing was changed" in text
        assert targets[2] not in fake.bans(world.haven)
        assert not fake.requests_to("PUT", rf"/guilds/\d+/bans/{targets[2]}")
        # another team member confirms: the ban runs everywhere, once
        text = await _safety(fake, world, mod2, "confirm", {"code": code})
        assert "Confirmed ban by mod" in text
        await fake.wait_for(lambda: targets[2] in fake.bans(world.haven) and targets[2] in fake.bans(world.harbor))
        text = await _safety(fake, world, mod2, "confirm", {"code": code})
        assert "There is no pending action" in text
        assert len(fake.requests_to("PUT", rf"/guilds/\d+/bans/{targets[2]}")) == 2
        # a made-up code changes nothing
        text = await _safety(fake, world, mod2, "confirm", {"code": "ZZZZZZ"})
        assert "There is no pending action" in text


async def test_assign_to_a_named_member_and_authors_on_the_timeline_on_discord(tmp_path, fake, world):
    mod2 = fake.add_member(world.haven, name="mod2", roles=[world.role])
    esc = _escalation(fake, world)
    async with running_bot(_config(tmp_path, fake, world, esc)) as bot:
        mid = await fake.dispatch_message_create(world.general, world.suspect, "pay me or else")
        it = await fake.send_message_context_command(world.haven, world.general, world.alice, "Report message", mid)
        await it.wait_response()
        sub = await fake.submit_modal(it, {"what": "he threatens me"})
        await sub.wait_messages(1)
        await wait_messages(fake, world.safety)
        text = await _safety(fake, world, world.mod, "assign", {"case": 1, "member": mod2})
        assert "Case 1 is assigned to mod2." in text
        assert (await bot.app.store.get_case(str(world.haven), 1)).assignee.id == str(mod2)
        await _safety(fake, world, world.mod, "note", {"case": 1, "text": "called the reporter"})
        await _safety(fake, world, world.mod, "reply", {"case": 1, "text": "We are here for you."})
        await fake.wait_for(lambda: any("We are here for you." in m["content"] for m in fake.dm_messages(world.alice)))
        text = await _safety(fake, world, mod2, "case", {"case": 1})
        # the timeline names the author by their display name and Discord user id (team only)
        assert f"note by mod ({world.mod}): called the reporter" in text
        assert f"team to reporter by mod ({world.mod}): We are here for you." in text
        # the reporter hears the team, not which moderator wrote
        dms = contents(fake.dm_messages(world.alice))
        assert "We are here for you." in dms and not re.search(r"\bmod2?\b", dms) and str(world.mod) not in dms
        assert fake.dm_messages(world.suspect) == []
