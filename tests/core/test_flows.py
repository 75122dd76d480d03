"""Every flow of the core, played through the console adapter, checking what each party sees."""

import json

from safety_bot.domain import Status

THREAT = "bob says he will post my pictures unless I pay 200"


async def report_m2(h, *answers):
    await h.run("say general hi all", "as bob", "say general pay me 200 or I post your pictures", "as alice")
    out = await h.run("report-message m2 " + THREAT, *answers)
    return out


async def test_report_is_acknowledged_privately_and_reaches_only_the_team(h):
    out = await report_m2(h)
    alice = h.private("alice", out)
    assert "Your report is saved and only the safety team can see it" in alice
    assert "not your fault" in alice and "do not pay" in alice and "Keep the messages" in alice
    assert "A) What should I do now?" in alice  # short first words; the rest on request (test_first_words.py)
    # the DM's first line is neutral: a lock screen shows it
    dm_starts = [l for l in out if l.startswith("[private to alice] A message from")]
    assert dm_starts and all("sextortion" not in l.lower() for l in dm_starts)
    team = h.team("cafe", out)
    assert "New case 1" in team and THREAT in team and "console://cafe/general/m2" in team
    assert h.team("club", out) == ""  # another community's team sees nothing
    assert h.channel("general", "cafe", out) == ""  # nothing public
    assert not h.private("bob", out)  # the accused hears nothing
    case = await h.store.get_case("cafe", 1)
    assert case.status == Status.OPEN and case.accused[0].id == "bob"
    # the reported message was captured as evidence at once
    ev = await h.store.evidence_for(case.id)
    assert ev[0].text == "pay me 200 or I post your pictures" and ev[0].author.id == "bob"


async def test_follow_up_questions_one_at_a_time_each_skippable(h):
    out = await report_m2(h)
    assert "immediate danger" in h.private("alice", out)
    out = await h.run("no")
    assert "see your name" in h.private("alice", out)
    out = await h.run("skip", "1", "1", "no", "Germany", "threatens to post pictures", "skip", "ban", "yes")
    alice = h.private("alice", out)
    assert "That is all for now" in alice or "that is all for now" in alice
    case = await h.store.get_case("cafe", 1)
    assert case.answers["danger"] == "no" and case.answers["anonymous"] == "skipped"
    assert case.flags["country"] == "DE" and case.answers["wishes"] == "ban" and case.flags["consent"] == "yes"
    assert case.flags["intake_done"]
    # the final resource list fits the country
    assert "HateAid" in alice


async def test_stopping_the_questions_says_why_the_case_became_urgent(h):
    await report_m2(h)
    out = await h.run("skip", "stop")  # the age question is never answered: possibly a minor
    team = h.team("cafe", out)
    assert "Case 1 is now URGENT (questions left unanswered)" in team and "URGENT ()" not in team
    assert (await h.store.get_case("cafe", 1)).urgency.value == "urgent"


async def test_empty_report_without_message_gets_a_gentle_prompt_and_stores_nothing(h):
    out = await h.run("report    ")
    assert "tell us a little more" in h.private("alice", out)
    assert await h.store.list_cases() == []


async def test_empty_text_with_a_reported_message_is_a_valid_report(h):
    await h.run("as bob", "say general send more or else", "as alice")
    out = await h.run("report-message m1")
    assert "Your report is saved" in h.private("alice", out)
    assert len(await h.store.list_cases()) == 1


async def test_over_long_report_states_the_limit_and_stores_nothing(h):
    out = await h.run("report " + "x" * 4001)
    assert "the limit is 4000" in h.private("alice", out)
    assert await h.store.list_cases() == []


async def test_mentions_markdown_and_control_characters_are_inert_for_the_team(h):
    out = await h.run("report @everyone @here <@&123> **bold** \x1b[31mred\x1b[0m help")
    team = h.team("cafe", out)
    assert "@everyone" not in team and "@here" not in team and "<@&123>" not in team
    assert "\x1b" not in team
    assert "@\u200beveryone" in team


