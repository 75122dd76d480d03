"""Every word in locale files: the words the bot recognises, country names and date formats come from
playbooks/locales/*.yaml, so a new language is one new file."""

import shutil

import yaml

from safety_bot.playbooks import load_library
from tests.harness import ROOT, make_harness


def copy_playbooks(tmp_path):
    folder = tmp_path / "playbooks"
    shutil.copytree(ROOT / "playbooks", folder)
    return folder


def add_language(folder, lang: str, edit) -> None:
    data = yaml.safe_load((folder / "locales" / "en.yaml").read_text(encoding="utf-8"))
    data["language"] = lang
    edit(data)
    (folder / "locales" / f"{lang}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


async def test_ich_answers_passiert_das_dir_as_mir_and_a_friend_as_someone_else(h):
    await h.run("locale de", "report er droht, meine Bilder zu posten", "überspringen")
    await h.run("Namen zeigen", "Jemand droht, intime Bilder oder Videos zu verbreiten")
    out = await h.run("ich")
    assert "das habe ich nicht verstanden" not in h.private("alice", out)
    assert (await h.store.get_case("cafe", 1)).answers["about"] == "me"
    await h.run("as bob", "report someone threatens to post my friend's photos", "skip", "show", "1")
    await h.run("a friend")
    assert (await h.store.get_case("cafe", 2)).answers["about"] == "someone_else"


def test_the_about_question_reads_its_word_lists_from_every_locale_file():
    from safety_bot.intake import parse_answer

    lib = load_library(ROOT / "playbooks")
    q = lib.questions["about"]
    for text, meaning in (("ich", "me"), ("Ich.", "me"), ("I", "me"), ("myself", "me"), ("Mir", "me"),
                          ("jemand anderes", "someone_else"), ("not me", "someone_else"), ("Jemand anderem", "someone_else")):
        answer = parse_answer(q, text, "de", lib.texts)
        assert (answer.kind, answer.value) == ("value", meaning), text
    assert parse_answer(q, "vielleicht", "de", lib.texts).kind == "invalid"
    assert parse_answer(lib.questions["minor"], "ich", "de", lib.texts).kind == "invalid"  # not a choice there


async def test_german_words_are_recognised_from_the_locale_file(h):
    await h.run("locale de", "report er droht, meine Bilder zu posten")
    out = await h.run("überspringen")  # danger
    assert "Soll das Sicherheitsteam deinen Namen sehen?" in h.private("alice", out)
    await h.run("Namen zeigen", "Jemand droht, intime Bilder oder Videos zu verbreiten", "Mir", "nein")
    await h.run("Österreich", "stopp")
    case = await h.store.get_case("cafe", 1)
    assert case.answers["danger"] == "skipped" and case.answers["anonymous"] == "show"
    assert case.answers["topic"] == "sextortion" and case.answers["about"] == "me" and case.answers["minor"] == "no"
    assert case.flags["country"] == "AT"
    out = await h.run("dm consent ja")
    assert "Das Sicherheitsteam darf die Beweise" in h.private("alice", out)
    assert (await h.store.get_case("cafe", 1)).flags["consent"] == "yes"
    out = await h.run("dm zurückziehen")
    assert "Deine Meldung ist zurückgezogen" in h.private("alice", out)


async def test_a_new_language_brings_its_own_words_countries_and_date_format(tmp_path):
    folder = copy_playbooks(tmp_path)

    def edit(data):
        data["words"] = {"skip": ["sauter"], "stop": ["arrête"], "yes": ["oui"], "no": ["non"],
                         "withdraw": ["retirer"], "consent": ["accord"]}
        data["countries"] = {"DE": ["allemagne"]}
        data["formats"] = {"datetime": "%d/%m/%Y %Hh%M"}

    add_language(folder, "fr", edit)
    lib = load_library(folder)
    assert "sauter" in lib.texts.words("skip") and "skip" in lib.texts.words("skip")
    h = await make_harness(tmp_path, {"playbooks": str(folder)})
    try:
        await h.run("locale fr", "report he threatens to post my photos")
        await h.run("sauter", "oui")  # danger skipped, anonymous: "oui" is not a choice there
        case = await h.store.get_case("cafe", 1)
        assert case.answers["danger"] == "skipped" and "anonymous" not in case.answers
        await h.run("1", "1", "me", "non", "allemagne", "arrête")
        case = await h.store.get_case("cafe", 1)
        assert case.answers["minor"] == "no" and case.flags["country"] == "DE"
        out = await h.run("dm accord oui")
        assert (await h.store.get_case("cafe", 1)).flags["consent"] == "yes", out
        out = await h.run("dm retirer")
        assert (await h.store.get_case("cafe", 1)).status.value == "closed", out
        from safety_bot.views import TIME_STYLE, when
        token = TIME_STYLE.set("fr")
        try:
            assert when(1795335865.0) == "22/11/2026 08h24"
        finally:
            TIME_STYLE.reset(token)
    finally:
        await h.app.__aexit__(None, None, None)


# ---------------------------------------------------------------------------- check-config and text keys
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402

from safety_bot.yamlio import DataFileError  # noqa: E402
from tests.harness import write_config  # noqa: E402

CLI = [sys.executable, "-m", "safety_bot.cli"]


def line_of(file, needle: str) -> int:
    return next(i for i, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1) if needle in line)


