"""Issue 13, items 1 and 2 on the console: conflict of interest at every action, from current roles; the
escalation contact can act; the team answers to the escalation destination only (safety_bot/guard.py)."""

from safety_bot.domain import Status

GENERIC = "That is not something you can do. Please ask another member of the safety team. Nothing was changed."


async def _audit(h, action):
    return [a for a in await h.store.audit_entries() if a.action == action]


async def test_the_accused_moderators_full_attempt_is_refused_and_reported(h):
    await h.run("as max", "say general send me pics or I share the old ones", "as alice")
    await h.run("report-message m1 a moderator is threatening me", "stop")
    attempt = await h.run("as max", "cases", "case 1", "warn @max stop it", "ban @alice --confirm spamming",
                          "remove m1 --confirm", "reply 1 honestly just ignore it", "note 1 nothing here",
                          "close 1 unfounded", "export 1 --reason audit", "assign 1", "resources @alice",
                          "reveal 1 curious")
    seen = h.replies("max", attempt)
    # learns nothing: no case number, no reporter, no words from the report
    assert "#1" not in seen and "alice" not in seen and "threatening" not in seen
    assert "There is no case 1 here." in seen
    assert seen.count(GENERIC) == 4  # warn self, ban reporter, remove the reported message, resources to the reporter
    # nothing reached anyone but the escalation destination
    assert h.private("alice", attempt) == "" and h.team("cafe", attempt) == ""
    assert not any(l.startswith("[audit log") for l in attempt)
    assert await h.store.active_ban("friends", "console:alice") is None
    assert not h.console.world.messages["m1"].deleted
    case = await h.store.get_case("cafe", 1)
    assert case.status == Status.OPEN and case.assignee is None
    assert [n for n in await h.store.notes_for(case.id) if n.kind in ("note", "reply_out")] == []
    # every refusal audited and reported to the escalation contact
    refused = await _audit(h, "guard.refused")
    assert len(refused) >= 10 and all(a.actor == "console:max" for a in refused)
    esc = h.escalation(attempt)
    assert "Refused: max (max) tried 'ban' on case 1 (accused in it)" in esc
    assert "tried 'close' on case 1" in esc and "tried 'reply' on case 1" in esc
    # another moderator still sees and acts
    out = await h.run("as mia", "case 1")
    assert "a moderator is threatening me" in h.replies("mia", out)


async def test_refusals_are_the_same_whether_or_not_a_case_exists(h):
    # no case anywhere: a moderator warning or banning themselves gets the generic text
    before = await h.run("as max", "warn @max test", "ban @max --confirm", "case 7")
    await h.run("as mia", "open @max keeps asking members for photos")  # a case about max now exists
    after = await h.run("as max", "warn @max test", "ban @max --confirm", "case 1")
    strip = lambda lines: [l.replace("case 7", "case N").replace("case 1", "case N") for l in lines if l.startswith("[bot to")]
    assert strip(before) == strip(after)


async def test_a_member_promoted_after_the_report_cannot_see_or_act(h):
    await h.run("as bob", "say general pay me or everyone sees your pictures", "as alice")
    out = await h.run("report-message m1 bob wants money", "stop")
    assert "bob wants money" in h.team("cafe", out)  # bob was an ordinary member then
    await h.run("as olivia", "promote bob")
    out = await h.run("as bob", "cases", "case 1", "reply 1 pay me", "close 1 unfounded", "export 1 --reason x",
                      "ban @alice --confirm")
    seen = h.replies("bob", out)
    assert "There is no case 1 here." in seen and "#1" not in seen and "bob wants money" not in seen
    assert GENERIC in seen and h.private("alice", out) == ""
    assert (await h.store.get_case("cafe", 1)).status == Status.OPEN
    # what the reporter writes now goes to the escalation destination, not the channel bob reads
    out = await h.run("as alice", "dm he is on the team now")
    assert h.team("cafe", out) == "" and "he is on the team now" in h.escalation(out)