async def test_non_moderator_commands_are_refused_and_change_nothing(h):
    await report_m2(h)
    before = await h.store.get_case("cafe", 1)
    for cmd in ("cases", "case 1", "close 1", "ban @bob --confirm", "note 1 hi", "remove m2", "export 1 --reason x"):
        out = await h.run("as carol", cmd)
        assert "for the safety team only" in h.replies("carol", out), cmd
    after = await h.store.get_case("cafe", 1)
    assert after.status == before.status and after.assignee is None
    assert h.app.runtime.results == [] or all(r.status != "ok" for _, r in h.app.runtime.results if _.kind == "ban")
    assert "bob" not in h.console.world.bans.get("cafe", {})


async def test_unknown_case_number(h):
    out = await h.run("as mia", "case 99", "close 99", "note 99 hello", "reply 99 hi")
    assert h.replies("mia", out).count("There is no case 99 here.") == 4


async def test_remove_captures_evidence_first_then_deletes_and_tells_the_reporter(h):
    await report_m2(h)
    out = await h.run("as mia", "remove m2 --case 1")
    assert "Done: the message was removed." in h.replies("mia", out)
    assert "(a message was removed by the moderators)" in h.channel("general", "cafe", out)
    assert "the message you reported has been removed" in h.private("alice", out)
    case = await h.store.get_case("cafe", 1)
    ev = await h.store.evidence_for(case.id)
    # Captured again before removal; unchanged since the report, so it is not stored a second time.
    assert len(ev) == 1 and ev[0].text == "pay me 200 or I post your pictures"
    audit = [a.action for a in await h.store.audit_entries(case.id)]
    assert audit.index("evidence.captured") < audit.index("action.remove_message")
    assert case.status == Status.ACTING


async def test_removing_a_message_that_is_already_gone_keeps_evidence_and_notes_it(h):
    await report_m2(h)
    h.console.world.messages["m2"].deleted = True  # the author deleted it
    out = await h.run("as mia", "remove m2 --case 1")
    assert "already gone" in h.replies("mia", out)
    case = await h.store.get_case("cafe", 1)
    notes = " ".join(n.text for n in await h.store.notes_for(case.id))
    assert "already gone" in notes
    assert (await h.store.evidence_for(case.id))[0].text  # the first capture is kept


async def test_zero_tolerance_ban_asks_to_confirm_then_bans_across_the_network(h):
    await report_m2(h)
    out = await h.run("as mia", "ban @bob --case 1 threatening a member")
    assert "--confirm" in h.replies("mia", out) and "push the accused to post" in h.replies("mia", out)
    assert h.console.world.bans == {}
    out = await h.run("ban @bob --case 1 --confirm threatening a member")
    assert set(h.console.world.bans) == {"cafe", "club"}  # every community of the network
    audit_lines = "\n".join(l for l in out if l.startswith("[audit log"))
    assert "Zero-tolerance ban (safety case 1)" in audit_lines
    assert "alice" not in audit_lines and "threatening a member" not in audit_lines
    assert not h.private("bob", out)  # never messaged
    assert "the account has been removed" in h.private("alice", out)
    assert await h.store.strikes_for("friends", "console:bob") == []  # no strikes: zero tolerance
    assert h.console.world.messages["m2"].deleted  # recent messages purged


async def test_ban_of_someone_already_banned_changes_nothing(h):
    await report_m2(h)
    await h.run("as mia", "ban @bob --case 1 --confirm")
    n_audit = len(await h.store.audit_entries())
    out = await h.run("ban @bob --case 1 --confirm")
    assert "already banned" in h.replies("mia", out) and "Nothing changed" in h.replies("mia", out)
    assert len(await h.store.audit_entries()) == n_audit


