"""Principle 7 in the hash bank: a banked picture's re-upload (or a near match) on a case whose accused is on
the team now is reported to the escalation destination, not the safety channel the accused reads (roles read
now, not the flag set at the report)."""

from __future__ import annotations

from safety_bot.actions import PostToTeam
from safety_bot.media import MediaHashes, hash_image_bytes
from tests.media.test_bank import BOB, flag_band_hash, jpeg, open_case, ref
from tests.media.test_hashing import generate


async def test_a_reupload_by_an_accused_promoted_meanwhile_is_reported_to_the_escalation_destination(h):
    case = await open_case(h)  # about bob, an ordinary member: the safety channel has it
    picture = jpeg(generate(7, 640, 480))
    await h.app.bank.bank_from_hashes(case, [hash_image_bytes(picture, with_variants=True)], "console:mia")
    await h.run("as olivia", "promote bob")
    out = await h.app.bank.check("cafe", ref("m-again"), BOB, [hash_image_bytes(picture)], sizes=[len(picture)])
    posts = [a for a in out.actions if isinstance(a, PostToTeam)]
    assert posts and [a.destination for a in posts] == ["escalation"] * len(posts)


async def test_a_near_match_on_a_case_whose_accused_was_promoted_is_flagged_to_the_escalation_destination(h):
    case = await open_case(h)
    banked = hash_image_bytes(jpeg(generate(12, 640, 480)), with_variants=True)
    await h.app.bank.bank_from_hashes(case, [banked], "console:mia")
    await h.run("as olivia", "promote bob")
    near, _distance = flag_band_hash(banked)
    query = MediaHashes(pdq=near, quality=100, sha256="ab" * 32, md5="cd" * 16, frame_hashes=((near, 100),))
    out = await h.app.bank.check("cafe", ref("m-near"), BOB, [query])
    assert [(type(a), a.destination) for a in out.actions] == [(PostToTeam, "escalation")]
