"""Discord as a platform plugin. Importing this does not import discord.py; running it does."""

from __future__ import annotations

from safety_bot.plugins import PlatformPlugin, RunOptions


def start(app, options: RunOptions):
    from .adapter import DiscordAdapter

    return DiscordAdapter(app).run()


def render_time(ts: float) -> str:
    """Discord shows <t:...> in each reader's own locale and time zone."""
    return f"<t:{int(ts)}:f>"


def mention(user_id: str) -> str:
    return f"<@{user_id}>"


PLUGIN = PlatformPlugin(name="discord", config_section="discord", command_prefix="/safety ", start=start,
                        render_time=render_time, mention=mention, display_name="Discord", case_option="case:{n}",
                        confirm_phrase="discord_confirm_phrase")
