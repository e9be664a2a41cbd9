"""Where the repository's data, outputs and NeuroSim runs live: the one home for every path.

Each path can be moved with an environment variable, so that a user can point every command, notebook and script
at their own copy without editing code: ``DONNA_ROOT`` moves them all, and the specific ones below move one.
Nothing here touches the disk; callers create what they write.
"""
from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
# where the donna_core package itself lives (stage processes import it from here); not movable
CODE_ROOT: Path = _REPO


def _path(env: str, default: Path) -> Path:
    value = os.environ.get(env)
    return Path(value).expanduser() if value else default


ROOT: Path = _path("DONNA_ROOT", _REPO)
DATA: Path = _path("DONNA_DATA", ROOT / "data")
PROBLEMS: Path = DATA / "problems"
VALIDATION: Path = _path("DONNA_VALIDATION", DATA / "validation")
FIGURES: Path = _path("DONNA_FIGURES", ROOT / "figures")
REPORTS: Path = _path("DONNA_REPORTS", ROOT / "reports")
NOTEBOOKS: Path = ROOT / "notebooks"
NEUROSIM_RUNS: Path = ROOT / "neurosim_runs"


def profiles_root() -> Path:
    """Per-unit profiles: ``$DONNA_PROFILES``, else ``data/profiles`` (read at call time, so a test or a user's
    shell can set it after import)."""
    return _path("DONNA_PROFILES", DATA / "profiles")


# Environment `make figures` computes in. numpy's OpenBLAS picks its kernels for the host's CPU, and a
# least-squares fit (the CIM estimator's) then moves in the 12th digit from host to host; with the baseline
# x86-64 kernel everywhere, every host computes the same bits.
REPRODUCIBLE_ENV: dict[str, str] = {"OPENBLAS_CORETYPE": "Prescott"}
