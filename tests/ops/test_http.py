"""The HTTP listener: /healthz, /readyz (platforms, database, outbox), /metrics; `http.listen` in the config."""

import asyncio
import json
import logging
import subprocess
import sys

import aiohttp
import pytest

from safety_bot.config import DataFileError, load_config
from safety_bot.http.address import parse_listen
from safety_bot.http.listener import HttpListener
from safety_bot.ops.health import Health, start_http
from safety_bot.ops.logs import setup_logging
from tests.harness import make_harness, write_config


async def get(listener, path):
    async with aiohttp.ClientSession() as http, http.get(listener.url + path) as resp:
        return resp.status, await resp.text()


def test_listen_values():
    assert parse_listen("8080") == ("127.0.0.1", 8080)  # a bare port stays on loopback
    assert parse_listen("0.0.0.0:9000") == ("0.0.0.0", 9000)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    for bad in ("", "http", ":80", "127.0.0.1:99999", "8080x"):
        with pytest.raises(ValueError):
            parse_listen(bad)


def test_config_http_and_log_format_are_checked(tmp_path):
    config = load_config(write_config(tmp_path), env={})
    assert config.http.listen is None and config.log_format == "text"  # off by default
    assert load_config(write_config(tmp_path, {"http": {"listen": 8080}}), env={}).http.listen == "8080"
    with pytest.raises(DataFileError) as exc:
        load_config(write_config(tmp_path, {"http": {"listen": "0.0.0.0:http"}}), env={})
    assert "http.listen" in str(exc.value) and "write a port" in str(exc.value)
    with pytest.raises(DataFileError) as exc:
        load_config(write_config(tmp_path, {"log_format": "xml"}), env={})
    assert "log_format" in str(exc.value)


async def test_healthz_readyz_metrics_on_a_running_app(tmp_path):
    h = await make_harness(tmp_path, {"http": {"listen": "127.0.0.1:0"}}, sqlite=True)
    connected = {"value": True}
    h.app.add_connection("discord", asyncio.Event(), lambda: connected["value"])
    listener = await start_http(h.app)
    try:
        assert listener.host == "127.0.0.1"
        assert await get(listener, "/healthz") == (200, "ok\n")
        status, body = await get(listener, "/readyz")
        assert status == 200, body
        assert body == "platform discord connected ok\ndatabase writable ok\noutbox moving ok\n"
        connected["value"] = False
        status, body = await get(listener, "/readyz")
        assert status == 503 and "platform discord connected failed" in body
        status, body = await get(listener, "/metrics")
        assert status == 200 and 'safety_bot_platform_connected{platform="discord"} 0.0' in body
        assert (await get(listener, "/nothing"))[0] == 404
    finally:
        await listener.stop()
        await h.app.__aexit__(None, None, None)


async def test_readyz_fails_when_the_outbox_is_stuck_and_when_the_database_is_gone(tmp_path):
    h = await make_harness(tmp_path, sqlite=True)
    now = [1000.0]
    health = Health(h.app.store, h.app.metrics, stuck_after=600, clock=lambda: now[0])
    h.app.metrics.clock = lambda: now[0]
    async with health.mount(HttpListener("0")) as listener:
        async with h.app.store.transaction():
            await h.app.store.outbox_add({"kind": "post_to_team"}, None)  # an action nobody carries out
        status, body = await get(listener, "/readyz")
        assert status == 200 and "outbox moving ok" in body  # first seen now
        now[0] += 601
        status, body = await get(listener, "/readyz")
        assert status == 503 and "outbox moving failed" in body
        metrics = (await get(listener, "/metrics"))[1]
        assert "safety_bot_outbox_pending 1.0" in metrics and "safety_bot_outbox_oldest_pending_seconds 601.0" in metrics
        await h.app.store.close()
        status, body = await get(listener, "/readyz")
        assert status == 503 and "database writable failed" in body
        assert (await get(listener, "/healthz"))[0] == 200  # alive, only not ready
        assert (await get(listener, "/metrics"))[0] == 200  # counters are still served


