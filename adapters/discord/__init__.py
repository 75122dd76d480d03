"""Discord adapter: `DiscordAdapter(app).run()`. See adapters/README.md for the contract.

The names below are imported on first use, so that reading the plugin declaration (`plugin.py`) does
not import discord.py."""

__all__ = ["DiscordAdapter", "DiscordPlatform"]


def __getattr__(name):
    if name == "DiscordAdapter":
        from .adapter import DiscordAdapter

        return DiscordAdapter
    if name == "DiscordPlatform":
        from .platform import DiscordPlatform

        return DiscordPlatform
    raise AttributeError(name)
