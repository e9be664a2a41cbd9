"""Hostile inputs held in tests/data/hostile (index: its README.md): each runs as a `donna` subprocess and must
end with its documented exit code and one clear line (or the right answer), never a traceback."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from cli_process import run_donna

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "tests" / "data" / "hostile"
CASES = json.loads((HOSTILE / "cases.json").read_text())


def donna(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return run_donna(*argv, timeout=timeout, stdin=subprocess.DEVNULL)


def _fill(s: str, tmp: Path) -> str:
    return s.replace("{H}", str(HOSTILE)).replace("{R}", str(ROOT)).replace("{T}", str(tmp))


@pytest.mark.parametrize("case", CASES, ids=[c["case"][:50] for c in CASES])
def test_hostile_case(case, tmp_path):
    fifo = _fill(case["fifo"], tmp_path) if "fifo" in case else None
    if fifo:
        os.mkfifo(fifo)     # git cannot hold a FIFO; made here, removed below
    try:
        r = donna([_fill(a, tmp_path) for a in case["argv"]])
    finally:
        if fifo:
            os.unlink(fifo)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == case["exit"], (r.returncode, r.stderr)
    if "stderr" in case:
        assert case["stderr"] in r.stderr, r.stderr
    if "stdout" in case:
        assert case["stdout"] in r.stdout, r.stdout
    if case["exit"] != 0:
        assert r.stderr.count("\n") == 1, r.stderr     # one line
    # nothing that drives a terminal reaches it: no ESC, BEL, CR or bidi override, whatever the input held
    for stream in (r.stdout, r.stderr):
        assert not any(c in stream for c in "\x1b\x07\r\u202e"), repr(stream)


def test_every_case_is_indexed_in_the_readme():
    readme = (HOSTILE / "README.md").read_text()
    for c in CASES:
        assert c["case"] in readme, c["case"]
