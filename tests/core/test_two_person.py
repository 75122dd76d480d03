"""Issue 13 item 6: limits on power. Each target of a ban, removal or warning counts towards
limits.mod_actions_per_hour; past it, and for bans of more than 5 accounts at once, a second member of the
safety team (or the escalation contact) must confirm a code."""

import re


def _code(text: str) -> str:
    return re.search(r"confirm ([0-9A-F]{6})", text).group(1)


async def test_sixty_bans_in_an_hour_need_a_second_person_after_the_limit(h):
    limit = h.app.config.limits.mod_actions_per_hour  # 30 by default
    await h.run("as mia")
    codes = []
    for i in range(60):
        out = await h.run(f"ban @user{i} --confirm spam wave")
        seen = h.replies("mia", out)
        if i < limit:
            assert "Banning user" in seen, (i, seen)
        else:
            assert "needs a second member of the safety team" in seen, (i, seen)
            codes.append(_code(seen))
    banned = [i for i in range(60) if await h.store.active_ban("friends", f"console:user{i}")]
    assert banned == list(range(limit))
    assert len(h.escalation().split("Two-person rule:")) - 1 == 60 - limit  # the escalation contact is told each time
    # the moderator cannot confirm their own; another team member can; a code works once
    out = await h.run(f"confirm {codes[0]}")
    assert "Another member of the safety team must confirm" in h.replies("mia", out)
    out = await h.run("as max", f"confirm {codes[0]}", f"confirm {codes[0]}", "confirm ZZZZZZ")
    seen = h.replies("max", out)
    assert "Confirmed ban by mia" in seen and seen.count("There is no pending action") == 2
    assert await h.store.active_ban("friends", f"console:user{limit}") is not None
    confirmed = [a for a in await h.store.audit_entries() if a.action == "two_person.confirmed"]
    assert [(a.actor, a.detail["requested_by"]) for a in confirmed] == [("console:max", "console:mia")]
    # the escalation contact can confirm too (a team of one)
    out = await h.run("as olivia", f"confirm {codes[1]}")
    assert "Confirmed ban by mia" in h.replies("olivia", out)


async def test_a_ban_of_more_than_five_accounts_at_once_needs_a_second_person(h):
    out = await h.run("as mia", "ban 1001 1002 1003 1004 1005 1006 --confirm raid")
    seen = h.replies("mia", out)
    assert "a ban of 6 accounts at once" in seen
    assert await h.store.active_ban("friends", "console:1001") is None
    out = await h.run("as max", f"confirm {_code(seen)}")
    assert "Banning 1001, 1002, 1003, 1004, 1005, 1006" in h.replies("max", out)
    assert await h.store.active_ban("friends", "console:1006") is not None
    out = await h.run("as mia", "ban 2001 2002 2003 2004 2005 --confirm five is fine")
    assert "Banning" in h.replies("mia", out)


async def test_warnings_and_removals_count_each_target(tmp_path):
    from tests.harness import make_harness

    h = await make_harness(tmp_path, {"limits": {"mod_actions_per_hour": 3}})
    await h.run("as bob", "say general one", "say general two")
    out = await h.run("as mia", "warn @carol rude", "remove m1 --confirm", "ban @dave --confirm", "remove m2 --confirm")
    seen = h.replies("mia", out)
    assert "Warned carol" in seen and "Banning dave" in seen
    assert "This removal needs a second member of the safety team" in seen
    assert not h.console.world.messages["m2"].deleted
    await h.app.__aexit__(None, None, None)


async def _restarted(tmp_path, overrides, env=None):
    """A second App on the same database, as after a restart (or another process of a shared deployment)."""
    import time

    from safety_bot.app import App
    from safety_bot.config import load_config
    from tests.harness import Harness, write_config

    offset = [0.0]
    app = App(load_config(write_config(tmp_path, overrides), env=env or {}), clock=lambda: time.time() + offset[0])
    await app.__aenter__()
    return Harness(app, offset)


async def _survives(tmp_path, overrides=None, env=None):
    from tests.harness import make_harness

    overrides = {"limits": {"mod_actions_per_hour": 1}, **(overrides or {})}
    first = await make_harness(tmp_path, overrides, sqlite=True, env=env)
    await first.run("as mia", "ban @raider1 --confirm spam")
    out = await first.run("ban @raider2 --confirm spam", "ban @raider3 --confirm spam")
    codes = re.findall(r"confirm ([0-9A-F]{6})", h_replies(out, "mia"))
    assert len(codes) == 2
    # the codes are in the database (encrypted), not in the process
    stored = await first.store.get_confirmation(codes[0], first.app.service.clock())
    assert stored is not None and stored[0] == "cafe"
    await first.app.__aexit__(None, None, None)
    second = await _restarted(tmp_path, overrides, env)
    try:
        out = await second.run("as max", f"confirm {codes[0]}", f"confirm {codes[0]}")
        seen = second.replies("max", out)
        assert "Confirmed ban by mia" in seen and "There is no pending action" in seen
        assert await second.store.active_ban("friends", "console:raider2") is not None
        # a code expires after an hour: nothing runs
        second.offset[0] += 3601
        out = await second.run(f"confirm {codes[1]}")
        assert "There is no pending action" in second.replies("max", out)
        assert await second.store.active_ban("friends", "console:raider3") is None
        # bad codes: a clear answer, nothing changed
        out = await second.run("confirm ../../x", "confirm " + "A" * 40)
        assert second.replies("max", out).count("There is no pending action") == 2
    finally:
        await second.app.__aexit__(None, None, None)


def h_replies(lines, name):
    return "\n".join(line for line in lines if line.startswith(f"[bot to {name}]"))


async def test_codes_survive_a_restart_and_expire_on_sqlite(tmp_path):
    await _survives(tmp_path)


async def test_codes_are_shared_by_processes_on_postgresql(tmp_path, postgres_server):
    from safety_bot.crypto import new_key_text
    from tests.postgres_server import fresh_database

    dsn = await fresh_database(postgres_server)
    storage = {"backend": "postgres", "dsn": "${DATABASE_URL}", "key": "${SAFETY_BOT_KEY}"}
    await _survives(tmp_path, {"storage": storage}, env={"DATABASE_URL": dsn, "SAFETY_BOT_KEY": new_key_text()})
