"""Victim-centred workflow: wishes, consent, age and country, escalation, reply channel, cases about moderators."""

from safety_bot.domain import Status, Urgency


async def test_bystander_report_keeps_victim_and_reporter_apart(h):
    out = await h.run("as carol", "report bob is blackmailing my friend with her photos",
                      "no", "show", "1", "someone_else", "no", "skip", "skip", "skip", "skip", "skip")
    case = await h.store.get_case("cafe", 1)
    assert case.answers["about"] == "someone_else" and case.reporter.id == "carol"
    team = h.team("cafe", out)
    assert "Happening to: To someone else" in team
    assert "Reporter: carol" in team  # she chose to show her name


async def test_immediate_danger_answers_with_crisis_lines_before_anything_else(h):
    await h.run("as alice")
    await h.run("report he says he will hurt himself if I do not send more")
    out = await h.run("yes")
    alice = [l for l in out if l.startswith("[private to alice]")]
    assert "reach out for help right now" in alice[0]
    crisis = "\n".join(alice)
    assert "Befrienders Worldwide" in crisis
    assert crisis.index("Befrienders") < crisis.index("see your name")  # crisis lines first, then the next question
    case = await h.store.get_case("cafe", 1)
    assert case.urgency == Urgency.URGENT
    assert "@safety-team" in h.team("cafe", out)  # urgent cases ping the safety role


async def test_skipped_age_question_means_possibly_a_minor_urgent_with_both_resource_lists(h):
    out = await h.run("report someone wants money for my photos", "no", "show", "1", "me", "skip",
                      "US", "skip", "skip", "skip", "skip")
    case = await h.store.get_case("cafe", 1)
    assert case.urgency == Urgency.URGENT and case.answers["minor"] == "skipped"
    alice = h.private("alice", out)
    final = alice[alice.rindex("a list that fits your answers"):]
    assert "NCMEC CyberTipline" in final or "Take It Down" in final  # minor resources
    assert "Cyber Civil Rights Initiative" in final or "StopNCII" in final  # adult resources
    assert "Possibly a minor" in h.team("cafe", out)


async def test_minor_switches_to_the_child_safety_path_and_drops_message_text(h):
    await h.run("as bob", "say general send me more pics or else", "as alice")
    out = await h.run("report-message m1 he is threatening me", "no", "show", "1", "me", "yes")
    case = await h.store.get_case("cafe", 1)
    assert case.category == "child_safety" and case.urgency == Urgency.URGENT
    assert all(e.text == "" for e in await h.store.evidence_for(case.id))
    team = h.team("cafe", out)
    assert "CyberTipline" in team and "@safety-team" in team
    # minor resources by the end
    out = await h.run("stop")
    assert "Take It Down" in h.private("alice", out)


async def test_anonymous_reporter_shows_an_alias_and_reveal_is_audited(h):
    out = await h.run("report bob threatens to post my photos", "no", "2")
    team = h.team("cafe", await h.run("stop"))
    case = await h.store.get_case("cafe", 1)
    assert case.anonymous and case.alias in team and "alice" not in team
    out = await h.run("as mia", "case 1")
    assert "alice" not in h.replies("mia", out)
    out = await h.run("reveal 1")
    assert "Usage: reveal" in h.replies("mia", out)
    out = await h.run("reveal 1 police need to contact the victim")
    assert "alice" in h.replies("mia", out)
    reveal = [a for a in await h.store.audit_entries() if a.action == "case.reveal_reporter"]
    assert reveal[0].actor == "console:mia" and reveal[0].detail["reason"] == "police need to contact the victim"
    assert reveal[0].case_id == case.id  # stored on its case: the case's export shows the reveal
    assert "case.reveal_reporter" in [a.action for a in await h.store.audit_entries(case.id)]


async def test_consent_can_be_given_later_and_unlocks_export(h):
    await h.run("report threats", "stop")
    out = await h.run("as mia", "export 1")
    assert "has not agreed" in h.replies("mia", out)
    out = await h.run("as alice", "consent yes")
    assert "may share the evidence" in h.private("alice", out)
    out = await h.run("as mia", "export 1")
    assert "Exported case 1" in h.replies("mia", out)


async def test_unacknowledged_urgent_case_is_re_alerted_and_the_reporter_is_told_truthfully(h):
    await h.run("report he is threatening me right now", "yes")
    out = await h.run("wait 10")
    assert "alerted again" not in "\n".join(out)
    out = await h.run("wait 6")
    assert "nobody has picked it up yet" in h.team("cafe", out) and "@safety-team" in h.team("cafe", out)
    assert "has not been picked up" in h.escalation(out)
    assert "alerted again" in h.private("alice", out)
    # once a moderator acknowledges, no more alerts
    await h.run("as mia", "assign 1")
    out = await h.run("wait 60")
    assert "nobody has picked it up" not in "\n".join(out)


