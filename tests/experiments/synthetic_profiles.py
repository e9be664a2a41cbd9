"""Seeded synthetic layer profiles in the project's profile format, for the experiments' tests."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from donna_core.experiments import scenario_profiles as sp

SYNTH_FILES = {"cpu": "cpu-xeon-w3323", "gpu": "gpu-rtx3070ti", "cim": "cim"}
SOURCE_KIND = {"cpu": "modelled", "gpu": "modelled", "cim": "simulated"}


def write_synthetic_profiles(root: Path, models=("toya", "toyb"), n_units=(7, 4), seed=0) -> Path:
    """Write layer profiles for each model and device type in the project's profile format; return root.

    Shapes only loosely follow the paper (GPU fast, CIM frugal and slow except the last layers); the values
    are random draws, not calibrated numbers.
    """
    rng = np.random.default_rng(seed)
    for model, L in zip(models, n_units):
        out_bytes = rng.integers(2_000, 400_000, size=L)
        out_bytes[-1] = 40
        weight = rng.integers(1_000, 100_000, size=L)
        macs = rng.integers(1e6, 1e8, size=L)
        base = rng.uniform(1e-3, 1e-2, size=L)
        scale = {"gpu": (0.1, 0.5), "cpu": (1.0, 10.0), "cim": (3.0, 0.02)}  # (time factor, energy per s factor)
        for role, dtype in SYNTH_FILES.items():
            tf, ef = scale[role]
            t = base * tf * rng.uniform(0.5, 1.5, size=L)
            if role == "cim":
                t[-2:] = base[-2:] * 0.01  # CIM fast on the final FC-like layers
            e = t * ef * 100 * rng.uniform(0.5, 1.5, size=L)
            meta = {"format": 1, "model": model, "device_type": dtype, "granularity": "layer", "n_units": L,
                    "source_kind": SOURCE_KIND[role], "source": f"synthetic test data (seed {seed})",
                    "energy_source": "model", "date": "2026-01-01"}
            df = pd.DataFrame({
                "unit": [f"u{i}" for i in range(L)], "kind": ["conv"] * (L - 1) + ["linear"],
                "time_s": t, "time_spread_s": np.nan, "energy_j": e, "out_bytes": out_bytes,
                "weight_bytes": weight, "macs": macs,
                "in_h": [8] + [np.nan] * (L - 1), "in_w": [8] + [np.nan] * (L - 1),
                "in_c": [3] + [np.nan] * (L - 1), "k_h": 3, "k_w": 3, "out_c": 16, "stride": 1})
            path = sp.profile_path(model, dtype, "layer", root)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("# donna-profile " + json.dumps(meta) + "\n" + df.to_csv(index=False))
    return root
