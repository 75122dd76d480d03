"""Bystanders and their friend joining the case; after close, still heard (issue 14, items 5 and 6)."""

import re

from safety_bot.domain import Status

BYSTANDER = ("as carol", "report bob is blackmailing my friend dave with his photos", "no", "show", "1", "someone_else")


async def test_a_bystander_gets_their_own_texts_and_a_code_for_their_friend(h):
    out = await h.run(*BYSTANDER)
    carol = h.private("carol", out)
    assert "Thank you for looking out for them" in carol
    assert "do not share, forward or save the pictures" in carol
    code = re.search(r"join-[0-9a-f]{6}", carol).group(0)
    case = await h.store.get_case("cafe", 1)
    assert case.flags["friend_code"] == code
    out = await h.run("no", "US", "skip", "skip")
    carol = h.private("carol", out)
    assert "What would help the person this is happening to?" in carol
    assert "What would help you feel safer" not in carol
    assert not h.private("dave", out) and not h.private("bob", out)


async def test_the_friend_joins_with_the_code_once_the_team_confirms(h):
    out = await h.run(*BYSTANDER)
    code = re.search(r"join-[0-9a-f]{6}", h.private("carol", out)).group(0)
    await h.run("no", "US", "skip", "skip", "ban", "no")
    out = await h.run("as dave", f"dm hi, my friend gave me this: {code}")
    dave = h.private("dave", out)
    assert "once they confirm" in dave and "not your fault" in dave
    team = h.team("cafe", out)
    assert "dave says they are the person case 1 is about" in team and "link 1 dave" in team
    assert "@safety-team" in team
    assert not h.private("carol", out) and not h.private("bob", out)
    case = await h.store.get_case("cafe", 1)
    assert "victim" not in case.flags  # not before the team confirms
    out = await h.run("as mia", "link 1 dave")
    assert "linked to case 1" in h.replies("mia", out)
    dave = h.private("dave", out)
    assert "added you to the report your friend made" in dave and "What would help you feel safer" in dave
    assert "INHOPE" not in dave  # a victim never gets the abuse-material hotline directory
    # dave answers for himself; carol's answers are kept aside
    out = await h.run("as dave", "answer remove", "answer yes")
    case = await h.store.get_case("cafe", 1)
    assert case.flags["victim"]["id"] == "dave"
    assert case.answers["wishes"] == "remove" and case.flags["consent"] == "yes"
    assert case.flags["bystander_answers"] == {"wishes": "ban", "consent": "no"}
    assert "a list that fits your answers" in h.private("dave", out)
    assert not h.private("carol", out)
    # later messages from dave reach the team on the case
    out = await h.run("as dave", "dm is it gone now?")
    assert "the person this case is about wrote: is it gone now?" in h.team("cafe", out)


async def test_the_friend_can_say_it_is_about_them_without_a_code(h):
    await h.run(*BYSTANDER, "stop")
    out = await h.run("as dave", "dm I'm the person this is about")
    team = h.team("cafe", out)
    assert "no code" in team and "case 1" in team and "link N dave" in team


async def test_a_wrong_code_changes_nothing_and_says_so(h):
    await h.run(*BYSTANDER, "stop")
    out = await h.run("as dave", "dm join-abcdef")
    assert "could not find an open report with that code" in h.private("dave", out)
    assert h.team("cafe", out) == ""


async def test_link_refuses_the_accused_the_reporter_and_non_bystander_cases(h):
    await h.run("as bob", "say general pay me", "as carol")
    await h.run("report-message m1 he is blackmailing my friend", "no", "show", "1", "someone_else", "stop")
    out = await h.run("as mia", "link 1 bob", "link 1 carol")
    replies = h.replies("mia", out)
    assert "named as the accused" in replies and "reported case 1" in replies
    await h.run("as alice", "report he wants money", "stop")
    out = await h.run("as mia", "link 2 dave")
    assert "not reported for someone else" in h.replies("mia", out)
    out = await h.run("link 1")
    assert "Usage: link N <member>" in h.replies("mia", out)
    assert "victim" not in (await h.store.get_case("cafe", 1)).flags


async def test_after_close_the_reporter_still_reaches_the_team_and_reopen_works(h):
    await h.run("report bob wants money for my photos", "stop", "as mia", "close 1")
    out = await h.run("as alice", "dm is it gone everywhere? why was it closed?")
    alice = h.private("alice", out)
    assert "passed this on to the safety team" in alice and "If you want to report something" not in alice
    team = h.team("cafe", out)
    assert "Case 1 is closed, but the reporter" in team and "is it gone everywhere?" in team and "reopen 1" in team
    assert (await h.store.get_case("cafe", 1)).status == Status.CLOSED
    out = await h.run("as mia", "reopen 1")
    assert "open again" in h.replies("mia", out)
    assert "reopened your report" in h.private("alice", out)
    assert (await h.store.get_case("cafe", 1)).status != Status.CLOSED
    out = await h.run("reopen 1")
    assert "not closed" in h.replies("mia", out)


async def test_danger_words_after_close_reopen_the_case_at_once(h):
    await h.run("report bob wants money for my photos", "stop", "as mia", "close 1")
    out = await h.run("as alice", "dm he posted them, i want to die")
    alice = h.private("alice", out)
    assert "glad you told me" in alice
    assert "reopened your report" in alice and "was closed" not in alice  # not told it is closed while it reopens
    team = h.team("cafe", out)
    assert "OPEN again" in team and "@safety-team" in team
    case = await h.store.get_case("cafe", 1)
    assert case.status == Status.OPEN and case.urgency.value == "urgent"
    assert len(await h.store.list_cases()) == 1  # no second case


async def test_a_withdrawn_report_is_not_reopened_by_a_message(h):
    await h.run("report bob wants money", "stop", "withdraw")
    out = await h.run("dm hello?")
    assert "If you want to report something" in h.private("alice", out)
    assert h.team("cafe", out) == ""
