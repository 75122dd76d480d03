"""The console as a platform plugin: it runs only when no network platform is configured."""

from __future__ import annotations

from pathlib import Path

from safety_bot.plugins import PlatformPlugin, RunOptions


def start(app, options: RunOptions):
    from .adapter import ConsoleAdapter

    console = ConsoleAdapter(app, clock_offset=options.clock_offset)
    if options.script:
        console.echo = True
        return console.run_lines(Path(options.script).read_text(encoding="utf-8").splitlines())
    return console.run_stdin()


PLUGIN = PlatformPlugin(name="console", config_section="console", command_prefix="", start=start, interactive=True,
                        display_name="console")
