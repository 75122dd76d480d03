"""Property and fuzz tests (hypothesis) for everything that reads text or bytes from outside:
the config loader, the playbook/resource loader, the text command parser, Discord message links, Matrix
user ids and permalinks, the inert rendering of report text, and the image decoder.

Each target may only fail the documented way (a `DataFileError` naming the file, a `ParseError`, None, a
`MediaError`), never with another exception. The number of cases tried per target is printed at the end
of the run ("hardening figures").
"""

from __future__ import annotations

import atexit
import html
import io
import re
import shutil
import tempfile
import unicodedata
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from safety_bot import commands
from safety_bot.config import Config, DataFileError, load_config
from safety_bot.playbooks import Library, load_library
from safety_bot.text import ZWSP, inert, inert_html, inert_plain
from tests.hardening.conftest import FIGURES

ROOT = Path(__file__).resolve().parents[2]
FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
WORK = Path(tempfile.mkdtemp(prefix="safety-bot-fuzz-"))
atexit.register(shutil.rmtree, WORK, True)


def tried(target: str) -> None:
    counts = FIGURES.setdefault("fuzz cases tried", {})
    counts[target] = counts.get(target, 0) + 1


# ---------------------------------------------------------------------------------------------- config
VALID_CONFIG = {
    "playbooks": str(ROOT / "playbooks"),
    "storage": {"database": "data/x.sqlite3", "key": "${DB_KEY}"},
    "limits": {"report_max_chars": 4000, "reports_per_hour": 10},
    "strikes": {"timeout_at": 3, "ban_at": 5},
    "media": {"remove_distance": 31, "flag_distance": 52},
    "console": {"communities": [{"id": "cafe", "moderators": ["mia"], "members": ["alice"], "escalation": "mia"}],
                "start_as": "alice"},
    "discord": {"token": "${DISCORD_TOKEN}", "guilds": [{"id": 1, "safety_channel": 2, "safety_role": 3}]},
    "matrix": {"homeserver": "https://m.example", "user_id": "@bot:m.example", "password": "${MX_PASS}",
               "management_room": "!mgmt:m.example"},
}
ENV = {"DISCORD_TOKEN": "t", "DB_KEY": "k" * 44, "MX_PASS": "p"}
KEYS = ["storage", "database", "key", "token", "guilds", "id", "safety_channel", "console", "communities", "limits",
        "report_max_chars", "discord", "matrix", "media", "strikes", "ban_at", "playbooks", "base_dir", "${X}",
        "members", "moderators", "homeserver", "user_id", "management_room"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=30), st.sampled_from(["${DISCORD_TOKEN}", "${MISSING}", "${", "full", "@a:b"]))
structures = st.recursive(scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), kids, max_size=5)),
    max_leaves=25)


def _mutate_structure(data, path, value):
    if not path:
        return value
    head, *rest = path
    if isinstance(data, dict):
        keys = list(data) or [head]
        k = keys[head % len(keys)] if isinstance(head, int) else head
        return {**data, k: _mutate_structure(data.get(k), rest, value)}
    if isinstance(data, list) and data:
        i = head % len(data) if isinstance(head, int) else 0
        return data[:i] + [_mutate_structure(data[i], rest, value)] + data[i + 1:]
    return value


def _check_config(text: str) -> None:
    file = WORK / "fuzz-config.yaml"
    file.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        assert isinstance(load_config(file, env=ENV), Config)
    except DataFileError as exc:
        assert exc.problems and all(str(file) in p for p in exc.problems), exc.problems


def test_the_valid_config_loads():
    text = yaml.safe_dump(VALID_CONFIG)
    (WORK / "fuzz-config.yaml").write_text(text, encoding="utf-8")
    assert isinstance(load_config(WORK / "fuzz-config.yaml", env=ENV), Config)


