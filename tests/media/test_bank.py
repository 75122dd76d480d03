"""The exposed-media hash bank in the core (MediaBank), its storage, the console's remove --block, and the
`safety-bot bank` / `safety-bot hash` commands. Generated images only (gradients, shapes, noise)."""

from __future__ import annotations

import base64
import io
import json
import os
import random

import pytest
from PIL import Image, ImageOps

from safety_bot.actions import BanUser, PostToTeam, RemoveMessage
from safety_bot.cli import main
from safety_bot.domain import MessageRef, UserRef
from safety_bot.media import MediaHashes, hamming, hash_image_bytes
from safety_bot.store.sqlite import ENCRYPTED_COLUMNS, SqliteStore
from tests.harness import make_harness, write_config
from tests.media.test_hashing import generate


def flag_band_hash(banked, seed: int = 5) -> tuple[str, int]:
    """A PDQ hash (hex) 32 to 52 bits from every hash banked for ``banked``: flagged, never removed; and its
    distance."""
    rng = random.Random(seed)
    for _ in range(200):
        value = int(banked.pdq, 16)
        for bit in rng.sample(range(256), 42):
            value ^= 1 << bit
        near = f"{value:064x}"
        best = min(hamming(near, b) for b in banked.bank_hashes())
        if 32 <= best <= 52:
            return near, best
    raise AssertionError("no near hash found")


