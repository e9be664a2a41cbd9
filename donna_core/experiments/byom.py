"""What notebook 09 (bring your own model) calls: the ``donna`` command as a subprocess, and small tables."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from .. import config

REPO = config.ROOT


def donna(*args, profiles: str | os.PathLike | None = None, timeout_s: float = 1800) -> str:
    """Run ``donna ARGS`` with this interpreter and this checkout; return stdout, raise with its stderr line."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if profiles is not None:
        env["DONNA_PROFILES"] = str(profiles)
    r = subprocess.run([sys.executable, "-m", "donna_core.cli", *map(str, args)], capture_output=True, text=True,
                       env=env, timeout=timeout_s)
    if r.returncode != 0:
        raise RuntimeError(f"donna {' '.join(map(str, args))}: exit {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def run_comparison(result_json: str | os.PathLike) -> pd.DataFrame:
    """Predicted vs measured throughput of a ``donna run`` result file."""
    res = json.loads(Path(result_json).read_text())
    p, m = res["predicted"], res["measured"]
    return pd.DataFrame([{"quantity": "throughput (inf/s)", "predicted": p["throughput_ips"],
                          "measured": m["throughput_ips"],
                          "error": m["throughput_ips"] / p["throughput_ips"] - 1}])


def folders(profiles: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """(profile root, work folder): ``profiles`` or a fresh temporary folder, and a fresh temporary work folder."""
    import tempfile

    root = Path(profiles) if profiles else Path(tempfile.mkdtemp(prefix="donna-byom-"))
    return root, Path(tempfile.mkdtemp(prefix="donna-byom-run-"))
