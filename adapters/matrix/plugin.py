"""Matrix as a platform plugin. Importing this does not import matrix-nio; running it does."""

from __future__ import annotations

from safety_bot.plugins import PlatformPlugin, RunOptions


def start(app, options: RunOptions):
    from .adapter import MatrixAdapter

    return MatrixAdapter(app).run()


def mention(user_id: str) -> str:
    return user_id  # a full Matrix id (@name:server) in plain text is a mention in every client


PLUGIN = PlatformPlugin(name="matrix", config_section="matrix", command_prefix="!safety ", start=start,
                        mention=mention, display_name="Matrix", dm_starts_report=True)
