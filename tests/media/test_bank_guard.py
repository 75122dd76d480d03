"""Issue 13 item 5: the hash bank cannot be used to mass-ban. The poisoned meme: a common picture banked on
a case, then 25 members post it. Only the accused is banned; the flood breaker (distinct uploaders,
persisted) suspends the entry and tells the team, and it survives a restart."""

from __future__ import annotations

import time

from safety_bot.actions import BanUser, PostToTeam, RemoveMessage
from safety_bot.app import App
from safety_bot.config import load_config
from safety_bot.domain import UserRef
from safety_bot.media import hash_image_bytes
from tests.harness import make_harness, write_config
from tests.media.test_bank import jpeg, open_case, ref
from tests.media.test_hashing import generate


async def test_poisoned_meme_only_the_accused_is_banned(h):
    case = await open_case(h)  # the case names bob
    data = jpeg(generate(21, 640, 480))
    await h.app.bank.bank_from_hashes(case, [hash_image_bytes(data, with_variants=True)], "console:mia")
    [entry] = await h.store.bank_entries()
    query = hash_image_bytes(data)
    results = [await h.app.bank.check("cafe", ref("m-bob"), UserRef("console", "bob", "bob"), [query])]
    for i in range(25):
        results.append(await h.app.bank.check("cafe", ref(f"m{i}"), UserRef("console", f"member{i}", f"member{i}"), [query]))
    bans = [a for out in results for a in out.actions if isinstance(a, BanUser)]
    assert {a.user.id for a in bans} == {"bob"}  # both communities of the network, and nobody else
    # bob (the accused) and one other member are removed; at the third uploader the entry is suspended
    removed = [a.ref.message_id for out in results for a in out.actions if isinstance(a, RemoveMessage)]
    assert removed == ["m-bob", "m0"]
    team = "\n".join(a.text for out in results for a in out.actions if isinstance(a, PostToTeam))
    assert "Not banned automatically" in team and "ban member0 --case 1" in team
    assert "this picture is being shared widely here; it may not be private" in team
    assert (await h.store.get_bank_entry(entry.id)).status == "suspended"
    assert all(out.actions == [] for out in results[3:])  # suspended: nothing automatic any more
    # the uploaders were not added to the case's accused
    assert [a.id for a in (await h.store.get_case("cafe", 1)).accused] == ["bob"]


async def test_the_flood_breaker_survives_a_restart(tmp_path):
    path = write_config(tmp_path)
    offset = [0.0]

    async def start():
        app = App(load_config(path, env={}), clock=lambda: time.time() + offset[0])
        await app.__aenter__()
        return app

    h = await make_harness(tmp_path, sqlite=True)
    case = await open_case(h)
    data = jpeg(generate(22, 640, 480))
    await h.app.bank.bank_from_hashes(case, [hash_image_bytes(data, with_variants=True)], "console:mia")
    query = hash_image_bytes(data)
    for name in ("u1", "u2"):
        out = await h.app.bank.check("cafe", ref(name), UserRef("console", name), [query])
        assert any(isinstance(a, RemoveMessage) for a in out.actions)
    await h.app.__aexit__(None, None, None)
    app = await start()  # a restart: the two uploaders are remembered
    try:
        from adapters.console import ConsoleAdapter
        ConsoleAdapter(app, lambda line: None)
        # the same uploader after the restart is still one person (the tag key is kept in the database)
        out = await app.bank.check("cafe", ref("u1-again"), UserRef("console", "u1"), [query])
        assert any(isinstance(a, RemoveMessage) for a in out.actions)
        assert not any("shared widely" in a.text for a in out.actions if isinstance(a, PostToTeam))
        out = await app.bank.check("cafe", ref("u3"), UserRef("console", "u3"), [query])
        assert not any(isinstance(a, (RemoveMessage, BanUser)) for a in out.actions)
        assert any("shared widely" in a.text for a in out.actions if isinstance(a, PostToTeam))
    finally:
        await app.__aexit__(None, None, None)


