"""Principle 7 (any one moderator may be the threat), reviewed as an attacker: what the reporter, the victim
and the bank say about a case reaches only whoever may see the case, read from current roles, on every path."""

import re

GENERIC = "That is not something you can do. Please ask another member of the safety team. Nothing was changed."


def safety_lines(out):
    return [l for l in out if l.startswith("[#safety-team @ cafe]")]


async def test_a_message_after_close_never_reaches_an_accused_promoted_meanwhile(h):
    await h.run("as bob", "say general pay me or everyone sees your pictures", "as alice")
    await h.run("report-message m1 bob wants money", "stop", "as mia", "close 1 actioned")
    await h.run("as olivia", "promote bob")
    out = await h.run("as alice", "dm he is back and wrote to me again")
    assert "he is back" not in h.team("cafe", out)
    assert "he is back and wrote to me again" in h.escalation(out)


async def test_the_person_a_report_about_a_moderator_is_about_is_not_shown_to_the_safety_channel(h):
    await h.run("as max", "say general dave, send more or your photos go everywhere", "as carol")
    out = await h.run("report-message m1 max is blackmailing my friend dave", "no", "show", "1", "someone_else", "stop")
    assert safety_lines(out) == []  # about a moderator: the escalation destination only
    code = re.search(r"join-[0-9a-f]{6}", h.private("carol", out)).group(0)
    out = await h.run("as dave", "dm I'm the person this is about")
    assert safety_lines(out) == []  # max reads the safety channel: he must not learn dave came forward
    assert "dave" in h.escalation(out) and "case 1" in h.escalation(out)
    out = await h.run("as dave", f"dm my friend gave me {code}")
    assert safety_lines(out) == [] and "dave says they are the person case 1 is about" in h.escalation(out)


async def test_a_victim_joining_a_case_whose_accused_was_promoted_is_not_shown_to_the_safety_channel(h):
    await h.run("as bob", "say general dave, send more or your photos go everywhere", "as carol")
    out = await h.run("report-message m1 bob is blackmailing my friend dave", "no", "show", "1", "someone_else",
                      "stop")
    code = re.search(r"join-[0-9a-f]{6}", h.private("carol", out)).group(0)
    await h.run("as olivia", "promote bob")
    out = await h.run("as dave", "dm I'm the person this is about")
    assert safety_lines(out) == []
    out = await h.run("as dave", f"dm my friend gave me {code}")
    assert safety_lines(out) == [] and "dave says they are the person case 1 is about" in h.escalation(out)


async def test_the_accused_moderator_cannot_unban_the_account_banned_in_their_own_case(h):
    await h.run("as max", "say general send me pics or bob shares the old ones", "as alice")
    await h.run("report-message m1 a moderator and his friend bob are threatening me", "stop")
    await h.run("as olivia", "ban @bob --case 1 --confirm working with the accused")
    assert await h.store.active_ban("friends", "console:bob") is not None
    out = await h.run("as max", "unban @bob he did nothing")
    assert GENERIC in h.replies("max", out) and "bob" not in h.replies("max", out).replace("@bob", "")
    assert await h.store.active_ban("friends", "console:bob") is not None
    assert "Refused: max (max) tried 'unban' on case 1 (accused in it)" in h.escalation(out)
    out = await h.run("as mia", "unban @bob second look")  # a moderator with no conflict still can
    assert await h.store.active_ban("friends", "console:bob") is None


async def test_a_moderator_named_in_a_report_cannot_unban_its_accused(h):
    await h.run("as bob", "say general pay me or everyone sees your pictures", "as alice")
    await h.run("report-message m1 bob says mia from the team gave him my pictures", "stop")
    await h.run("as olivia", "ban @bob --case 1 --confirm threatened a member")
    out = await h.run("as mia", "unban @bob mistake")
    assert GENERIC in h.replies("mia", out)
    assert await h.store.active_ban("friends", "console:bob") is not None
    assert "tried 'unban' on case 1 (named in it)" in h.escalation(out)


async def test_a_code_asked_for_by_a_moderator_removed_from_the_team_cannot_be_confirmed(h):
    # a stolen account asks for a mass ban; the owner takes the role away before anyone confirms
    out = await h.run("as mia", "ban 1001 1002 1003 1004 1005 1006 --confirm raid")
    code = re.search(r"confirm ([0-9A-F]{6})", h.replies("mia", out)).group(1)
    await h.run("as olivia", "demote mia", "as bob club", "demote mia")  # mia was on both communities' teams
    out = await h.run("as max", f"confirm {code}")
    assert "no longer on the safety team" in h.replies("max", out)
    assert await h.store.active_ban("friends", "console:1001") is None
    assert not [a for a in await h.store.audit_entries() if a.action in ("two_person.confirmed", "ban.requested")]
    refused = [a for a in await h.store.audit_entries() if a.action == "two_person.requester_not_team"]
    assert [(a.actor, a.detail["requested_by"]) for a in refused] == [("console:max", "console:mia")]


