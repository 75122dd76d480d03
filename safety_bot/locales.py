"""Locale files (playbooks/locales/<language>.yaml): every word the bot shows or recognises, by language.

A locale file holds the texts members read (`texts`, nested keys written as `a.b`), texts only the
safety team reads (`team_texts`: English is required, other languages optional), the words members type
that the bot recognises (`words`), country names (`countries`) and date formats (`formats`). Adding a
language means adding one file; `safety-bot check-config` names every key it still lacks.
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .cues import CueLists
from .yamlio import DataFileError, LoadedYaml, load_yaml, validate

# The words the bot recognises. Every language's words are accepted from every member (a member may
# type "skip" in a German conversation), exactly as the bot always did.
WORD_KINDS = ("skip", "stop", "yes", "no", "withdraw", "consent", "protect", "me", "someone_else", "resources", "report")
# Word lists that name a choice's value: an answer in one of them picks that choice (safety_bot/intake.py).
CHOICE_WORDS = ("yes", "no", "me", "someone_else")
FORMAT_KINDS = ("datetime",)
# Texts the data files name by key (intake.yaml, playbooks, resources.yaml): kept apart from the bot's own texts.
DATA_SECTIONS = ("intake", "playbook", "resource", "app")

# Date formats by language, from every locale file loaded in this process (views.when reads them).
TIME_FORMATS: dict[str, str] = {}
# The texts loaded in this process, newest first: the registry's English texts (commands.english) read them.
LOADED: list["Texts"] = []


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocaleFile(_Strict):
    version: Literal[1]
    language: str = Field(pattern=r"^[a-z]{2,3}$")
    texts: dict[str, str | dict]
    team_texts: dict[str, str] = Field(default_factory=dict)
    words: dict[str, list[str]] = Field(default_factory=dict)
    countries: dict[str, list[str]] = Field(default_factory=dict)
    formats: dict[str, str] = Field(default_factory=dict)
    cues: CueLists = Field(default_factory=CueLists)  # self-harm, danger, age... (safety_bot/cues.py)
    # Word lists for what the team must not send to a member (safety_bot/reply_guard.py)
    reply_guard: dict[Literal["payment", "images", "blame", "negations", "negations_after"], list[str]] = \
        Field(default_factory=dict)

    # Sextortion threat phrasings stopped before delivery (safety_bot/threat_phrases.py)
    threats: dict[Literal["keywords", "patterns"], list[str]] = Field(default_factory=dict)

    @field_validator("threats")
    @classmethod
    def _threats(cls, v):
        from .threat_phrases import keyword_problem, pattern_problem

        for word in v.get("keywords", []):
            if (problem := keyword_problem(str(word))) is not None:
                raise ValueError(f"threats.keywords: {problem}")
        for pattern in v.get("patterns", []):
            if (problem := pattern_problem(str(pattern))) is not None:
                raise ValueError(f"threats.patterns: {problem}")
        return v

    @field_validator("texts")
    @classmethod
    def _texts(cls, v):
        flat: dict[str, str] = {}
        _flatten(v, "", flat)
        return v

    @field_validator("words")
    @classmethod
    def _words(cls, v):
        bad = [k for k in v if k not in WORD_KINDS]
        if bad:
            raise ValueError(f"unknown word list {bad[0]!r}; use {', '.join(WORD_KINDS)}")
        for kind, words in v.items():
            if any(not str(w).strip() for w in words):
                raise ValueError(f"words.{kind} has an empty word")
        return v

    @field_validator("countries")
    @classmethod
    def _countries(cls, v):
        for code in v:
            if not re.fullmatch(r"[A-Z]{2}", code):
                raise ValueError(f"{code!r} is not a country code like DE or US")
        return v

    @field_validator("formats")
    @classmethod
    def _formats(cls, v):
        bad = [k for k in v if k not in FORMAT_KINDS]
        if bad:
            raise ValueError(f"unknown format {bad[0]!r}; use {', '.join(FORMAT_KINDS)}")
        return v


def _flatten(node: dict, prefix: str, out: dict[str, str]) -> None:
    for key, value in node.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            _flatten(value, full + ".", out)
        elif isinstance(value, str) and value.strip():
            out[full] = value
        else:
            raise ValueError(f"texts.{full}: needs a non-empty text")


_LANG_OF: dict[str | None, str] = {}  # locale -> language: a report asks this about ten times


def lang_of(locale: str | None) -> str:
    lang = _LANG_OF.get(locale)
    if lang is None:
        lang = (locale or "en").replace("_", "-").split("-")[0].lower() or "en"
        if len(_LANG_OF) < 1024:
            _LANG_OF[locale] = lang
    return lang


class Texts:
    """Bot texts by key and language, from playbooks/locales/*.yaml; English is complete, others fall back."""

    def __init__(self, by_lang: dict[str, dict[str, str]], *, team: dict[str, dict[str, str]] | None = None,
                 words: dict[str, dict[str, list[str]]] | None = None,
                 countries: dict[str, dict[str, list[str]]] | None = None,
                 formats: dict[str, dict[str, str]] | None = None, cues: dict | None = None,
                 data: dict[str, dict[str, str]] | None = None):
        self.by_lang = by_lang
        self.data = data or {}  # intake.*, playbook.*, resource.*, app.*: what the data files name
        self.cues_by_lang = cues or {}
        self.team = team or {}
        self.words_by_lang = words or {}
        self.formats = formats or {}
        self._words = {kind: frozenset(w.lower() for ws in self.words_by_lang.values() for w in ws.get(kind, ()))
                       for kind in WORD_KINDS}
        self._countries = {name.lower(): code for lang in (countries or {}).values()
                           for code, names in lang.items() for name in names}
        self._memo: dict[tuple[str, str | None], str | None] = {}  # (key, locale) -> template (the tables never change)

    def template(self, key: str, locale: str | None = "en") -> str | None:
        try:
            return self._memo[key, locale]  # a case card alone asks for about twenty
        except KeyError:
            pass
        found = self._lookup(key, lang_of(locale))
        if len(self._memo) < 50000:
            self._memo[key, locale] = found
        return found

    def _lookup(self, key: str, lang: str) -> str | None:
        for table in (self.by_lang, self.team, self.data):
            found = table.get(lang, {}).get(key)
            if found:
                return found
        for table in (self.by_lang, self.team, self.data):
            found = table.get("en", {}).get(key)
            if found:
                return found
        return None

    def t(self, key: str, locale: str | None = "en", **kw) -> str:
        template = self.template(key, locale)
        if template is None:
            raise KeyError(f"no text for {key!r}")
        return template.format(**kw) if kw else template

    def all_languages(self, key: str) -> dict[str, str]:
        """{language: text} for a key, in every language that has it."""
        table = self.data if key.split(".")[0] in DATA_SECTIONS else self.by_lang
        return {lang: texts[key] for lang, texts in table.items() if key in texts}

    def words(self, kind: str) -> frozenset[str]:
        """Every language's words of one kind (WORD_KINDS), lower case."""
        return self._words[kind]

    def country(self, name: str) -> str | None:
        return self._countries.get(name)

    def time_format(self, locale: str | None) -> str:
        lang = lang_of(locale)
        return self.formats.get(lang, {}).get("datetime") or self.formats["en"]["datetime"]

    @property
    def languages(self) -> list[str]:
        return sorted(self.by_lang)


def load_locales(folder: Path, problems: list[str]) -> tuple[Texts | None, dict[str, LoadedYaml]]:
    """All locale files of `folder/locales`. Problems are appended (file:line: key.path: problem)."""
    by_lang: dict[str, dict[str, str]] = {}
    data: dict[str, dict[str, str]] = {}
    team: dict[str, dict[str, str]] = {}
    words: dict[str, dict[str, list[str]]] = {}
    countries: dict[str, dict[str, list[str]]] = {}
    formats: dict[str, dict[str, str]] = {}
    cues: dict[str, CueLists] = {}
    guard_lists: dict[str, dict[str, list[str]]] = {}
    threat_lists: dict[str, dict[str, list[str]]] = {}
    loaded_files: dict[str, LoadedYaml] = {}
    for file in sorted((folder / "locales").glob("*.yaml")):
        try:
            loaded = load_yaml(file)
            lf = validate(LocaleFile, loaded)
        except DataFileError as exc:
            problems.extend(exc.problems)
            continue
        if lf.language != file.stem:
            problems.append(f"{loaded.where(('language',))}: the language {lf.language!r} must match the file name {file.stem!r}")
            continue
        flat: dict[str, str] = {}
        _flatten(lf.texts, "", flat)
        by_lang[lf.language] = {k: v for k, v in flat.items() if k.split(".")[0] not in DATA_SECTIONS}
        data[lf.language] = {k: v for k, v in flat.items() if k.split(".")[0] in DATA_SECTIONS}
        team[lf.language] = dict(lf.team_texts)
        words[lf.language] = {k: list(v) for k, v in lf.words.items()}
        countries[lf.language] = {k: list(v) for k, v in lf.countries.items()}
        formats[lf.language] = dict(lf.formats)
        cues[lf.language] = lf.cues
        guard_lists[lf.language] = dict(lf.reply_guard)
        threat_lists[lf.language] = {k: list(v) for k, v in lf.threats.items()}
        loaded_files[lf.language] = loaded
        if lf.formats.get("datetime"):
            TIME_FORMATS[lf.language] = lf.formats["datetime"]
    if "en" not in by_lang:
        if not any("/locales/en.yaml" in p or "\\locales\\en.yaml" in p for p in problems):
            problems.append(f"{folder / 'locales' / 'en.yaml'}: the English texts are missing")
        return None, loaded_files
    en = loaded_files["en"]
    for kind in WORD_KINDS:
        if not words["en"].get(kind):
            problems.append(f"{en.where(('words',))}: words.{kind}: English needs at least one word")
    for kind in FORMAT_KINDS:
        if not formats["en"].get(kind):
            problems.append(f"{en.where(('formats',))}: formats.{kind}: English needs this format")
    for lang in by_lang:
        for key in {**by_lang[lang], **data[lang]}:
            if key not in by_lang["en"] and key not in data["en"]:
                problems.append(f"{loaded_files[lang].where(('texts', *key.split('.')))}: no English text has this key")
        for key in team[lang]:
            if key not in team["en"]:
                problems.append(f"{loaded_files[lang].where(('team_texts', key))}: no English text has this key")
        if lang != "en":
            for section, own, english in (("texts", {**by_lang[lang], **data[lang]}, {**by_lang["en"], **data["en"]}),
                                          ("team_texts", team[lang], team["en"])):
                for key, text in own.items():
                    path = (section, *key.split(".")) if section == "texts" else (section, key)
                    if key in english and (problem := placeholder_problem(text, english[key])):
                        problems.append(f"{loaded_files[lang].where(path)}: {problem} "
                                        f"(the English text: {en.where(path).rsplit(': ', 1)[0]})")
    texts = Texts(by_lang, team=team, words=words, countries=countries, formats=formats, cues=cues, data=data)
    texts.folder = folder
    LOADED.insert(0, texts)
    del LOADED[8:]
    texts.reply_guard_lists = guard_lists
    texts.threat_lists = threat_lists
    from .threat_phrases import ThreatPhrases

    for problem in ThreatPhrases.from_texts(texts).limits_problems():
        problems.append(f"{en.where(('threats',))}: threats: {problem}")
    return texts, loaded_files


def placeholders(text: str) -> set[str] | None:
    """The `{names}` a text is filled with (str.format); None when it is not a valid template."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:
        return None


def placeholder_problem(text: str, english: str) -> str | None:
    """Why a translation cannot stand in for its English text: a `{name}` the bot does not fill (it would
    fail), or one it fills that the translation leaves out (the reader would miss it). None when they match."""
    own, theirs = placeholders(text), placeholders(english)
    if own is None:
        return "not a valid text: a { or } without its pair (write {{ or }} for a brace)"
    if theirs is None or own == theirs:
        return None
    parts = []
    if theirs - own:
        parts.append("leaves out " + ", ".join(f"{{{n}}}" for n in sorted(theirs - own)))
    if own - theirs:
        parts.append("uses " + ", ".join(f"{{{n}}}" for n in sorted(own - theirs)) + ", which the bot does not fill")
    return "the placeholders differ from the English text's: " + "; ".join(parts)


def missing_keys(texts: Texts, loaded_files: dict[str, LoadedYaml]) -> list[str]:
    """What each language lacks that English has: member texts, recognised words, date formats.
    Team texts are English-only unless translated. One line per key: `file:line: key.path: problem`,
    at the section of the language's file where the key belongs."""
    en = loaded_files["en"]
    out = []
    for lang in texts.languages:
        if lang == "en":
            continue
        where = loaded_files[lang]
        for key in [*texts.by_lang["en"], *texts.data.get("en", {})]:
            if key not in texts.by_lang[lang] and key not in texts.data.get(lang, {}):
                parts = ("texts", *key.split("."))
                probe = parts[:-1]
                while probe and probe not in where.lines:
                    probe = probe[:-1]
                line = where.lines.get(probe, 1)
                out.append(f"{where.file}:{line}: texts.{key}: missing in {lang} (members would read the English "
                           f"text, {en.file}:{en.lines.get(parts, 1)})")
        for kind in WORD_KINDS:
            if not texts.words_by_lang.get(lang, {}).get(kind):
                out.append(f"{where.file}:{where.lines.get(('words',), 1)}: words.{kind}: missing in {lang} "
                           f"(only other languages' words are recognised)")
        for kind in FORMAT_KINDS:
            if not texts.formats.get(lang, {}).get(kind):
                out.append(f"{where.file}:{where.lines.get(('formats',), 1)}: formats.{kind}: missing in {lang} "
                           f"(the English format is used)")
    return out
