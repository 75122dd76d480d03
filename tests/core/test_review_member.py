"""Adversarial review of the member's experience (principle 1): a frightened member walked through the console.

Words of danger are heard at every step, not only the first time: a member who writes "I want to die" a
second time (while a question is pending, after stop, after close) gets the crisis lines again, never
"Sorry, I did not understand that", and the team is pinged again."""

import pytest


async def test_a_second_self_harm_cue_while_a_question_is_pending_is_heard(h):
    await h.run("report he has my pictures", "answer I want to die")
    out = await h.run("answer I want to die")  # the same words again, to the next question
    alice = h.private("alice", out)
    assert "did not understand" not in alice
    assert "glad you told me" in alice and "116 123" in alice  # crisis lines again
    assert "@safety-team" in h.team("cafe", out)  # the team is pinged again
    # the question is asked again, and can still be skipped
    assert "Should the safety team see your name?" in alice and "skip" in alice


async def test_a_second_self_harm_cue_after_stop_gets_crisis_lines(h):
    await h.run("report he wants money. i want to die", "stop")
    out = await h.run("dm i want to die")
    alice = h.private("alice", out)
    assert "glad you told me" in alice and "116 123" in alice
    assert alice.index("116 123") < alice.index("passed that on")  # crisis lines first
    team = h.team("cafe", out)
    assert "@safety-team" in team and "i want to die" in team


async def test_a_repeated_cue_after_close_gets_crisis_lines(h):
    await h.run("report he wants money. i want to kill myself", "stop", "as mia", "close 1 actioned", "as alice")
    out = await h.run("dm i want to kill myself")
    alice = h.private("alice", out)
    assert "glad you told me" in alice and "116 123" in alice
    assert "reopened" in alice
    assert (await h.store.get_case("cafe", 1)).status.value != "closed"


async def test_a_member_who_says_they_are_15_after_close_reopens_the_case(h):
    """The case becomes a child-safety case (always urgent): it must be open, so escalation keeps alerting
    the team until someone acts, and the member is told truthfully that it was reopened."""
    await h.run("report he has my pictures", "no", "show", "1", "me", "no", "stop", "as mia", "close 1 actioned",
                "as alice")
    out = await h.run("dm i'm 15")
    case = await h.store.get_case("cafe", 1)
    assert case.category == "child_safety" and case.status.value == "open"
    alice = h.private("alice", out)
    assert "reopened your report" in alice and "was closed" not in alice
    assert "you are not in trouble" in alice  # the child path's first words
    assert "@safety-team" in h.team("cafe", out)


async def test_resources_with_a_country_typed_in_a_private_message_gives_the_lines_there(h):
    """The crisis text says "Tell me your country (for example: resources Germany)". Typed in a private
    message (a Matrix or Discord DM, here the console's dm), it must give that country's lines, also while a
    question waits, not reach the team as a reply nor be "not understood"."""
    out = await h.run("report he has my pictures. i want to die")
    assert "resources Germany" in h.private("alice", out)
    out = await h.run("dm resources Germany")  # the danger question is pending
    alice = h.private("alice", out)
    assert "TelefonSeelsorge" in alice and "did not understand" not in alice
    assert "Is anyone in immediate danger" not in alice  # the danger cue answered it; the next question waits
    assert "Should the safety team see your name?" in alice
    assert "resources Germany" not in h.team("cafe", out)
    await h.run("stop")
    out = await h.run("dm resources Deutschland")  # after the questions, with the case open
    assert "TelefonSeelsorge" in h.private("alice", out) and "passed that on" not in h.private("alice", out)
    out = await h.run("dm !resources uk")  # as a Matrix member would type it
    assert "Samaritans" in h.private("alice", out)


