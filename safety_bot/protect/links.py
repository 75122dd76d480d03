"""One-time links for "protect my pictures": issued to a member for their case, kept hashed on the case.

A link is `<http.public_url>/protect?lang=<lang>#<token>`. The token travels in the URL fragment, which
browsers never send to a server, so it does not show up in a reverse proxy's access log. It is
`<case id>.<secret>`: 24 random bytes, of which only the SHA-256 is stored (`case.flags["protect_links"]`,
with the member it belongs to and when it expires). Valid LINK_MINUTES, used once, for that member's case;
"once" holds across processes through a claim kept in the store (`claim_code`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from ..domain import Case, UserRef

LINK_MINUTES = 30
FLAG = "protect_links"
KEEP_LINKS = 10  # per case: older spent/expired links are dropped from the flags
_TOKEN = re.compile(r"^([1-9][0-9]{0,17})\.([A-Za-z0-9_-]{32})$")

# Why a token was refused (the page shows the matching kind message; counts only are logged).
EXPIRED, USED, UNKNOWN = "expired", "used", "unknown"


@dataclass(frozen=True)
class Grant:
    case_id: int
    member: str  # the UserRef key of the member the link was sent to
    digest: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def issue(case: Case, member: UserRef, now: float) -> str:
    """A new token for `member` on `case` (the caller saves the case). Returns the token."""
    secret = secrets.token_urlsafe(24)
    links = [g for g in case.flags.get(FLAG, []) if not g.get("used") and g.get("exp", 0) > now]
    links.append({"h": _digest(secret), "member": member.key, "exp": now + LINK_MINUTES * 60, "used": False})
    case.flags[FLAG] = links[-KEEP_LINKS:]
    return f"{case.id}.{secret}"


def claim_code(digest: str) -> str:
    """The link's single-use claim in the store (pending_confirmations): issued with the link and taken by
    the one submission that spends it, so a link works once even when several bot processes serve the page."""
    return "protect:" + digest


def issued_digest(token: str) -> str:
    return _digest(token.split(".", 1)[1])


def parse(token: object) -> tuple[int, str] | None:
    """(case id, secret) of a well-formed token, else None."""
    if not isinstance(token, str):
        return None
    m = _TOKEN.match(token)
    return (int(m.group(1)), m.group(2)) if m else None


def check(case: Case | None, secret: str, now: float) -> tuple[Grant | None, str]:
    """The grant a secret opens on `case`, or (None, why). Compares digests in constant time."""
    if case is None:
        return None, UNKNOWN
    digest = _digest(secret)
    for g in case.flags.get(FLAG, []):
        if hmac.compare_digest(str(g.get("h", "")), digest):
            if g.get("used"):
                return None, USED
            if g.get("exp", 0) <= now:
                return None, EXPIRED
            if g.get("member") not in _parties(case):
                return None, UNKNOWN  # the case no longer belongs to the member the link was sent to
            return Grant(case_id=case.id, member=g["member"], digest=digest), ""
    return None, UNKNOWN


def _parties(case: Case) -> set[str]:
    victim = UserRef.from_dict(case.flags.get("victim"))  # the person a friend's report is about
    return {u.key for u in (case.reporter, victim) if u is not None}


def spend(case: Case, grant: Grant) -> None:
    """Mark the link used (the caller saves the case in the same transaction as the entries)."""
    for g in case.flags.get(FLAG, []):
        if g.get("h") == grant.digest:
            g["used"] = True


def link_url(public_url: str, token: str, lang: str) -> str:
    return f"{public_url.rstrip('/')}/protect?lang={lang}#{token}"
