"""Start-up: ``donna --help``, ``donna solve`` and ``donna pareto`` import neither torch nor
pandas. Each command runs in a fresh interpreter, which then lists the heavy modules it loaded."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from problems import tiny

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "pandas", "matplotlib", "donna_core.profiling.models")

PROBE = """
import contextlib, io, json, sys
from donna_core.cli.main import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "heavy": [m for m in %r if m in sys.modules]}))
""" % (HEAVY,)


def loaded_after(*args):
    r = subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["--help"], ["solve", "--help"], ["profile", "--help"], ["solve", "P"],
                                  ["solve", "P", "--alpha", "0.5", "--json"], ["solve", "P", "--solver", "paper"],
                                  ["pareto", "P", "--json"]])
def test_commands_import_neither_torch_nor_pandas(tmp_path, args):
    f = tmp_path / "p.json"
    f.write_text(json.dumps(tiny(L=4, counts=(2, 1))))
    out = loaded_after(*[f if a == "P" else a for a in args])
    assert out["code"] == 0
    assert out["heavy"] == []


def test_the_probe_sees_heavy_imports(tmp_path):
    """The check above can fail: `donna problem` reads profiles with pandas, and the probe reports it."""
    out = loaded_after("problem", "--model", "vgg8", "--cluster", "2cpu", "--medium", "pcie5",
                       "-o", tmp_path / "p.json")
    assert out["code"] == 0 and "pandas" in out["heavy"]
