"""The lean install: `make run` installs the runtime and the platform extras only; `make test` adds the
rest. Checked with make's dry run against a virtualenv folder that does not exist."""

import shutil
import subprocess

import pytest

from tests.harness import ROOT


def dry_run(target, tmp_path, *extra):
    if shutil.which("make") is None:
        pytest.fail("make is needed to run the project (it is what `make test` runs)")
    res = subprocess.run(["make", "-n", "-C", str(ROOT), target, f"VENV={tmp_path / 'venv'}", *extra],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return [line for line in res.stdout.splitlines() if "pip install" in line]


def test_make_run_installs_no_test_tools(tmp_path):
    [install] = dry_run("run", tmp_path)
    assert install.endswith('-e ".[discord,matrix,postgres]"') and "--upgrade" not in install
    [install] = dry_run("run", tmp_path, "RUN_EXTRAS=discord,matrix,postgres,media")
    assert '-e ".[discord,matrix,postgres,media]"' in install


def test_make_test_installs_everything(tmp_path):
    [install] = dry_run("test", tmp_path)
    assert '-e ".[discord,matrix,media,postgres,test]"' in install
