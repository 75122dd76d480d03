"""Playbooks, intake questions, locale texts and the resource directory: data in YAML, validated at load.

Errors name the file, the line and the key path (see yamlio). Everything a member reads lives in these
files, in English and at least one more language; `Texts.t()` falls back to English.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .cues import CueLists, Cues
from .directory import directory_problems
from .locales import LoadedYaml, Texts, lang_of, load_locales, missing_keys  # noqa: F401 (re-exported)
from .yamlio import DataFileError, load_yaml, validate

AUDIENCES = ("adult", "minor", "parent", "bystander", "moderator")
NEEDS = ("sextortion", "image_removal", "crisis", "crime_report", "emotional_support", "directory")
ACTIONS = ("remove", "ban", "unban", "warn", "strikes", "resources", "note", "assign", "reply", "close", "export", "open")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _localized(v: dict) -> dict:
    if not isinstance(v, dict) or "en" not in v:
        raise ValueError("needs an English text under 'en' (other languages optional)")
    for lang, text in v.items():
        if not re.fullmatch(r"[a-z]{2}(-[A-Z]{2})?", str(lang)):
            raise ValueError(f"'{lang}' is not a language code like en or de")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"the '{lang}' text is empty")
    return v


Localized = dict[str, str]


class ChoiceDef(Strict):
    value: str = Field(pattern=r"^[a-z_]+$")
    label: Localized

    @field_validator("label")
    @classmethod
    def _label(cls, v):
        return _localized(v)


class QuestionDef(Strict):
    text: Localized
    bystander_text: Localized | None = None  # asked instead when the member reports for someone else
    choices: list[ChoiceDef] = Field(default_factory=list)
    free_text: bool = True

    @field_validator("text")
    @classmethod
    def _text(cls, v):
        return _localized(v)

    @field_validator("bystander_text")
    @classmethod
    def _bystander_text(cls, v):
        return v if v is None else _localized(v)


class IntakeFile(Strict):
    version: Literal[1]
    questions: dict[str, QuestionDef]


class Playbook(Strict):
    id: str = Field(pattern=r"^[a-z_]+$")
    version: Literal[1]
    name: Localized
    audience: Literal["adult", "minor", "any"]
    zero_tolerance: bool
    contact_accused: bool
    keep_evidence_text: bool = True
    always_urgent: bool = False
    urgent_when: dict[str, list[str]] = Field(default_factory=dict)
    switch_to: dict[str, dict[str, list[str]]] = Field(default_factory=dict)
    questions: list[str]
    resource_needs: list[str]
    actions: list[str]
    texts: dict[str, Localized]

    @field_validator("name")
    @classmethod
    def _name(cls, v):
        return _localized(v)

    @field_validator("texts")
    @classmethod
    def _texts(cls, v):
        for key in ("first_reply", "moderator_guidance"):
            if key not in v:
                raise ValueError(f"texts.{key} is required")
        for text in v.values():
            _localized(text)
        return v

    @field_validator("resource_needs")
    @classmethod
    def _needs(cls, v):
        bad = [n for n in v if n not in NEEDS]
        if bad:
            raise ValueError(f"unknown need {bad[0]!r}; use one of {', '.join(NEEDS)}")
        return v

    @field_validator("actions")
    @classmethod
    def _actions(cls, v):
        bad = [a for a in v if a not in ACTIONS]
        if bad:
            raise ValueError(f"unknown action {bad[0]!r}; use one of {', '.join(ACTIONS)}")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        if self.zero_tolerance and self.contact_accused:
            raise ValueError("a zero-tolerance playbook must not contact the accused (contact_accused: false)")
        if not self.contact_accused and "warn" in self.actions:
            raise ValueError("'warn' messages the accused; it cannot be offered when contact_accused is false")
        return self

    def text(self, key: str, locale: str) -> str:
        return pick(self.texts[key], locale)


class SmsDef(Strict):
    number: str
    keyword: str | None = None


class ResourceDef(Strict):
    id: str = Field(pattern=r"^[a-z0-9_-]+$")
    name: str = Field(min_length=1)
    url: str | None = Field(None, pattern=r"^https://\S+$")
    phone: str | None = None
    sms: SmsDef | None = None
    region: str = Field(pattern=r"^(global|[A-Z]{2})$")
    audiences: list[Literal["adult", "minor", "parent", "bystander", "moderator"]] = Field(min_length=1)
    helps_with: list[Literal["sextortion", "image_removal", "crisis", "crime_report", "emotional_support", "directory"]] = Field(min_length=1)
    urgent: bool = False
    minor_essential: bool = False  # never cut from a list for a possible minor
    only_without_country: bool = False  # offered only when the member's country is not known
    last_checked: dt.date
    description: Localized

    @property
    def has_number(self) -> bool:
        return bool(self.phone or self.sms)

    @field_validator("description")
    @classmethod
    def _short(cls, v):
        _localized(v)
        for lang, text in v.items():
            if len(text) > 300:
                raise ValueError(f"the '{lang}' description is over 300 characters")
        return v


class AppHelpDef(Strict):
    """How to report and block on another app (when the perpetrator moved the victim there)."""

    id: str = Field(pattern=r"^[a-z0-9_-]+$")
    name: str = Field(min_length=1)
    url: str | None = Field(None, pattern=r"^https://\S+$")
    last_checked: dt.date
    how: Localized

    @field_validator("how")
    @classmethod
    def _how(cls, v):
        return _localized(v)


class ResourcesFile(Strict):
    version: Literal[1]
    resources: list[ResourceDef] = Field(min_length=1)
    apps: list[AppHelpDef] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self):
        seen = set()
        for r in self.resources:
            if r.id in seen:
                raise ValueError(f"resource id {r.id!r} is used twice")
            seen.add(r.id)
        return self


def pick(texts: dict[str, str], locale: str | None) -> str:
    lang = lang_of(locale)
    return texts.get(lang) or texts["en"]


@dataclass
class Library:
    """Everything loaded from the playbooks folder."""

    playbooks: dict[str, Playbook]
    questions: dict[str, QuestionDef]
    resources: list[ResourceDef]
    texts: Texts
    folder: Path
    cues: Cues = dataclasses.field(default_factory=lambda: Cues({}))
    apps: list[AppHelpDef] = dataclasses.field(default_factory=list)
    locale_files: dict[str, LoadedYaml] = dataclasses.field(default_factory=dict)

    @property
    def reply_guard_lists(self) -> dict[str, dict[str, list[str]]]:
        """Per language, the word lists of what the team must not send to a member (safety_bot/reply_guard.py)."""
        return getattr(self.texts, "reply_guard_lists", {})

    def missing_texts(self) -> list[str]:
        """Keys a language lacks that English has (`safety-bot check-config` reports them)."""
        return missing_keys(self.texts, self.locale_files)

    def playbook(self, category: str) -> Playbook:
        return self.playbooks.get(category) or self.playbooks["sextortion"]


REQUIRED_PLAYBOOKS = ("sextortion", "child_safety", "harassment")


_CACHE: dict[Path, tuple[tuple, Library]] = {}


def _fingerprint(folder: Path) -> tuple:
    """Name, size and modification time of every data file: a changed file means parse again."""
    out = []
    for file in sorted([*folder.glob("*.yaml"), *folder.glob("locales/*.yaml")]):
        try:
            st = file.stat()
        except OSError:
            continue
        out.append((file.name, st.st_size, st.st_mtime_ns))
    return tuple(out)


def _text_keys(kind: str, data) -> list[tuple]:
    """Where a data file names locale text keys: key paths inside it."""
    if not isinstance(data, dict):
        return []
    paths: list[tuple] = []
    if kind == "intake":
        for qid, q in (data.get("questions") or {}).items() if isinstance(data.get("questions"), dict) else ():
            if isinstance(q, dict):
                paths.append(("questions", qid, "text"))
                if "bystander_text" in q:
                    paths.append(("questions", qid, "bystander_text"))
                for i, c in enumerate(q.get("choices") or []) if isinstance(q.get("choices"), list) else ():
                    if isinstance(c, dict):
                        paths.append(("questions", qid, "choices", i, "label"))
    elif kind == "resources":
        for i, r in enumerate(data.get("resources") or []) if isinstance(data.get("resources"), list) else ():
            if isinstance(r, dict):
                paths.append(("resources", i, "description"))
        for i, r in enumerate(data.get("apps") or []) if isinstance(data.get("apps"), list) else ():
            if isinstance(r, dict):
                paths.append(("apps", i, "how"))
    else:
        paths.append(("name",))
        for key in data.get("texts") or {} if isinstance(data.get("texts"), dict) else ():
            paths.append(("texts", key))
    return paths


def resolve_texts(loaded: LoadedYaml, kind: str, texts: Texts | None, problems: list[str]):
    """A copy of the file's data with each text key replaced by its texts in every language, for validation.
    Playbooks, intake and resources name keys of the locale files; the words themselves live there."""
    import copy

    data = copy.deepcopy(loaded.data)
    for path in _text_keys(kind, data):
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        value = parent.get(path[-1])
        if value is None:
            continue  # validation reports a missing key
        where = loaded.where(path)
        if not isinstance(value, str):
            problems.append(f"{where}: write a text key of the locale files here (like {'.'.join(map(str, path))}); "
                            f"the texts themselves live in locales/<language>.yaml")
            parent[path[-1]] = {"en": "-"}
            continue
        found = texts.all_languages(value) if texts is not None else {}
        if "en" not in found:
            if texts is not None:
                problems.append(f"{where}: no English text has the key {value!r} (add it to locales/en.yaml)")
            found = {"en": "-"}
        parent[path[-1]] = found
    return data


def load_library(folder: str | Path) -> Library:
    """The validated playbooks, resources and texts, parsed once per process: later calls for the same,
    unchanged folder get a copy of the cached result (a changed file is parsed and checked again)."""
    folder = Path(folder)
    key = folder.resolve()
    stamp = _fingerprint(folder)
    cached = _CACHE.get(key)
    if cached is not None and cached[0] == stamp:
        return copy.deepcopy(cached[1])
    library = _load_library(folder)
    _CACHE[key] = (stamp, library)
    return copy.deepcopy(library)


def _load_library(folder: Path) -> Library:
    problems: list[str] = []

    def attempt(fn, *args):
        try:
            return fn(*args)
        except DataFileError as exc:
            problems.extend(exc.problems)
            return None

    texts, locale_files = load_locales(folder, problems)

    def load(model, file: Path, kind: str):
        loaded = attempt(load_yaml, file)
        if loaded is None:
            return None, None
        return attempt(validate, model, loaded, resolve_texts(loaded, kind, texts, problems)), loaded

    intake, _ = load(IntakeFile, folder / "intake.yaml", "intake")
    resources, resources_yaml = load(ResourcesFile, folder / "resources.yaml", "resources")
    if resources is not None:
        problems.extend(directory_problems(resources.resources, resources_yaml.where))
    playbooks: dict[str, Playbook] = {}
    for file in sorted(folder.glob("*.yaml")):
        if file.name in ("intake.yaml", "resources.yaml"):
            continue
        pb, loaded = load(Playbook, file, "playbook")
        if pb is None:
            continue
        if pb.id != file.stem:
            problems.append(f"{file}:1: id: the playbook id {pb.id!r} must match the file name {file.stem!r}")
        playbooks[pb.id] = pb
        if intake is not None:
            for i, q in enumerate(pb.questions):
                if q not in intake.questions:
                    problems.append(f"{loaded.where(('questions', i))}: unknown question {q!r} (see intake.yaml)")
    for required in REQUIRED_PLAYBOOKS:
        if required not in playbooks and not any(str(folder / required) in p for p in problems):
            problems.append(f"{folder / (required + '.yaml')}: the {required} playbook is missing")
    for pb in playbooks.values():
        for target in pb.switch_to:
            if target not in playbooks:
                problems.append(f"{folder / (pb.id + '.yaml')}: switch_to.{target}: no such playbook")
    if problems:
        raise DataFileError(problems)
    return Library(playbooks, intake.questions, resources.resources, texts, folder, Cues(texts.cues_by_lang),
                   resources.apps, locale_files)
