"""config.yaml marks some keys "required". Leaving one out is refused with the file, the line and the key
path, like any other bad value, never accepted with an empty default (a console community without a
safety team would have nobody to receive its cases)."""

import pytest

from safety_bot.config import DataFileError, load_config


def test_a_console_community_without_moderators_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("console:\n  communities:\n    - id: solo\n      members: [alice]\n")
    with pytest.raises(DataFileError) as err:
        load_config(path, env={})
    assert f"{path}:3: console.communities[0].moderators:" in str(err.value)


def test_an_empty_safety_team_is_refused_too(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("console:\n  communities:\n    - id: solo\n      members: [alice]\n      moderators: []\n")
    with pytest.raises(DataFileError) as err:
        load_config(path, env={})
    assert "console.communities[0].moderators" in str(err.value)


def test_a_community_with_its_team_loads(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("console:\n  communities:\n    - id: solo\n      members: [alice]\n      moderators: [mia]\n")
    assert load_config(path, env={}).console.communities[0].moderators == ["mia"]