async def test_a_moderator_named_in_the_report_cannot_see_it(h):
    await h.run("report mia keeps asking me for pictures in private", "stop")
    out = await h.run("as mia", "case 1", "cases")
    assert "There is no case 1 here." in h.replies("mia", out) and "#1" not in h.replies("mia", out)
    out = await h.run("as max", "case 1")
    assert "keeps asking me for pictures" in h.replies("max", out)


async def test_the_escalation_contact_can_act_on_routed_cases(h):
    await h.run("as max", "say general send me pics or I share the old ones", "as alice")
    await h.run("report-message m1 a moderator is threatening me", "stop")
    out = await h.run("as olivia", "cases", "case 1", "note 1 looking into it", "reply 1 We are on it. You did the right thing.",
                      "remove m1 --case 1", "ban @max --case 1 --confirm threatening a member", "close 1 actioned")
    seen = h.replies("olivia", out)
    assert "#1" in seen and "a moderator is threatening me" in seen
    assert "We are on it" in h.private("alice", out)
    assert h.console.world.messages["m1"].deleted
    assert await h.store.active_ban("friends", "console:max") is not None
    assert (await h.store.get_case("cafe", 1)).status == Status.CLOSED
    # non-members of the team are still refused
    out = await h.run("as bob", "cases")
    assert "for the safety team only" in h.replies("bob", out)


async def test_team_members_are_banned_only_from_the_escalation_destination(h):
    await h.run("as max", "say general hello")
    out = await h.run("as mia", "ban @max --confirm", "ban @olivia --confirm", "warn @max rude", "remove m1 --confirm")
    seen = h.replies("mia", out)
    assert seen.count("can only be taken from the escalation destination") == 4
    assert await h.store.active_ban("friends", "console:max") is None
    assert not h.console.world.messages["m1"].deleted
    assert "Refused: mia (mia) tried 'ban'" in h.escalation(out)
    out = await h.run("as olivia", "ban @max --confirm abuse of the role")
    assert "Banning max" in h.replies("olivia", out)
    assert await h.store.active_ban("friends", "console:max") is not None


async def test_assign_to_a_named_member_and_authors_on_the_timeline(h):
    await h.run("report someone threatens me", "stop")
    out = await h.run("as mia", "assign 1 max", "note 1 called the reporter", "reply 1 We are here for you.")
    assert "Case 1 is assigned to max." in h.replies("mia", out)
    assert (await h.store.get_case("cafe", 1)).assignee.id == "max"
    out = await h.run("as max", "case 1")
    seen = h.replies("max", out)
    assert "note by mia: called the reporter" in seen and "team to reporter by mia: We are here for you." in seen
    assert "mia" not in h.private("alice", out)


async def test_a_moderator_named_in_the_report_never_sees_its_card_and_cannot_remove_its_messages(h):
    await h.run("as bob", "say general mia told me to do this, pay up", "as alice")
    out = await h.run("report-message m1 bob says mia from the team is in on it", "stop")
    # mia is named (not accused) and on the team now: the first card goes to the escalation destination only
    assert "bob says mia" in h.escalation(out) and "hidden from them" in h.escalation(out)
    assert not any(l.startswith("[#safety-team @ cafe]") for l in out)
    assert "names someone on the moderation team" in h.private("alice", out)
    case = await h.store.get_case("cafe", 1)
    assert case.flags["about_moderator"] and case.flags["named_team"] == ["console:mia"]
    assert case.hidden_from == ["console:mia"]
    assert [a.case_id for a in await _audit(h, "case.names_team_member")] == [case.id]
    # mia: removing the reported message is refused with the generic text, audited, reported
    out = await h.run("as mia", "remove m1", "remove m1 --case 1", "case 1", "cases")
    seen = h.replies("mia", out)
    assert seen.count(GENERIC) == 1 and seen.count("There is no case 1 here.") == 2 and "bob says mia" not in seen
    assert "#1" not in seen and "alice" not in seen
    assert not h.console.world.messages["m1"].deleted
    assert "Refused: mia (mia) tried 'remove' on case 1 (named in it)" in h.escalation(out)
    assert not any(l.startswith("[#safety-team @ cafe]") for l in out)
    assert h.private("alice", out) == "" and h.private("bob", out) == ""
    refused = await _audit(h, "guard.refused")
    assert [a.detail["why"] for a in refused] == ["named", "named", "named"]
    # what the reporter writes next reaches the escalation contact, not the channel mia reads
    out = await h.run("as alice", "dm he wrote again")
    assert not any(l.startswith("[#safety-team @ cafe]") for l in out) and "he wrote again" in h.escalation(out)
    # another moderator (not named) still acts; the escalation contact too
    out = await h.run("as max", "remove m1 --case 1")
    assert h.console.world.messages["m1"].deleted
    # nothing about the case ever reached the safety channel mia reads
    assert "bob says mia" not in h.team("cafe") and "he wrote again" not in h.team("cafe")


