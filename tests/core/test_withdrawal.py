"""Issue 13 item 7: withdrawal is honoured."""

from safety_bot.domain import Status


async def test_a_withdrawn_report_keeps_nothing_of_the_reporter_and_is_not_acted_on_quietly(h):
    await _withdrawn_case_is_honoured(h)


async def test_withdrawal_on_sqlite_and_postgresql_drops_the_reporters_words_and_links(hdb):
    await _withdrawn_case_is_honoured(hdb)


async def _withdrawn_case_is_honoured(h):
    await h.run("as bob", "say general pay me or else", "as alice")
    await h.run("report-message m1 secret words from alice", "no", "show", "1", "me", "no", "US",
                "he wants 500", "https://evidence.example/alice-link", "stop")
    await h.run("dm a follow-up only the team saw")
    await h.run("consent yes", "withdraw")
    case = await h.store.get_case("cafe", 1)
    assert case.status == Status.CLOSED and case.flags["withdrawn"] and case.answers == {}
    assert case.flags["consent"] == "withdrawn"
    assert all(not r.text and r.reported_message is None for r in await h.store.reports_for(case.id))
    # the evidence keeps what the bot captured from the platform (author, time), not the message the reporter pointed at
    evidence = await h.store.evidence_for(case.id)
    assert evidence and all(not e.text and e.ref is None and e.author.id == "bob" for e in evidence)
    out = await h.run("as mia", "case 1")
    seen = h.replies("mia", out)
    assert "secret words" not in seen and "alice-link" not in seen and "he wants 500" not in seen
    assert "a follow-up only the team saw" not in seen and "m1" not in seen
    # acting on it needs --confirm and a reason; the reporter is never messaged about it
    out = await h.run("reply 1 are you sure?", "ban @bob --case 1", "ban @bob --case 1 --confirm",
                      "export 1 --reason police asked")
    seen = h.replies("mia", out)
    assert "was withdrawn by the reporter. The bot does not write to them" in seen
    assert seen.count("To act on it anyway, run the command again with --confirm and a reason") == 3
    assert await h.store.active_ban("friends", "console:bob") is None
    out = await h.run("ban @bob --case 1 --confirm he threatened others too")
    assert "Banning bob" in h.replies("mia", out)
    assert await h.store.active_ban("friends", "console:bob") is not None
    assert h.private("alice", out) == ""  # no "the account has been removed" notice
    [override] = [a for a in await h.store.audit_entries() if a.action == "case.withdrawn_override"]
    assert override.detail == {"command": "ban", "reason": "he threatened others too"}
    out = await h.run("export 1 --confirm --reason police asked for it")
    assert "Exported case 1" in h.replies("mia", out)
