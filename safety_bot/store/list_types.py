"""Shared lists (issue 19): hash lists and ban lists imported or followed from others, or published here.

A list's items remember where each bank entry or listed account came from (provenance), so removing a list
removes exactly what it brought. Item keys are keyed tags of the item (`Store.list_tag`), never the hash or
the account id in the clear; a ban-list item's account id is kept encrypted in `value`."""

from __future__ import annotations

from dataclasses import dataclass, field

LIST_KINDS = ("hashes", "bans")
HASH_ACTIONS = ("remove", "flag")
BAN_ACTIONS = ("notify", "apply")


@dataclass
class SharedList:
    name: str
    kind: str  # hashes | bans
    network: str
    source: str  # the file or URL it was read from
    action: str  # hashes: remove | flag; bans: notify | apply
    added_by: str
    added_at: float
    public_key: str | None = None  # Ed25519 public key (base64): every fetch must verify against it
    every: float = 0.0  # follow: re-fetch every this many seconds (0: imported once)
    etag: str | None = None
    last_modified: str | None = None
    last_fetch: float | None = None
    last_error: str = ""
    size: int = 0
    category: str = "adult"  # hash lists: the bank category of their entries (minor: the child-safety path)
    id: int | None = None


@dataclass
class ListItem:
    key: str  # keyed tag of the item
    entry_id: int | None = None  # the bank entry it brought (hash lists)
    value: str = field(default="", repr=False)  # ban lists: JSON {"user_id", "reason", "date"} (encrypted at rest)
