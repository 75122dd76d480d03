"""`safety-bot doctor` against the fake Discord: a correct set-up passes; each item broken in turn fails
with its own fix, and the CLI exits non-zero. `run` posts the failures to the safety channel, once."""

import asyncio
import sys

import pytest

from safety_bot.ops.doctor import all_checks
from tests.discord.conftest import contents, discord_config, running_bot
from tests.fakes.discord_server import (BAN_MEMBERS, DEFAULT_BOT_PERMISSIONS, EMBED_LINKS, MANAGE_MESSAGES,
                                        MODERATE_MEMBERS, SEND_MESSAGES, VIEW_CHANNEL)


def config_with(tmp_path, fake, world, **changes):
    guilds = [{"id": world.haven, "safety_channel": world.safety, "safety_role": world.role, "network": "friends",
               "escalation_channel": world.escalation},
              {"id": world.harbor, "safety_channel": world.safety2, "safety_role": world.role2, "network": "friends",
               "escalation_user": world.harbor_owner}]
    guilds[0].update(changes)
    return discord_config(tmp_path, fake, world, guilds=guilds)


@pytest.fixture
async def ready(tmp_path, fake, world):
    """A correct set-up: a private escalation channel, and the commands registered by a first run."""
    world.escalation = fake.add_channel(world.haven, "owner-only", private=True)
    world.harbor_owner = fake.guilds[world.harbor]["owner_id"]
    config = config_with(tmp_path, fake, world)
    async with running_bot(config):
        pass
    for file in tmp_path.glob("db.sqlite3*"):
        file.chmod(0o600)  # what the doctor asks for (the bot's own files)
    return config


def failures(checks):
    return {c.name: c.fix for c in checks if c.failed}


def discord_items(checks):
    return [c for c in checks if c.section == "discord"]


async def test_a_correct_set_up_passes(ready, fake, world):
    checks = await all_checks(ready)
    assert failures(checks) == {}
    names = " | ".join(c.name for c in discord_items(checks))
    for item in ("the bot token works", f"the bot is in guild {world.harbor}", "Ban Members", "Manage Messages",
                 "Moderate Members", "view, send and embed", "hidden from @everyone", "safety role can see",
                 "safety role", "commands are registered", "escalation channel", "escalation contact"):
        assert item in names, item
    assert all(c.status == "ok" for c in discord_items(checks))


BREAKS = {
    "token": "the bot token works",
    "not in guild": "the bot is in guild {harbor}",
    "no ban": "the bot has Ban Members in guild {haven}",
    "no manage messages": "the bot has Manage Messages in guild {haven}",
    "no moderate": "the bot has Moderate Members in guild {haven}",
    "cannot send": "the bot can view, send and embed in the safety channel of guild {haven}",
    "cannot embed": "the bot can view, send and embed in the safety channel of guild {haven}",
    "cannot see the channel": "the safety channel {safety} exists in guild {haven}",
    "public channel": "the safety channel of guild {haven} is hidden from @everyone",
    "role cannot see": "the safety role can see the safety channel of guild {haven}",
    "role missing": "the safety role 4242 exists in guild {haven}",
    "commands missing": "the bot's commands are registered in guild {haven}",
    "escalation gone": "the escalation channel 4343 exists and the bot can post there",
}