async def test_uploaders_outside_the_window_do_not_count(h):
    case = await open_case(h)
    data = jpeg(generate(23, 640, 480))
    await h.app.bank.bank_from_hashes(case, [hash_image_bytes(data, with_variants=True)], "console:mia")
    query = hash_image_bytes(data)
    for i in range(4):
        out = await h.app.bank.check("cafe", ref(f"m{i}"), UserRef("console", f"u{i}"), [query])
        assert any(isinstance(a, RemoveMessage) for a in out.actions), i
        h.offset[0] += 13 * 3600  # 13 hours between posts: never three within 24 hours


async def test_an_account_the_team_linked_with_alt_is_banned_automatically_like_the_accused(h):
    case = await open_case(h)  # the case names bob
    out = await h.run("as mia", f"alt {case.number} @carol")
    assert "carol is linked to case" in h.replies("mia", out)
    case = await h.store.get_case("cafe", case.number)
    data = jpeg(generate(24, 640, 480))
    await h.app.bank.bank_from_hashes(case, [hash_image_bytes(data, with_variants=True)], "console:mia")
    query = hash_image_bytes(data)
    linked = await h.app.bank.check("cafe", ref("m-carol"), UserRef("console", "carol", "carol"), [query])
    other = await h.app.bank.check("cafe", ref("m-dave"), UserRef("console", "dave", "dave"), [query])
    assert {a.user.id for a in linked.actions if isinstance(a, BanUser)} == {"carol"}
    assert not any(isinstance(a, BanUser) for a in other.actions)
    assert any(isinstance(a, RemoveMessage) for a in other.actions)
    # unlinked again: the next match only removes
    await h.run(f"alt {case.number} @carol --remove")
    again = await h.app.bank.check("cafe", ref("m-carol2"), UserRef("console", "carol", "carol"), [query])
    assert not any(isinstance(a, BanUser) for a in again.actions)


async def test_uploader_tags_are_keyed_and_older_unkeyed_ones_still_count(hs):
    import hashlib
    import json

    h = hs  # a real SQLite database: its tag key is stored (encrypted) in it
    case = await open_case(h)
    data = jpeg(generate(25, 640, 480))
    await h.app.bank.bank_from_hashes(case, [hash_image_bytes(data, with_variants=True)], "console:mia")
    [entry] = await h.store.bank_entries()
    query = hash_image_bytes(data)
    # a value written before tags were keyed: one earlier uploader, unkeyed SHA-256, within the window
    legacy = hashlib.sha256(f"{entry.id}\x00console:early".encode()).hexdigest()[:20]
    await h.store.set_value(f"bank.uploaders.{entry.id}", json.dumps({legacy: time.time()}))
    out = await h.app.bank.check("cafe", ref("m1"), UserRef("console", "u1"), [query])
    assert any(isinstance(a, RemoveMessage) for a in out.actions)
    stored = json.loads(await h.store.get_value(f"bank.uploaders.{entry.id}"))
    unkeyed = hashlib.sha256(f"{entry.id}\x00console:u1".encode()).hexdigest()
    [new] = [t for t in stored if t != legacy]
    assert new.startswith("k:") and unkeyed[:20] not in new and "u1" not in new
    assert new == "k:" + h.store.keyed_tag("bank-uploader", f"{entry.id}\x00console:u1")[:32]
    # the same uploader again is one person; a third person (with the legacy one) trips the breaker
    await h.app.bank.check("cafe", ref("m2"), UserRef("console", "u1"), [query])
    assert len(json.loads(await h.store.get_value(f"bank.uploaders.{entry.id}"))) == 2
    out = await h.app.bank.check("cafe", ref("m3"), UserRef("console", "u2"), [query])
    assert any("shared widely" in a.text for a in out.actions if isinstance(a, PostToTeam))
    assert (await h.store.get_bank_entry(entry.id)).status == "suspended"
