"""Discord AutoMod (issue 18 item 2) with the real discord.py client against the fake Discord: the bot's
keyword rule is created at start from every locale file's threat phrasings, brought up to date when they
change, a blocked message opens a case on its author (blocked text as evidence, the mentioned member as
possible target), and a rule an admin deleted is reported to the safety team (live, at start, by doctor)."""

from __future__ import annotations

import shutil

import yaml

from adapters.discord.automod import RULE_NAME
from safety_bot.ops.doctor import all_checks
from tests.discord.conftest import ROOT, discord_config, running_bot
from tests.fakes.discord_server import DEFAULT_BOT_PERMISSIONS, MANAGE_GUILD

AUTOMOD = {"automod": True}


def allow_manage(fake, w) -> None:
    for gid in (w.haven, w.harbor):
        fake.set_bot_permissions(gid, DEFAULT_BOT_PERMISSIONS | MANAGE_GUILD)


def our_rules(fake, gid) -> list[dict]:
    return [r for r in fake.automod_rules.get(gid, {}).values() if r["name"] == RULE_NAME]


def locale(lang: str) -> dict:
    return yaml.safe_load((ROOT / "playbooks" / "locales" / f"{lang}.yaml").read_text(encoding="utf-8"))


async def test_rule_created_at_start_with_every_language(tmp_path, fake, world) -> None:
    w = world
    allow_manage(fake, w)
    admins_own = await fake.add_automod_rule(w.haven, {"name": "no spoilers", "event_type": 1, "trigger_type": 1,
                                                       "trigger_metadata": {"keyword_filter": ["spoiler"]},
                                                       "actions": [{"type": 1, "metadata": {}}], "enabled": True})
    async with running_bot(discord_config(tmp_path, fake, w, discord_extra=AUTOMOD)):
        for gid, safety in ((w.haven, w.safety), (w.harbor, w.safety2)):
            rules = our_rules(fake, gid)
            assert len(rules) == 1
            rule = rules[0]
            assert rule["creator_id"] == str(fake.bot_id) and rule["enabled"] and rule["trigger_type"] == 1
            kws = rule["trigger_metadata"]["keyword_filter"]
            for lang in ("en", "de"):  # every shipped language, within Discord's limits
                assert set(locale(lang)["threats"]["keywords"]) <= set(kws)
                assert set(locale(lang)["threats"]["patterns"]) <= set(rule["trigger_metadata"]["regex_patterns"])
            assert len(kws) <= 1000 and all(len(k) <= 60 for k in kws)
            actions = {a["type"]: a["metadata"] for a in rule["actions"]}
            assert actions[1]["custom_message"] == locale("en")["texts"]["discord"]["automod_notice"]
            assert len(actions[1]["custom_message"]) <= 150
            assert actions[2]["channel_id"] == str(safety)  # the alert goes to the private safety channel
            # The team quotes threats when it discusses a case: its role and channel are exempt.
            assert rule["exempt_roles"] == [str(w.role if gid == w.haven else w.role2)]
            assert rule["exempt_channels"] == [str(safety)]
    # An admin's own rule is left alone.
    assert fake.automod_rules[w.haven][int(admins_own["id"])] == admins_own
    checks = await all_checks(discord_config(tmp_path, fake, w, discord_extra=AUTOMOD))
    assert [c.name for c in checks if c.failed and "AutoMod" in c.name] == []


async def test_rule_updated_when_the_phrases_change(tmp_path, fake, world) -> None:
    w = world
    allow_manage(fake, w)
    books = tmp_path / "playbooks"
    shutil.copytree(ROOT / "playbooks", books)
    async with running_bot(discord_config(tmp_path, fake, w, discord_extra=AUTOMOD, playbooks=str(books))):
        first = our_rules(fake, w.haven)[0]
    assert "or i will tell your boss" not in first["trigger_metadata"]["keyword_filter"]

    en = books / "locales" / "en.yaml"
    en.write_text(en.read_text(encoding="utf-8").replace('keywords: ["or i will post your",',
                                                         'keywords: ["or i will tell your boss", "or i will post your",'),
                  encoding="utf-8")
    config = discord_config(tmp_path, fake, w, discord_extra=AUTOMOD, playbooks=str(books))
    stale = [c.name for c in await all_checks(config) if c.failed]
    assert any("holds the threat phrasings" in n for n in stale), stale  # doctor sees the rule is out of date
    async with running_bot(config):
        rules = our_rules(fake, w.haven)
        assert len(rules) == 1 and rules[0]["id"] == first["id"]  # modified, not a second rule
        assert "or i will tell your boss" in rules[0]["trigger_metadata"]["keyword_filter"]
        assert fake.requests_to("PATCH", rf"/guilds/{w.haven}/auto-moderation/rules/{first['id']}")
    assert [c.name for c in await all_checks(config) if c.failed] == []


