"""The cue check skips a pattern when no word of the text can start one of its phrases (cues.py `_leads`).
That shortcut must never change what is found: every text gives the same result as searching every pattern."""

import copy
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from safety_bot.cues import CueLists, Cues
from safety_bot.playbooks import load_library

ROOT = Path(__file__).resolve().parents[2]
CUES = load_library(ROOT / "playbooks").cues


def searching_everything(cues: Cues) -> Cues:
    plain = copy.copy(cues)
    plain._leads = {kind: None for kind in cues._leads}
    plain._app_leads = {app: None for app in cues._app_leads}
    plain._apps_always = frozenset(cues.apps)
    plain._not_cue_leads = None
    plain._age_groups = ((None, tuple(range(len(cues.ages)))),)  # every age pattern, in order
    return plain


PLAIN = searching_everything(CUES)
PHRASE_WORDS = sorted({w for rx in [CUES.self_harm, CUES.danger, CUES.minor, CUES.victim_join, *CUES.apps.values()]
                       if rx is not None for w in rx.pattern.replace("\\s+", " ").replace("\\", "").split()})
GLUE = ["", " ", "  ", "-", "'", "’", ".", ",", "!", "x", "un", "s", "\n", "I", "15", "my", "he"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(PHRASE_WORDS), st.sampled_from(GLUE), st.text(max_size=4)), max_size=14))
def test_skipping_patterns_finds_what_searching_all_finds(parts):
    text = " ".join(parts) if len(parts) % 2 else "".join(parts)
    assert CUES.find(text) == PLAIN.find(text)


def test_known_cues_are_found_with_punctuation_around_them():
    for text in ["i want to kill myself!", "(suicide)", "he's on snapchat.", "I'M 15", "i'm not going to kill myself",
                 "my friend—she is 14—asked me", "ich denke an suizid"]:
        assert CUES.find(text) == PLAIN.find(text)
    assert CUES.find("i want to kill myself!").self_harm and CUES.find("he's on snapchat.").apps == ["snapchat"]


def test_a_phrase_starting_with_punctuation_is_always_searched():
    cues = Cues({"en": CueLists(danger=["<3 danger", "he will hurt me"])})
    assert cues._leads["danger"] is None
    assert cues.find("x <3 danger").danger and cues.find("he will hurt me").danger
    words = Cues({"en": CueLists(danger=["he will hurt me", "self-harm now"])})
    assert words._leads["danger"] == frozenset({"he", "self"})
    assert words.find("i do self-harm now").danger and not words.find("i do selfharm now").danger


def test_a_lead_without_the_rest_of_its_phrase_is_not_searched_and_changes_nothing():
    """`_needs`: a text with a phrase's first word but not its other whole words is not searched; a text with
    them all is, however they are spaced or followed by punctuation."""
    cues = Cues({"en": CueLists(victim_join=["my friend reported", "my self-harm friend"], apps={"snap": ["my snap"]})})
    assert cues._needs["victim_join"] == {"my": (frozenset({"friend", "reported"}), frozenset({"friend"}))} or \
        cues._needs["victim_join"] == {"my": (frozenset({"friend"}), frozenset({"friend", "reported"}))}
    plain = searching_everything(cues)
    for text in ["my friend reported him", "MY  FRIEND\nreported!", "my friend reported's", "my friend", "my snap",
                 "my snap!", "my snap's", "mysnap", "my snapchat", "snap my", "my self-harm friend", "my selfharm friend",
                 "my self harm friend", "he is my friend, reported", "my friend-reported"]:
        assert cues.find(text) == plain.find(text), text
    assert cues.find("MY  FRIEND\nreported!").victim_join and cues.find("my snap!").apps == ["snap"]
    assert not cues.find("my friend").victim_join and not cues.find("my snapchat").apps
    assert cues.find("my self-harm friend").victim_join


def test_ages_in_any_digits_and_not_cues_are_found_as_before():
    """The age patterns are searched only when the text has a digit (each needs one) and their needles; the
    not-cues are blanked out only when the text can hold one. Digits of other scripts are digits too."""
    for text in ["i'm ١٥", "I'M 15", "im 15 and scared", "she is 14", "15 yo", "i'm 15 minutes away", "he was 12",
                 "i'm fifteen", "dying of embarrassment, i want to die", "i am dying of embarrassment", "no digits here"]:
        assert CUES.find(text) == PLAIN.find(text), text
    assert CUES.find("i'm ١٥").minor_age == 15 and CUES.find("I'M 15").minor_age == 15
    assert CUES.find("i'm 15 minutes away").minor_age is None and CUES.find("i'm fifteen").minor_age is None


def test_apps_are_checked_for_the_words_their_phrases_start_with():
    cues = Cues({"en": CueLists(apps={"snap": ["my snap", "@snap"], "insta": ["insta", "my ig"], "kik": ["kik me"]})})
    assert cues._apps_always == {"snap"}
    for text, apps in [("add me @snap", ["snap"]), ("my ig and my snap", ["snap", "insta"]), ("kik me", ["kik"]),
                       ("insta!", ["insta"]), ("my kik", []), ("nothing", [])]:
        assert cues.find(text).apps == apps == searching_everything(cues).find(text).apps, text