@settings(FAST, max_examples=300)
@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=300))
@example("a: [1, 2\n")
@example("!!python/object:os.system {}")
@example("discord:\n  token: literal-secret\n  guilds: [{id: 1, safety_channel: 2}]\n")
@example("[" * 200)
@example("\ufeffstorage: {}")
@example("- 1\n- 2\n")
def test_config_loader_random_text(text):
    tried("config: random YAML text")
    _check_config(text)


def test_config_loader_recursive_alias():
    _check_config("a: &a [*a]\n")


@settings(FAST, max_examples=300)
@given(st.lists(st.integers(0, 50) | st.sampled_from(KEYS), max_size=4), structures)
def test_config_loader_mutated_structure(path, value):
    tried("config: mutated valid structure")
    _check_config(yaml.safe_dump(_mutate_structure(VALID_CONFIG, path, value), allow_unicode=True))


@settings(FAST, max_examples=150)
@given(structures)
def test_config_loader_random_structure(data):
    tried("config: random structure")
    _check_config(yaml.safe_dump(data, allow_unicode=True))


# -------------------------------------------------------------------------------------------- playbooks
PLAYBOOKS = WORK / "playbooks"
shutil.copytree(ROOT / "playbooks", PLAYBOOKS)
PLAYBOOK_FILES = sorted(p.relative_to(PLAYBOOKS) for p in PLAYBOOKS.rglob("*.yaml"))


@st.composite
def mutated_file(draw):
    rel = draw(st.sampled_from(PLAYBOOK_FILES))
    original = (PLAYBOOKS / rel).read_text(encoding="utf-8")
    lines = original.splitlines(keepends=True)
    how = draw(st.sampled_from(["line", "delete", "chars", "value", "truncate", "yaml"]))
    i = draw(st.integers(0, max(0, len(lines) - 1)))
    if how == "line":
        lines.insert(i, draw(st.text(max_size=40)) + "\n")
    elif how == "delete" and lines:
        del lines[i]
    elif how == "chars" and lines:
        line = lines[i]
        j = draw(st.integers(0, len(line)))
        lines[i] = line[:j] + draw(st.text(alphabet=":-{}[]&*!|>'\"#%@ \t\n0123456789abc", max_size=4)) + line[j:]
    elif how == "value" and lines and ":" in lines[i]:
        key = lines[i].split(":", 1)[0]
        value = draw(scalars | st.lists(scalars, max_size=3))
        lines[i] = key + ": " + yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip().replace(
            "\n", " ") + "\n"
    elif how == "truncate":
        return rel, original, original[:draw(st.integers(0, len(original)))]
    elif how == "yaml":
        return rel, original, yaml.safe_dump(draw(structures), allow_unicode=True)
    return rel, original, "".join(lines)


@settings(FAST, max_examples=100)
@given(mutated_file())
def test_playbook_loader_one_file_mutated(mutation):
    tried("playbooks: one file mutated")
    rel, original, text = mutation
    path = PLAYBOOKS / rel
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        assert isinstance(load_library(PLAYBOOKS), Library)
    except DataFileError as exc:
        names = [p.name for p in PLAYBOOK_FILES] + [PLAYBOOKS.name]
        assert exc.problems and all(any(n in p for n in names) for p in exc.problems), exc.problems
    finally:
        path.write_text(original, encoding="utf-8")


# ---------------------------------------------------------------------------------------- text commands
words = st.one_of(st.sampled_from(list(commands.COMMANDS) + ["--case", "--confirm", "--block", "--reason",
                                                            "--category", "-", "--", "'", '"', "N", "all", "off"]),
                  st.integers(-10**30, 10**30).map(str), st.text(max_size=12))


def test_command_parser_superscript_digit():
    assert isinstance(commands.parse("case ¹"), (commands.ModCommand, commands.ParseError))