async def test_a_report_naming_a_member_who_is_not_on_the_team_goes_to_the_safety_channel(h):
    out = await h.run("report bob keeps asking me for pictures in private")
    assert "keeps asking me for pictures" in h.team("cafe", out) and h.escalation(out) == ""
    assert "named_team" not in (await h.store.get_case("cafe", 1)).flags


async def test_a_later_report_naming_a_moderator_moves_the_case_to_escalation(h):
    await h.run("as bob", "say general pay me", "as alice")
    out = await h.run("report-message m1 bob wants money")
    assert "bob wants money" in h.team("cafe", out)  # names nobody on the team: the safety channel
    # while the questions are open, a second report about bob joins case 1 and names mia
    out = await h.run("report-message m1 and mia from the team told him where I live")
    assert "I have added this to the report" in h.replies("alice", out) + h.private("alice", out)
    assert "mia from the team" in h.escalation(out)
    assert not any(l.startswith("[#safety-team @ cafe]") for l in out)
    case = await h.store.get_case("cafe", 1)
    assert case.flags["named_team"] == ["console:mia"] and "console:mia" in case.hidden_from
    out = await h.run("as mia", "case 1")
    assert "There is no case 1 here." in h.replies("mia", out)


async def test_a_named_member_promoted_after_the_report_is_found_when_they_act(h):
    out = await h.run("report bob keeps asking me for pictures in private", "stop")
    assert "keeps asking me" in h.team("cafe", out)  # bob was no moderator then
    await h.run("as olivia", "promote bob")
    out = await h.run("as bob", "case 1")
    assert "There is no case 1 here." in h.replies("bob", out)
    assert "names a member of the safety team" in h.escalation(out)
    case = await h.store.get_case("cafe", 1)
    assert case.flags["named_team"] == ["console:bob"] and case.flags["about_moderator"]


async def test_a_moderator_named_in_a_closed_case_still_cannot_act_on_its_reporter(h):
    await h.run("report mia keeps asking me for pictures in private", "stop")
    await h.run("as max", "close 1 actioned")
    out = await h.run("as mia", "ban @alice --confirm spamming", "warn @alice stop it")
    seen = h.replies("mia", out)
    assert seen.count(GENERIC) == 2 and "case" not in seen.lower()
    assert await h.store.active_ban("friends", "console:alice") is None and h.private("alice", out) == ""
    assert "Refused: mia (mia) tried 'ban' on case 1 (named in it)" in h.escalation(out)


async def test_an_answer_naming_a_moderator_moves_the_case_to_escalation_from_then_on(h):
    out = await h.run("report bob threatens me")
    assert "bob threatens me" in h.team("cafe", out)
    out = await h.run("no", "skip", "1", "1", "no", "Germany", "he says mia from the team gave him my number")
    assert "names a member of the safety team" in h.escalation(out) and "gave him my number" in h.escalation(out)
    assert not any(l.startswith("[#safety-team @ cafe]") for l in out)
    case = await h.store.get_case("cafe", 1)
    assert case.flags["named_team"] == ["console:mia"] and case.hidden_from == ["console:mia"]
    out = await h.run("skip", "stop", "as mia", "case 1")
    assert "There is no case 1 here." in h.replies("mia", out)
    assert not any(l.startswith("[#safety-team @ cafe]") for l in out)
