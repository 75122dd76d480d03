"""Choosing and writing out support resources for a person: by country, audience and need."""

from __future__ import annotations

from .playbooks import ResourceDef, Texts, pick


def select(resources: list[ResourceDef], *, country: str | None, audiences: set[str], needs: set[str],
           urgent_only: bool = False, limit: int = 8, minor_first: bool = False) -> list[ResourceDef]:
    """Local entries for the person's country first, then global ones; urgent lines (numbers first)
    before others. For a possible minor, `minor_essential` entries come first and the cap never drops
    them; `minor_first` puts entries for minors before the others ("not sure" about the age)."""
    possibly_minor = "minor" in audiences
    chosen = []
    for r in resources:
        if r.region != "global" and r.region != country:
            continue
        if r.only_without_country and country:
            continue
        if not audiences & set(r.audiences):
            continue
        if urgent_only and not r.urgent:
            continue
        if not urgent_only and needs and not needs & set(r.helps_with):
            continue
        chosen.append(r)

    def order(r: ResourceDef):
        essential = possibly_minor and r.minor_essential
        return (not essential, minor_first and "minor" not in r.audiences, r.region == "global",
                not r.has_number if urgent_only else 0, not r.urgent)

    chosen.sort(key=order)
    kept = sum(1 for r in chosen if possibly_minor and r.minor_essential)
    return chosen[:max(limit, kept)]


def render(texts: Texts, chosen: list[ResourceDef], locale: str) -> str:
    lines = []
    for r in chosen:
        contact = []
        if r.phone:
            contact.append(texts.t("res_phone", locale, phone=r.phone))
        if r.sms:
            if r.sms.keyword:
                contact.append(texts.t("res_sms_keyword", locale, keyword=r.sms.keyword, number=r.sms.number))
            else:
                contact.append(texts.t("res_sms", locale, number=r.sms.number))
        if r.url:
            contact.append(r.url)
        lines.append(f"- {r.name}: {pick(r.description, locale)}" + (f" ({'; '.join(contact)})" if contact else ""))
    return "\n".join(lines)
