"""The reporter's identity and words reach only the safety team's destinations and the reporter.

A random canary is put in the reporter's name and in everything they write. Every scenario runs, then
every printed line and every log record (at DEBUG) is checked: the canary may appear only in lines for
the reporter, the safety team's channels, the escalation contact, and replies to moderators. The logs
are checked as written in both formats (text and JSON lines), and so is the /metrics page.
"""

import io
import json
import logging
import re
import secrets

import aiohttp

from safety_bot.http.listener import HttpListener
from safety_bot.ops.health import Health
from safety_bot.ops.logs import formatter
from tests.harness import BASE_CONFIG, destination, make_harness

METRIC_LABELS = {"urgency", "action", "result", "platform"}

ALLOWED_PREFIXES = ("[#safety-team @ cafe]", "[#mods-only @ club]", "[escalation to olivia @ cafe]", "[bot to mia]",
                    "[bot to max]")


async def test_canary_reaches_only_reporter_and_safety_team(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    written = {fmt: io.StringIO() for fmt in ("text", "json")}
    handlers = []
    for fmt, stream in written.items():
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter(fmt))
        handler.setLevel(logging.DEBUG)
        logging.getLogger().addHandler(handler)
        handlers.append(handler)
    canary = "cn" + secrets.token_hex(4)
    reporter = f"vic{canary}"
    communities = [dict(c) for c in BASE_CONFIG["console"]["communities"]]
    communities[0] = {**communities[0], "members": [*communities[0]["members"], reporter]}
    h = await make_harness(tmp_path, {"console": {**BASE_CONFIG["console"], "communities": communities,
                                                  "start_as": reporter}}, sqlite=True)
    said = f"he wants money {canary} or he posts my photos"
    try:
        await h.run("as bob", "say general pay or else", "say art more threats", "as max", "say general send pics", "as carol", "say general carol threat",
                    f"as {reporter}")
        script = [
            # a report of a message, with every question answered
            f"report-message m1 {said}", "no", "show", "1", "me", "no", f"DE {canary}", f"threat {canary}",
            f"links {canary}", "ban", "yes",
            # the reply channel, both ways
            "as mia", "case 1", "cases", "reply 1 how are you?", f"as {reporter}", f"dm I am scared {canary}",
            # acting on the case
            "as mia", "assign 1", f"note 1 talked to them {canary}", "remove m1 --case 1",
            f"ban @bob --case 1 --confirm {canary} reason", "warn @bob stop", "strikes @bob", "export 1",
            "close 1 actioned",
            # an anonymous urgent report, left unacknowledged
            f"as {reporter}", f"report-message m4 urgent {canary}", "yes", "2", "stop",
            "wait 16", "as mia", "case 2", "resources @" + reporter,
            # a report about a moderator
            f"as {reporter}", f"report-message m3 a moderator {canary}", "stop",
            # the accused reports back; a moderator opens a case; withdrawal
            "as bob", "report they are lying", "stop", "as mia", "open @bob suspicion", "cases all",
            f"as {reporter}", f"report please {canary}", "stop", "withdraw",
        ]
        await h.run(*script)
        health = Health(h.app.store, h.app.metrics, stuck_after=600, probes={"console": lambda: True})
        async with health.mount(HttpListener("0")) as listener, aiohttp.ClientSession() as http:
            async with http.get(listener.url + "/metrics") as resp:
                assert resp.status == 200
                metrics = await resp.text()
    finally:
        for handler in handlers:
            logging.getLogger().removeHandler(handler)
        await h.app.__aexit__(None, None, None)
    text = "\n".join(h.lines)
    assert canary in text  # the scenario really carried the canary
    leaks = []
    for line in h.lines:
        if canary not in line:
            continue
        dest = destination(line)
        if dest in (f"[private to {reporter}]", f"[bot to {reporter}]", f"{reporter}@cafe>") or line.startswith(ALLOWED_PREFIXES):
            continue
        if line.startswith(f"(you are now {reporter}") or line.endswith(f"> as {reporter}"):
            continue  # the console itself telling the person who they are playing
        if line.startswith("mia@cafe>") or line.startswith("max@cafe>"):
            continue  # what a moderator typed themselves
        leaks.append(line)
    assert leaks == [], "\n".join(leaks)
    # the anonymous case never shows the reporter's name to the team
    case2 = [l for l in h.lines if l.startswith("[#safety-team @ cafe]") and "urgent" in l]
    assert case2 and all(reporter not in l for l in case2)
    # the accused, public channels and platform audit logs never see it
    for line in h.lines:
        if line.startswith(("[private to bob]", "[#general", "[#art", "[#lobby", "[audit log")):
            assert canary not in line, line
    # and nothing in the logs, at any level
    for record in caplog.records:
        assert canary not in record.getMessage(), record.getMessage()
    # the logs as written, in both formats
    for fmt, stream in written.items():
        assert stream.getvalue(), fmt
        assert canary not in stream.getvalue(), fmt
    events = [json.loads(line) for line in written["json"].getvalue().splitlines()]
    received = [e for e in events if e["event"] == "report.received"]
    assert received and all(e["community"] == "cafe" and isinstance(e["case"], int) for e in received)
    assert reporter not in written["text"].getvalue() and reporter not in written["json"].getvalue()
    # the metrics: the scenario is counted, and labels carry only bounded operational values
    assert canary not in metrics and reporter not in metrics
    assert re.search(r"^safety_bot_reports_received_total [1-9]", metrics, re.M), metrics
    assert re.search(r'^safety_bot_actions_total\{action="ban",result="ok"\} [1-9]', metrics, re.M), metrics
    for name, labels in re.findall(r"^(\w+)\{([^}]*)\}", metrics, re.M):
        for key, value in re.findall(r'(\w+)="([^"]*)"', labels):
            assert key in METRIC_LABELS | {"le"}, (name, key)
            assert not value.isdigit() or key == "le", (name, key, value)
            assert value not in ("cafe", "club", "bob", "mia", "max"), (name, key, value)
