"""Discord adapter: `DiscordAdapter(app).run()`. See adapters/README.md for the contract."""

from .adapter import DiscordAdapter
from .platform import DiscordPlatform

__all__ = ["DiscordAdapter", "DiscordPlatform"]