async def test_words_of_danger_are_never_rate_limited(tmp_path):
    """A member who has reported often this hour and then reports "i want to die" is heard: crisis lines, an
    urgent case, the team pinged; never only "please wait 40 minutes"."""
    from tests.harness import make_harness
    h = await make_harness(tmp_path, {"limits": {"reports_per_hour": 2}})
    try:
        await h.run("report one", "stop", "report two", "stop")
        out = await h.run("report he posted it. i want to die")
        alice = h.private("alice", out)
        assert "wait about" not in alice
        assert "glad you told me" in alice and "116 123" in alice
        assert "@safety-team" in h.team("cafe", out) and len(await h.store.list_cases()) == 3
        out = await h.run("report three")  # the limit still holds for the rest
        assert "wait about" in h.private("alice", out)
    finally:
        await h.app.__aexit__(None, None, None)


async def test_a_too_long_message_with_words_of_danger_still_gets_the_crisis_lines(h):
    """Over the length limit nothing is saved (the member is asked to shorten it), but words of danger in it
    get the crisis lines first, at every step: a new report, a pending question, a message after stop."""
    long = "he posted my pictures and everyone saw. " * 120 + "i want to kill myself"
    out = await h.run(f"report {long}")
    alice = h.private("alice", out)
    assert "too long" in alice and "116 123" in alice and alice.index("116 123") < alice.index("too long")
    await h.run("report he has my pictures")
    out = await h.run(f"answer {long}")
    assert "too long" in h.private("alice", out) and "116 123" in h.private("alice", out)
    await h.run("stop")
    out = await h.run(f"dm {long}")
    assert "too long" in h.private("alice", out) and "116 123" in h.private("alice", out)


async def test_answers_in_everyday_words(h):
    """"no thanks" is a no; "idk" or "I don't know" leaves the question out like skip (never "not understood")."""
    await h.run("report he has my pictures")
    out = await h.run("answer no thanks")
    assert "did not understand" not in h.private("alice", out) and "see your name" in h.private("alice", out)
    out = await h.run("answer I don't know")
    assert "did not understand" not in h.private("alice", out)
    case = await h.store.get_case("cafe", 1)
    assert case.answers["danger"] == "no" and case.anonymous  # skipping the name question keeps them hidden
    out = await h.run("answer idk")
    assert "did not understand" not in h.private("alice", out)


@pytest.mark.parametrize("line", ["resources Japan", "resources Atlantis", "resources"])
async def test_resources_with_no_local_lines_say_to_call_the_local_emergency_number(h, line):
    """A country with no lines in the directory (or none known): the directories that work from anywhere, and
    what to do in danger (shared/reference: 'give the directories and call your local emergency number')."""
    alice = h.private("alice", await h.run(line))
    assert "Befrienders" in alice and "call your local emergency number" in alice


async def test_resources_with_local_lines_need_no_such_note(h):
    alice = h.private("alice", await h.run("resources Germany"))
    assert "TelefonSeelsorge" in alice and "emergency number" not in alice


async def test_a_private_message_without_a_language_is_answered_in_the_language_of_the_members_case(h):
    """Discord DMs carry no language: a member who reported in German (their app's language, kept on the
    case) is answered in German afterwards too, crisis lines included, not in the configured English."""
    from safety_bot.domain import UserRef
    await h.run("locale de", "report er hat meine Bilder", "stop")
    alice = UserRef("console", "alice", "alice")
    out = await h.service.member_message(alice, "cafe", "danke", None)
    assert "weitergegeben" in out.reply and "passed that on" not in out.reply
    out = await h.service.member_message(alice, "cafe", "ich will nicht mehr leben", None)
    assert "froh, dass du es mir sagst" in out.reply
    await h.run("as mia", "close 1 actioned", "as alice")
    out = await h.service.member_message(alice, "cafe", "ist das Bild weg?", None)
    assert "geschlossen" in out.reply and "was closed" not in out.reply


async def test_withdraw_while_a_question_waits_withdraws_the_report_being_asked_about(h):
    """Two reports about two people: the questions are about the first, the second waits. "withdraw" then
    takes back the first (the one the member is answering about), not the newest, and the second's questions
    start."""
    await h.run("as bob", "say general alice pay me or else", "as dave", "say general hi alice send pics", "as alice")
    await h.run("report-message m1 he threatens me", "report-message m2 this one too")
    out = await h.run("withdraw")
    first, second = await h.store.get_case("cafe", 1), await h.store.get_case("cafe", 2)
    assert first.status.value == "closed" and first.flags.get("withdrawn")
    assert second.status.value == "open" and not second.flags.get("withdrawn")
    alice = h.private("alice", out)
    assert "withdrawn" in alice and "case 2" in alice and "Is anyone in immediate danger" in alice


