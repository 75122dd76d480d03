"""YAML loading that remembers where every value came from.

Config, playbooks and the resource directory are data written by people. When one is wrong the error
must name the file, the line and the key path, so this module keeps a map from key paths to lines and
turns pydantic's validation errors into one readable message per problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

Path_ = tuple[str | int, ...]


class DataFileError(Exception):
    """A data file (config, playbook, resources) is malformed. The message names file, line and key."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class LoadedYaml:
    file: str
    data: Any
    lines: dict[Path_, int]

    def where(self, path: Path_) -> str:
        """`file:line: key.path` for the deepest part of `path` that has a known line."""
        probe = tuple(path)
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = self.lines.get(probe, 1)
        return f"{self.file}:{line}: {format_path(path) or '(top level)'}"


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class _RecursiveAlias(Exception):
    def __init__(self, line: int):
        self.line = line


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int], open_nodes: set[int] | None = None) -> None:
    open_nodes = set() if open_nodes is None else open_nodes
    if id(node) in open_nodes:  # an alias that contains itself ("a: &a [*a]")
        raise _RecursiveAlias(node.start_mark.line + 1)
    lines[path] = node.start_mark.line + 1
    open_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            _walk(value_node, path + (key,), lines, open_nodes)
            lines[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, path + (index,), lines, open_nodes)
    open_nodes.discard(id(node))


# libyaml's safe loader when PyYAML was built with it (the wheels are): same results, several times faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(file: str | Path, text: str | None = None) -> LoadedYaml:
    """Parse YAML safely; a syntax error becomes a DataFileError naming file and line."""
    name = str(file)
    if text is None:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DataFileError([f"{name}: file not found"]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DataFileError([f"{name}: cannot be read ({exc.__class__.__name__})"]) from None
    try:
        node = yaml.compose(text, Loader=_LOADER)
        lines: dict[Path_, int] = {}
        if node is not None:
            _walk(node, (), lines)
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader)
    except _RecursiveAlias as exc:
        raise DataFileError([f"{name}:{exc.line}: an alias (*name) refers to itself; write the values out instead"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}" if mark is not None else "?"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise DataFileError([f"{name}:{line}: not valid YAML: {problem}"]) from None
    return LoadedYaml(name, data, lines)


def validate(model: type[BaseModel], loaded: LoadedYaml, data: Any | None = None, context: dict | None = None):
    """Validate `loaded.data` (or `data`) against `model`; errors name file, line and key path."""
    try:
        return model.model_validate(loaded.data if data is None else data, context=context)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            # pydantic puts union/tagged-type names into loc; keep only real keys we know lines for
            problems.append(f"{loaded.where(loc)}: {_problem(err)}")
        raise DataFileError(problems) from None


def _problem(err: dict) -> str:
    kind = err.get("type", "")
    if kind == "missing":
        return "this key is required but missing"
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see the documented keys)"
    msg = err.get("msg", "invalid value")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return msg
