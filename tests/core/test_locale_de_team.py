"""German team texts (playbooks/locales/de.yaml, `team_texts`): a safety team that configured `locale: de`
reads its case cards, posts and command replies in German. Every German text is filled with exactly the
English text's placeholders (the bot fills those names, so an unknown one would fail and a missing one would
hide a fact from the team), and the loader names a translation whose placeholders differ."""

import re
import shutil
import string

import pytest
import yaml

from safety_bot.locales import placeholder_problem, placeholders
from safety_bot.playbooks import load_library
from safety_bot.yamlio import DataFileError
from tests.harness import ROOT, make_harness

LOCALES = ROOT / "playbooks" / "locales"


def team_texts(lang: str) -> dict[str, str]:
    return yaml.safe_load((LOCALES / f"{lang}.yaml").read_text(encoding="utf-8"))["team_texts"]


def names(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_every_english_team_text_has_a_german_one():
    en, de = team_texts("en"), team_texts("de")
    missing = [k for k in en if k not in de]
    assert missing == [], ("a new English team text needs its German one in playbooks/locales/de.yaml (team_texts, "
                           "same place, same {placeholders}): " + ", ".join(missing))
    assert {k for k, text in de.items() if not text.strip()} == set()


def test_every_german_team_text_has_an_english_key_and_the_same_placeholders():
    en, de = team_texts("en"), team_texts("de")
    assert len(de) > 200
    assert [k for k in de if k not in en] == []
    wrong = {k: (sorted(names(en[k])), sorted(names(text))) for k, text in de.items() if names(text) != names(en[k])}
    assert wrong == {}
    # the same shape: line breaks, and the spaces a fragment is joined with (" und ", " (Fall {number})")
    shape = {k: (text.count("\n"), text[:1].isspace(), text[-1:].isspace()) for k, text in de.items()}
    assert {k: v for k, v in shape.items()
            if v != (en[k].count("\n"), en[k][:1].isspace(), en[k][-1:].isspace())} == {}
    # the same order as en.yaml, so a reviewer can read the two side by side
    assert list(de) == [k for k in en if k in de]


def test_the_placeholder_check_catches_a_renamed_or_dropped_placeholder():
    assert placeholder_problem("Fall {number} eröffnet.", "Opened case {number}.") is None
    assert "uses {nummer}" in placeholder_problem("Fall {nummer} eröffnet.", "Opened case {number}.")
    assert "leaves out {number}" in placeholder_problem("Fall eröffnet.", "Opened case {number}.")
    assert "without its pair" in placeholder_problem("Fall {number eröffnet.", "Opened case {number}.")
    assert placeholders("a {x} and {y}") == {"x", "y"} and placeholders("{") is None


def test_every_german_team_text_formats_with_the_english_placeholders():
    """Each text filled as the bot fills it (every name the English text has), without an error, and no brace
    left over (a placeholder written wrongly would stay visible to the team)."""
    en, de = team_texts("en"), team_texts("de")
    for key, text in de.items():
        values = {name: f"<{name}>" for name in names(en[key])}
        filled = text.format(**values)
        for name in names(en[key]):
            assert f"<{name}>" in filled, (key, name)
        assert not re.search(r"[{}]", filled), (key, filled)


def test_commands_the_team_types_stay_as_the_bot_parses_them():
    """Command words inside a team text are what people type: the German text names the same commands."""
    en, de = team_texts("en"), team_texts("de")
    found = 0
    for key, text in de.items():
        typed = re.findall(r"(?:(?:(?<=[('])|(?<=: ))(?:reply|reveal|reopen|link|open|assign|category|confirm) (?:N|\{\w+\})"
                           r"(?: (?:\{\w+\}|<\w+>))*|--\w+|<\w+>|/safety case case:\{number\}|/safety \w+|!safety \w+|"
                           r"'safety-bot [\w /]+'|confirm:true|\{prefix\}\w+)", en[key])
        found += len(typed)
        for command in typed:
            assert command in text, (key, command)
    assert found > 40


# ---------------------------------------------------------------------------- the loader names a mismatch
def test_a_german_text_with_a_wrong_placeholder_is_named_at_load(tmp_path):
    folder = tmp_path / "playbooks"
    shutil.copytree(ROOT / "playbooks", folder)
    de = folder / "locales" / "de.yaml"
    text = de.read_text(encoding="utf-8")
    broken = text.replace('  unknown_case: "Hier gibt es keinen Fall {number}."',
                          '  unknown_case: "Hier gibt es keinen Fall {nummer}."')
    broken = broken.replace("Du hast in kurzer Zeit mehrere Meldungen geschickt. Bitte warte etwa {minutes} Minuten",
                            "Du hast in kurzer Zeit mehrere Meldungen geschickt. Bitte warte etwas")
    assert broken.count("{nummer}") == 1 and "warte etwas" in broken
    de.write_text(broken, encoding="utf-8")
    with pytest.raises(DataFileError) as err:
        load_library(folder)
    problems = str(err.value).splitlines()
    en = folder / "locales" / "en.yaml"

    def line(file, needle):
        return next(i for i, l in enumerate(file.read_text(encoding="utf-8").splitlines(), 1) if needle in l)

    assert (f"{de}:{line(de, '  unknown_case: ')}: team_texts.unknown_case: the placeholders differ from the "
            f"English text's: leaves out {{number}}; uses {{nummer}}, which the bot does not fill "
            f"(the English text: {en}:{line(en, '  unknown_case: ')})") in problems
    assert (f"{de}:{line(de, '  report_rate_limited: ')}: texts.report_rate_limited: the placeholders differ from the "
            f"English text's: leaves out {{minutes}} (the English text: {en}:{line(en, '  report_rate_limited: ')})") \
        in problems
    assert len(problems) == 2, problems
    # the shipped files load
    assert load_library(ROOT / "playbooks").texts.team["de"]


# ---------------------------------------------------------------------------- what the team really reads
async def test_a_report_reaches_a_german_team_as_a_german_case_card(tmp_path):
    h = await make_harness(tmp_path, {"locale": "de"})
    try:
        await h.run("report he threatens to post my pictures unless I pay")
        team = h.team()
        assert "Neuer Fall 1" in team and "Beschuldigte Person: noch nicht genannt" in team, team
        assert "Zugewiesen: noch niemand" in team and "Status: offen" in team
        assert "Befehle: case 1 | assign 1 | note 1 <text>" in team  # the commands stay as typed
        assert "New case" not in team and "Accused" not in team
        # the member still reads their own language (English here), the team German
        assert "Thank you for telling us" in h.private("alice")
        out = await h.run("as mia", "note 1 sie hat Angst", "close 1 actioned")
        assert "Notiz zu Fall 1 hinzugefügt." in h.replies("mia", out)
        assert "Fall 1 geschlossen (Maßnahmen ergriffen)." in h.replies("mia", out)
        out = await h.run("case 2")
        assert h.replies("mia", out) == "[bot to mia] Hier gibt es keinen Fall 2."
        out = await h.run("ban bob --confirm")
        assert "Erledigt: Die Sperre gilt in 2 Communitys." in h.replies("mia", out), out
        assert "[audit log @ cafe] ban bob: Sperre mit Nulltoleranz durch das Sicherheitsteam" in out
    finally:
        await h.app.__aexit__(None, None, None)


async def test_an_english_team_still_reads_english(tmp_path):
    h = await make_harness(tmp_path, {"locale": "en"})
    try:
        await h.run("locale de", "report er droht, meine Bilder zu posten")
        team = h.team()
        assert "New case 1" in team and "Accused: not named yet" in team, team
        assert "Neuer Fall" not in team and "Beschuldigte" not in team
        out = await h.run("as mia", "note 1 she is scared")
        assert "Note added to case 1." in h.replies("mia", out)
        out = await h.run("ban bob --confirm")
        assert "Done: the ban is in place in 2 communities." in h.replies("mia", out), out
    finally:
        await h.app.__aexit__(None, None, None)
