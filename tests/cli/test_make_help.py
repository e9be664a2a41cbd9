"""``make help`` lists every entry point of the Makefile, one line each."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")
def test_make_help_lists_every_target():
    targets = re.findall(r"^([a-z]+):", (REPO / "Makefile").read_text(), re.M)
    out = subprocess.run(["make", "-s", "help"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    listed = re.findall(r"^  make (\S+) +\S", out, re.M)
    assert sorted(listed) == sorted(targets) and len(out.splitlines()) == len(targets)