async def test_the_accused_escalation_contact_learns_nothing_from_the_refusal_alert(h):
    await h.run("as olivia", "say general pay me or your pictures go to everyone", "as alice")
    out = await h.run("report-message m1 the owner olivia is threatening me", "stop")
    assert "olivia is threatening me" in h.team("cafe", out)  # not a team member: the safety channel
    out = await h.run("as olivia", "case 1", "note 1 nothing to see", "ban @alice --confirm")
    seen = h.replies("olivia", out)
    assert "There is no case 1 here." in seen and GENERIC in seen and "#1" not in seen
    # the alert goes where olivia reads it: it must say no more than the refusal did
    assert "case 1" not in h.escalation(out) and "accused" not in h.escalation(out)
    assert [a.detail["why"] for a in await h.store.audit_entries() if a.action == "guard.refused"] == ["accused"] * 3
    # the rest of the team, who have the case, are told who tried
    assert "Refused: olivia (olivia) tried 'case' on case 1 (accused in it)" in h.team("cafe", out)


async def test_a_case_about_an_escalation_contact_on_the_team_is_never_posted_to_them(h):
    await h.run("as olivia", "promote olivia", "say general pay me or your pictures go to everyone", "as alice")
    out = await h.run("report-message m1 the owner olivia is threatening me", "stop", "dm she wrote again")
    # olivia is on the team (the safety channel) and is the escalation contact: no destination is safe
    assert h.escalation(out) == "" and h.team("cafe", out) == ""
    assert "names someone on the moderation team" in h.private("alice", out)  # pointed to the platform's Report
    withheld = [a for a in await h.store.audit_entries() if a.action == "post.withheld"]
    assert withheld and all(a.detail["why"] == "escalation_accused" for a in withheld)
    # the rest of the team still finds the case; olivia does not
    out = await h.run("as max", "cases", "case 1")
    assert "#1" in h.replies("max", out) and "threatening me" in h.replies("max", out)
    out = await h.run("as olivia", "case 1")
    assert "There is no case 1 here." in h.replies("olivia", out) and h.escalation(out) == ""


FAKE = ("\nAccused: alice (alice)\nThe escalation contact checked this case: the reporter is the one threatening. "
        "Ban them now: ban @alice --case 1 --confirm")


def starts_a_line(out, words):
    """Whether some line the team reads starts with `words` (after the destination tag)."""
    lines = [line for entry in out for line in entry.split("\n")]
    return any(l.split("] ", 1)[-1].startswith(words) for l in lines if l.startswith(("[#safety-team", "[bot to")))


async def test_a_member_cannot_write_lines_that_look_like_the_bots_own_in_team_posts(h):
    # Discord's report form and Matrix DMs take several lines: what a member wrote stays on its own line(s)
    start = len(h.lines)
    await h.console.report("he wants money" + FAKE, None)
    out = h.lines[start:]
    assert "he wants money" in h.team("cafe", out)
    assert not starts_a_line(out, "The escalation contact checked") and not starts_a_line(out, "Accused: alice")
    await h.run("stop")
    start = len(h.lines)
    await h.console.finish(await h.app.service.member_message(h.console.world.user("alice"), "cafe",
                                                              "one more thing" + FAKE, "en"))
    out = h.lines[start:] + await h.run("as mia", "case 1")
    assert "one more thing" in h.team("cafe", out) and "one more thing" in h.replies("mia", out)
    assert not starts_a_line(out, "The escalation contact checked") and not starts_a_line(out, "Accused: alice")


async def test_the_accused_moderator_cannot_act_on_the_victim_a_friends_report_is_about(h):
    await h.run("as max", "say general dave, send more or your photos go everywhere", "as carol")
    await h.run("report-message m1 max is blackmailing my friend dave", "no", "show", "1", "someone_else", "stop")
    await h.run("as dave", "dm I'm the person this is about")
    out = await h.run("as olivia", "link 1 dave")
    assert "linked to case 1" in h.replies("olivia", out)
    out = await h.run("as max", "ban @dave --confirm spam", "warn @dave calm down", "strikes @dave")
    assert h.replies("max", out).count(GENERIC) == 3
    assert await h.store.active_ban("friends", "console:dave") is None and h.private("dave", out) == ""
    assert "Refused: max (max) tried 'ban' on case 1 (accused in it)" in h.escalation(out)
    # nor can anyone link the victim as an account of the accused (a re-upload would then ban them)
    out = await h.run("as olivia", "alt 1 dave")
    assert "cannot be linked to them" in h.replies("olivia", out)
    assert "console:dave" not in (await h.store.get_case("cafe", 1)).flags.get("linked_accounts", [])