async def test_ban_by_id_for_someone_who_left_and_several_alt_accounts(h):
    out = await h.run("as mia", "ban @ghost @ghost_alt --confirm")
    assert h.console.world.bans["cafe"].keys() == {"ghost", "ghost_alt"}
    assert h.console.world.bans["club"].keys() == {"ghost", "ghost_alt"}
    assert "Banning ghost, ghost_alt in 2 communities" in h.replies("mia", out)
    assert "Done: the ban is in place in 2 communities." in h.replies("mia", out)


async def test_unban_is_network_wide_and_audited_with_a_reason(h):
    await h.run("as mia", "ban @ghost --confirm")
    out = await h.run("unban @ghost appeal accepted after review")
    assert "Lifting the ban on ghost" in h.replies("mia", out)
    assert "Done: the ban is lifted in 2 communities." in h.replies("mia", out)
    assert h.console.world.bans == {"cafe": {}, "club": {}}
    lifted = [a for a in await h.store.audit_entries() if a.action == "ban.lifted"]
    assert lifted and lifted[0].detail["reason"] == "appeal accepted after review"


async def test_unban_without_a_reason_works_and_the_log_says_none_was_given(h):
    # The Matrix contract is `!safety unban <user_id>`: the reason is optional.
    await h.run("as mia", "ban @ghost --confirm")
    out = await h.run("unban @ghost")
    assert "Lifting the ban on ghost" in h.replies("mia", out)
    assert h.console.world.bans == {"cafe": {}, "club": {}}
    lifted = [a for a in await h.store.audit_entries() if a.action == "ban.lifted"]
    assert lifted[0].detail["reason"] == "(no reason given)"
    out = await h.run("unban")
    assert "Usage: unban <member or id> [reason]" in h.replies("mia", out)


async def test_warn_is_refused_in_sextortion_cases_with_an_explanation(h):
    await report_m2(h)
    out = await h.run("as mia", "warn @bob stop it")
    assert "never messages the accused" in h.replies("mia", out)
    assert not h.private("bob", out)
    assert await h.store.strikes_for("friends", "console:bob") == []


async def test_harassment_strikes_timeout_then_ban_and_decay(h):
    for i in range(3):
        out = await h.run("as mia", f"warn @dave rude message {i}")
    assert "timeout dave for 60 minutes" in "\n".join(out)
    assert "A warning from the moderators of cafe: rude message 2" in h.private("dave", out)
    out = await h.run("warn @dave again", "warn @dave and again")
    assert "dave" in h.console.world.bans["cafe"]
    assert "dave" not in h.console.world.bans.get("club", {})  # strike bans stay local
    out = await h.run("strikes @dave")
    assert "5 active strike(s)" in h.replies("mia", out)
    h.offset[0] += 91 * 86400  # strikes fade after decay_days
    out = await h.run("strikes @dave")
    assert "0 active strike(s), 5 faded" in h.replies("mia", out)


async def test_warning_that_names_the_reporter_is_not_sent(h):
    await h.run("as alice", "report dave keeps insulting me", "skip", "skip", "2")  # topic: harassment
    # the reporter's answer does not move the case down (issue 13); the team re-categorises, audited
    await h.run("as mia", "category 1 harassment insults only, no images involved")
    case = await h.store.get_case("cafe", 1)
    assert case.category == "harassment"
    case.accused = [h.console.world.user("dave")]
    await h.store.save_case(case)
    out = await h.run("as mia", "warn @dave alice told us what you did")
    assert "would name the reporter" in h.replies("mia", out)
    assert not h.private("dave", out)
    # Part of the name is enough: the first name, the family name, or a word of a Matrix id.
    from safety_bot.domain import UserRef
    case.reporter = UserRef("console", "@rita.m:example.org", "Rita Meyer")
    await h.store.save_case(case)
    for reason in ("rita says you insulted her", "Meyer complained", "we heard from RITA."):
        out = await h.run(f"warn @dave {reason}")
        assert "would name the reporter" in h.replies("mia", out), reason
    assert not h.private("dave", out)
    out = await h.run("warn @dave insulting members is not allowed here")
    assert "Warned" in h.replies("mia", out) and h.private("dave", out)
    # The person a friend's report is about, once the team linked them, is never named either.
    case.flags["victim"] = UserRef("console", "erin", "Erin Lang").to_dict()
    await h.store.save_case(case)
    out = await h.run("warn @dave Erin says you insulted her")
    assert "would name the reporter (or the person the report is about)" in h.replies("mia", out)
    assert "Erin" not in h.private("dave", out)


