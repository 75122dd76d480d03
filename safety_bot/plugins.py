"""Platforms are plugins. Each adapter package declares one `PlatformPlugin` (in `adapters/<name>/plugin.py`)
and is listed once in `adapters/__init__.py` (`PLATFORMS`). The core knows platforms only through this
table: it never imports an adapter module by name, so the layer contracts hold (see pyproject.toml)."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import App
    from .config import Config

PLUGIN_PACKAGE = "adapters"


@dataclass(frozen=True)
class RunOptions:
    """What `safety-bot run` was asked for, for plugins that care (the console reads a script)."""

    script: str | None = None
    clock_offset: list | None = None  # the console's `wait` moves the clock through this


@dataclass(frozen=True)
class PlatformPlugin:
    name: str  # the platform's name in UserRef / Community / MessageRef ("discord")
    config_section: str  # the config.yaml section that switches it on ("discord")
    command_prefix: str  # how moderator commands are typed there, for help and usage texts ("/safety ")
    # Builds the adapter (registering its communities and its Platform with the runtime) and returns the
    # awaitable that runs it until it closes. `interactive` plugins (the console) run only when no network
    # platform is configured, and then on their own.
    start: Callable[["App", RunOptions], Awaitable[Any]]
    interactive: bool = False
    display_name: str = ""  # "Discord": in texts such as "does not name a Discord account"
    case_option: str = "--case {n}"  # how a case number is given to a command there ("case:{n}" on Discord)
    # How a moderator confirms a command that needs it (ban, past the hourly limit). Discord offers a button.
    # The key of a team text (playbooks/locales/en.yaml, team_texts).
    confirm_phrase: str = "confirm_phrase_command"
    # Whether a private message from a member without an open case starts a report (Matrix: a DM is how
    # members report) or gets a hint (Discord: members report with /report).
    dm_starts_report: bool = False
    render_time: Callable[[float], str] | None = None  # how case times are shown there (None: the core's default)
    mention: Callable[[str], str] | None = None  # how a user id is written so that it mentions them

    def enabled(self, config: "Config") -> bool:
        return getattr(config, self.config_section, None) is not None

    def networks(self, config: "Config") -> list[str]:
        """The networks (ban scopes) this platform's config section names."""
        section = getattr(config, self.config_section, None)
        if section is None:
            return []
        if hasattr(section, "guilds"):
            return [g.network for g in section.guilds]
        if hasattr(section, "communities"):
            return [c.network for c in section.communities]
        return [section.network] if getattr(section, "network", None) else []


_cache: dict[str, PlatformPlugin] | None = None


def plugins() -> dict[str, PlatformPlugin]:
    """Every registered platform, by name, in registration order."""
    global _cache
    if _cache is None:
        registry = importlib.import_module(PLUGIN_PACKAGE)
        found: dict[str, PlatformPlugin] = {}
        for module in registry.PLATFORMS:
            plugin = importlib.import_module(module).PLUGIN
            found[plugin.name] = plugin
        _cache = found
    return _cache


def plugin(name: str) -> PlatformPlugin | None:
    return plugins().get(name)


def command_prefix(platform: str) -> str:
    p = plugin(platform)
    return p.command_prefix if p else ""
