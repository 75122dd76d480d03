"""Config, playbook and resource files: bad input names the file, the line and the key."""

import subprocess
import sys

import pytest

from safety_bot.config import DataFileError, load_config
from safety_bot.playbooks import load_library
from tests.harness import ROOT, write_config

CLI = [sys.executable, "-m", "safety_bot.cli"]


def test_shipped_config_and_playbooks_are_valid():
    config = load_config(ROOT / "config.yaml", env={})
    assert config.console is not None and config.discord is None
    lib = load_library(config.path(config.playbooks))
    assert set(lib.playbooks) == {"sextortion", "child_safety", "harassment"}
    assert {"en", "de"} <= set(lib.texts.languages)
    assert all(r.description.get("de") for r in lib.resources)
    assert all(r.last_checked for r in lib.resources)
    # every member-facing English text has a German one
    member_keys = [k for k in lib.texts.by_lang["en"] if not k.startswith(("not_moderator", "store_unavailable_mod",
                   "unknown_case", "note_too_long", "message_", "ban_reminder", "warn_", "export_needs"))]
    missing = [k for k in member_keys if k not in lib.texts.by_lang["de"]]
    assert missing == []


def test_invalid_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("storage:\n  database: x\n limits: [\n")
    with pytest.raises(DataFileError) as err:
        load_config(bad, env={})
    assert f"{bad}:3: not valid YAML" in str(err.value) or f"{bad}:4: not valid YAML" in str(err.value)


def test_unknown_key_and_wrong_type_name_the_key_path_and_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("limits:\n  report_max_chars: lots\nstrikes:\n  ban_at: 2\n  timeout_at: 3\nconsole:\n  communities:\n    - id: Bad Id\n      moderators: [m]\n  colour: blue\n")
    with pytest.raises(DataFileError) as err:
        load_config(path, env={})
    text = str(err.value)
    assert f"{path}:2: limits.report_max_chars" in text
    assert "strikes" in text and "ban_at must be larger than timeout_at" in text
    assert f"{path}:8: console.communities[0].id" in text
    assert f"{path}:10: console.colour: unknown key" in text


def test_secrets_only_from_the_environment(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("discord:\n  token: abc.def.literal\n  guilds: [{id: 1, safety_channel: 2}]\n")
    with pytest.raises(DataFileError) as err:
        load_config(path, env={})
    assert f"{path}:2: discord.token: secrets must come from the environment" in str(err.value)
    path.write_text("discord:\n  token: ${DISCORD_TOKEN}\n  guilds: [{id: 1, safety_channel: 2}]\n")
    with pytest.raises(DataFileError) as err:
        load_config(path, env={})
    assert "environment variable DISCORD_TOKEN is not set" in str(err.value)
    config = load_config(path, env={"DISCORD_TOKEN": "secret-token"})
    assert config.discord.token == "secret-token"


def test_broken_playbook_names_file_and_key(tmp_path):
    folder = tmp_path / "playbooks"
    folder.mkdir()
    for f in (ROOT / "playbooks").glob("*.yaml"):
        (folder / f.name).write_text(f.read_text())
    (folder / "locales").mkdir()
    for f in (ROOT / "playbooks" / "locales").glob("*.yaml"):
        (folder / "locales" / f.name).write_text(f.read_text())
    text = (folder / "sextortion.yaml").read_text().replace("contact_accused: false", "contact_accused: maybe")
    (folder / "sextortion.yaml").write_text(text)
    res = (folder / "resources.yaml").read_text().replace("region: global", "region: Earth", 1)
    (folder / "resources.yaml").write_text(res)
    with pytest.raises(DataFileError) as err:
        load_library(folder)
    msg = str(err.value)
    assert "sextortion.yaml:" in msg and "contact_accused" in msg
    assert "resources.yaml:" in msg and "resources[0].region" in msg


def test_playbook_cannot_offer_warn_when_the_accused_must_not_be_contacted(tmp_path):
    folder = tmp_path / "pb"
    import shutil
    shutil.copytree(ROOT / "playbooks", folder)
    text = (folder / "child_safety.yaml").read_text().replace("actions: [remove,", "actions: [warn, remove,")
    (folder / "child_safety.yaml").write_text(text)
    with pytest.raises(DataFileError) as err:
        load_library(folder)
    assert "child_safety.yaml" in str(err.value) and "warn" in str(err.value)


def test_check_config_cli_exit_codes(tmp_path):
    good = write_config(tmp_path)
    ok = subprocess.run([*CLI, "check-config", "--config", str(good)], capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("strikes:\n  decay_days: -1\n")
    res = subprocess.run([*CLI, "check-config", "--config", str(bad)], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode != 0 and f"{bad}:2: strikes.decay_days" in res.stderr
    # run refuses to start with the same message, and creates no database
    res = subprocess.run([*CLI, "run", "--config", str(bad)], capture_output=True, text=True, cwd=ROOT,
                         stdin=subprocess.DEVNULL)
    assert res.returncode != 0 and f"{bad}:2: strikes.decay_days" in res.stderr
    assert not (tmp_path / "data").exists()


def test_postgres_backend_needs_a_dsn_and_a_key_from_the_environment(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("storage:\n  backend: postgres\n  key: ${K}\n")
    with pytest.raises(DataFileError, match="storage.dsn is required with backend postgres"):
        load_config(path, env={"K": "x"})
    path.write_text("storage:\n  backend: postgres\n  dsn: postgresql://u:pw@db/x\n  key: ${K}\n")
    with pytest.raises(DataFileError, match=r"c.yaml:3: storage.dsn: secrets must come from the environment"):
        load_config(path, env={"K": "x"})
    path.write_text("storage:\n  backend: postgres\n  dsn: ${DATABASE_URL}\n")
    with pytest.raises(DataFileError, match="storage.key is required with backend postgres"):
        load_config(path, env={"DATABASE_URL": "postgresql://u@db/x"})
    path.write_text("storage:\n  backend: postgres\n  dsn: ${DATABASE_URL}\n  key: ${K}\n")
    config = load_config(path, env={"DATABASE_URL": "postgresql://u@db/x", "K": "x"})
    assert (config.storage.backend, config.storage.dsn) == ("postgres", "postgresql://u@db/x")
    path.write_text("storage:\n  backend: mysql\n")
    with pytest.raises(DataFileError, match="storage.backend"):
        load_config(path, env={})
