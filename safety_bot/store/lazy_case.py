"""A case whose encrypted fields (reporter, answers) are decrypted on first use.

A new report reads the member's open case only to see whether the report joins it (its status and
accused); decrypting the reporter and answers of that case on every report was a measurable part of a
report's cost. `LazyCase` is a `Case` in every way callers use one (attributes, `==`, `dataclasses.replace`,
`copy.deepcopy`): touching `reporter` or `answers` (reading or setting) decrypts both and turns the object
into a plain `Case`.
"""

from __future__ import annotations

import copy

from ..domain import Case


def _deferred(name: str) -> property:
    def get(self):
        self._load()
        return self.__dict__[name]

    def set_(self, value):
        self._load()
        self.__dict__[name] = value

    return property(get, set_)


class LazyCase(Case):
    reporter = _deferred("reporter")
    answers = _deferred("answers")

    @classmethod
    def make(cls, fields: dict, decode) -> "LazyCase":
        """`fields`: every field but reporter and answers; `decode()` returns (reporter, answers)."""
        case = Case.__new__(cls)
        case.__dict__.update(fields)
        case.__dict__["_decode"] = decode
        return case

    def _load(self) -> None:
        d = self.__dict__
        decode = d.pop("_decode", None)
        if decode is not None:
            d["reporter"], d["answers"] = decode()
        self.__class__ = Case

    def __eq__(self, other):
        self._load()
        return self == other

    __hash__ = None  # as Case's (a mutable dataclass)

    def __repr__(self):
        self._load()
        return repr(self)

    def __copy__(self):
        self._load()
        return copy.copy(self)

    def __deepcopy__(self, memo):
        self._load()
        return copy.deepcopy(self, memo)

    def __reduce_ex__(self, protocol):
        self._load()
        return self.__reduce_ex__(protocol)
