"""The pseudo-language test: a language made from en.yaml with every text bracketed ⟦...⟧, in a temporary
playbooks folder. The README's console walk-through runs in it; every line a member reads must come from
that language, so a text still hard-coded in the code, inline in a playbook, or falling back to English
shows up as letters outside the brackets."""

import re
import shutil
import subprocess
import sys

import yaml

from safety_bot.playbooks import load_library
from tests.harness import ROOT, write_config

CLI = [sys.executable, "-m", "safety_bot.cli"]
MODERATORS = {"mia", "max", "olivia"}  # the team and the escalation contact read team texts
PSEUDO = "xx"


def bracket(text: str) -> str:
    # line by line, so every printed line carries its brackets; placeholders stay inside
    return "\n".join(f"⟦{line}⟧" if line.strip() else line for line in text.split("\n"))


def pseudo(node):
    if isinstance(node, dict):
        return {k: pseudo(v) for k, v in node.items()}
    if isinstance(node, list):
        return [pseudo(v) for v in node]
    return bracket(node) if isinstance(node, str) else node


def make_pseudo_language(folder) -> None:
    en = yaml.safe_load((folder / "locales" / "en.yaml").read_text(encoding="utf-8"))
    data = {"version": 1, "language": PSEUDO, "texts": pseudo(en["texts"]), "team_texts": pseudo(en["team_texts"]),
            "words": {kind: [f"⟦{w}⟧" for w in words] for kind, words in en["words"].items()},
            "formats": {"datetime": "⟦" + en["formats"]["datetime"] + "⟧"}}
    (folder / "locales" / f"{PSEUDO}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def leftover(content: str, typed: list[str], resource_names: list[str]) -> str:
    """What a member-facing line shows outside the pseudo-language: must be no words at all."""
    if any(content.strip() and content.strip() in line for line in typed):
        return ""  # what a person typed, passed on (a moderator's reply, a warning's reason)
    rest = re.sub(r"⟦[^⟧]*⟧", " ", content)
    rest = re.sub(r"https://\S+", " ", rest)
    for name in sorted(resource_names, key=len, reverse=True):  # proper names of helplines: data, any language
        rest = rest.replace(name, " ")
    return rest if re.search(r"[A-Za-zÄÖÜäöüß]{2,}", rest) else ""


def run_walkthrough(tmp_path):
    """The README's walk-through in the pseudo-language (config `locale` and the console's): (library, output, typed)."""
    folder = tmp_path / "playbooks"
    shutil.copytree(ROOT / "playbooks", folder)
    make_pseudo_language(folder)
    lib = load_library(folder)
    assert lib.missing_texts() == []  # complete: every key of en.yaml is in the pseudo-language
    base = yaml.safe_load(write_config(tmp_path).read_text(encoding="utf-8"))
    cfg = write_config(tmp_path, {"playbooks": str(folder), "locale": PSEUDO,
                                  "console": {**base["console"], "locale": PSEUDO}})
    script = ROOT / "examples" / "walkthrough.txt"
    res = subprocess.run([*CLI, "run", "--config", str(cfg), "--script", str(script)], capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    typed = [line for line in script.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    return lib, res.stdout, typed


def test_walkthrough_in_a_pseudo_language_shows_members_nothing_else(tmp_path):
    lib, stdout, typed = run_walkthrough(tmp_path)
    names = [r.name for r in lib.resources]
    member_lines = []
    for line in stdout.splitlines():
        m = re.match(r"^\[(?:private|bot) to ([^\]]+)\] ?(.*)$", line)
        if m and m.group(1) not in MODERATORS:
            member_lines.append((m.group(1), m.group(2)))
    # the walk-through really ran in the pseudo-language, for every kind of member message
    shown = "\n".join(c for _, c in member_lines)
    for keys in (["report_received"], ["intake_done"], ["team_writes"], ["consent_recorded_yes"],
                 ["outcome_banned"], ["realerted", "realerted_contact"], ["about_moderator_notice"],
                 ["console.choices_hint"], ["playbook.sextortion.first_short"], ["intake.danger.text"],
                 ["intake.danger.yes"]):
        assert any(lib.texts.t(key, PSEUDO).split("\n")[0] in shown for key in keys), keys
    assert {who for who, _ in member_lines} >= {"alice", "carol", "erin"}
    wrong = [(who, content) for who, content in member_lines if leftover(content, typed, names)]
    assert wrong == [], "\n".join(f"[to {who}] {content}" for who, content in wrong)


def test_the_check_finds_a_text_that_falls_back_to_english(tmp_path):
    """The same check, with one member text missing from the pseudo-language: it is caught."""
    folder = tmp_path / "playbooks"
    shutil.copytree(ROOT / "playbooks", folder)
    make_pseudo_language(folder)
    file = folder / "locales" / f"{PSEUDO}.yaml"
    data = yaml.safe_load(file.read_text(encoding="utf-8"))
    del data["texts"]["report_received"]
    file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    lib = load_library(folder)
    english = lib.texts.t("report_received", PSEUDO)
    assert not english.startswith("⟦")
    assert leftover(english, [], [r.name for r in lib.resources])
    assert leftover(lib.texts.t("resources_intro", PSEUDO), [], []) == ""
