"""Issue 13 item 4: sextortion stays sextortion, and the bot never messages the accused of an open
sextortion or child-safety case (warnings, resources, outcome notices)."""

from safety_bot.domain import Status


async def test_a_reporter_answer_never_moves_a_case_down_and_warn_stays_refused(h):
    await h.run("as bob", "say general pay me or everyone sees your pictures", "as alice")
    out = await h.run("report-message m1 he wants money", "skip", "skip", "2")  # topic: "Something else"/harassment
    case = await h.store.get_case("cafe", 1)
    assert case.category == "sextortion" and case.flags["reporter_suggested_category"] == "harassment"
    assert "the case stays sextortion" in h.team("cafe", out)
    out = await h.run("as mia", "warn @bob stop it", "resources @bob")
    seen = h.replies("mia", out)
    assert seen.count("case 1 is a sextortion or child-safety case") == 2
    assert h.private("bob", out) == ""
    # an answer can still raise a case: a minor moves it to the child-safety path
    await h.run("as carol", "report someone asks me for pictures", "skip", "skip", "skip", "skip", "yes")
    assert (await h.store.get_case("cafe", 2)).category == "child_safety"


async def test_moderator_recategorises_with_an_audited_reason(h):
    await h.run("report dave keeps insulting me", "stop")
    out = await h.run("as mia", "category 1 harassment", "category 1 nonsense because", "category 1 harassment insults only")
    seen = h.replies("mia", out)
    assert "Usage: category N <sextortion|child_safety|harassment> <reason>" in seen and "Unknown category 'nonsense'" in seen
    assert "Case 1 is now harassment (was sextortion)" in seen
    [entry] = [a for a in await h.store.audit_entries() if a.action == "case.recategorised"]
    assert entry.actor == "console:mia" and entry.detail == {"before": "sextortion", "after": "harassment",
                                                             "reason": "insults only"}
    # the accused moderator cannot re-categorise their own case
    await h.run("as max", "say general send more", "as alice", "report-message m1 he threatens me", "stop")
    out = await h.run("as max", "category 2 harassment just banter")
    assert "There is no case 2 here." in h.replies("max", out)
    assert (await h.store.get_case("cafe", 2)).category == "sextortion"


async def test_no_outcome_notice_reaches_a_reporter_who_is_accused_in_an_open_sextortion_case(h):
    await h.run("as bob", "say general pay me", "as alice", "report-message m1 bob wants money", "stop")
    # bob files a counter-report (possible retaliation); the team acts on it
    await h.run("as alice", "say general hello", "as bob", "report-message m2 alice is rude", "stop")
    out = await h.run("as mia", "remove m2 --case 2", "close 2 actioned")
    assert h.private("bob", out) == ""  # no "the message was removed" / "finished working on your report"
    withheld = [a for a in await h.store.audit_entries() if a.action == "message.withheld"]
    assert len(withheld) == 2
    # once the case about bob is closed, the bot may write to him again
    await h.run("close 1 actioned")
    assert (await h.store.get_case("cafe", 1)).status == Status.CLOSED
