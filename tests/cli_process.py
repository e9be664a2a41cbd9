"""The ``donna`` command as a subprocess of the tests: this checkout's package, errors captured as text."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DONNA = [sys.executable, "-m", "donna_core.cli"]


def donna_env(**extra: str) -> dict:
    """The environment of a ``donna`` subprocess: this one, with this checkout importable first."""
    return {**os.environ, "PYTHONPATH": str(REPO), **extra}


def run_donna(*args, env_extra: dict | None = None, cwd=None, timeout: float = 300,
              **kw) -> subprocess.CompletedProcess:
    """Run ``donna ARGS`` (each argument passed through ``str``) and return the finished process."""
    return subprocess.run(DONNA + [str(a) for a in args], capture_output=True, text=True,
                          env=donna_env(**(env_extra or {})), cwd=cwd, timeout=timeout, **kw)