async def test_a_bystander_who_says_their_friend_is_15_is_not_addressed_as_the_child(h):
    """carol reports for a friend and says the friend is 15: the case becomes a child-safety case, but carol
    keeps the bystander's texts; the child's first words ("you are not in trouble", "do not pay") are not
    written to her as if it were happening to her."""
    await h.run("as dave", "say general erin pay or I post your pics", "as carol",
                "report-message m1 Dave is blackmailing my friend erin", "no", "show", "1", "someone else")
    out = await h.run("answer she is 15")
    case = await h.store.get_case("cafe", 1)
    assert case.category == "child_safety"
    carol = h.private("carol", out)
    assert "you are not in trouble" not in carol and "do not pay" not in carol
    assert "Which country" in carol  # the questions go on
    assert "@safety-team" in h.team("cafe", out)


async def test_the_person_a_report_is_about_who_writes_words_of_danger_gets_crisis_lines(h):
    """erin writes "I'm the person this is about. I want to die": she is heard as someone who may be in
    danger (crisis lines first), and the team's ping says so, with her words."""
    await h.run("as dave", "say general erin pay or I post your pics", "as carol",
                "report-message m1 Dave is blackmailing my friend erin", "no", "show", "1", "someone else", "stop")
    out = await h.run("as erin", "dm I'm the person this is about. I want to die")
    erin = h.private("erin", out)
    assert "glad you told me" in erin and "116 123" in erin
    assert erin.index("116 123") < erin.index("told the safety team")
    team = h.team("cafe", out)
    assert "@safety-team" in team and "crisis lines" in team and "I want to die" in team


async def test_words_of_danger_with_a_code_that_fits_nothing_are_heard(h):
    out = await h.run("as erin", "dm join-abcdef I want to die")
    erin = h.private("erin", out)
    assert "glad you told me" in erin and "116 123" in erin
    assert "@safety-team" in h.team("club", out)


async def test_the_child_a_friend_reported_for_gets_the_childs_first_words(h):
    """A friend reported that erin (15) is blackmailed: when erin writes with the code, and when the team
    links her, she reads the child's first words (not in trouble, tell a trusted adult), not the adult's."""
    out = await h.run("as dave", "say general erin pay or I post your pics", "as carol",
                      "report-message m1 Dave is blackmailing my friend erin, she is 15", "no", "show",
                      "someone else", "stop")
    code = (await h.store.get_case("cafe", 1)).flags["friend_code"]
    out = await h.run("as erin", f"dm {code}")
    assert "you are not in trouble" in h.private("erin", out)
    out = await h.run("as mia", "link 1 erin")
    assert "you are not in trouble" in h.private("erin", out)


async def test_report_typed_in_a_private_message_starts_the_report_the_hint_asks_for(h):
    """With no open report, a private message (a Discord DM) is answered with "use report followed by a few
    words". Typing exactly that in the DM must start the report, not give the same hint again."""
    out = await h.run("dm help")
    assert "use report followed by" in h.private("alice", out)
    out = await h.run("dm report he has my pictures")
    alice = h.private("alice", out)
    assert "Your report is saved" in alice and "use report followed by" not in alice
    case = await h.store.get_case("cafe", 1)
    assert case is not None and "immediate danger" in alice


async def test_resources_asked_for_by_a_member_who_said_they_are_15_fit_a_minor(h):
    """The resources command (console; Discord's /resources) for a member whose open case is a child-safety
    case: the lines for minors, not StopNCII (adults only) as for anyone."""
    await h.run("report he has my pictures, I'm 15", "stop")
    out = await h.run("resources")
    alice = h.private("alice", out)
    assert "Take It Down" in alice and "StopNCII" not in alice
