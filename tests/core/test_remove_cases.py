"""`remove` without --case: the removal goes to the case it belongs to, or a new case names the author."""

from tests.core.test_flows import report_m2


async def test_remove_of_an_unreported_message_joins_the_open_case_about_its_author(h):
    await report_m2(h)  # case 1: alice reported bob's m2
    await h.run("as bob", "say general last chance, pay now")  # m3, not reported
    out = await h.run("as mia", "remove m3")
    reply = h.replies("mia", out)
    assert "Opened case" not in reply and "(case 1)" in reply
    assert len(await h.store.list_cases("cafe")) == 1
    case = await h.store.get_case("cafe", 1)
    assert "last chance, pay now" in [e.text for e in await h.store.evidence_for(case.id)]


async def test_remove_of_a_message_by_someone_without_a_case_opens_one_that_names_them(h):
    await h.run("as carol", "say general send me more or else")  # m1
    out = await h.run("as mia", "remove m1")
    assert "Opened case 1" in h.replies("mia", out)
    case = await h.store.get_case("cafe", 1)
    assert [a.id for a in case.accused] == ["carol"]