def jpeg(im: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", **kw)
    return buf.getvalue()


def flat_image() -> Image.Image:
    """Almost no detail: PDQ quality far below 50."""
    return Image.new("RGB", (256, 256), (128, 130, 127))


BOB = UserRef("console", "bob", "bob")


def ref(mid: str = "m9") -> MessageRef:
    return MessageRef("console", "cafe", "general", mid, "")


def secrets_of(h: MediaHashes) -> list[str]:
    return [*h.bank_hashes(), h.sha256, h.md5]


async def open_case(h, category: str = "sextortion"):
    await h.run("as mia", f"open @bob posts her pictures --category {category}")
    return (await h.store.list_cases("cafe"))[-1]


@pytest.fixture
async def media_h(tmp_path):
    harness = await make_harness(tmp_path, {"media": {"flood_matches_per_hour": 3, "flood_uploaders": 100}})
    yield harness
    await harness.app.__aexit__(None, None, None)


async def test_banked_image_and_its_edits_are_removed_with_a_ban_distinct_images_are_not(h):
    case = await open_case(h)
    original = generate(7, 640, 480)
    banked = hash_image_bytes(jpeg(original), with_variants=True)
    out = await h.app.bank.bank_from_hashes(case, [banked], "console:mia")
    assert "Added 1 image(s) to the hash bank on case 1" in out.reply
    [entry] = await h.store.bank_entries("friends", with_hashes=True)
    assert entry.category == "adult" and entry.status == "active" and entry.case_number == 1
    assert entry.sha256 == banked.sha256 and set(banked.variants) <= set(entry.pdq) and len(entry.pdq) >= 9
    edits = {
        "recompressed": jpeg(original, 60),
        "resized": jpeg(original.resize((320, 240)), 80),
        "mirrored": jpeg(ImageOps.mirror(original), 85),
        "rotated": png(original.rotate(90, expand=True)),
    }
    for name, data in edits.items():
        out = await h.app.bank.check("cafe", ref(f"m-{name}"), BOB, [hash_image_bytes(data)], sizes=[len(data)])
        kinds = [type(a) for a in out.actions]
        assert kinds[0] is RemoveMessage, name
        assert kinds.count(BanUser) == 2, name  # zero tolerance: both communities of the network
        assert {a.community for a in out.actions if isinstance(a, BanUser)} == {"cafe", "club"}
        assert PostToTeam in kinds
        break  # the uploader is banned after the first; the others are checked below without the ban
    for name, data in list(edits.items())[1:]:
        out = await h.app.bank.check("cafe", ref(f"m-{name}"), BOB, [hash_image_bytes(data)])
        assert any(isinstance(a, RemoveMessage) for a in out.actions), name
    for seed in (8, 9, 10):
        other = hash_image_bytes(jpeg(generate(seed, 640, 480)))
        assert (await h.app.bank.check("cafe", ref(f"d{seed}"), BOB, [other])).actions == []
    # Evidence metadata on the case that banked the entry: ids and hashes, no text, no URL, no filename.
    evidence = [e for e in await h.store.evidence_for(case.id) if e.captured_by == "bot:hash-bank"]
    assert len(evidence) == 4
    first = evidence[0]
    assert first.ref.message_id == "m-recompressed" and first.text == "" and first.author.id == "bob"
    [att] = first.attachments
    assert att["size"] == len(edits["recompressed"]) and att["content_type"] == "image/jpeg"
    assert att["sha256"] and att["pdq"] and set(att) <= {"content_type", "size", "width", "height", "sha256", "md5",
                                                          "pdq", "pdq_quality"}
    audit = [a for a in await h.store.audit_entries() if a.action.startswith(("media.", "bank."))]
    assert [a.action for a in audit][:2] == ["bank.added", "media.match_removed"]
    for a in audit:  # the audit log is not encrypted: never a hash in it
        assert not any(s in json.dumps(a.detail) for s in secrets_of(banked))


async def test_remove_runs_through_the_runtime_and_the_team_never_sees_a_hash(h):
    case = await open_case(h)
    data = jpeg(generate(11, 600, 400))
    banked = hash_image_bytes(data, with_variants=True)
    await h.app.bank.bank_from_hashes(case, [banked], "console:mia")
    await h.run("as bob", "say general look at this")
    m = h.console.world.messages["m1"]
    out = await h.app.bank.check("cafe", h.console.world.ref(m), BOB, [hash_image_bytes(data)], sizes=[len(data)])
    lines_before = len(h.lines)
    await h.app.runtime.run(out)
    shown = "\n".join(h.lines[lines_before:])
    assert m.deleted and "re-upload of banked media" in shown and "Banned across the network" in shown
    assert not any(s in shown for s in secrets_of(banked))
    detail = "\n".join(await h.run("as mia", "case 1"))
    assert "attachment(s) hashed" in detail and not any(s in detail for s in secrets_of(banked))


async def test_near_match_is_flagged_to_the_team_without_image_url_or_hash(h):
    case = await open_case(h)
    banked = hash_image_bytes(jpeg(generate(12, 640, 480)), with_variants=True)
    await h.app.bank.bank_from_hashes(case, [banked], "console:mia")
    near, best = flag_band_hash(banked)
    query = MediaHashes(pdq=near, quality=100, sha256="ab" * 32, md5="cd" * 16, frame_hashes=((near, 100),))
    out = await h.app.bank.check("cafe", ref("m-near"), BOB, [query])
    assert [type(a) for a in out.actions] == [PostToTeam]
    text = out.actions[0].text
    assert "Please review" in text and "not removed" in text and f"PDQ distance {best}" in text
    assert not any(s in text for s in [near, *secrets_of(banked)])
    notes = [n.text for n in await h.store.notes_for(case.id)]
    assert any("flagged for review" in n for n in notes)


async def test_removals_only_match_skips_the_flag_band(h):
    """BankIndex.match(removals_only=True) (for checks that can only refuse) searches to remove_distance:
    a hash in the flag band gives no hit there, a close one gives the same "remove" hit as the full match."""
    case = await open_case(h)
    banked = hash_image_bytes(jpeg(generate(12, 640, 480)), with_variants=True)
    await h.app.bank.bank_from_hashes(case, [banked], "console:mia")
    rng = random.Random(9)

    def near(bits: int) -> MediaHashes:
        value = int(banked.pdq, 16)
        for bit in rng.sample(range(256), bits):
            value ^= 1 << bit
        q = f"{value:064x}"
        return MediaHashes(pdq=q, quality=100, sha256="ab" * 32, md5="cd" * 16, frame_hashes=((q, 100),))

    index = h.app.bank.index
    network = index.info(next(iter(index._info))).network
    far = next(q for q in (near(44) for _ in range(200)) if min(hamming(q.pdq, b) for b in banked.bank_hashes()) > 31)
    assert [x.decision for x in index.match(network, [far])] == ["flag"]
    assert index.match(network, [far], removals_only=True) == []
    close = near(12)
    full, fast = index.match(network, [close]), index.match(network, [close], removals_only=True)
    assert [x.decision for x in full] == ["remove"] and fast == full


async def test_withdrawn_entry_no_longer_matches_and_its_hashes_are_gone(hdb):
    h = hdb
    case = await open_case(h)
    data = jpeg(generate(13, 640, 480))
    await h.app.bank.bank_from_hashes(case, [hash_image_bytes(data, with_variants=True)], "console:mia")
    [entry] = await h.store.bank_entries()
    assert (await h.app.bank.check("cafe", ref(), BOB, [hash_image_bytes(data)])).actions
    assert await h.app.bank.withdraw(entry.id, "operator:test", "the person asked")
    assert (await h.app.bank.check("cafe", ref("m10"), BOB, [hash_image_bytes(data)])).actions == []
    gone = await h.store.get_bank_entry(entry.id)
    assert gone.status == "withdrawn" and gone.pdq == [] and gone.sha256 is None and gone.md5 is None
    assert "bank.withdrawn" in [a.action for a in await h.store.audit_entries()]
    # a restart does not bring it back
    await h.app.bank.load()
    assert h.app.bank.entries_loaded() == 0


async def test_low_quality_image_matches_on_exact_hashes_only(h):
    case = await open_case(h)
    data = png(flat_image())
    banked = hash_image_bytes(data, with_variants=True)
    assert banked.quality < 50
    out = await h.app.bank.bank_from_hashes(case, [banked], "console:mia")
    assert "only exact copies" in out.reply
    exact = await h.app.bank.check("cafe", ref("m1"), BOB, [hash_image_bytes(data)])
    assert any(isinstance(a, RemoveMessage) for a in exact.actions)
    reencoded = png(flat_image(), compress_level=1)
    other = hash_image_bytes(reencoded)
    assert other.sha256 != banked.sha256 and hamming(other.pdq, banked.pdq) <= 31  # same picture, other file
    assert (await h.app.bank.check("cafe", ref("m2"), BOB, [other])).actions == []


async def test_flood_breaker_suspends_an_entry_and_alerts_the_team(media_h):
    h = media_h
    case = await open_case(h)
    data = jpeg(generate(14, 640, 480))
    await h.app.bank.bank_from_hashes(case, [hash_image_bytes(data, with_variants=True)], "console:mia")
    [entry] = await h.store.bank_entries()
    query = hash_image_bytes(data)
    for i in range(3):  # the limit: 3 posts an hour
        out = await h.app.bank.check("cafe", ref(f"m{i}"), UserRef("console", f"u{i}"), [query])
        assert any(isinstance(a, RemoveMessage) for a in out.actions)
    out = await h.app.bank.check("cafe", ref("m3"), UserRef("console", "u3"), [query])
    assert [type(a) for a in out.actions] == [PostToTeam]
    alert = out.actions[0]
    assert alert.ping and "suspended" in alert.text and f"entry {entry.id}" in alert.text
    assert (await h.store.get_bank_entry(entry.id)).status == "suspended"
    assert (await h.app.bank.check("cafe", ref("m4"), UserRef("console", "u4"), [query])).actions == []
    assert await h.app.bank.reactivate(entry.id, "operator:test")
    assert (await h.app.bank.check("cafe", ref("m5"), UserRef("console", "u5"), [query])).actions


async def test_matches_per_hour_are_counted_in_the_store_by_every_process_and_over_a_restart(tmp_path):
    """Two bot processes on one database count one entry's matches together; a restart keeps the count;
    reactivating the entry starts it again."""
    limits = {"media": {"flood_matches_per_hour": 3, "flood_uploaders": 100}}
    first = await make_harness(tmp_path, limits, sqlite=True)
    second = None
    try:
        case = await open_case(first)
        data = jpeg(generate(21, 640, 480))
        await first.app.bank.bank_from_hashes(case, [hash_image_bytes(data, with_variants=True)], "console:mia")
        [entry] = await first.store.bank_entries()
        query = hash_image_bytes(data)
        second = await make_harness(tmp_path, limits, sqlite=True)  # another process, the same database
        for i, h in enumerate((first, second, first)):  # three posts, the limit: all removed
            out = await h.app.bank.check("cafe", ref(f"m{i}"), UserRef("console", f"u{i}"), [query])
            assert any(isinstance(a, RemoveMessage) for a in out.actions), i
        await first.app.__aexit__(None, None, None)  # a restart of the first process
        first = await make_harness(tmp_path, limits, sqlite=True)
        out = await first.app.bank.check("cafe", ref("m3"), UserRef("console", "u3"), [query])
        assert [type(a) for a in out.actions] == [PostToTeam] and "suspended" in out.actions[0].text
        assert (await second.store.get_bank_entry(entry.id)).status == "suspended"
        assert await first.app.bank.reactivate(entry.id, "operator:test")
        out = await first.app.bank.check("cafe", ref("m4"), UserRef("console", "u4"), [query])
        assert any(isinstance(a, RemoveMessage) for a in out.actions)  # counting from zero again
    finally:
        for h in (first, second):
            if h is not None:
                await h.app.__aexit__(None, None, None)


async def test_child_safety_case_banks_minor_entries(h):
    case = await open_case(h, "child_safety")
    await h.app.bank.bank_from_hashes(case, [hash_image_bytes(jpeg(generate(15)), with_variants=True)], "console:mia")
    [entry] = await h.store.bank_entries()
    assert entry.category == "minor"


async def test_console_remove_block_says_there_are_no_images_and_plain_remove_banks_nothing(h):
    await h.run("as bob", "say general one", "say general two")
    out = await h.run("as mia", "remove m1")
    assert "hash bank" not in h.replies("mia", out)
    out = await h.run("remove m2 --block")
    assert "No images were found in the message, so nothing was added to the hash bank." in h.replies("mia", out)
    assert h.console.world.messages["m2"].deleted
    assert await h.store.bank_entries() == []


# ---------------------------------------------------------------------- storage
async def test_hashes_are_encrypted_at_rest_and_rotate_key_keeps_them(tmp_path):
    key = base64.b64encode(os.urandom(32)).decode()
    path = tmp_path / "db.sqlite3"
    h = await make_harness(tmp_path, {"storage": {"database": str(path), "key": "${K}"}}, sqlite=True,
                           env={"K": key})
    try:
        case = await open_case(h)
        banked = hash_image_bytes(jpeg(generate(16, 640, 480)), with_variants=True)
        await h.app.bank.bank_from_hashes(case, [banked], "console:mia")
        data = jpeg(generate(16, 640, 480), 70)
        await h.app.bank.check("cafe", ref(), BOB, [hash_image_bytes(data)], sizes=[len(data)])  # evidence too
    finally:
        await h.app.__aexit__(None, None, None)
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("db.sqlite3*") if not p.name.endswith(".key"))
    for secret in secrets_of(banked):
        assert secret.encode() not in raw and secret.upper().encode() not in raw
    assert "bank_entries" in ENCRYPTED_COLUMNS
    new_key = os.urandom(32)
    store = await SqliteStore.open(path, key=key)
    try:
        assert await store.rotate_key(new_key) > 0
    finally:
        await store.close()
    store = await SqliteStore.open(path, key=base64.b64encode(new_key).decode())
    try:
        [entry] = await store.bank_entries(with_hashes=True)
        assert entry.sha256 == banked.sha256 and entry.pdq == list(banked.bank_hashes())
    finally:
        await store.close()