async def test_case_about_a_moderator_goes_to_escalation_and_is_hidden_from_them(h):
    await h.run("as max", "say general send me pics or I share the old ones", "as alice")
    out = await h.run("report-message m1 a moderator is threatening me")
    assert h.team("cafe", out) == ""  # not in the channel max can read
    assert "New case 1" in h.escalation(out) and "a moderator is threatening me" in h.escalation(out)
    assert "Report button" in h.private("alice", out)  # also pointed to the platform's own reporting
    out = await h.run("as max", "cases", "case 1", "close 1")
    assert "There is no case 1 here." in h.replies("max", out) and "#1" not in h.replies("max", out)
    assert (await h.store.get_case("cafe", 1)).status == Status.OPEN
    out = await h.run("as mia", "case 1")
    assert "a moderator is threatening me" in h.replies("mia", out)


async def test_private_reply_channel_both_ways(h):
    await h.run("report someone threatens me", "stop")
    out = await h.run("as mia", "reply 1 We are here. Do you want us to remove the post?")
    alice = h.private("alice", out)
    assert "The safety team writes:" in alice and "Do you want us to remove the post?" in alice
    assert "mia" not in alice  # the reporter sees the team, not which moderator
    out = await h.run("as alice", "dm yes please remove it")
    assert "passed that on" in h.private("alice", out)
    assert "yes please remove it" in h.team("cafe", out)
    notes = [(n.kind, n.text) for n in await h.store.notes_for((await h.store.get_case("cafe", 1)).id)]
    assert ("reply_out", "We are here. Do you want us to remove the post?") in notes
    assert ("reply_in", "yes please remove it") in notes


async def test_moderator_opened_case_and_linked_cases(h):
    out = await h.run("as mia", "open @bob keeps DMing new members asking for photos")
    assert "Opened case 1" in h.replies("mia", out)
    await h.run("as bob", "say general pay up", "as alice", "report-message m1 he wants money", "stop")
    await h.run("as carol", "report-message m1 he threatened me too", "stop")
    out = await h.run("as mia", "case 3")
    assert "Linked: cases 1, 2 also name this account." in h.replies("mia", out)


async def test_close_reasons(h):
    for i in range(4):
        await h.run(f"report report {i}", "stop")
    out = await h.run("as mia", "close 1 actioned", "close 2 unfounded", "close 3 duplicate", "close 4 withdrawn")
    reasons = [(await h.store.get_case("cafe", n)).close_reason.value for n in (1, 2, 3, 4)]
    assert reasons == ["actioned", "unfounded", "duplicate", "withdrawn"]
    assert "unfounded" not in h.private("alice", out)  # the reporter is told kindly, never "unfounded"


async def test_member_can_withdraw_their_report(h):
    await h.run("report please help", "stop")
    out = await h.run("withdraw")
    assert "withdrawn" in h.private("alice", out)
    case = await h.store.get_case("cafe", 1)
    assert case.status == Status.CLOSED and case.close_reason.value == "withdrawn"
    assert (await h.store.reports_for(case.id))[0].text == ""


async def test_retaliation_is_flagged_on_both_cases_and_never_acted_on(h):
    await h.run("as bob", "say general pay me", "as alice", "report-message m1 he threatens me", "stop")
    out = await h.run("as bob", "report alice is harassing me", "stop")
    assert "Possible retaliation" in h.team("cafe", out)
    first = await h.store.get_case("cafe", 1)
    assert first.flags["retaliation_reports"] == [2]
    # the reply to bob is the ordinary one: it does not reveal that a case about him exists
    bob = h.private("bob", out)
    assert "case 1" not in bob and "retaliation" not in bob.lower()
    assert h.console.world.bans == {}


async def test_member_facing_texts_in_german(h):
    out = await h.run("locale de", "report er droht, meine Bilder zu posten")
    alice = h.private("alice", out)
    assert "Das ist nicht deine Schuld" in alice and "Ist gerade jemand in unmittelbarer Gefahr?" in alice
    alice = h.private("alice", await h.run("b"))  # "Who can help?" (the short first words' choices)
    assert "Nummer gegen Kummer" in alice or "HateAid" in alice or "StopNCII" in alice


def test_times_follow_the_reader(h):
    from safety_bot.views import TIME_STYLE, when
    ts = 1795335865.0  # 2026-11-22 08:24:25 UTC
    assert when(ts) == "22 Nov 2026, 08:24 UTC"
    token = TIME_STYLE.set("de")
    try:
        assert when(ts) == "22.11.2026, 08:24 UTC"
        TIME_STYLE.set("discord")
        assert when(ts) == "<t:1795335865:f>"
    finally:
        TIME_STYLE.reset(token)
