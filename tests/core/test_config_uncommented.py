"""config.yaml says "uncomment to run on Discord" and "uncomment to run on Matrix". An operator who does just
that (and sets the secrets' environment variables) gets a valid config that runs every guild's shard and
needs no HTTP listener: optional features stay off, as the header's "defaults are shown" promises."""

from safety_bot.config import load_config
from tests.harness import ROOT

ENV = {"DISCORD_TOKEN": "t", "MATRIX_PASSWORD": "p", "MATRIX_STORE_KEY": "k"}


def _uncommented(tmp_path):
    lines = []
    for line in (ROOT / "config.yaml").read_text(encoding="utf-8").splitlines():
        if line.startswith(("# discord:", "# matrix:", "#   ")):
            line = line[2:]
        lines.append(line)
    text = "\n".join(lines).replace("playbooks: playbooks", f"playbooks: {ROOT / 'playbooks'}")
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_platform_sections_uncommented_load_with_optional_features_off(tmp_path):
    config = load_config(_uncommented(tmp_path), env=ENV)
    assert config.discord is not None and config.matrix is not None
    assert config.discord.shard_count is None and config.discord.shard_ids is None  # every guild's events here
    assert config.discord.owns(config.discord.guilds[0].id)
    assert config.matrix.synapse_module_secret is None and config.http.listen is None
    assert config.discord.automod is False and config.matrix.suspend_local_accused is False