# ---------------------------------------------------------------------- the CLI
def test_bank_cli_add_list_withdraw_never_prints_hashes(tmp_path, capsys):
    cfg = str(write_config(tmp_path))
    pdq, sha, md5 = "f" * 8 + "0123456789abcdef" * 3 + "e" * 8, "a1" * 32, "b2" * 16
    assert main(["bank", "add", "--config", cfg, pdq, "--sha256", sha, "--md5", md5, "--quality", "88"]) == 0
    assert "added hash bank entry 1 (network friends, adult)" in capsys.readouterr().out
    assert main(["bank", "add", "--config", cfg, "not-hex"]) == 2
    assert "nothing was added" in capsys.readouterr().err
    assert main(["bank", "list", "--config", cfg, "--network", "friends"]) == 0
    listed = capsys.readouterr().out
    assert "1: network=friends category=adult status=active quality=88 case=- added by operator:cli" in listed
    assert not any(s in listed.lower() for s in (pdq, sha, md5))
    assert main(["bank", "list", "--config", cfg, "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert set(row) == {"id", "network", "category", "status", "quality", "case", "added_by", "added_at", "list"}
    assert main(["bank", "withdraw", "--config", cfg, "1", "--reason", "asked"]) == 0
    assert "hashes are deleted" in capsys.readouterr().out
    assert main(["bank", "list", "--config", cfg]) == 0
    assert "status=withdrawn" in capsys.readouterr().out
    assert main(["bank", "withdraw", "--config", cfg, "7"]) == 1
    assert main(["verify-audit", "--config", cfg]) == 0


def test_hash_json_one_line_per_file_and_error_exit(tmp_path, capsys):
    good = tmp_path / "own.png"
    good.write_bytes(png(generate(17, 320, 240)))
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image at all")
    missing = tmp_path / "missing.png"
    assert main(["hash", "--json", str(good)]) == 0
    [line] = capsys.readouterr().out.splitlines()
    row = json.loads(line)
    assert set(row) == {"file", "pdq", "quality", "sha256", "md5", "frames"}
    assert len(row["pdq"]) == 64 and all(c in "0123456789abcdef" for c in row["pdq"]) and row["frames"] == 1
    assert main(["hash", "--json", str(good), str(bad), str(missing)]) == 1
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["file"] for r in rows] == [str(good), str(bad), str(missing)]
    assert "error" not in rows[0] and rows[1]["error"] and rows[2]["error"]
    assert main(["hash", str(good), str(bad)]) == 1
    plain = capsys.readouterr().out.splitlines()
    assert len(plain) == 2 and plain[0].startswith(f"{good}: pdq=") and plain[1] == f"{bad}: error: " + rows[1]["error"]