@pytest.mark.parametrize("broken", list(BREAKS))
async def test_each_item_broken_in_turn_fails_with_its_fix(broken, ready, fake, world, tmp_path):
    config = ready
    bot_role = fake.guilds[world.haven]["bot_role_id"]
    if broken == "token":
        fake.token = "another-token"
    elif broken == "not in guild":
        del fake.guilds[world.harbor]["members"][fake.bot_id]
    elif broken == "no ban":
        fake.set_bot_permissions(world.haven, DEFAULT_BOT_PERMISSIONS & ~BAN_MEMBERS)
    elif broken == "no manage messages":
        fake.set_bot_permissions(world.haven, DEFAULT_BOT_PERMISSIONS & ~MANAGE_MESSAGES)
    elif broken == "no moderate":
        fake.set_bot_permissions(world.haven, DEFAULT_BOT_PERMISSIONS & ~MODERATE_MEMBERS)
    elif broken == "cannot send":
        await fake.set_overwrite(world.safety, bot_role, VIEW_CHANNEL, SEND_MESSAGES)
    elif broken == "cannot embed":
        await fake.set_overwrite(world.safety, bot_role, VIEW_CHANNEL, EMBED_LINKS)
    elif broken == "cannot see the channel":
        await fake.set_overwrite(world.safety, bot_role, 0, 0)
    elif broken == "public channel":
        await fake.set_overwrite(world.safety, world.haven, VIEW_CHANNEL, 0)
    elif broken == "role cannot see":
        await fake.set_overwrite(world.safety, world.role, 0, VIEW_CHANNEL)
    elif broken == "role missing":
        config = config_with(tmp_path, fake, world, safety_role=4242)
    elif broken == "commands missing":
        fake.commands[world.haven] = {}
    elif broken == "escalation gone":
        config = config_with(tmp_path, fake, world, escalation_channel=4343)
    checks = await all_checks(config)
    expected = BREAKS[broken].format(harbor=world.harbor, haven=world.haven, safety=world.safety)
    failed = failures(checks)
    assert expected in failed, failed
    assert failed[expected]  # a fix, in plain words
    if broken not in ("token", "cannot see the channel", "cannot send", "cannot embed", "role missing"):
        assert list(failed) == [expected]  # only that item fails


async def run_cli(*args, env=None):
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "safety_bot.cli", *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                stdin=asyncio.subprocess.DEVNULL, env=env)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode(), err.decode()


async def test_doctor_cli_exit_codes_and_checklist(ready, fake, world, tmp_path):
    import os

    env = {**os.environ, "DISCORD_TOKEN": fake.token}
    cfg = str(tmp_path / "config.yaml")
    code, out, err = await run_cli("doctor", "--config", cfg, env=env)
    assert code == 0, out + err
    assert "[ok]   the bot token works" in out and "all good" in out
    fake.set_bot_permissions(world.haven, DEFAULT_BOT_PERMISSIONS & ~BAN_MEMBERS)
    code, out, err = await run_cli("doctor", "--config", cfg, env=env)
    assert code == 1
    assert f"[FAIL] the bot has Ban Members in guild {world.haven}" in out
    assert "fix: Server Settings > Roles: give the bot's role Ban Members" in out and "1 failed" in out


async def test_run_posts_failures_to_each_servers_team_once(ready, fake, world, tmp_path):
    import os

    fake.set_bot_permissions(world.haven, DEFAULT_BOT_PERMISSIONS & ~BAN_MEMBERS)
    env = {**os.environ, "DISCORD_TOKEN": fake.token}
    cfg = str(tmp_path / "config.yaml")

    async def run_until_checked():
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "safety_bot.cli", "run", "--config", cfg,
                                                    stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
                                                    env=env)
        lines = []
        try:
            while True:
                line = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode()
                assert line, "".join(lines)
                lines.append(line)
                if "preflight done" in line:
                    return "".join(lines)
        finally:
            proc.terminate()
            await proc.wait()

    def posts(channel):
        return [m for m in fake.messages(channel) if "found something that needs fixing" in contents([m])]

    log = await run_until_checked()
    assert "1 check(s) failed, 1 team(s) told" in log
    [post] = posts(world.safety)
    text = contents([post])
    assert f"Not working: the bot has Ban Members in guild {world.haven}" in text and "What to do:" in text
    assert posts(world.safety2) == []  # the other server's team is not bothered with it
    log = await run_until_checked()  # a restart with the same problem: not posted again
    assert "1 check(s) failed, 0 team(s) told" in log and len(posts(world.safety)) == 1
    fake.set_bot_permissions(world.haven, DEFAULT_BOT_PERMISSIONS)
    log = await run_until_checked()
    assert "0 check(s) failed, 0 team(s) told" in log
    fake.set_bot_permissions(world.haven, DEFAULT_BOT_PERMISSIONS & ~BAN_MEMBERS)
    log = await run_until_checked()  # fixed, then broken again: said again
    assert "1 check(s) failed, 1 team(s) told" in log and len(posts(world.safety)) == 2
