"""Fuzz tests for the inputs round 2 found unsafe: YAML past its budgets (depth, values with aliases
expanded, size), key material (environment and key files), and the CLI's numbers (`purge --days`).

Each may only fail the documented way: a `file:line: problem` DataFileError, a KeyProblem that says what
is wrong and how to fix it, or argparse's usage message with exit code 2. Never a traceback, never a
changed database, never a new key over existing data. Cases tried are counted in the hardening figures;
the slowest YAML refusal and its peak memory are printed there too (figures, not timed assertions).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from safety_bot.cli import main
from safety_bot.config import load_config
from safety_bot.crypto import KeyProblem, WrongKey
from safety_bot.domain import AuditEntry
from safety_bot.store.sqlite import SqliteStore
from safety_bot.yamlio import MAX_DEPTH, MAX_NODES, DataFileError, load_yaml
from tests.harness import ROOT, write_config
from tests.hardening.conftest import FIGURES

FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                      HealthCheck.function_scoped_fixture])
LINE = re.compile(r"^budget\.yaml:\d+: \S")


def tried(target: str) -> None:
    counts = FIGURES.setdefault("fuzz cases tried", {})
    counts[target] = counts.get(target, 0) + 1


def worst(name: str, seconds: float, peak_mb: float) -> None:
    figures = FIGURES.setdefault("yaml budget refusals (slowest, peak memory)", {})
    old = figures.get(name, (0.0, 0.0))
    figures[name] = (round(max(old[0], seconds), 3), round(max(old[1], peak_mb), 1))


def _load(text: str) -> None:
    tracemalloc.start()
    start = time.perf_counter()
    try:
        load_yaml("budget.yaml", text)
        refused = None
    except DataFileError as exc:
        refused = exc.problems
    finally:
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    worst("load_yaml", elapsed, peak)
    assert peak < 100, f"{peak:.0f} MB"  # memory is not timing: a hard bound
    if refused is not None:
        assert refused and all(LINE.match(p) for p in refused), refused
    return refused


# ------------------------------------------------------------------------------------------------- YAML
def alias_bomb(width: int, levels: int) -> str:
    lines = ["a0: &a0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_the_round_one_alias_bomb_and_deep_nesting_are_refused_with_a_line():
    bomb = alias_bomb(9, 9)
    assert len(bomb.encode()) < 600  # a few hundred bytes that expand to 9**9 values
    assert _load(bomb)[0].startswith("budget.yaml:5: more than 10,000 values")
    assert _load(alias_bomb(9, 10))[0].startswith("budget.yaml:5: more than 10,000 values")
    assert _load("a: " + "[" * 5000 + "]" * 5000) == [f"budget.yaml:1: nested more than {MAX_DEPTH} levels deep; "
                                                      "flatten this part"]
    assert _load("".join(" " * i + "k:\n" for i in range(900)))[0].startswith("budget.yaml:")
    assert "nested more than" in _load("".join(" " * i + "k:\n" for i in range(900)))[0]
    assert _load("a: " + "x" * 1_100_000) == ["budget.yaml:1: the file is larger than 1 MB; no config, playbook "
                                              "or resource file needs that much"]
    assert _load("\n".join(f"k{i}: {i}" for i in range(MAX_NODES)))[0].startswith("budget.yaml:5000: more than")
    # just inside the budgets still loads
    assert _load("a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)) is None
    assert _load(alias_bomb(9, 4)) is None


def test_check_config_refuses_an_alias_bomb_with_file_and_line(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(write_config(tmp_path).read_text() + "x-bomb:\n" + "".join(
        "  " + line + "\n" for line in alias_bomb(9, 10).splitlines()))
    res = subprocess.run([sys.executable, "-m", "safety_bot.cli", "check-config", "--config", str(cfg)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 2 and re.search(r"config\.yaml:\d+: more than 500,000 values", res.stderr), res.stderr


@st.composite
def nested(draw):
    """Random nesting of flow and block collections, with anchors and aliases used many times over."""
    depth = draw(st.integers(1, 140))
    width = draw(st.integers(1, 12))
    levels = draw(st.integers(1, 8))
    kind = draw(st.sampled_from(["flow", "block", "mixed", "bomb", "bomb-block"]))
    if kind == "flow":
        return "a: " + "[" * depth + "x" + "]" * depth
    if kind == "block":
        return "".join(" " * i + f"k{i}:\n" for i in range(depth)) + " " * depth + "v\n"
    if kind == "mixed":
        return "".join(" " * (2 * i) + ("- " if i % 2 else f"k{i}:") + "\n" for i in range(min(depth, 60))) + "{a: [b]}\n"
    if kind == "bomb":
        return alias_bomb(width, levels)
    lines = ["a0: &a0\n" + "".join(f"  - v{j}\n" for j in range(width))]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i}\n" + "".join(f"  - *a{i - 1}\n" for _ in range(width)))
    return "".join(lines)


@settings(FAST, max_examples=200)
@given(nested())
def test_yaml_budgets_random_nesting_and_aliases(text):
    tried("YAML budgets: nesting and aliases")
    _load(text)


@settings(FAST, max_examples=150)
@given(st.text(alphabet="[]{}&*ab:,- \n'\"!|>#%@`\t", max_size=400))
@example("&a [*a, *a]")
@example("a: &a\n  b: *a\n")
@example("*undefined")
def test_yaml_budgets_random_punctuation(text):
    tried("YAML budgets: random punctuation")
    _load(text)


# ------------------------------------------------------------------------------------------ key material
WORK = Path(tempfile.mkdtemp(prefix="safety-bot-keyfuzz-"))


@pytest.fixture(scope="module")
def existing_db():
    """A database with data, its key file and audit key; every case copies it to a fresh folder."""
    import asyncio

    src = WORK / "src"
    src.mkdir()

    async def make():
        store = await SqliteStore.open(src / "db.sqlite3")
        await store.append_audit(AuditEntry(at=1.0, actor="a", action="x"))
        await store.close()

    asyncio.run(make())
    yield src
    shutil.rmtree(WORK, ignore_errors=True)


def _copy(src: Path, name: str) -> Path:
    folder = WORK / f"case-{name}"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(src, folder)
    return folder / "db.sqlite3"


def _fingerprint(db: Path) -> list:
    return sorted((p.name, p.read_bytes()) for p in db.parent.iterdir() if not p.name.endswith(("-wal", "-shm")))


key_texts = st.one_of(
    st.text(max_size=80),
    st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()),
    st.binary(min_size=32, max_size=32).map(lambda b: base64.b64encode(b).decode()),  # valid, but the wrong key
    st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
)


@settings(FAST, max_examples=120)
@given(key_texts, st.sampled_from(["storage.key", "key file", "audit key file", "storage.audit_key"]))
@example("not base64!!", "storage.key")
@example("", "key file")
@example(base64.b64encode(b"x" * 31).decode(), "audit key file")
async def test_key_material_is_a_clear_message_and_changes_nothing(existing_db, text, where):
    tried("key material: environment and key files")
    db = _copy(existing_db, "fuzz")
    kwargs = {}
    if where == "storage.key":
        kwargs["key"] = text
    elif where == "storage.audit_key":
        kwargs["audit_key"] = text
    else:
        suffix = ".key" if where == "key file" else ".audit-key"
        db.with_name(db.name + suffix).write_bytes(text.encode("utf-8", "surrogatepass"))
    before = _fingerprint(db)
    try:
        store = await SqliteStore.open(db, **kwargs)
    except KeyProblem as exc:
        message = str(exc)
        assert "Traceback" not in message and len(message) > 20
        assert _fingerprint(db) == before  # nothing changed, nothing replaced
        return
    # only an empty configured value opens: it means "not configured", so the key files beside the database are used
    await store.close()
    assert where in ("storage.key", "storage.audit_key") and text == ""


@pytest.mark.parametrize("lost", [".key", ".audit-key"])
async def test_a_lost_key_file_is_never_replaced(existing_db, lost):
    db = _copy(existing_db, "lost" + lost)
    db.with_name(db.name + lost).unlink()
    before = _fingerprint(db)
    with pytest.raises(KeyProblem, match="is missing but the database .* already has data. Restore the"):
        await SqliteStore.open(db)
    assert _fingerprint(db) == before and not db.with_name(db.name + lost).exists()


async def test_the_wrong_key_is_named(existing_db):
    db = _copy(existing_db, "wrong")
    with pytest.raises(WrongKey, match="different key"):
        await SqliteStore.open(db, key=base64.b64encode(os.urandom(32)).decode())


def test_cli_key_errors_are_one_line_without_traceback(tmp_path, existing_db):
    db = _copy(existing_db, "cli")
    cfg = write_config(tmp_path, db=str(db))
    env = {**os.environ}
    db.with_name(db.name + ".key").write_text("this is not a key\n")
    for cmd in (["run"], ["verify-audit"], ["audit-key"], ["purge"], ["rotate-key"], ["export", "1", "--community", "cafe"]):
        res = subprocess.run([sys.executable, "-m", "safety_bot.cli", *cmd, "--config", str(cfg)],
                             capture_output=True, text=True, cwd=ROOT, timeout=120, env=env)
        assert res.returncode == 2 and "Traceback" not in res.stderr, (cmd, res.stderr)
        assert "not valid base64" in res.stderr, (cmd, res.stderr)


# ------------------------------------------------------------------------------------------- CLI numbers
@pytest.fixture(scope="module")
def purge_config(tmp_path_factory):
    folder = tmp_path_factory.mktemp("purge")
    return str(write_config(folder))


@settings(FAST, max_examples=150)
@given(st.one_of(st.integers(-10**12, 10**12).map(str), st.text(max_size=12)))
@example("-5")
@example("0")
@example("1e3")
@example(" 7")
def test_purge_days_is_validated(purge_config, capsys, days):
    tried("CLI numbers: purge --days")
    try:
        valid = int(days) >= 1
    except ValueError:
        valid = False
    if not valid:
        with pytest.raises(SystemExit) as exit_:
            main(["purge", "--config", purge_config, f"--days={days}"])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert "--days" in err and "Traceback" not in err
        return
    assert main(["purge", "--config", purge_config, f"--days={days}"]) == 0
    assert "purged 0 closed case(s)" in capsys.readouterr().out


def test_a_config_listing_ten_thousand_discord_guilds_loads(tmp_path):
    """The operator's config has its own, larger budgets: a large bot lists every guild it protects."""
    cfg = tmp_path / "config.yaml"
    guilds = "".join(f"    - {{id: {10**17 + i}, safety_channel: {2 * 10**17 + i}, safety_role: {3 * 10**17 + i}, "
                     f"network: main}}\n" for i in range(10_000))
    cfg.write_text(write_config(tmp_path).read_text() + "discord:\n  token: ${DISCORD_TOKEN}\n  guilds:\n" + guilds)
    config = load_config(cfg, env={"DISCORD_TOKEN": "t", **os.environ})
    assert len(config.discord.guilds) == 10_000
