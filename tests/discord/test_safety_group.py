"""The Discord /safety group is generated from the core's command registry: one subcommand per command,
one option per declared parameter, required exactly where the registry says."""

import discord
from discord import app_commands

from adapters.discord.commands import safety_group
from safety_bot.commands import COMMAND_SPECS


def test_safety_group_matches_the_registry():
    client = discord.Client(intents=discord.Intents.none())
    group = safety_group(adapter=None).to_dict(app_commands.CommandTree(client))
    subcommands = {o["name"]: o for o in group["options"]}
    assert set(subcommands) == {name for name, spec in COMMAND_SPECS.items() if name != "help"
                                and (not spec.platforms or "discord" in spec.platforms)}
    for name, sub in subcommands.items():
        spec = COMMAND_SPECS[name]
        assert sub["description"] == spec.summary
        options = {o["name"]: o for o in sub.get("options", [])}
        assert list(options) == [p.name for p in spec.params]
        for p in spec.params:
            assert bool(options[p.name].get("required")) == p.required, (name, p.name)
            if p.choices:
                assert [c["value"] for c in options[p.name]["choices"]] == list(p.choices)
