"""The `/safety` slash command group, generated from the core's command registry
(`safety_bot.commands.COMMAND_SPECS`): one subcommand per moderator command, one option per parameter,
typed the Discord way. Translation only: every subcommand ends in `DiscordModeration.mod_command`."""

from __future__ import annotations

import inspect
from typing import Literal, Optional

import discord
from discord import app_commands

from safety_bot.commands import COMMAND_SPECS, CommandSpec, Param, english

_P = inspect.Parameter


def _annotation(p: Param):
    """(annotation, default) of a parameter as a slash-command option."""
    if p.kind == "flag":
        return bool, False
    if p.kind == "case":
        base = app_commands.Range[int, 1]
    elif p.kind == "member":
        base = discord.User
    elif p.kind == "choice":
        base = Literal[p.choices]
    else:
        base = str
    return (base, _P.empty) if p.required else (Optional[base], None)


def _mod_command_args(spec: CommandSpec, values: dict) -> dict:
    """Where each option's value goes in the command (see `Param.to`)."""
    args: dict = {"text": "", "flags": {}}
    for p in spec.params:
        v = values.get(p.name)
        if p.to in ("case", "member", "user_id", "link"):
            args[p.to] = v
        elif p.to == "text":  # several text options are joined in order ("category": category, then reason)
            args["text"] = " ".join(x for x in (args["text"], str(v or "")) if x)
        elif p.to.startswith("text:"):
            args["text"] = p.to[5:] if v else ""
        elif p.to.startswith("flag:") and v:
            args["flags"][p.to[5:]] = v
    return args


def _subcommand(adapter, spec: CommandSpec, group: app_commands.Group) -> app_commands.Command:
    async def callback(interaction: discord.Interaction, **values) -> None:
        await adapter.mod_command(interaction, spec.name, need_target=spec.needs_target,
                                  **_mod_command_args(spec, values))

    params = [_P("interaction", _P.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction)]
    for p in spec.params:
        annotation, default = _annotation(p)
        params.append(_P(p.name, _P.POSITIONAL_OR_KEYWORD, annotation=annotation, default=default))
    callback.__signature__ = inspect.Signature(params)
    described = {p.name: spec.option_help(p) for p in spec.params if spec.option_help(p)}
    if described:
        callback = app_commands.describe(**described)(callback)
    return app_commands.Command(name=spec.name, description=spec.summary, callback=callback, parent=group)


def safety_group(adapter) -> app_commands.Group:
    safety = app_commands.Group(name="safety", description=english("discord_command_group"), guild_only=True,
                                default_permissions=discord.Permissions(ban_members=True))
    for spec in COMMAND_SPECS.values():
        if spec.name != "help" and (not spec.platforms or "discord" in spec.platforms):  # help: Discord lists them
            safety.add_command(_subcommand(adapter, spec, safety))
    return safety
