"""The console as a platform plugin: it runs only when no network platform is configured."""

from __future__ import annotations

from pathlib import Path

from safety_bot.plugins import PlatformPlugin, RunOptions


def start(app, options: RunOptions):
    import sys

    from . import world_file
    from .adapter import ConsoleAdapter

    database = app.config.path(app.config.storage.database)
    kept = world_file.path_for(database)
    console = ConsoleAdapter(app, clock_offset=options.clock_offset, world_file=kept)
    print(f"safety-bot: data lives in {database} (cases) and {kept} (the pretend community). "
          f"To start fresh: safety-bot run --fresh, or make clean-data.", file=sys.stderr)
    if options.script:
        console.echo = True
        return console.run_lines(Path(options.script).read_text(encoding="utf-8").splitlines())
    return console.run_stdin()


PLUGIN = PlatformPlugin(name="console", config_section="console", command_prefix="", start=start, interactive=True,
                        display_name="console")
