"""README: on the console, `picture <channel> <file>` posts a picture, and `remove <message> --case N --block`
captures evidence, banks the message's images on the case and deletes it, as on Discord and Matrix; a
re-upload of the picture is then removed on sight. The file is read again only for the block, and the
console's saved world never names it."""

from __future__ import annotations

from tests.media.test_bank import jpeg
from tests.media.test_hashing import generate


async def test_remove_block_of_a_console_picture_banks_it_and_a_reupload_is_removed(h, tmp_path):
    pic = tmp_path / "beach.jpg"
    pic.write_bytes(jpeg(generate(31, 640, 480)))
    await h.run("as bob", f"picture general {pic}", "as alice", "report-message m1 he posted my picture", "stop")
    lines = await h.run("as mia", "remove m1 --case 1 --block")
    text = "\n".join(lines)
    assert "Added 1 image(s) to the hash bank on case 1" in text, text
    assert "No images were found" not in text
    again = "\n".join(await h.run("as carol", f"picture general {pic}"))
    assert "(a message was removed by the moderators)" in again, again
    assert "a re-upload of banked media" in again and "was removed automatically" in again
    from adapters.console import world_file

    saved = tmp_path / "world.json"
    world_file.save(saved, h.console)
    assert "beach.jpg" not in saved.read_text() and str(tmp_path) not in saved.read_text()


async def test_remove_block_of_a_text_message_still_says_there_were_no_images(h):
    await h.run("as bob", "say general pay me or else", "as alice", "report-message m1 he threatens me", "stop")
    text = "\n".join(await h.run("as mia", "remove m1 --case 1 --block"))
    assert "No images were found in the message" in text and "Done: the message was removed." in text


async def test_a_picture_file_that_is_gone_by_the_removal_banks_nothing_and_the_removal_goes_ahead(h, tmp_path):
    pic = tmp_path / "gone.jpg"
    pic.write_bytes(jpeg(generate(32, 640, 480)))
    await h.run("as bob", f"picture general {pic}", "as alice", "report-message m1 he posted my picture", "stop")
    pic.unlink()
    text = "\n".join(await h.run("as mia", "remove m1 --case 1 --block"))
    assert "Done: the message was removed." in text and "Added" not in text