async def test_a_blocked_threat_opens_a_case_on_its_author(tmp_path, fake, world) -> None:
    w = world
    allow_manage(fake, w)
    async with running_bot(discord_config(tmp_path, fake, w, discord_extra=AUTOMOD)) as bot:
        threat = f"<@{w.alice}> pay me 500 or I will post your nudes everywhere"
        assert await fake.member_posts(w.general, w.suspect, threat) is None  # never delivered
        assert all(m["content"] != threat for m in fake.messages(w.general))
        post = await fake.wait_for(lambda: [m for m in fake.messages(w.safety) if m["author"]["id"] == str(fake.bot_id)
                                            and "blocked before delivery" in _text(m)], what="the case post")
        assert "Discord AutoMod" in _text(post[0])
        cases = await bot.app.store.list_cases(str(w.haven))
        assert len(cases) == 1
        case = cases[0]
        assert [a.id for a in case.accused] == [str(w.suspect)] and case.category == "sextortion"
        evidence = await bot.app.store.evidence_for(case.id)
        assert [e.text for e in evidence] == [threat] and evidence[0].author.id == str(w.suspect)
        notes = " ".join(n.text for n in await bot.app.store.notes_for(case.id))
        assert str(w.alice) in notes and "possibly the person threatened" in notes

        # A second threat from the same account joins the same case; an ordinary message passes.
        again = "Ich habe deine Nacktbilder"
        assert await fake.member_posts(w.general, w.suspect, again) is None
        await fake.wait_for(lambda: len([m for m in fake.messages(w.safety) if "another message" in _text(m)]) == 1,
                            what="the follow-up post")
        assert len(await bot.app.store.list_cases(str(w.haven))) == 1
        assert [e.text for e in await bot.app.store.evidence_for(case.id)] == [threat, again]
        mid = await fake.member_posts(w.general, w.bob, "I posted my holiday pictures, pay a visit")
        assert mid is not None and fake.messages_by_id[mid]["content"].startswith("I posted")
        # A team member quoting a threat is not blocked (exempt role), nor is anyone in the safety channel.
        assert await fake.member_posts(w.general, w.mod, "he wrote: pay me or I post your nudes") is not None
        assert await fake.member_posts(w.safety, w.mod, "quote: i have your nudes") is not None
        assert len(await bot.app.store.list_cases(str(w.haven))) == 1


def _text(m: dict) -> str:
    parts = [m.get("content") or ""]
    for e in m.get("embeds") or []:
        parts += [e.get("title") or "", e.get("description") or ""]
        parts += [f"{f['name']}: {f['value']}" for f in e.get("fields", [])]
    return "\n".join(parts)


async def test_a_rule_an_admin_deleted_is_reported(tmp_path, fake, world) -> None:
    w = world
    allow_manage(fake, w)
    config = discord_config(tmp_path, fake, w, discord_extra=AUTOMOD)
    async with running_bot(config):
        rule = our_rules(fake, w.haven)[0]
        await fake.admin_delete_automod_rule(w.haven, int(rule["id"]))
        await fake.wait_for(lambda: [m for m in fake.messages(w.safety) if "was just deleted" in _text(m)],
                            what="the team told")
        assert our_rules(fake, w.haven) == []  # not fought over while running
        assert not [m for m in fake.messages(w.safety2) if "deleted" in _text(m)]  # only that guild's team
    failed = [c for c in await all_checks(config) if c.failed]
    assert any(f"AutoMod rule '{RULE_NAME}' exists in guild {w.haven}" in c.name for c in failed)

    # Deleted while the bot was down: recreated at start, and the team is told.
    async with running_bot(config):
        assert len(our_rules(fake, w.haven)) == 1
        rule = our_rules(fake, w.harbor)[0]
    del fake.automod_rules[w.harbor][int(rule["id"])]
    async with running_bot(config):
        assert len(our_rules(fake, w.harbor)) == 1
        await fake.wait_for(lambda: [m for m in fake.messages(w.safety2) if "deleted since the last start" in _text(m)],
                            what="the team told at start")
    assert not [m for m in fake.messages(w.safety) if "deleted since the last start" in _text(m)]


async def test_without_manage_server_nothing_breaks_and_doctor_says_why(tmp_path, fake, world) -> None:
    w = world
    config = discord_config(tmp_path, fake, w, discord_extra=AUTOMOD)
    async with running_bot(config) as bot:
        assert bot.ready.is_set()
        assert fake.automod_rules.get(w.haven, {}) == {}
    failed = [c for c in await all_checks(config) if c.failed]
    assert any("can manage AutoMod rules" in c.name and "Manage Server" in c.fix for c in failed)
