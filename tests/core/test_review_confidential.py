"""Adversarial review of principles 2-4 (confidentiality, media, minors, evidence first): defects found
and fixed, each shown by the flow that triggered it."""

from safety_bot.domain import Status, Urgency
from tests.core.test_flows import report_m2


async def _second_report_about_bob(h, statement: str):
    """alice's questions about bob are open (case 1) when bob threatens again and she reports that too:
    the report joins case 1."""
    await report_m2(h)
    await h.run("as bob", "say general pay or I send them to your school", "as alice")
    return await h.run(f"report-message m3 {statement}")


async def test_a_report_joining_the_open_case_is_heard_for_danger(h):
    out = await _second_report_about_bob(h, "he did it again and i want to kill myself")
    alice = h.private("alice", out)
    assert "added this to the report" in alice  # it joined case 1
    # crisis lines first, as for any member text with a self-harm cue
    assert "glad you told me" in alice and alice.index("116 123") < alice.index("added this to the report")
    case = await h.store.get_case("cafe", 1)
    assert case.urgency == Urgency.URGENT and case.flags["danger_cues"] == ["self_harm"]
    team = h.team("cafe", out)
    assert "SELF-HARM" in team and "@safety-team" in team
    assert not h.private("bob", out)


async def test_a_report_joining_the_open_case_that_names_a_minor_takes_the_child_path(h):
    out = await _second_report_about_bob(h, "he did it again, I'm 15")
    case = await h.store.get_case("cafe", 1)
    assert case.category == "child_safety" and case.urgency == Urgency.URGENT and case.flags["age_cue"] == 15
    # no message text kept on the child path: neither the first capture nor the one this report added
    evidence = await h.store.evidence_for(case.id)
    assert len(evidence) == 2 and all(e.text == "" for e in evidence)
    assert "you are not in trouble" in h.private("alice", out)
    team = h.team("cafe", out)
    assert "child-safety" in team and "@safety-team" in team


async def test_a_minor_named_after_close_drops_the_evidence_text(h):
    await report_m2(h, "no", "show", "1", "me", "no", "Germany", "skip", "skip", "skip", "skip")
    await h.run("as mia", "close 1 actioned", "as alice")
    case = await h.store.get_case("cafe", 1)
    assert case.status == Status.CLOSED and (await h.store.evidence_for(case.id))[0].text
    out = await h.run("dm I lied about my age, I'm 15")
    case = await h.store.get_case("cafe", 1)
    assert case.category == "child_safety"
    assert all(e.text == "" for e in await h.store.evidence_for(case.id))
    assert "child-safety" in h.team("cafe", out)


async def _case_with_alt(h):
    """carol reports for a friend that bob blackmails them; the team links erin as bob's second account."""
    await h.run("as bob", "say general pay me", "as carol")
    await h.run("report-message m1 he is blackmailing my friend", "no", "show", "1", "someone_else", "stop")
    out = await h.run("as mia", "alt 1 @erin")
    assert "linked to case 1 as an account of the accused" in h.replies("mia", out)


async def test_the_accuseds_linked_account_is_never_made_the_victim(h):
    await _case_with_alt(h)
    out = await h.run("as erin", "dm I'm the person this is about", "as mia", "link 1 erin")
    assert "named as the accused" in h.replies("mia", out)
    case = await h.store.get_case("cafe", 1)
    assert "victim" not in case.flags
    assert "added you to the report" not in h.private("erin", out)


async def test_the_accuseds_linked_account_gets_no_resources_and_no_warning(h):
    await _case_with_alt(h)
    out = await h.run("resources @erin", "warn @erin stop it")
    replies = h.replies("mia", out)
    assert replies.count("case 1") >= 2 and "Sent" not in replies
    assert h.private("erin", out) == ""
    assert await h.store.strikes_for("friends", "console:erin") == []


async def _outbox_rows(h) -> list[tuple[str, str]]:
    """(status, the action as stored, decrypted) of every outbox row."""
    store = h.store
    if hasattr(store, "outbox"):  # the in-memory store
        return [(row["status"], repr(row["action"])) for row in store.outbox.values()]
    if hasattr(store, "pool"):  # PostgreSQL
        rows = await store.pool.fetch("SELECT status, action FROM outbox")
    else:
        rows = await store._rows("SELECT status, action FROM outbox")
    return [(r[0], store._dec(r[1])) for r in rows]


async def test_sent_messages_keep_no_copy_of_the_reporters_words(hdb):
    """What the outbox carried (the team's case card with the statement, the reporter's DMs) is dropped once
    sent: withdrawal and the retention purge delete the statement, and no sent copy may outlive them."""
    h = hdb
    said = "secret words only the team may read"
    await h.run("as bob", "say general pay me or else", "as alice", f"report-message m1 {said}", "no", "show")
    rows = await _outbox_rows(h)
    assert rows and all(status not in ("pending", "sending") for status, _ in rows)  # all sent
    assert [a for _, a in rows if said in a or "alice" in a] == []
