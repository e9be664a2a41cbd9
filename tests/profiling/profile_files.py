"""A small profile (``Profile``) with known values, for the profiling tests."""
from __future__ import annotations

import math

import pandas as pd

from donna_core.profiling.profiles import Profile


def make_profile(model="toy", device_type="cpu-test", granularity="layer", n=3, energy=True, kind="measured"):
    meta = {"format": 1, "model": model, "device_type": device_type, "granularity": granularity, "n_units": n,
            "source_kind": kind, "source": "unit test", "energy_source": "rapl" if energy else "unavailable",
            "date": "2026-01-01T00:00:00+00:00", "threads": 1}
    rows = []
    for i in range(n):
        rows.append({"unit": f"u{i}", "kind": "conv" if i < n - 1 else "linear", "time_s": 0.001 * (i + 1) / 3,
                     "time_spread_s": 1e-5, "energy_j": 0.01 * (i + 1) if energy else math.nan,
                     "out_bytes": 1000 * (n - i), "weight_bytes": 40 * (i + 1), "macs": 12345 * (i + 1),
                     "in_h": 8, "in_w": 8, "in_c": 3, "k_h": 3, "k_w": 3, "out_c": 4, "stride": 1})
    df = pd.DataFrame(rows)
    if granularity == "block":
        df["layer_first"] = [2 * i for i in range(n)]
        df["layer_last"] = [2 * i + 1 for i in range(n)]
    return Profile(meta, df)