async def test_send_resources_note_assign_close(h):
    await report_m2(h)
    out = await h.run("as mia", "resources @carol", "note 1 spoke with alice", "assign 1", "close 1 nonsense")
    assert "places that can help" in h.private("carol", out)
    assert "Usage: close" in h.replies("mia", out)
    out = await h.run("close 1 actioned")
    case = await h.store.get_case("cafe", 1)
    assert case.status == Status.CLOSED and case.close_reason.value == "actioned" and case.assignee.id == "mia"
    assert "finished working on your report" in h.private("alice", out)
    notes = [n.text for n in await h.store.notes_for(case.id)]
    assert "spoke with alice" in notes
    out = await h.run("close 1")
    assert "already closed" in h.replies("mia", out)


async def test_export_needs_consent_or_an_audited_reason(h, tmp_path):
    await report_m2(h)
    out = await h.run("as mia", "export 1")
    assert "has not agreed" in h.replies("mia", out)
    assert not (tmp_path / "exports").exists()
    out = await h.run("export 1 --reason police asked with a warrant")
    reply = h.replies("mia", out)
    path = reply.split("Exported case 1 to ")[1].split(" on the bot")[0]
    bundle = json.loads(open(path).read())
    assert bundle["format"] == "safety-bot-case-export/1" and bundle["case"]["number"] == 1
    assert bundle["evidence"][0]["text"] == "pay me 200 or I post your pictures"
    assert any(a["action"] == "report.received" for a in bundle["audit"])
    exports = [a for a in await h.store.audit_entries() if a.action == "case.export"]
    assert exports[0].detail["reason"] == "police asked with a warrant"


async def test_export_of_an_anonymous_report_never_names_the_reporter(h, tmp_path):
    await report_m2(h)
    # alice answers every question (so the log has her answers and her consent), and keeps her name
    # private by skipping that question.
    await h.run("no", "skip", "1", "1", "no", "Germany", "threatens to post pictures", "skip", "ban", "yes")
    case = await h.store.get_case("cafe", 1)
    assert case.anonymous and case.flags["consent"] == "yes"
    out = await h.run("as mia", "export 1")
    path = h.replies("mia", out).split("Exported case 1 to ")[1].split(" on the bot")[0]
    text = open(path).read()
    assert "alice" not in text.lower()
    bundle = json.loads(text)
    reporter_entries = [a for a in bundle["audit"] if a["actor"] == f"reporter:{case.alias}"]
    assert {"report.received", "intake.answer"} <= {a["action"] for a in reporter_entries}
    assert not any(a.get("actor_withheld") for a in bundle["audit"])  # written with the alias: still verifiable
    # Only the audited reveal names her.
    out = await h.run("reveal 1 the police need a witness statement")
    assert "alice" in h.replies("mia", out)


