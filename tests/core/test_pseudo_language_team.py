"""The pseudo-language test for the safety team: with the configured locale set to the pseudo-language
(tests/core/test_pseudo_language.py), every line the team reads in the README's console walk-through -
the team channel's posts and case cards, the escalation contact's, the replies to moderator commands, and
the reasons the bot gives the platform's audit log - must come from its team_texts (and the playbooks'
texts), so an English sentence still written in the code shows up as letters outside the brackets.

Not words: what people typed (a statement, a note, a warning's reason, an answer), names of people,
communities, channels and the network, case aliases (reporter-1a2b), message ids and links, file paths,
category ids (sextortion, child_safety: what the team types in commands), and the console's simulated
platform around an audit-log reason ("ban bob: ..."). The console's own lines (texts.console: who you are
now, time passing, its help, with each command's summary from team_texts) are checked too. A command's
syntax ("ban <member or id> [--case N]", from the registry commands.COMMAND_SPECS) is what the team
types: it is not a word to translate (it stands inside a team text such as "Usage: {usage}").

Not covered: the Discord slash commands' descriptions and option help (registered with Discord in English:
the summaries from en.yaml, the option help from the registry)."""

import re
import shutil

from safety_bot import commands
from safety_bot.playbooks import load_library
from tests.core.test_pseudo_language import MODERATORS, PSEUDO, leftover, make_pseudo_language, run_walkthrough
from tests.harness import ROOT

PEOPLE = ["alice", "bob", "carol", "dave", "erin", "mia", "max", "olivia"]
DATA = [r"\breporter-[0-9a-f]{4}\b", r"\bjoin-[0-9a-f]{6}\b", r"console://\S+", r"(?<!\w)/\S+", r"\bm\d+\b",
        r"'friends'", r"\bsafety-team\b", r"\bchild_safety\b", r"\bsextortion\b", r"\bharassment\b",
        r"\b(?:cafe|club|general|art)\b", r"(?<=: )[A-Z]{2}\b"]


def typed_fragments(typed: list[str]) -> list[str]:
    """What people typed, as it may appear inside a team line: each line and its tails of two words or more
    (the command and its first arguments dropped)."""
    out = set()
    for line in typed:
        words = line.split()
        for k in range(len(words) - 1):
            out.add(" ".join(words[k:]))
    return sorted(out, key=len, reverse=True)


def team_leftover(content: str, fragments: list[str], resource_names: list[str]) -> str:
    for frag in fragments:  # before the brackets go: a typed text may sit inside a bracketed template
        content = content.replace(frag, " ")
    while re.search(r"⟦[^⟦⟧]*⟧", content):  # a text inside a text: innermost first
        content = re.sub(r"⟦[^⟦⟧]*⟧", " ", content)
    for frag in fragments:
        content = content.replace(frag, " ")
    for pattern in DATA:
        content = re.sub(pattern, " ", content)
    for name in PEOPLE:
        content = re.sub(rf"\b{name}\b", " ", content)
    return leftover(content, [], resource_names)


def team_lines(stdout: str) -> list[tuple[str, str]]:
    out = []
    for line in stdout.splitlines():
        m = re.match(r"^\[(?:private|bot) to ([^\]]+)\] ?(.*)$", line)
        if m and m.group(1) in MODERATORS:
            out.append((f"to {m.group(1)}", m.group(2)))
            continue
        m = re.match(r"^\[(#safety-team|escalation to \w+) @ \w+\] (?:@safety-team )?(.*)$", line)
        if m:
            out.append((m.group(1), m.group(2)))
            continue
        m = re.match(r"^\[audit log @ \w+\] (?:ban|unban|timeout) \S+(?: for \d+ minutes)?: (.*)$", line)
        if m:
            out.append(("audit log", m.group(1)))
    return out


def test_walkthrough_in_a_pseudo_language_shows_the_team_nothing_else(tmp_path):
    lib, stdout, typed = run_walkthrough(tmp_path)
    lines = team_lines(stdout)
    # the walk-through really showed the team every kind of line
    assert {where for where, _ in lines} >= {"to mia", "to max", "#safety-team", "escalation to olivia", "audit log"}
    assert len(lines) > 150
    fragments = typed_fragments(typed)
    names = [r.name for r in lib.resources]
    wrong = [(where, content) for where, content in lines if team_leftover(content, fragments, names)]
    assert wrong == [], f"{len(wrong)} team lines with English outside the pseudo-language:\n" + \
        "\n".join(f"[{where}] {content}" for where, content in wrong)


def test_the_team_check_finds_an_english_sentence():
    """The same check, on a line with one English sentence in it: caught; with only what was typed: passes."""
    fragments = typed_fragments(["note 1 Alice is scared but safe."])
    assert team_leftover("⟦Case 1⟧ Nothing was changed.", fragments, [])
    assert team_leftover("⟦Note added to case 1.⟧ Alice is scared but safe.", fragments, []) == ""
    assert team_leftover("⟦Evidence: ⟦bob (reporter-0dc0)⟧⟧ console://cafe/general/m2 (m2)", [], []) == ""


def test_the_console_itself_speaks_the_pseudo_language(tmp_path):
    lib, stdout, typed = run_walkthrough(tmp_path)
    own = [line for line in stdout.splitlines()
           if line.strip() and not line.startswith("[") and not re.match(r"^\w+@\w+> ", line)]
    assert any("minutes" in line for line in own) and len(own) > 30  # "as", "wait" and the help were shown
    registry = [line for line in own if re.match(r"^⟦?    ", line)]  # the help's lines made from the command registry
    assert len(registry) >= 20
    syntax = sorted((spec.usage for spec in commands.COMMAND_SPECS.values()), key=len, reverse=True)
    wrong = [line for line in own if team_leftover(line, syntax, [])]
    assert wrong == [], "\n".join(wrong)


def test_usage_and_command_errors_come_from_the_team_texts(tmp_path):
    """The parser's refusals and usage lines (Matrix, the console), in the pseudo-language: the words around
    the command's syntax are team texts."""
    folder = tmp_path / "playbooks"
    shutil.copytree(ROOT / "playbooks", folder)
    make_pseudo_language(folder)
    texts = load_library(folder).texts

    def t(key, **kw):
        return texts.t(key, PSEUDO, **kw)

    shown = [commands.usage("ban", "!safety ", t), commands.help_text("!safety ", t).split("\n")[0]]
    for line in ("case", "frobnicate 1", "remove m1 --case", "remove m1 --case x"):
        parsed = commands.parse(line, "!safety ", t)
        assert isinstance(parsed, commands.ParseError), line
        shown.append(parsed.message.split("\n")[0])
    for text in shown:
        assert text.startswith("⟦"), text
        assert team_leftover(re.sub(r"<[^>]*>|\[[^\]]*\]|!safety \w+", " ", text), [], []) == "", text
