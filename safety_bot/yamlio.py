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

# Budgets for files people write: far above any real config or playbook, far below what hurts the bot.
MAX_BYTES = 1_000_000
MAX_DEPTH = 64
MAX_NODES = 10_000  # values, counted with aliases expanded (an "alias bomb" is a few hundred bytes)
CONFIG_MAX_BYTES = 20_000_000  # the operator's config: 10,000 Discord guilds take about 1 MB and 60,000 values
CONFIG_MAX_VALUES = 500_000
# libyaml when PyYAML has it (its wheels do): the pure-Python scanner is quadratic on deep flow nesting
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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




class _OverBudget(Exception):
    def __init__(self, line: int, problem: str):
        self.line, self.problem = line, problem


def _check_budgets(text: str, max_values: int = MAX_NODES) -> None:
    """One pass over the parser's events (no recursion, no objects built): nesting depth, and the number of
    values once aliases are expanded. Stops at the first budget exceeded."""
    try:
        _count(text, max_values)
    except yaml.YAMLError as exc:
        if "nesting depth" not in str(exc):
            raise
        mark = getattr(exc, "problem_mark", None)
        raise _OverBudget(mark.line + 1 if mark else 1, f"nested more than {MAX_DEPTH} levels deep; flatten this part"
                          ) from None


def _count(text: str, max_values: int = MAX_NODES) -> None:
    depth = 0
    sizes: list[int] = []  # expanded size of each open collection
    anchors: dict[str, int] = {}
    open_anchors: list[str | None] = []
    total = 0
    for event in _events(text, max_values):
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            size = anchors.get(event.anchor, 1)
        elif isinstance(event, yaml.ScalarEvent):
            size = 1
            if event.anchor:
                anchors[event.anchor] = 1
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise _OverBudget(line, f"nested more than {MAX_DEPTH} levels deep; flatten this part")
            sizes.append(1)
            open_anchors.append(event.anchor)
            continue
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
            size = sizes.pop()
            anchor = open_anchors.pop()
            if anchor:
                anchors[anchor] = size
            if sizes:
                sizes[-1] += size
            continue
        else:
            continue
        total += size
        if sizes:
            sizes[-1] += size
        if total > max_values or (sizes and sizes[-1] > max_values):
            raise _OverBudget(line, f"more than {max_values:,} values (aliases counted as often as they are "
                                    "used); write the values out, or split the file")


def _events(text: str, max_values: int = MAX_NODES):
    """Parser events, stopping early: past the budgets nothing more is needed."""
    seen = 0
    for event in yaml.parse(text, Loader=_LOADER):
        seen += 1
        yield event
        if seen > 4 * max_values:
            return


def load_yaml(file: str | Path, text: str | None = None, *, max_bytes: int = MAX_BYTES,
              max_values: int = MAX_NODES) -> LoadedYaml:
    """Parse YAML safely; a syntax error becomes a DataFileError naming file and line. Files over the
    size, depth or value budgets are refused with a `file:line: problem` message before they are built.
    The operator's config has larger budgets (CONFIG_MAX_*): a large bot lists thousands of guilds."""
    name = str(file)
    if text is None:
        try:
            if Path(file).stat().st_size > max_bytes:
                raise DataFileError([f"{name}:1: the file is larger than {max_bytes // 1_000_000} MB; "
                                     "no config, playbook or resource file needs that much"])
            text = Path(file).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DataFileError([f"{name}: file not found"]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DataFileError([f"{name}: cannot be read ({exc.__class__.__name__})"]) from None
    if len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise DataFileError([f"{name}:1: the file is larger than {max_bytes // 1_000_000} MB; "
                             "no config, playbook or resource file needs that much"])
    try:
        _check_budgets(text, max_values)
        loader = _LOADER(text)
        try:
            node = loader.get_single_node()
            lines: dict[Path_, int] = {}
            data = None
            if node is not None:
                _walk(node, (), lines)
                data = loader.construct_document(node)
        finally:
            loader.dispose()
    except _OverBudget as exc:
        raise DataFileError([f"{name}:{exc.line}: {exc.problem}"]) from None
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