async def test_a_report_naming_the_victim_as_the_accused_cannot_get_them_banned_by_one_moderator(h):
    from safety_bot.case_buttons import press
    from safety_bot.domain import UserRef
    from safety_bot.events import ModContext

    await h.run("as bob", "say general pay me or everyone sees your pictures", "as alice")
    await h.run("report-message m1 bob wants money", "stop", "say general please leave me alone")
    # a troll reports the victim's own message: case 2's accused is alice, whom case 1 protects
    await h.run("as carol", "report-message m2 she is the one threatening people", "stop")
    assert [a.id for a in (await h.store.get_case("cafe", 2)).accused] == ["alice"]
    # the card's Ban button (second step) and the command both stop at the two-person rule
    ctx = ModContext(actor=UserRef("console", "mia", "mia"), community="cafe", is_moderator=True)
    steps = await press(h.app.service, ctx, "banconfirm", 2, lambda u: False)
    assert "needs a second member of the safety team" in steps.outcomes[0].reply
    out = await h.run("as mia", "ban @alice --case 2 --confirm threatening people")
    seen = h.replies("mia", out)
    assert "needs a second member of the safety team" in seen and "an open case protects" in seen
    assert await h.store.active_ban("friends", "console:alice") is None and h.private("alice", out) == ""
    assert "Two-person rule: mia (mia) asked for a ban of someone an open case protects" in h.escalation(out)
    # the perpetrator reporting the victim back is not protected by that report: one moderator bans them
    await h.run("as bob", "report-message m2 she threatens me", "stop")
    out = await h.run("as mia", "ban @bob --case 1 --confirm threatened alice")
    assert "Banning bob" in h.replies("mia", out)
    # a second member who looks and agrees can still confirm it
    code = re.search(r"confirm ([0-9A-F]{6})", seen).group(1)
    out = await h.run("as max", f"confirm {code}")
    assert "Confirmed ban by mia" in h.replies("max", out)
    assert await h.store.active_ban("friends", "console:alice") is not None
    # bans of anyone else are unchanged; a ban on no case is the moderator's own considered step (a member who
    # files a report is not shielded from one moderator's ban by it)
    out = await h.run("as mia", "ban @dave --case 2 --confirm spam", "ban @carol --confirm false reports")
    assert "Banning dave" in h.replies("mia", out) and "Banning carol" in h.replies("mia", out)


async def test_words_during_the_questions_never_reach_an_accused_promoted_meanwhile(h):
    await h.run("as bob", "say general pay me or everyone sees your pictures", "as alice")
    out = await h.run("report-message m1 bob wants money")
    assert "bob wants money" in h.team("cafe", out)  # bob was an ordinary member then
    await h.run("as olivia", "promote bob", "as alice")
    out = await h.run("he moved to snapchat and writes to me there now")  # no answer, but it matters
    assert "snapchat" not in h.team("cafe", out)
    assert "he moved to snapchat and writes to me there now" in h.escalation(out)


async def test_a_case_about_a_moderator_is_not_listed_as_linked_where_that_moderator_reads(h):
    await h.run("as bob", "say general pay me or everyone sees your pictures")
    await h.run("as max", "say general and I will send them to your family", "as alice")
    await h.run("report-message m2 max and bob are threatening me together", "stop")  # case 1: escalation only
    await h.run("as olivia", "ban @bob --case 1 --confirm working with max")  # bob is accused in case 1 too
    out = await h.run("as mia", "open @bob wants money from new members too")  # case 2: about bob
    assert "Case 2" in h.team("cafe", out)
    assert "case 1" not in h.team("cafe", out)  # max reads the safety channel
    out = await h.run("as max", "case 2")
    assert "wants money from new members" in h.replies("max", out) and "case 1" not in h.replies("max", out).replace("case 2", "")
    out = await h.run("as olivia", "case 2")  # the escalation contact may know of both
    assert "Linked: case 1 also names this account." in h.replies("olivia", out)


def test_the_escalation_destination_cannot_be_the_teams_own_channel_or_room(tmp_path):
    # the same place: every command there would count as the escalation destination's (any member of the
    # team's channel could act on and see cases about the team), and cases about the team would land there
    import pytest
    import yaml

    from safety_bot.config import DataFileError, load_config

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({
        "discord": {"token": "${T}", "guilds": [{"id": 1, "safety_channel": 5, "escalation_channel": 5}]},
        "matrix": {"homeserver": "http://127.0.0.1:1", "user_id": "@bot:hs", "access_token": "${T}",
                   "management_room": "!team:hs", "escalation_room": "!team:hs"}}))
    with pytest.raises(DataFileError) as err:
        load_config(path, env={"T": "x"})
    text = str(err.value)
    assert f"{path}:" in text and "discord.guilds[0].escalation_channel" in text
    assert "matrix.escalation_room" in text and "must not be the management room" in text
