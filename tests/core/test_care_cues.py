"""Danger, self-harm and age cues in every member text, played through the console (issue 14, items 1 and 3)."""

from pathlib import Path

import pytest

from safety_bot.domain import Urgency
from safety_bot.playbooks import load_library

ROOT = Path(__file__).resolve().parents[2]
CUES = load_library(ROOT / "playbooks").cues


@pytest.mark.parametrize("text", [
    "i want to kill myself", "I don't want to live anymore", "im suicidal", "I'm going to end it all",
    "I'm not going to kill myself but",  # a negated cue still counts (documented rule)
    "Ich will nicht mehr leben", "ich denke an suizid",
])
def test_self_harm_cues(text):
    assert CUES.find(text).self_harm


@pytest.mark.parametrize("text", [
    "this is killing me", "my mom will kill me if she finds out", "I'm dying of embarrassment",
    "he says he will hurt himself if I do not send more", "the killing floor game", "skillset",
    "ich sterbe vor scham",
])
def test_figures_of_speech_are_not_cues(text):
    found = CUES.find(text)
    assert not found.self_harm and not found.danger


@pytest.mark.parametrize("text,age", [
    ("I'm 15", 15), ("im 15 and scared", 15), ("she's 14", 14), ("he is 16 years old", 16), ("15 yo", 15),
    ("15yo", 15), ("a 13-year-old", 13), ("ich bin 14", 14), ("sie ist 12", 12),
])
def test_age_cues(text, age):
    assert CUES.find(text).minor_age == age


@pytest.mark.parametrize("text", [
    "he has 15 pictures of me", "I'm 15 minutes away", "I'm 25", "she is 30 years old", "I sent 15 pics",
    "er hat 15 Bilder", "wait 15 minutes",
])
def test_numbers_that_are_no_minor_age(text):
    assert not CUES.find(text).minor


async def test_self_harm_in_the_statement_answers_at_once_and_pings_the_team(h):
    out = await h.run("report he wants 200 or he posts my pics. i want to kill myself")
    alice = h.private("alice", out)
    assert "glad you told me" in alice
    # crisis lines with numbers first, before "received"; no country known: international numbers + emergency
    assert alice.index("116 123") < alice.index("Your report is saved")
    assert "call your local emergency number" in alice
    case = await h.store.get_case("cafe", 1)
    assert case.urgency == Urgency.URGENT and case.flags["danger_cues"] == ["self_harm"]
    team = h.team("cafe", out)
    assert "@safety-team" in team and "SELF-HARM" in team
    assert not h.private("bob", out) and h.channel("general", "cafe", out) == ""


async def test_this_is_killing_me_alone_is_not_urgent(h):
    out = await h.run("report this is killing me, he wants 200 for my pics")
    assert "glad you told me" not in h.private("alice", out)
    assert (await h.store.get_case("cafe", 1)).urgency == Urgency.NORMAL
    assert "@safety-team" not in h.team("cafe", out)


async def test_a_cue_in_place_of_an_answer_is_heard_and_the_questions_go_on(h):
    await h.run("report he wants money for my photos")
    out = await h.run("i dont want to live anymore")  # the bot asked "immediate danger?" (yes/no)
    alice = h.private("alice", out)
    assert "glad you told me" in alice and "116 123" in alice
    assert "did not understand" not in alice
    assert "see your name" in alice  # the danger question counts as answered: the next one
    assert (await h.store.get_case("cafe", 1)).answers["danger"] == "yes"
    team = h.team("cafe", out)
    assert "SELF-HARM" in team and "i dont want to live anymore" in team


async def test_a_later_message_with_a_danger_cue_uses_the_members_country(h):
    await h.run("report he wants money for my photos", "no", "show", "1", "me", "no", "Germany", "skip", "skip",
                "skip", "skip")
    case = await h.store.get_case("cafe", 1)
    assert case.urgency == Urgency.NORMAL and case.flags["intake_done"]
    out = await h.run("dm he knows where i live and says he is coming to my house")
    alice = h.private("alice", out)
    assert "Your safety comes first" in alice
    assert "TelefonSeelsorge" in alice and "0800 111 0 111" in alice
    assert "passed that on" in alice
    assert (await h.store.get_case("cafe", 1)).urgency == Urgency.URGENT
    team = h.team("cafe", out)
    assert "IMMEDIATE DANGER" in team and "@safety-team" in team


async def test_a_danger_cue_with_no_open_report_opens_one(h):
    out = await h.run("dm i want to die")
    assert "glad you told me" in h.private("alice", out)
    case = await h.store.get_case("cafe", 1)
    assert case.urgency == Urgency.URGENT
    assert "@safety-team" in h.team("cafe", out)


async def test_age_cue_in_the_statement_starts_the_child_path(h):
    out = await h.run("report im 15 and he says he will send my pics to everyone")
    alice = h.private("alice", out)
    case = await h.store.get_case("cafe", 1)
    assert case.category == "child_safety" and case.urgency == Urgency.URGENT and case.flags["age_cue"] == 15
    assert "you are not in trouble" in alice and "trusted adult" in alice
    assert "Never send intimate pictures" not in alice  # said without blame for minors
    out = await h.run("a", "b")
    alice = h.private("alice", out)
    assert "We will never ask you for pictures" in alice and "Never send intimate pictures" not in alice
    assert "Take It Down" in alice and "StopNCII" not in alice  # no adult-only lines
    assert "Is anyone involved under 18" not in h.private("alice")  # not asked again
    assert "child-safety" in h.team("cafe") and "@safety-team" in h.team("cafe")


async def test_someone_elses_age_counts_too_but_not_a_count_of_pictures(h):
    await h.run("as carol")
    await h.run("report my friend is being blackmailed, she's 14")
    assert (await h.store.get_case("cafe", 1)).category == "child_safety"
    await h.run("stop", "as dave")
    await h.run("report he has 15 pictures of me and wants money")
    assert (await h.store.get_case("cafe", 2)).category == "sextortion"


async def test_yes_to_under_18_sends_the_child_safety_first_message_at_once(h):
    out = await h.run("report he wants money for my photos", "no", "show", "1", "me")
    assert "you are not in trouble" not in h.private("alice", out)
    out = await h.run("yes")
    alice = h.private("alice", out)
    assert "you are not in trouble" in alice and "trusted adult" in alice
    out = await h.run("b")
    alice = h.private("alice", out)
    assert "Take It Down" in alice and "StopNCII" not in alice


async def test_not_sure_in_the_us_lists_minor_resources_first_and_keeps_take_it_down(h):
    out = await h.run("report he wants money for my photos", "no", "show", "1", "me", "not sure", "US",
                      "skip", "skip", "skip", "skip")
    alice = h.private("alice", out)
    final = alice[alice.rindex("a list that fits your answers"):]
    assert "Take It Down" in final
    assert final.index("Take It Down") < final.index("StopNCII")


async def test_another_app_gets_how_to_report_there(h):
    out = await h.run("report he made me add him on snap and now threatens me")
    alice = h.private("alice", out)
    assert "Snapchat" in alice and "values.snap.com" in alice