@settings(FAST, max_examples=500)
@given(st.one_of(st.text(max_size=200), st.lists(words, max_size=8).map(" ".join)))
@example("case ¹")
@example("ban 'unterminated")
@example("case 99999999999999999999999999999999")
@example("close -1 --case --case")
@example("remove --case")
def test_command_parser_never_raises(line):
    tried("commands.parse")
    out = commands.parse(line)
    assert isinstance(out, (commands.ModCommand, commands.ParseError))
    if isinstance(out, commands.ModCommand):
        assert out.name in commands.COMMANDS
        assert out.case is None or isinstance(out.case, int)


# ---------------------------------------------------------------------------------- Discord message links
def _discord_parse_link():
    from adapters.discord.render import parse_link

    return parse_link


snowflakes = st.integers(0, 2**64)
hosts = st.sampled_from(["discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com", "discord.gg",
                         "evil.com/discord.com"])


@settings(FAST, max_examples=400)
@given(st.one_of(
    st.text(max_size=120),
    st.tuples(st.sampled_from(["https://", "http://", "<https://", ""]), hosts,
              st.one_of(snowflakes.map(str), st.just("@me"), st.text(max_size=5)), snowflakes, snowflakes,
              st.sampled_from(["", "/", ">", "/x", "?a=1"])).map(lambda t: f"{t[0]}{t[1]}/channels/{t[2]}/{t[3]}/{t[4]}{t[5]}"),
    st.tuples(snowflakes, snowflakes).map(lambda t: f"{t[0]}-{t[1]}")))
def test_discord_message_link_parsing(text):
    tried("discord parse_link")
    parsed = _discord_parse_link()(text)
    assert parsed is None or (len(parsed) == 3 and all(x is None or isinstance(x, int) for x in parsed))


@settings(FAST, max_examples=200)
@given(snowflakes, snowflakes, snowflakes)
def test_discord_message_link_round_trip(g, c, m):
    tried("discord parse_link round trip")
    from adapters.discord.render import message_ref

    assert _discord_parse_link()(message_ref(g, c, m).link) == (g, c, m)


def test_discord_message_link_with_huge_ids():
    assert _discord_parse_link()("https://discord.com/channels/1/2/" + "9" * 5000) is None


# ----------------------------------------------------------------------------------- Matrix (read only)
try:
    from adapters.matrix import text as matrix_text
except ImportError:  # a colleague is writing it
    matrix_text = None
needs_matrix = pytest.mark.skipif(matrix_text is None, reason="the Matrix adapter is not there yet")
ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._=", min_size=1, max_size=20)
servers = st.sampled_from(["example.org", "m.example:8448", "localhost", "[::1]:8008"])


@needs_matrix
@settings(FAST, max_examples=400)
@given(st.one_of(
    st.text(max_size=120),
    st.tuples(st.sampled_from(["https://matrix.to/#/", "matrix:roomid/", "matrix:r/", "matrix:u/", "", "<"]),
              st.text(max_size=30), st.sampled_from(["", "/", "/e/", "/$", "?via=x", "%"]), st.text(max_size=20))
    .map("".join)))
def test_matrix_user_id_and_permalink_parsing_never_raise(text):
    tried("matrix parse_user_id/parse_permalink")
    uid = matrix_text.parse_user_id(text)
    assert uid is None or (isinstance(uid, str) and uid.startswith("@"))
    link = matrix_text.parse_permalink(text)
    assert link is None or (len(link) == 2 and all(isinstance(x, str) for x in link))


@needs_matrix
@settings(FAST, max_examples=200)
@given(st.sampled_from("!#"), ids, servers, ids)
def test_matrix_permalink_round_trip(sigil, local, server, event):
    tried("matrix permalink round trip")
    room, event_id = f"{sigil}{local}:{server}", f"${event}"
    assert matrix_text.parse_permalink(matrix_text.permalink(room, event_id)) == (room, event_id)


