"""Principle 7 for `reveal`: a stolen moderator account could unmask every anonymous reporter. Each reveal is
told to the escalation destination (never whom it revealed), and reveals count toward the hourly limit of
`limits.mod_actions_per_hour`: past it, a second member of the team must confirm."""

from tests.harness import make_harness


async def _anonymous_report(h, who: str, text: str) -> None:
    await h.run(f"as {who}", f"report {text}", "no", "2", "stop")


async def test_a_reveal_is_told_to_the_escalation_destination_without_whom_it_revealed(h):
    await _anonymous_report(h, "alice", "bob threatens to post my photos")
    out = await h.run("as mia", "reveal 1 police need to contact the victim")
    assert "alice" in h.replies("mia", out)
    alert = h.escalation(out)
    assert "revealed who anonymously reported case 1" in alert and "police need to contact the victim" in alert
    assert "mia" in alert and "alice" not in alert
    assert "alice" not in h.team("cafe", out)


async def test_reveals_past_the_hourly_limit_need_a_second_person(tmp_path):
    h = await make_harness(tmp_path, {"limits": {"mod_actions_per_hour": 2}})
    try:
        for who, text in (("alice", "bob wants money for my photos"), ("carol", "dave threatens me"),
                          ("olivia", "someone says he will post my pictures")):
            await _anonymous_report(h, who, text)
        out = await h.run("as mia", "reveal 1 police asked", "reveal 2 police asked")
        assert "alice" in h.replies("mia", out) and "carol" in h.replies("mia", out)
        out = await h.run("reveal 3 police asked")
        seen = h.replies("mia", out)
        assert "This reveal of an anonymous reporter needs a second member" in seen and "olivia" not in seen
        assert "reveals in the last hour" in seen
        code = seen.split("confirm ")[1].split()[0]
        reveals = [a for a in await h.store.audit_entries() if a.action == "case.reveal_reporter"]
        assert len(reveals) == 2  # nothing revealed yet
        out = await h.run("confirm " + code)  # mia herself cannot
        assert "Another member of the safety team must confirm" in h.replies("mia", out)
        out = await h.run("as max", "confirm " + code)
        assert "olivia" in h.replies("max", out)
        reveals = [a for a in await h.store.audit_entries() if a.action == "case.reveal_reporter"]
        assert len(reveals) == 3 and reveals[-1].actor == "console:mia"
    finally:
        await h.app.__aexit__(None, None, None)
