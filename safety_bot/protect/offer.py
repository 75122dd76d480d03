"""The offer: a member asks to protect their pictures (first-aid choice E, `/protect` on Discord,
`!protect` in a Matrix DM, `protect` on the console). They get a few plain sentences and a one-time
link to the page, bound to them and to their open case; a case is opened when they have none."""

from __future__ import annotations

import secrets

from ..actions import Outcome
from ..domain import Case, CaseNote, Report, Status, Urgency, UserRef
from ..events import reporter_actor
from ..store import StoreUnavailable
from . import links


class ProtectRequests:
    """Mixed into SafetyService: the adapters' entry point."""

    async def protect_request(self, user: UserRef, community: str, locale: str | None = None) -> Outcome:
        """`/protect`, `!protect`, `protect`: the offer and a one-time link (reply privately)."""
        return await protect_request(self, user, community, locale)

    def protect_offered(self) -> bool:
        """Whether members are offered "protect my pictures" (choice E) here: the page is set up."""
        return available(self)


def available(svc) -> bool:
    bank = getattr(svc, "bank", None)
    http = svc.config.http
    return bool(http.public_url and http.listen is not None and bank is not None and bank.available)


async def protect_request(svc, user: UserRef, community: str, locale: str | None = None) -> Outcome:
    """The member asked (a command): the offer and a fresh link."""
    async with svc.exclusive():
        return await offer(svc, user, community, locale or svc.config.locale)


async def issue_link(store, case: Case, user: UserRef, now: float) -> str:
    """A new one-time link's token on `case` (the caller saves the case, in the same transaction), and its
    claim in the store, which the one submission that spends it takes (links.claim_code)."""
    token = links.issue(case, user, now)
    await store.put_confirmation(links.claim_code(links.issued_digest(token)), case.community, "", now,
                                 now + links.LINK_MINUTES * 60)
    return token


async def offer(svc, user: UserRef, community: str, loc: str, case: Case | None = None) -> Outcome:
    """The offer's text with a new link (call with the service's lock held)."""
    if not available(svc):
        return Outcome(ok=False, reply=svc.t("protect_unavailable", loc))
    now = svc.clock()
    try:
        case = case or await svc._latest_open_case_of(user, community)
        out = Outcome()
        async with svc.store.transaction():
            if case is None:
                case, out = await _open_case(svc, user, community, loc, now)
            token = await issue_link(svc.store, case, user, now)
            case.updated_at = now
            await svc.store.save_case(case)
            await svc.audit(reporter_actor(case) if case.reporter and case.reporter.key == user.key
                            else f"victim:{case.alias}", "protect.link_sent", case.community, case,
                            minutes=links.LINK_MINUTES)
            await svc.enqueue(out)
    except StoreUnavailable:
        return Outcome(ok=False, reply=svc.t("store_unavailable", loc))
    url = links.link_url(svc.config.http.public_url, token, loc.split("-")[0])
    out.reply = svc.t("protect_offer", loc, minutes=links.LINK_MINUTES) + "\n" + url
    out.case_number = case.number
    return out


async def _open_case(svc, user: UserRef, community: str, loc: str, now: float) -> tuple[Case, Outcome]:
    com = svc.community(community)
    case = Case(community=com.id, network=com.network, number=0, category="sextortion", urgency=Urgency.NORMAL,
                status=Status.OPEN, created_at=now, updated_at=now, reporter=user, locale=loc,
                alias=f"reporter-{secrets.token_hex(2)}", flags={"intake_done": True, "opened_for": "protect",
                       "anonymous": True})  # never asked whether the team may see their name: it stays hidden
    case = await svc.store.create_case(case)
    await svc.store.add_report(Report(case_id=case.id, reporter=user, text="", source="member", created_at=now,
                                      locale=loc))
    await svc.store.add_note(CaseNote(case.id, "system", "system", svc.team_text("protect_note_opened"), now))
    await svc.audit(reporter_actor(case), "case.open", com.id, case, via="protect")
    out = Outcome(case_number=case.number)
    out.actions += await svc.team_post(case, svc.team_text("team_post_protect_new_case", number=case.number))
    return case, out
