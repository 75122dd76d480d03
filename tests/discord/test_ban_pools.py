"""Discord ban pools against the fake Discord (issue 19, item 4): export (ids, reason code, date only),
follow in notify mode (a case with a one-press ban for a listed member who is present or joins) and apply
mode (banned by id across the network), entries removed lift the pool's bans, the safety team is never
banned by a pool, the team's unban wins, signed pools and bad files."""

from __future__ import annotations

import datetime as dt

import pytest

from safety_bot.cli import main
from safety_bot.lists.ban_pools import ban_pools
from safety_bot.lists.hash_lists import ListError
from tests.discord.conftest import bot_messages, contents, custom_ids, discord_config, ephemeral_text, running_bot

TODAY = dt.date.today().isoformat()


def pool(*lines: str) -> bytes:
    return ("# partner network's ban pool\n" + "\n".join(lines) + "\n").encode()


async def alert_about(fake, channel, user, *parts):
    return await fake.wait_for(lambda: next((m for m in bot_messages(fake, channel) if str(user) in m["content"]
                                             and all(p in m["content"] for p in parts)), None),
                               what=f"the alert about {user}")


async def test_notify_shows_present_and_joining_members_with_a_one_press_ban(tmp_path, fake, world, bot):
    pools = ban_pools(bot.app.service)
    f = tmp_path / "partners.txt"
    stranger = fake.snowflake()
    f.write_bytes(pool(f"{world.suspect} sextortion {TODAY}", f"{stranger} harassment 2026-01-02"))
    lst, res = await pools.follow(str(f), "partners", network="friends")
    assert (lst.action, res.size, res.added) == ("notify", 2, 2)
    await pools.tick(bot.app.runtime)
    alert = await alert_about(fake, world.safety, world.suspect, "is in a protected room", "ban pool partners")
    assert "Not banned automatically" in alert["content"] and world.suspect not in fake.bans(world.haven)
    [button] = custom_ids(alert)
    assert button.startswith(f"safety:banuploader:{world.haven}:")
    assert [c["label"] for row in alert["components"] for c in row["components"]] == ["Ban this account"]
    # Shown once: the next tick does not repeat it.
    n = len(bot_messages(fake, world.safety))
    await pools.tick(bot.app.runtime)
    assert len([m for m in bot_messages(fake, world.safety) if "ban pool partners" in m["content"]]) == \
        len([m for m in bot_messages(fake, world.safety)[:n] if "ban pool partners" in m["content"]])
    # The listed stranger joins: shown at once.
    await fake.member_joins(world.haven, stranger, name="stranger")
    await alert_about(fake, world.safety, stranger, "joined a protected room")
    # One press by a moderator bans across the network.
    press = await fake.press_button(int(alert["id"]), button, world.mod)
    await press.wait_messages(1)
    assert "Banning" in ephemeral_text(press)
    await fake.wait_for(lambda: world.suspect in fake.bans(world.haven) and world.suspect in fake.bans(world.harbor))
    ev = await bot.app.store.list_cases(str(world.haven))
    assert any(c.flags.get("ban_pool") == "partners" for c in ev)
    # /safety lists shows the pool to the team.
    it = await fake.send_slash_command(world.haven, world.safety, world.mod, "safety", {}, subcommand="lists")
    await it.wait_messages(1)
    assert "ban pool partners: action notify, 2 entries, last fetch" in ephemeral_text(it)


async def test_apply_bans_by_id_lifts_removed_entries_and_never_bans_the_team(tmp_path, fake, world, bot):
    pools = ban_pools(bot.app.service)
    f = tmp_path / "apply.txt"
    absent = fake.snowflake()
    f.write_bytes(pool(f"{world.suspect} sextortion {TODAY}", f"{world.mod} spam {TODAY}"))
    await pools.follow(str(f), "shared", network="friends", mode="apply")
    await pools.tick(bot.app.runtime)
    await fake.wait_for(lambda: world.suspect in fake.bans(world.haven) and world.suspect in fake.bans(world.harbor))
    assert "shared list shared" in (fake.bans(world.haven)[world.suspect].reason or "")
    assert world.mod not in fake.bans(world.haven) and world.mod not in fake.bans(world.harbor)
    assert contents(bot_messages(fake, world.safety))  # the team is told
    # The pool drops the suspect: the ban it made is lifted.
    f.write_bytes(pool(f"{world.mod} spam {TODAY}", f"{absent} other {TODAY}"))
    await pools.sync(await bot.app.store.get_shared_list("shared"))
    await pools.tick(bot.app.runtime)
    await fake.wait_for(lambda: world.suspect not in fake.bans(world.haven) and world.suspect not in fake.bans(world.harbor))
    # Someone listed who joins is banned; after the team unbans them, the pool does not ban them again.
    await fake.member_joins(world.haven, absent, name="absent")
    await fake.wait_for(lambda: absent in fake.bans(world.haven) and absent in fake.bans(world.harbor))
    press = await fake.send_slash_command(world.haven, world.safety, world.mod, "safety",
                                          {"user_id": str(absent), "reason": "we know them"}, subcommand="unban")
    await press.wait_messages(1)
    await fake.wait_for(lambda: absent not in fake.bans(world.haven) and absent not in fake.bans(world.harbor))
    await fake.member_joins(world.haven, absent, name="absent")
    await alert_about(fake, world.safety, absent, "the team lifted a ban on this account before")
    assert absent not in fake.bans(world.haven)


