"""Playbooks, intake questions, locale texts and the resource directory: data in YAML, validated at load.

Errors name the file, the line and the key path (see yamlio). Everything a member reads lives in these
files, in English and at least one more language; `Texts.t()` falls back to English.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .cues import CueLists, Cues
from .directory import directory_problems
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


class LocaleFile(Strict):
    version: Literal[1]
    language: str
    texts: dict[str, str]
    cues: CueLists = Field(default_factory=CueLists)  # self-harm, danger, age... (safety_bot/cues.py)


def lang_of(locale: str | None) -> str:
    return (locale or "en").replace("_", "-").split("-")[0].lower() or "en"


def pick(texts: dict[str, str], locale: str | None) -> str:
    lang = lang_of(locale)
    return texts.get(lang) or texts["en"]


class Texts:
    """Bot texts by key and language, from playbooks/locales/*.yaml; English is complete, others fall back."""

    def __init__(self, by_lang: dict[str, dict[str, str]]):
        self.by_lang = by_lang

    def t(self, key: str, locale: str | None = "en", **kw) -> str:
        lang = lang_of(locale)
        template = self.by_lang.get(lang, {}).get(key) or self.by_lang["en"].get(key)
        if template is None:
            raise KeyError(f"no text for {key!r}")
        return template.format(**kw) if kw else template

    @property
    def languages(self) -> list[str]:
        return sorted(self.by_lang)


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

    intake = attempt(lambda: validate(IntakeFile, load_yaml(folder / "intake.yaml")))
    resources_yaml = attempt(load_yaml, folder / "resources.yaml")
    resources = attempt(validate, ResourcesFile, resources_yaml) if resources_yaml is not None else None
    if resources is not None:
        problems.extend(directory_problems(resources.resources, resources_yaml.where))
    playbooks: dict[str, Playbook] = {}
    for file in sorted(folder.glob("*.yaml")):
        if file.name in ("intake.yaml", "resources.yaml"):
            continue
        loaded = attempt(load_yaml, file)
        if loaded is None:
            continue
        pb = attempt(validate, Playbook, loaded)
        if pb is None:
            continue
        if pb.id != file.stem:
            problems.append(f"{file}:1: id: the playbook id {pb.id!r} must match the file name {file.stem!r}")
        playbooks[pb.id] = pb
        if intake is not None:
            for i, q in enumerate(pb.questions):
                if q not in intake.questions:
                    problems.append(f"{loaded.where(('questions', i))}: unknown question {q!r} (see intake.yaml)")
    by_lang: dict[str, dict[str, str]] = {}
    cues_by_lang: dict[str, CueLists] = {}
    for file in sorted((folder / "locales").glob("*.yaml")):
        lf = attempt(lambda f=file: validate(LocaleFile, load_yaml(f)))
        if lf is not None:
            by_lang[lf.language] = lf.texts
            cues_by_lang[lf.language] = lf.cues
    for required in REQUIRED_PLAYBOOKS:
        if required not in playbooks and not any(str(folder / required) in p for p in problems):
            problems.append(f"{folder / (required + '.yaml')}: the {required} playbook is missing")
    if "en" not in by_lang and not problems:
        problems.append(f"{folder / 'locales' / 'en.yaml'}: the English texts are missing")
    if "en" in by_lang:
        for lang, texts in by_lang.items():
            for key in texts:
                if key not in by_lang["en"]:
                    problems.append(f"{folder / 'locales' / (lang + '.yaml')}: texts.{key}: no English text has this key")
    for pb in playbooks.values():
        for target in pb.switch_to:
            if target not in playbooks:
                problems.append(f"{folder / (pb.id + '.yaml')}: switch_to.{target}: no such playbook")
    if problems:
        raise DataFileError(problems)
    return Library(playbooks, intake.questions, resources.resources, Texts(by_lang), folder, Cues(cues_by_lang),
                   resources.apps)
