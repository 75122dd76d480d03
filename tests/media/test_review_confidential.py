"""Adversarial review (minors: the stricter child path): a case that becomes a child-safety case after its
pictures were banked takes its bank entries along, so a re-upload after the case is gone still opens a
child-safety case."""

from __future__ import annotations

from tests.media.test_bank import jpeg
from tests.media.test_hashing import generate


async def test_banked_pictures_of_a_case_that_becomes_child_safety_are_a_minors(h, tmp_path):
    await _becomes_child_safety(h, tmp_path)


async def test_the_same_on_sqlite_and_postgresql(hdb, tmp_path):
    await _becomes_child_safety(hdb, tmp_path)


async def _becomes_child_safety(h, tmp_path):
    pic = tmp_path / "beach.jpg"
    pic.write_bytes(jpeg(generate(37, 640, 480)))
    await h.run("as bob", f"picture general {pic}", "as alice", "report-message m1 he posted my picture", "stop")
    await h.run("as mia", "remove m1 --case 1 --block")
    [entry] = await h.store.bank_entries()
    assert entry.category == "adult"
    await h.run("as alice", "dm I'm 15 and I am scared")
    case = await h.store.get_case("cafe", 1)
    assert case.category == "child_safety"
    [entry] = await h.store.bank_entries()
    assert entry.category == "minor" and h.app.bank.index.info(entry.id).category == "minor"
    # years later the case is purged; a re-upload then opens a child-safety case, not a sextortion one
    await h.run("as mia", "close 1 actioned")
    await h.store.purge_case(case.id)
    await h.run("as carol", f"picture general {pic}")
    [new] = await h.store.list_cases(None)  # the purged case is gone (its id may be used again)
    assert new.category == "child_safety"
