"""The one writer of the tracked result tables under ``figures/data/``: CSV, atomic, floats at a stated
precision, so a rerun on any machine gives the same bytes."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..atomic import write_text_atomic

# Significant digits of every float in a result table. Full precision (17) made reruns on another machine differ
# in the last digits (summation order, libm); 12 digits hide that noise and stay far finer than any tolerance
# applied to re-read tables (the claims report's same-point test: 1e-9 relative).
TABLE_DIGITS = 12


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a result table as CSV atomically, floats rounded to :data:`TABLE_DIGITS` significant digits: the one
    writer of the tracked tables under ``figures/data/``, so a rerun anywhere gives the same bytes."""
    return write_text_atomic(path, df.to_csv(index=False, float_format=f"%.{TABLE_DIGITS}g", lineterminator="\n"))
