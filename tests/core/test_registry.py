"""The command registry is the one declaration of each moderator command: the README's command table,
the help texts and the Discord /safety group must agree with it."""

from pathlib import Path

from safety_bot import commands

README = Path(__file__).resolve().parents[2] / "README.md"


def _team_table() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Safety team", 1)[1].split("\n### ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.replace("\\|", "\x00").strip("|").split("|")]
        rows.append([c.replace("\x00", "|") for c in cells])
    return rows


def test_readme_command_table_agrees_with_the_registry():
    rows = _team_table()
    documented = [r[0].strip("`") for r in rows]
    declared = [s.usage for s in commands.COMMAND_SPECS.values()]
    assert sorted(documented) == sorted(declared), (
        f"README only: {sorted(set(documented) - set(declared))}; registry only: {sorted(set(declared) - set(documented))}")
    for row in rows:
        name = row[0].strip("`").split()[0]
        spec = commands.COMMAND_SPECS[name]
        if name != "help" and (not spec.platforms or "discord" in spec.platforms):  # Discord lists them itself
            assert f"/safety {name}" in row[1], f"README row for {name} does not name /safety {name}"


def test_help_and_usage_come_from_the_registry():
    text = commands.help_text("!safety ")
    for spec in commands.COMMAND_SPECS.values():
        assert f"!safety {spec.usage}" in text
        assert commands.usage(spec.name, "/safety ") == f"Usage: /safety {spec.usage}"
    assert commands.COMMANDS == tuple(commands.COMMAND_SPECS)


def test_every_command_has_a_handler_and_typed_parameters():
    from safety_bot.moderation import handler_for

    kinds = {"case", "member", "user_id", "message", "text", "choice", "flag"}
    for spec in commands.COMMAND_SPECS.values():
        assert spec.name == "help" or callable(handler_for(spec.name)), spec.name
        assert spec.who == commands.TEAM
        for p in spec.params:
            assert p.kind in kinds, (spec.name, p.name, p.kind)
            assert (p.kind == "choice") == bool(p.choices), (spec.name, p.name)
    assert handler_for("no-such-command") is None


def test_console_help_lists_every_command():
    from adapters.console.adapter import HELP

    for spec in commands.COMMAND_SPECS.values():
        assert spec.usage in HELP


def test_the_registry_reads_its_words_from_the_locale_files_the_app_loaded(tmp_path):
    """Summaries, option help and usage texts come from the playbooks folder the app loaded (an installed
    package has no playbooks folder beside it), not from the code."""
    import shutil

    from safety_bot import locales
    from safety_bot.playbooks import load_library

    folder = tmp_path / "playbooks"
    shutil.copytree(README.parent / "playbooks", folder)
    en = folder / "locales" / "en.yaml"
    en.write_text(en.read_text(encoding="utf-8").replace('command_summary_case: "Show one case"',
                                                         'command_summary_case: "Show one case (here)"'),
                  encoding="utf-8")
    try:
        load_library(folder)
        assert commands.COMMAND_SPECS["case"].summary == "Show one case (here)"
        assert commands.usage("case") == "Usage: case N"
    finally:
        locales.LOADED[:] = [t for t in locales.LOADED if getattr(t, "folder", None) != folder]
    assert commands.COMMAND_SPECS["case"].summary == "Show one case"
