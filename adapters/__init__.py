"""The platforms safety-bot runs on. Adding a platform = a package `adapters/<name>/` with a `plugin.py`
that declares `PLUGIN` (a `safety_bot.plugins.PlatformPlugin`), plus one line here. See README.md."""

PLATFORMS = [
    "adapters.console.plugin",
    "adapters.discord.plugin",
    "adapters.matrix.plugin",
]