def test_check_config_names_every_key_a_language_lacks(tmp_path):
    folder = copy_playbooks(tmp_path)
    de = folder / "locales" / "de.yaml"
    text = de.read_text(encoding="utf-8")
    text = re.sub(r"\n  withdrawn: .*", "", text)                      # a member text
    text = re.sub(r"\n      text: \"Ist gerade jemand.*", "", text)     # a question (nested key)
    text = re.sub(r"\n  consent: \[consent\]", "", text)               # a recognised word
    de.write_text(text, encoding="utf-8")
    cfg = write_config(tmp_path, {"playbooks": str(folder)})
    res = subprocess.run([*CLI, "check-config", "--config", str(cfg)], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 1 and "OK" not in res.stdout
    en = folder / "locales" / "en.yaml"
    lines = res.stderr.splitlines()[1:]
    assert f"{de}:{line_of(de, 'texts:')}: texts.withdrawn: missing in de" in res.stderr
    assert f"{en}:{line_of(en, '  withdrawn: ')})" in res.stderr  # where the English text is
    assert f"{de}:{line_of(de, '    danger:')}: texts.intake.danger.text: missing in de" in res.stderr
    assert f"{de}:{line_of(de, 'words:')}: words.consent: missing in de" in res.stderr
    assert len(lines) == 3, lines
    # still a valid configuration: the bot runs, and those texts fall back to English
    lib = load_library(folder)
    assert lib.texts.t("withdrawn", "de") == lib.texts.t("withdrawn", "en")
    # the shipped files lack nothing
    (tmp_path / "ok").mkdir()
    ok = subprocess.run([*CLI, "check-config", "--config", str(write_config(tmp_path / "ok"))],
                        capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0 and "OK" in ok.stdout, ok.stderr


def test_playbooks_name_text_keys_and_unknown_or_inline_texts_are_refused(tmp_path):
    folder = copy_playbooks(tmp_path)
    intake = folder / "intake.yaml"
    intake.write_text(intake.read_text(encoding="utf-8").replace("text: intake.danger.text", "text: intake.danger.txt"),
                      encoding="utf-8")
    pb = folder / "harassment.yaml"
    pb.write_text(pb.read_text(encoding="utf-8").replace("name: playbook.harassment.name",
                                                         "name:\n  en: Harassment\n  de: Belästigung"), encoding="utf-8")
    with pytest.raises(DataFileError) as err:
        load_library(folder)
    problems = str(err.value).splitlines()
    assert (f"{intake}:{line_of(intake, 'intake.danger.txt')}: questions.danger.text: no English text has the key "
            f"'intake.danger.txt' (add it to locales/en.yaml)") in problems
    assert any(p.startswith(f"{pb}:{line_of(pb, 'name:')}: name: write a text key of the locale files here")
               for p in problems), problems
    assert len(problems) == 2, problems


def test_a_new_language_is_one_file(tmp_path):
    """Adding a language touches only its locale file: playbooks, intake and resources follow."""
    folder = copy_playbooks(tmp_path)
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    add_language(folder, "xx", lambda data: data["texts"]["intake"]["danger"].update(text="Danger?"))
    after = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert [str(p) for p in set(after) - set(before)] == ["locales/xx.yaml"]
    assert all(after[p] == before[p] for p in before)
    lib = load_library(folder)
    assert lib.questions["danger"].text["xx"] == "Danger?" and lib.missing_texts() == []
