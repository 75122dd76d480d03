"""What the resource directory must hold for every country it lists, checked at load (and so by
`safety-bot check-config`): a frightened member in any listed country gets a number to call.

Kinds, per country (ISO code):
- crisis: a crisis line for adults with a phone or text number, in that country;
- child_line: a line for minors with a phone or text number, in that country;
- image_removal_adult / image_removal_minor: image removal for adults and for minors (a global entry
  counts: StopNCII and Take It Down work everywhere);
- report: how to report to the police or the national hotline, in that country.
And for "no country known": at least one global line with a number.
"""

from __future__ import annotations

from typing import Callable

KINDS = ("crisis", "child_line", "image_removal_adult", "image_removal_minor", "report")


def kinds_of(r) -> set[str]:
    """The required kinds one resource entry provides."""
    out = set()
    helps, aud = set(r.helps_with), set(r.audiences)
    if "crisis" in helps and "adult" in aud and r.has_number:
        out.add("crisis")
    if "minor" in aud and helps & {"crisis", "emotional_support"} and r.has_number:
        out.add("child_line")
    if "image_removal" in helps and "adult" in aud:
        out.add("image_removal_adult")
    if "image_removal" in helps and "minor" in aud:
        out.add("image_removal_minor")
    if "crime_report" in helps:
        out.add("report")
    return out


def directory_problems(resources: list, where: Callable[[tuple], str]) -> list[str]:
    """One `file:line: key.path: problem` line for each missing kind of each listed country."""
    problems = []
    global_kinds: set[str] = set()
    countries: dict[str, set[str]] = {}
    first_index: dict[str, int] = {}
    for i, r in enumerate(resources):
        if r.region == "global":
            if not r.only_without_country:
                global_kinds |= kinds_of(r) & {"image_removal_adult", "image_removal_minor"}
            continue
        countries.setdefault(r.region, set()).update(kinds_of(r))
        first_index.setdefault(r.region, i)
    for country, kinds in sorted(countries.items()):
        missing = [k for k in KINDS if k not in kinds | global_kinds]
        if missing:
            problems.append(f"{where(('resources', first_index[country], 'region'))}: {country} has no "
                            f"{', '.join(missing)} entry (every listed country needs: {', '.join(KINDS)})")
    if not any(r.region == "global" and r.has_number and "crisis" in r.helps_with for r in resources):
        problems.append(f"{where(('resources',))}: no global crisis line with a number for members whose "
                        f"country is not known")
    return problems