# ----------------------------------------------------------------------------------- inert report text
NASTY = ["@everyone", "@here", "@room", "@EveryOne", "<@123456789012345678>", "<@!123>", "<@&42>", "<#987>",
         "<a:wave:123>", "<:x:1>", "<t:1700000000>", "\x1b[31m", "\u202e", "\u2066", "\x00", "\r", "\x07", "\u200b",
         "@", "<", "@@everyone", "<<@1>>", "@\u200beveryone", "\ud7ff", "&", "\"", "'", "<br>", "https://x.y",
         "**", "`", "\n", "\t"]
report_texts = st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=10)), max_size=12).map("".join)
MENTIONS = [re.compile(r"@(everyone|here|room)\b", re.IGNORECASE), re.compile(r"<[@#][!&]?\d+>"),
            re.compile(r"<a?:\w+:\d+>")]
ALLOWED_FORMAT = {"\n", "\t", ZWSP}


def _no_mentions_or_controls(out: str) -> None:
    for rx in MENTIONS:
        assert not rx.search(out), (rx.pattern, out)
    bad = [ch for ch in out if ch not in ALLOWED_FORMAT and unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co")]
    assert not bad, bad


@settings(FAST, max_examples=500)
@given(report_texts, st.one_of(st.none(), st.integers(1, 80)))
def test_inert_rendering(text, limit):
    tried("text.inert/inert_plain/inert_html")
    for fn in (inert, inert_plain):
        out = fn(text, limit=limit)
        _no_mentions_or_controls(out)
        if limit is not None:
            assert len(out.replace(ZWSP, "")) <= max(limit, 1) + out.count("\\")
    out = inert_html(text, limit=limit)
    _no_mentions_or_controls(html.unescape(out.replace("<br>", "\n")))
    assert not re.search(r"[<>\"]", out.replace("<br>", "")), out
    assert not re.search(r"&(?!(amp|lt|gt|quot|#x27);)", out), out


# -------------------------------------------------------------------------------------------- images
from safety_bot import media  # noqa: E402


def _samples() -> dict[str, bytes]:
    from PIL import Image

    out = {}
    im = Image.new("RGB", (40, 30))
    for x in range(40):
        for y in range(30):
            im.putpixel((x, y), (x * 6, y * 8, (x * y) % 256))
    for fmt in ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"):
        buf = io.BytesIO()
        try:
            im.save(buf, fmt)
        except (KeyError, OSError):
            continue
        out[fmt] = buf.getvalue()
    frames = [im.rotate(a) for a in (0, 90, 180)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    out["GIF animated"] = buf.getvalue()
    return out


SAMPLES = _samples()


@st.composite
def broken_images(draw):
    name = draw(st.sampled_from(sorted(SAMPLES)))
    data = bytearray(SAMPLES[name])
    how = draw(st.sampled_from(["truncate", "flip", "splice", "header+random", "random"]))
    if how == "truncate":
        return bytes(data[:draw(st.integers(0, len(data)))])
    if how == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        return bytes(data)
    if how == "splice":
        i = draw(st.integers(0, len(data)))
        return bytes(data[:i]) + draw(st.binary(max_size=64)) + bytes(data[i:])
    if how == "header+random":
        return bytes(data[:draw(st.integers(1, 64))]) + draw(st.binary(max_size=512))
    return draw(st.binary(max_size=2048))


@settings(FAST, max_examples=300)
@given(broken_images())
@example(b"")
@example(b"\x89PNG\r\n\x1a\n")
@example(b"GIF89a" + b"\xff\xff\xff\xff" + b"\x00" * 20)
def test_image_decoder_only_raises_media_error(data):
    tried("media.hash_image_bytes")
    try:
        h = media.hash_image_bytes(data, max_bytes=64 * 1024, max_pixels=4_000_000)
    except media.MediaError as exc:
        assert exc.reason in media.MEDIA_ERROR_REASONS
    else:
        assert h.sha256 and len(h.pdq) == 64


def test_the_sample_images_hash():
    assert len(SAMPLES) >= 4
    for data in SAMPLES.values():
        media.hash_image_bytes(data)