async def test_pools_follow_over_http_signed_and_bad_files_change_nothing(tmp_path, fake, world, bot, listserver):
    pools = ban_pools(bot.app.service)
    store = bot.app.store
    url = listserver.put("/pool.txt", pool(f"{world.bob} harassment {TODAY}"))
    lst, _ = await pools.follow(url, "web", network="friends", every=3600.0)
    assert lst.etag
    for body, problem in ((pool(f"{world.bob} harassment {TODAY}", "12ab sextortion 2026-01-01"), "line 3: a Discord user id"),
                          (pool(f"{world.bob} threats {TODAY}"), "line 2: unknown reason code"),
                          (pool(f"{world.bob} harassment 01/02/2026"), "line 2: the date must be YYYY-MM-DD"),
                          (pool(f"{world.bob} harassment"), "line 2: expected"),
                          (b"<html>login</html>", "line 1: this is a web page")):
        listserver.put("/pool.txt", body)
        with pytest.raises(ListError, match=problem):
            await pools.sync(await store.get_shared_list("web"))
        got = await store.get_shared_list("web")
        assert problem.split(":")[0] in got.last_error and got.size == 1
    # A signed pool with a key: a wrong signature is refused.
    from safety_bot.lists.fileformat import sign
    keys = store.audit_chain.keys
    good = sign(pool(f"{world.bob} harassment {TODAY}"), keys)
    listserver.put("/signed.txt", good)
    lst, res = await pools.follow(listserver.url("/signed.txt"), "signed", network="friends",
                                  public_key=keys.public_text())
    assert res.signed and res.size == 1
    listserver.put("/signed.txt", good.replace(b"harassment", b"sextortion"))
    with pytest.raises(ListError, match="does not verify"):
        await pools.sync(await store.get_shared_list("signed"))


async def test_bans_cli_export_has_ids_reason_code_and_date_only(tmp_path, fake, world, capsys, monkeypatch):
    import asyncio

    monkeypatch.setenv("DISCORD_TOKEN", fake.token)

    config = discord_config(tmp_path, fake, world)
    async with running_bot(config):
        it = await fake.send_slash_command(world.haven, world.safety, world.mod, "safety",
                                           {"member": str(world.suspect), "note": "threatens alice",
                                            "category": "sextortion"}, subcommand="open")
        await it.wait_messages(1)
        it = await fake.send_slash_command(world.haven, world.safety, world.mod, "safety",
                                           {"member": str(world.suspect), "case": 1, "confirm": True,
                                            "reason": "secret team words"}, subcommand="ban")
        await it.wait_messages(1)
        await fake.wait_for(lambda: world.suspect in fake.bans(world.harbor))
    cfg = str(tmp_path / "config.yaml")

    async def cli(*argv):
        return await asyncio.to_thread(main, list(argv) + ["--config", cfg])

    assert await cli("bans", "export", "--network", "friends") == 0
    out = capsys.readouterr()
    lines = [l for l in out.out.splitlines() if not l.startswith("#")]
    assert lines == [f"{world.suspect} sextortion {TODAY}"]
    assert "secret team words" not in out.out and "alice" not in out.out and "threatens" not in out.out
    assert "exported 1 ban(s)" in out.err
    f = tmp_path / "bad.txt"
    f.write_bytes(b"pdq abc\n")
    assert await cli("bans", "follow", str(f), "--network", "friends") == 2
    assert "line 1: expected '<user id> <reason code> <YYYY-MM-DD>'" in capsys.readouterr().err
    assert await cli("bans", "list") == 0  # the bad file changed nothing
    assert capsys.readouterr().out.startswith("no ban pools are followed")
    assert await cli("bans", "list", "--json") == 0
    assert capsys.readouterr().out == ""  # JSON lines: none
    f.write_bytes(pool(f"{world.bob} harassment {TODAY}"))
    assert await cli("bans", "follow", str(f), "--network", "friends", "--mode", "apply") == 0
    assert "ban pool bad: 1 accounts (1 new, 0 removed), mode apply" in capsys.readouterr().out
    assert await cli("bans", "list") == 0
    assert "list bad: network=friends action=apply size=1" in capsys.readouterr().out
    assert await cli("bans", "remove-list", "bad") == 0
    assert await cli("bans", "remove-list", "bad") == 2
    assert "there is no ban pool named bad" in capsys.readouterr().err


async def test_a_pool_removed_from_the_command_line_has_its_bans_lifted_by_the_running_bot(tmp_path, fake, world, bot,
                                                                                          monkeypatch):
    import asyncio

    monkeypatch.setenv("DISCORD_TOKEN", fake.token)
    pools = ban_pools(bot.app.service)
    f = tmp_path / "cli.txt"
    f.write_bytes(pool(f"{world.suspect} sextortion {TODAY}"))
    await pools.follow(str(f), "cli", network="friends", mode="apply")
    await pools.tick(bot.app.runtime)
    await fake.wait_for(lambda: world.suspect in fake.bans(world.haven) and world.suspect in fake.bans(world.harbor))
    cfg = str(tmp_path / "config.yaml")
    assert await asyncio.to_thread(main, ["bans", "remove-list", "cli", "--config", cfg]) == 0
    await pools.tick(bot.app.runtime)
    await fake.wait_for(lambda: world.suspect not in fake.bans(world.haven) and world.suspect not in fake.bans(world.harbor))
    assert await bot.app.store.active_ban("friends", f"discord:{world.suspect}") is None
