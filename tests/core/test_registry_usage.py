"""A command's usage line is the documented contract (README's command table, the help texts): what it shows
in [brackets] may be left out on every platform. Discord's /safety options are required exactly when the
registry says so, so a parameter the usage calls optional must not be required there."""

import re

from safety_bot import commands


def _outside_brackets(usage: str) -> str:
    """The usage without its optional parts ([...], nested brackets included)."""
    out, depth = [], 0
    for ch in usage:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def _shown_as_required(spec, param) -> bool:
    plain = _outside_brackets(spec.usage)
    if param.kind == "case":
        return re.search(r"\bN\b", plain) is not None
    if param.kind == "choice":
        return any(choice in plain for choice in param.choices)
    return any(param.name in part for part in re.findall(r"<([^>]*)>", plain))


def test_a_required_parameter_is_shown_as_required_in_the_usage():
    wrong = [f"{spec.name}: {p.name} is required, but the usage '{spec.usage}' shows it as optional"
             for spec in commands.COMMAND_SPECS.values() for p in spec.params
             if p.required and not _shown_as_required(spec, p)]
    assert not wrong, "\n".join(wrong)


def test_unban_reason_is_optional_as_documented():
    spec = commands.COMMAND_SPECS["unban"]
    assert "[reason]" in spec.usage
    assert not any(p.required for p in spec.params), [p.name for p in spec.params if p.required]
