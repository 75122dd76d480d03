"""What a member's answer changes on a case (intake.apply_answer) is told to the team in the configured
locale: each change line is a team text, none is English written in the code."""

import shutil

from safety_bot import intake as intake_rules
from safety_bot.domain import Case, Status, Urgency
from safety_bot.playbooks import load_library
from tests.core.test_pseudo_language import PSEUDO, leftover, make_pseudo_language
from tests.harness import ROOT


def pseudo_library(tmp_path):
    folder = tmp_path / "playbooks"
    shutil.copytree(ROOT / "playbooks", folder)
    make_pseudo_language(folder)
    return load_library(folder)


def new_case(category="sextortion") -> Case:
    return Case(community="c", network="n", number=7, category=category, urgency=Urgency.NORMAL,
                status=Status.OPEN, created_at=0.0, updated_at=0.0)


def test_category_and_urgency_changes_are_team_texts(tmp_path):
    lib = pseudo_library(tmp_path)
    case = new_case()
    changes = intake_rules.apply_answer(lib, case, "minor", "yes", PSEUDO)
    assert case.category == "child_safety" and case.urgency == Urgency.URGENT
    assert len(changes) == 2  # the category moved, the case became urgent
    assert all(c.startswith("⟦") and not leftover(c, [], []) for c in changes), changes
    assert "sextortion" in changes[0] and "child_safety" in changes[0]


def test_a_suggested_category_is_a_team_text_and_keeps_the_case(tmp_path):
    lib = pseudo_library(tmp_path)
    case = new_case()
    changes = intake_rules.apply_answer(lib, case, "topic", "harassment", PSEUDO)
    assert case.category == "sextortion"  # a reporter's answer never moves sextortion down
    assert len(changes) == 1 and changes[0].startswith("⟦") and not leftover(changes[0], [], []), changes
    assert "harassment" in changes[0] and "category 7 harassment" in changes[0]


def test_english_is_the_default_locale():
    lib = load_library(ROOT / "playbooks")
    changes = intake_rules.apply_answer(lib, new_case(), "minor", "yes")
    assert changes == ["category: sextortion -> child_safety", "urgency: urgent"]
