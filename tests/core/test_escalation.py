"""Escalation that never goes quiet: the clock runs over three days (issue 14, item 2)."""

from safety_bot.domain import Urgency


def count(text: str, needle: str) -> int:
    return text.count(needle)


async def run_clock(h, minutes_total: int, step: int) -> list[str]:
    lines: list[str] = []
    for _ in range(minutes_total // step):
        lines += await h.run(f"wait {step}")
    return lines


async def test_urgent_case_is_re_alerted_for_three_days_and_the_reporter_told_at_most_hourly(h):
    await h.run("report he says he is coming to my house", "stop")
    case = await h.store.get_case("cafe", 1)
    assert case.urgency == Urgency.URGENT
    # the configured re-alerts (3 x 15 minutes), watched every 5 minutes
    first = await run_clock(h, 45, 5)
    assert count(h.team("cafe", first), "nobody has picked it up yet") == 3
    # then hourly, for three days, watched every 15 minutes
    rest = await run_clock(h, 3 * 24 * 60 - 45, 15)
    team = h.team("cafe", rest)
    hourly = count(team, "nobody has picked it up yet")
    assert 70 <= hourly <= 72  # never quiet: about one an hour
    assert "@safety-team" in team
    assert count(h.escalation(first + rest), "has not been picked up by the safety team") == 3 + hourly
    # the reporter: told the truth, never more than once an hour, crisis lines repeated each time
    told = [l for l in first + rest if l.startswith("[private to alice]") and "has not picked up your report yet" in l]
    assert 70 <= len(told) <= 73
    alice = h.private("alice", first + rest)
    assert "do not wait for us" in alice and "116 123" in alice
    assert "person who looks after the team" in alice  # true: the escalation contact was alerted too
    stamps = (await h.store.get_case("cafe", 1)).flags
    assert stamps["escalations"] == 3 + hourly
    # a moderator picks it up: silence from then on
    await h.run("as mia", "assign 1")
    after = await run_clock(h, 180, 30)
    assert "nobody has picked it up" not in "\n".join(after)
    assert "has not picked up your report" not in "\n".join(after)


async def test_normal_case_unassigned_reminds_daily_and_checks_in_with_the_reporter_once(h):
    await h.run("report he wants 200 for my photos", "no", "show", "1", "me", "no", "stop")
    case = await h.store.get_case("cafe", 1)
    assert case.urgency == Urgency.NORMAL
    day1 = await run_clock(h, 23 * 60, 60)
    assert "Reminder" not in h.team("cafe", day1) and not h.private("alice", day1)
    rest = await run_clock(h, 2 * 24 * 60 + 60, 60)
    team = h.team("cafe", rest)
    assert count(team, "Reminder: case 1 has waited") == 3  # at 24, 48 and 72 hours
    checkins = [l for l in rest if l.startswith("[private to alice]") and "still waiting for the safety team" in l]
    assert len(checkins) == 1
    assert "not been forgotten" in h.private("alice", rest)


async def test_remind_hours_is_configurable(tmp_path):
    from tests.harness import make_harness

    h = await make_harness(tmp_path, {"escalation": {"remind_hours": 2}})
    try:
        await h.run("report he wants 200 for my photos", "no", "show", "1", "me", "no", "stop")
        out = await run_clock(h, 150, 30)
        assert count(h.team("cafe", out), "Reminder: case 1 has waited 2 hours") == 1
    finally:
        await h.app.__aexit__(None, None, None)
