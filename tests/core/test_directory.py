"""The resource directory: every listed country has what a frightened member needs (issue 14, item 4)."""

import re
import shutil
import subprocess
import sys

import pytest

from safety_bot.directory import KINDS, kinds_of
from safety_bot.playbooks import load_library
from safety_bot.yamlio import DataFileError
from tests.harness import ROOT, write_config

LIB = load_library(ROOT / "playbooks")
COUNTRIES = sorted({r.region for r in LIB.resources if r.region != "global"})
CLI = [sys.executable, "-m", "safety_bot.cli"]


def test_the_reference_countries_are_all_listed():
    assert COUNTRIES == sorted(["US", "GB", "CA", "AU", "DE", "FR", "ES", "NL", "IE", "IN", "BR", "NZ"])


@pytest.mark.parametrize("country", COUNTRIES)
def test_each_country_has_every_required_kind(country):
    kinds = set()
    for r in LIB.resources:
        if r.region == country:
            kinds |= kinds_of(r)
        elif r.region == "global" and not r.only_without_country:
            kinds |= kinds_of(r) & {"image_removal_adult", "image_removal_minor"}
    assert kinds >= set(KINDS)
    # the crisis and child lines are local and have a number
    assert any("crisis" in kinds_of(r) for r in LIB.resources if r.region == country)
    assert any("child_line" in kinds_of(r) for r in LIB.resources if r.region == country)


def test_no_country_known_gets_international_lines_with_numbers():
    numbered = [r for r in LIB.resources if r.region == "global" and r.has_number and "crisis" in r.helps_with]
    assert {r.phone for r in numbered} >= {"116 123", "116 111"}


def test_abuse_material_directories_are_never_offered_to_victims():
    inhope = next(r for r in LIB.resources if r.id == "inhope")
    assert set(inhope.audiences) <= {"moderator", "bystander"}


def test_nothing_the_reference_marks_unconfirmed_is_shipped():
    text = (ROOT / "playbooks" / "resources.yaml").read_text()
    for unconfirmed in ("844-878-2274", "878-2274", "1-800-422-4453", "422-4453", "ic3.gov", "childline.org.uk/remove",
                        "findahelpline", "0508 638 723", "638 723", "Childhelp"):
        assert unconfirmed not in text
    assert not re.search(r"text\W+4357", text)


def test_report_remove_links_to_the_tool_not_the_home_page():
    rr = next(r for r in LIB.resources if r.id == "gb-report-remove")
    assert rr.url.endswith("/report-remove/")


def test_another_app_section_has_the_six_apps():
    assert {a.id for a in LIB.apps} == {"snapchat", "instagram", "tiktok", "telegram", "whatsapp", "discord"}


def _copy(tmp_path):
    folder = tmp_path / "playbooks"
    shutil.copytree(ROOT / "playbooks", folder)
    return folder


def _drop_entry(folder, rid):
    text = (folder / "resources.yaml").read_text()
    start = text.index(f"  - id: {rid}\n")
    end = text.index("\n  - id:", start + 1)
    (folder / "resources.yaml").write_text(text[:start] + text[end + 1:])


def test_a_country_missing_a_crisis_line_fails_at_load_with_file_and_line(tmp_path):
    folder = _copy(tmp_path)
    _drop_entry(folder, "de-telefonseelsorge")
    with pytest.raises(DataFileError) as err:
        load_library(folder)
    msg = str(err.value)
    assert re.search(r"resources\.yaml:\d+: resources\[\d+\]\.region: DE has no crisis entry", msg)


def test_check_config_fails_a_directory_missing_a_kind(tmp_path):
    folder = _copy(tmp_path)
    _drop_entry(folder, "nl-politie")
    cfg = write_config(tmp_path, {"playbooks": str(folder)})
    res = subprocess.run([*CLI, "check-config", "--config", str(cfg)], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode != 0 and "NL has no report entry" in res.stderr
