"""The service files (deploy/): no container engine or systemd runs on the test machine, so these tests
parse them and check that every path and command they name exists in the project."""

import configparser
import contextlib
import io
import re
import shlex
import tomllib

import pytest
import yaml

from safety_bot.cli import main
from tests.harness import ROOT

DEPLOY = ROOT / "deploy"


def cli_accepts(argv: list[str]) -> bool:
    """`safety-bot ARGV --help` parses (the subcommand and its options exist)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit) as exc:
        main([*[a for a in argv if not a.startswith("-")], "--help"])
    return exc.value.code == 0 and all(a in out.getvalue() for a in argv if a.startswith("--"))


def test_cli_accepts_is_not_fooled():
    assert cli_accepts(["run", "--config"]) and not cli_accepts(["runn"]) and not cli_accepts(["run", "--bogus"])


def test_systemd_unit():
    unit = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    unit.optionxform = str
    unit.read_string((DEPLOY / "safety-bot.service").read_text())
    svc = unit["Service"]
    assert svc["User"] == "safety-bot" and svc["User"] != "root"
    assert svc["ProtectSystem"] == "strict" and svc["NoNewPrivileges"] == "true" and svc["PrivateTmp"] == "true"
    assert svc["StateDirectory"] == "safety-bot" and svc["WorkingDirectory"] == "/var/lib/safety-bot"
    for key in ("ExecStart", "ExecStartPre"):
        program, *args = shlex.split(svc[key])
        assert program == "/opt/safety-bot/bin/safety-bot", key
        assert cli_accepts([a for a in args if not a.startswith("/")]), svc[key]
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_dockerfile():
    steps = dockerfile_instructions()
    kinds = [k for k, _ in steps]
    base = dict(steps)["FROM"]
    assert re.fullmatch(r"python:3\.1[1-9]-slim", base)
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11" and int(base.split(".")[1].split("-")[0]) >= 11
    for kind, value in steps:
        if kind == "COPY":
            *sources, _ = value.split()
            for src in sources:
                assert (ROOT / src).exists(), f"COPY names {src}, which is not in the project"
    user = [v for k, v in steps if k == "USER"]
    assert user and user[-1] not in ("root", "0") and kinds.index("USER") > kinds.index("RUN")
    assert "safety-bot" in [v for k, v in steps if k == "RUN"][0]  # the user is created
    assert '["/data"]' in dict(steps)["VOLUME"]
    health = dict(steps)["HEALTHCHECK"]
    assert "http://127.0.0.1:8080/healthz" in health and "EXPOSE" in kinds and dict(steps)["EXPOSE"] == "8080"
    assert yaml.safe_load(dict(steps)["ENTRYPOINT"]) == ["safety-bot"]
    cmd = yaml.safe_load(dict(steps)["CMD"])
    assert cli_accepts([a for a in cmd if not a.startswith("/")])
    assert "[discord,matrix,media,postgres]" in " ".join(v for k, v in steps if k == "RUN")


def test_compose_file():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"bot", "synapse", "postgres"}
    build = services["bot"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == (DEPLOY / "Dockerfile").resolve()
    assert "/data" in [v.split(":")[1] for v in services["bot"]["volumes"]]
    assert all(p.startswith("127.0.0.1:") for s in services.values() for p in s.get("ports", []))  # loopback only
    assert set(services["bot"]["depends_on"]) == {"synapse", "postgres"}
    named = {v.split(":")[0] for s in services.values() for v in s.get("volumes", []) if not v.startswith(".")}
    assert named <= set(compose["volumes"])
