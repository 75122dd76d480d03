"""The optional Hasher-Matcher-Actioner (HMA) lookup backend (issue 19, item 2).

With `media.hma.url` (and a bearer token from the environment), an upload the bot's own bank does not
match is also looked up in HMA: `GET <url>/m/lookup?signal_type=pdq&signal=<hash>`, whose answer names
the HMA banks the hash matched (an empty list: none). A match is recorded like an entry of a shared list
named `hma-<network>` (the upload's PDQ and MD5 hashes only, encrypted like every bank entry) with the action
`media.hma.action`, and then handled by the bank's usual rules: flood breakers, provenance, and never an
automatic ban of someone who is not a case's accused. `safety-bot bank remove-list hma-<network>` forgets
them.

HMA failing (timeout, refused connection, HTTP errors, an answer that is not JSON) never stops the bot:
the upload is checked against its own bank only, and the team is told once, until HMA answers again.
Hashes are never logged; the URL is not secret, the token is never logged."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Sequence

from .actions import Outcome, PostToTeam
from .store import BankEntry, ListItem, SharedList

if TYPE_CHECKING:
    from .bank import MediaBank
    from .media import MediaHashes

log = logging.getLogger(__name__)


class HmaUnavailable(Exception):
    """HMA did not give a usable answer; the reason is safe to show (no hash, no token)."""


class HmaBackend:
    def __init__(self, bank: "MediaBank"):
        self.bank = bank
        self.cfg = bank.cfg.hma
        self.down = False  # told the team; stays quiet until HMA answers again

    def _lookup(self, pdq: str) -> bool:
        query = urllib.parse.urlencode({"signal_type": "pdq", "signal": pdq})
        req = urllib.request.Request(self.cfg.url.rstrip("/") + "/m/lookup?" + query,
                                     headers={"Accept": "application/json", "User-Agent": "safety-bot"})
        if self.cfg.token:
            req.add_header("Authorization", f"Bearer {self.cfg.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.cfg.timeout_seconds) as resp:
                data = json.loads(resp.read(1024 * 1024))
        except urllib.error.HTTPError as exc:
            raise HmaUnavailable(f"HTTP {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise HmaUnavailable("timeout" if "timed out" in str(reason) or isinstance(reason, TimeoutError)
                                 else "cannot connect") from None
        except ValueError:
            raise HmaUnavailable("the answer was not JSON") from None
        # HMA answers with the names of the matching banks: a list, or a mapping of bank -> matches.
        if isinstance(data, (list, dict)):
            return bool(data)
        raise HmaUnavailable("the answer was not a list of banks")

    async def check(self, community, media: Sequence["MediaHashes"]) -> tuple[bool, Outcome]:
        """Look the images up in HMA. Returns (something matched and was recorded, notice for the team)."""
        matched: list["MediaHashes"] = []
        try:
            for h in media:
                if h.pdq and await asyncio.to_thread(self._lookup, h.pdq):
                    matched.append(h)
        except HmaUnavailable as exc:
            out = Outcome()
            if not self.down:
                self.down = True
                log.warning("HMA lookup failed (%s); checking uploads against the own bank only", exc)
                out.actions.append(PostToTeam(community=community.id, text=self.bank.service.team_text(
                    "bank_hma_down", error=exc)))
            return False, out
        if self.down:
            self.down = False
            log.info("HMA answers again")
        if matched:
            await self._record(community.network, matched)
        return bool(matched), Outcome()

    async def _record(self, network: str, matched: Sequence["MediaHashes"]) -> None:
        svc, store = self.bank.service, self.bank.store
        name = f"hma-{network}"
        now = svc.clock()
        added: list[BankEntry] = []
        async with svc.exclusive():
            async with store.transaction():
                lst = await store.get_shared_list(name)
                if lst is None:
                    lst = await store.add_shared_list(SharedList(
                        name=name, kind="hashes", network=network, source=self.cfg.url, action=self.cfg.action,
                        added_by="bot:hma", added_at=now))
                known = await store.list_items(lst.id)
                items = []
                for h in matched:
                    key = store.list_tag(f"pdq {h.pdq}")
                    if key in known:
                        continue
                    entry = await store.add_bank_entry(BankEntry(
                        network=network, category="adult", status="active", quality=100,
                        added_by="bot:hma", added_at=now, pdq=[h.pdq], md5=h.md5))
                    added.append(entry)
                    items.append(ListItem(key, entry.id))
                await store.add_list_items(lst.id, items)
                lst.size, lst.last_fetch, lst.last_error = len(known) + len(items), now, ""
                await store.save_shared_list(lst)
                if added:
                    await svc.audit("bot:hma", "list.hma_match", "", None, list=name, added=len(added))
        for e in added:
            self.bank.index.load_entry(e)
        self.bank.provenance.forget()
