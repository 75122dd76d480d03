"""What `run` posts to the safety team about failed start-up checks: its words come from the locale files
(`team_texts:` in playbooks/locales/en.yaml), with the check's name and fix filled in."""

import shutil

import yaml

from safety_bot.ops.checks import FAIL, Check
from safety_bot.ops.doctor import post_failures
from tests.harness import ROOT, make_harness

BROKEN = [Check("storage", "the database opens", FAIL, "give the bot's user write access to /srv/db")]


async def posted(tmp_path, overrides=None) -> str:
    h = await make_harness(tmp_path, overrides)
    try:
        assert await post_failures(h.app, BROKEN) == 2  # storage problems reach every community's team
        return h.team("cafe")
    finally:
        await h.app.__aexit__(None, None, None)


async def test_shipped_words_of_the_start_up_post(tmp_path):
    text = await posted(tmp_path)
    assert "safety-bot checked its set-up at start and found something that needs fixing:" in text
    assert "- Not working: the database opens. What to do: give the bot's user write access to /srv/db" in text
    assert "Run 'safety-bot doctor' on the bot's machine to check again." in text


async def test_start_up_post_is_read_from_the_locale_files(tmp_path):
    folder = tmp_path / "playbooks"
    shutil.copytree(ROOT / "playbooks", folder)
    en_file = folder / "locales" / "en.yaml"
    en = yaml.safe_load(en_file.read_text(encoding="utf-8"))
    en["team_texts"].update({
        "startup_failures_intro": "Changed intro from the locale file.",
        "startup_failure_item": "* broken <{name}>, fix <{fix}>",
        "startup_failures_outro": "Changed closing line.",
    })
    en_file.write_text(yaml.safe_dump(en, allow_unicode=True), encoding="utf-8")
    text = await posted(tmp_path, {"playbooks": str(folder)})
    assert "Changed intro from the locale file." in text and "Changed closing line." in text
    assert "* broken <the database opens>, fix <give the bot's user write access to /srv/db>" in text
    assert "found something that needs fixing" not in text and "Not working" not in text
