"""The checklist `safety-bot doctor` prints and `run` posts: one `Check` per item, with a fix in plain
words for each failure. A warning is printed but does not fail the run."""

from __future__ import annotations

from dataclasses import dataclass

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass
class Check:
    section: str  # storage, discord, matrix
    name: str  # what was checked, e.g. "the bot can ban members in guild 123"
    status: str = OK
    fix: str = ""  # what to do about it (failures and warnings)
    scope: str | None = None  # the community it concerns (a Discord guild id); None: the whole section

    @property
    def failed(self) -> bool:
        return self.status == FAIL


class Checklist:
    def __init__(self, section: str):
        self.section = section
        self.items: list[Check] = []
        self.scope: str | None = None  # stamped on the checks added while it is set

    def ok(self, name: str) -> Check:
        return self._add(Check(self.section, name))

    def fail(self, name: str, fix: str) -> Check:
        return self._add(Check(self.section, name, FAIL, fix))

    def warn(self, name: str, fix: str) -> Check:
        return self._add(Check(self.section, name, WARN, fix))

    def check(self, good: bool, name: str, fix: str) -> bool:
        (self.ok(name) if good else self.fail(name, fix))
        return good

    def _add(self, check: Check) -> Check:
        check.scope = self.scope
        self.items.append(check)
        return check


MARK = {OK: "[ok]  ", WARN: "[warn]", FAIL: "[FAIL]"}


def render(checks: list[Check]) -> str:
    lines, section = [], None
    for c in checks:
        if c.section != section:
            section = c.section
            lines.append(f"{section}:")
        lines.append(f"  {MARK[c.status]} {c.name}")
        if c.fix and c.status != OK:
            lines.append(f"         fix: {c.fix}")
    failed = sum(c.failed for c in checks)
    warned = sum(c.status == WARN for c in checks)
    lines.append(f"{len(checks)} checks: {failed} failed, {warned} warning(s)" if failed or warned
                 else f"{len(checks)} checks: all good")
    return "\n".join(lines)
