"""Threat phrasings (locale files, `threats:`): Discord's keyword rules, Discord's limits checked at load with
file:line, every language used together."""

from __future__ import annotations

import shutil
from pathlib import Path

from safety_bot.locales import load_locales
from safety_bot.threat_phrases import ThreatPhrases

ROOT = Path(__file__).resolve().parents[2]


def test_keywords_match_whole_words_and_wildcards_like_discord() -> None:
    tp = ThreatPhrases.build(["pay me or", "nude*", "*leak"], [r"(?i)\byou have \d+ hours?\b"])
    assert tp.match("PAY ME OR else") == "PAY ME OR"
    assert tp.match("repay me orange") is None  # whole words only
    assert tp.match("your nudes") == "nude"
    assert tp.match("a newleak") == "leak" and tp.match("leaky") is None
    assert tp.match("You have 3 hours") == "You have 3 hours"
    assert tp.match("") is None and tp.match("hello") is None


def test_shipped_phrasings_cover_every_language_within_discord_limits() -> None:
    problems: list[str] = []
    texts, _ = load_locales(ROOT / "playbooks", problems)
    assert problems == []
    tp = ThreatPhrases.from_texts(texts)
    assert tp.limits_problems() == []
    assert tp.match("pay me or I post your nudes") and tp.match("Zahl oder ich poste deine Bilder")
    assert tp.match("see you at the meetup tomorrow") is None


def test_bad_phrasings_are_refused_with_file_and_line(tmp_path) -> None:
    books = tmp_path / "playbooks"
    shutil.copytree(ROOT / "playbooks", books)
    de = books / "locales" / "de.yaml"
    text = de.read_text(encoding="utf-8")
    for bad, why in ((f'"{"x" * 61}"', "longer than Discord's 60"), ('"zahl * oder"', "'*' may only stand"),
                     ('""', "an empty keyword")):
        de.write_text(text.replace('"zahl oder"', bad), encoding="utf-8")
        problems: list[str] = []
        load_locales(books, problems)
        assert any("de.yaml:" in p and "threats" in p and why in p for p in problems), problems
    de.write_text(text.replace('    - "(?i)\\\\bdu hast', '    - "(unclosed\\\\bdu hast'), encoding="utf-8")
    problems = []
    load_locales(books, problems)
    assert any("de.yaml:" in p and "not a valid regular expression" in p for p in problems), problems
    # Discord's totals count every language together: 2 English patterns + 9 German ones are 11 > 10.
    import yaml

    data = yaml.safe_load(text)
    data["threats"]["patterns"] = [f"(?i)drohung{i}" for i in range(9)]
    de.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    problems = []
    load_locales(books, problems)
    assert any("en.yaml:" in p and "11 patterns in all languages; Discord allows 10" in p for p in problems), problems


def test_the_module_secret_needs_the_listener_and_the_environment(tmp_path) -> None:
    import pytest

    from safety_bot.config import DataFileError, load_config
    from tests.harness import write_config

    matrix = {"homeserver": "http://127.0.0.1:1", "user_id": "@bot:localhost", "password": "${PW}",
              "management_room": "!m:localhost", "synapse_module_secret": "${SECRET}"}
    env = {"PW": "x", "SECRET": "s" * 32}
    with pytest.raises(DataFileError) as err:
        load_config(write_config(tmp_path, {"matrix": matrix}), env=env)
    assert "synapse_module_secret" in str(err.value) and "http.listen" in str(err.value)
    with pytest.raises(DataFileError) as err:  # a literal secret in the file is refused
        load_config(write_config(tmp_path, {"matrix": {**matrix, "synapse_module_secret": "s" * 32},
                                            "http": {"listen": "8080"}}), env=env)
    assert "environment" in str(err.value)
    with pytest.raises(DataFileError):  # too short to be a secret
        load_config(write_config(tmp_path, {"matrix": matrix, "http": {"listen": "8080"}}), env={**env, "SECRET": "short"})
    cfg = load_config(write_config(tmp_path, {"matrix": matrix, "http": {"listen": "8080"}}), env=env)
    assert cfg.matrix.synapse_module_secret == "s" * 32 and not cfg.matrix.suspend_local_accused