async def test_metrics_count_reports_acks_and_failed_actions(h):
    await h.run("as bob", "say general pay me", "as alice", "report-message m1 he wants money", "stop")
    await h.run("as mia", "assign 1")
    m = h.app.metrics
    assert m.reports._value.get() == 1
    assert m.first_ack._sum.get() >= 0 and sum(b.get() for b in m.first_ack._buckets) == 1
    # an action on a platform that is not running fails: counted by type, result and platform
    h.app.runtime.platforms.pop("console")
    await h.run("as alice", "report again", "stop")
    text = m.render().decode()
    assert 'safety_bot_actions_total{action="post_to_team",result="failed"}' in text
    assert 'safety_bot_platform_errors_total{platform="none"}' in text


def test_json_log_lines(capsys):
    import io

    stream = io.StringIO()
    handler = setup_logging("INFO", "json", stream)
    try:
        logging.getLogger("safety_bot.audit_events").info("%s", "report.received cafe case 3",
                                                    extra={"event": "report.received", "community": "cafe", "case": 3})
        logging.getLogger("safety_bot.x").warning("could not do %s", "that")
        try:
            raise OSError("disk")
        except OSError:
            logging.getLogger("safety_bot.x").exception("failed")
    finally:
        logging.getLogger().removeHandler(handler)
    rows = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    assert rows[0]["event"] == "report.received" and rows[0]["case"] == 3 and rows[0]["community"] == "cafe"
    assert rows[1]["event"] == "safety_bot.x:could_not_do" and rows[1]["level"] == "WARNING"
    assert rows[2]["error"] == "OSError"


def test_run_writes_json_logs(tmp_path):
    script = tmp_path / "script.txt"
    script.write_text("as alice\nreport he wants money\nstop\n", encoding="utf-8")
    cfg = write_config(tmp_path, {"log_format": "json"})
    proc = subprocess.run([sys.executable, "-m", "safety_bot.cli", "run", "--config", str(cfg), "--script", str(script)],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]  # not Python warnings
    assert any(r["event"] == "report.received" and r["case"] == 1 for r in rows), proc.stderr
    assert "he wants money" not in proc.stderr and "alice" not in proc.stderr


async def test_run_serves_health_while_running_and_stops_with_the_bot(tmp_path):
    import re

    cfg = write_config(tmp_path, {"http": {"listen": "0"}})
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "safety_bot.cli", "run", "--config", str(cfg),
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        port = None
        while port is None:
            line = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode()
            assert line, "the bot ended before listening"
            found = re.search(r"HTTP listener on 127\.0\.0\.1:(\d+)", line)
            port = found and int(found.group(1))
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                assert resp.status == 200
            async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                assert resp.status == 200 and "database writable ok" in await resp.text()
        proc.stdin.write(b"stop\n")
        proc.stdin.close()
        assert await asyncio.wait_for(proc.wait(), 60) == 0
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientConnectionError):
                await http.get(f"http://127.0.0.1:{port}/healthz")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_adapter_errors_are_counted_as_platform_errors_until_the_app_closes(h):
    logging.getLogger("adapters.discord.adapter").error("a direct message could not be handled")
    logging.getLogger("nio.client").error("sync failed")
    logging.getLogger("safety_bot.service").error("not a platform")
    text = h.app.metrics.render().decode()
    assert 'safety_bot_platform_errors_total{platform="discord"} 1.0' in text
    assert 'safety_bot_platform_errors_total{platform="matrix"} 1.0' in text
    metrics = h.app.metrics
    await h.app.__aexit__(None, None, None)
    logging.getLogger("adapters.discord.adapter").error("after the app closed")
    assert 'safety_bot_platform_errors_total{platform="discord"} 1.0' in metrics.render().decode()