async def test_export_withholds_an_anonymous_reporter_named_by_an_older_log_entry(h, tmp_path):
    from safety_bot.domain import AuditEntry
    await report_m2(h, "no", "skip")
    case = await h.store.get_case("cafe", 1)
    assert case.anonymous
    # As logs written before the alias was used: the reporter's account as the actor.
    await h.store.append_audit(AuditEntry(at=1.0, actor=case.reporter.key, action="case.consent",
                                          community="cafe", case_id=case.id, detail={"consent": "yes"}))
    out = await h.run("as mia", "export 1 --reason police asked with a warrant")
    path = h.replies("mia", out).split("Exported case 1 to ")[1].split(" on the bot")[0]
    text = open(path).read()
    assert "alice" not in text.lower()
    withheld = [a for a in json.loads(text)["audit"] if a.get("actor_withheld")]
    assert [a["action"] for a in withheld] == ["case.consent"] and withheld[0]["actor"] == f"reporter:{case.alias}"


async def test_audit_log_records_reports_views_actions_and_changes(h):
    await report_m2(h)
    await h.run("as mia", "cases", "case 1", "note 1 x", "assign 1")
    actions = [a.action for a in await h.store.audit_entries()]
    for expected in ("report.received", "case.list", "case.view", "case.note", "case.assign"):
        assert expected in actions
    assert h.store.audit_chain.verify(await h.store.audit_entries()) == ([], [])


async def test_database_locked_at_report_time_member_told_to_retry_nothing_half_written(h):
    h.store.unavailable = True
    out = await h.run("report he threatens me")
    assert "could not save that just now" in h.private("alice", out)
    assert "New case" not in "\n".join(out)
    h.store.unavailable = False
    assert await h.store.list_cases() == [] and h.store.reports == [] and h.store.outbox == {}
    out = await h.run("report he threatens me")
    assert "Your report is saved" in h.private("alice", out)


async def test_real_database_locked_at_report_time(hs):
    import sqlite3
    hs.store.db  # the aiosqlite connection exists
    path = hs.store.path
    blocker = sqlite3.connect(path, timeout=0.01)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        out = await hs.run("report he threatens me")
    finally:
        blocker.rollback()
        blocker.close()
    assert "could not save that just now" in hs.private("alice", out)
    assert "New case" not in "\n".join(out)
    assert await hs.store.list_cases() == [] and await hs.store.outbox_pending() == []
    out = await hs.run("report he threatens me")
    assert "Your report is saved" in hs.private("alice", out) and "New case 1" in hs.team("cafe", out)


async def test_moderator_past_the_hourly_limit_must_confirm_each_removal(tmp_path):
    from tests.harness import make_harness
    h = await make_harness(tmp_path, {"limits": {"mod_actions_per_hour": 2}})
    try:
        await h.run("say general one", "say general two", "say general three", "as mia")
        out = await h.run("remove m1", "remove m2")
        assert h.console.world.messages["m1"].deleted and h.console.world.messages["m2"].deleted
        out = await h.run("remove m3")
        assert "limit is 2" in h.replies("mia", out) and not h.console.world.messages["m3"].deleted
        # --confirm by the same moderator is not enough any more: a second person confirms (issue 13)
        out = await h.run("remove m3 --confirm")
        assert not h.console.world.messages["m3"].deleted
        import re
        code = re.search(r"confirm ([0-9A-F]{6})", h.replies("mia", out)).group(1)
        await h.run("as max", f"confirm {code}")
        assert h.console.world.messages["m3"].deleted
    finally:
        await h.app.__aexit__(None, None, None)


async def test_report_rate_limit_never_blocks_the_first_report_and_says_when_to_try_again(tmp_path):
    from tests.harness import make_harness
    h = await make_harness(tmp_path, {"limits": {"reports_per_hour": 2}})
    try:
        out = await h.run("report one", "stop")
        assert "Your report is saved" in h.private("alice", out)
        h.offset[0] += 20 * 60
        await h.run("report two", "stop")
        out = await h.run("report three")
        assert "wait about 40 minutes" in h.private("alice", out)
        assert len(await h.store.list_cases()) == 2
        h.offset[0] += 41 * 60
        out = await h.run("report three")
        assert "Your report is saved" in h.private("alice", out)
    finally:
        await h.app.__aexit__(None, None, None)
