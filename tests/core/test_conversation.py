"""One conversation per member at a time: a second report while questions are open joins the open case
(same accused) or waits for its turn; nothing is dropped, and a timed-out intake still applies its
"age unknown" rule, also to the reports waiting behind it. On the in-memory store and on SQLite."""

import pytest

from safety_bot.domain import Urgency
from tests.harness import make_harness


@pytest.fixture(params=["memory", "sqlite"])
async def hh(request, tmp_path):
    h = await make_harness(tmp_path, sqlite=request.param == "sqlite")
    yield h
    await h.app.__aexit__(None, None, None)


async def threats(h):
    await h.run("as bob", "say general pay me 200 or I post your pictures", "say general last chance",
                "as carol", "say art send more or everyone sees them", "as alice")


async def test_two_report_message_clicks_about_the_same_person_join_one_case(hh):
    await threats(hh)
    out = await hh.run("report-message m1 he wants money")
    assert "immediate danger" in hh.private("alice", out)
    out = await hh.run("report-message m2 and again")
    assert "added this to the report" in hh.private("alice", out) and "case 1" in hh.private("alice", out)
    assert "immediate danger" in hh.private("alice", out)  # the open question is asked again, not dropped
    assert len(await hh.store.list_cases()) == 1
    case = await hh.store.get_case("cafe", 1)
    assert [r.text for r in await hh.store.reports_for(case.id)] == ["he wants money", "and again"]
    assert {e.ref.message_id for e in await hh.store.evidence_for(case.id)} == {"m1", "m2"}
    assert (await hh.store.get_intake("console", "alice")).case_id == case.id


async def test_a_report_about_someone_else_waits_for_its_questions(hh):
    await threats(hh)
    await hh.run("report-message m1 he wants money")
    out = await hh.run("report-message m3 she wants more pictures")
    alice = hh.private("alice", out)
    assert "once we have finished the questions about your first one" in alice
    assert "immediate danger" in alice  # still the first case's question
    assert (await hh.store.get_intake("console", "alice")).case_id == (await hh.store.get_case("cafe", 1)).id
    out = await hh.run("stop")  # the first set ends: the second starts at once
    alice = hh.private("alice", out)
    assert "questions about your other report (case 2)" in alice and "immediate danger" in alice
    assert (await hh.store.get_intake("console", "alice")).case_id == (await hh.store.get_case("cafe", 2)).id
    out = await hh.run("no")
    assert "see your name" in hh.private("alice", out)
    case2 = await hh.store.get_case("cafe", 2)
    assert case2.answers["danger"] == "no"


async def test_an_unanswered_intake_times_out_with_the_unknown_age_rule_for_every_waiting_report(hh):
    await threats(hh)
    await hh.run("report-message m1 he wants money", "report-message m3 she wants more pictures")
    for number in (1, 2):
        assert (await hh.store.get_case("cafe", number)).urgency != Urgency.URGENT
    hh.offset[0] += (hh.app.config.escalation.intake_idle_minutes + 1) * 60
    await hh.app.runtime.run(await hh.app.service.tick())
    for number in (1, 2):
        case = await hh.store.get_case("cafe", number)
        assert case.flags.get("intake_done") and case.answers.get("minor") == "skipped", case.answers
        assert case.urgency == Urgency.URGENT  # age unknown: possibly a minor
    assert await hh.store.get_intake("console", "alice") is None
