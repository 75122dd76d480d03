"""A case card's plain text (the card itself: views.card). Its own small module, without imports, because the
outbox renders it too: a case card posted to the team is stored once, as its card (actions.PostToTeam)."""

from __future__ import annotations


def card_text(c: dict, *, with_guidance: bool = True, prefix: str = "") -> str:
    labels = c["labels"]
    lines = [c["title"]]
    lines += [f"{k}: {v}" for k, v in c["fields"]]
    if c["statements"]:
        lines.append(labels["statement"] + ": " + " / ".join(c["statements"]))
    if c["answers"]:
        lines.append(labels["answers"] + ": " + "; ".join(c["answers"]))
    if c["evidence_links"]:
        lines.append(labels["evidence"] + ": " + ", ".join(c["evidence_links"]))
    lines += c["flags"]
    if with_guidance:
        lines.append(c["guidance"])
    lines.append(c["commands"].replace("{prefix}", prefix))
    return "\n".join(lines)
