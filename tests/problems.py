"""Small problem dicts for the solver tests."""
from __future__ import annotations

import numpy as np


def tiny(L=3, types=("a", "b"), counts=(2, 1), links="m1", source=None, seed=0, memory=None):
    rng = np.random.default_rng(seed)
    d = {
        "name": f"tiny seed={seed}",
        "units": [{"name": f"u{i}", "out_bytes": float(rng.integers(1, 1000)),
                   "weight_bytes": float(rng.integers(1, 100))} for i in range(L)],
        "input_bytes": 700.0,
        "device_types": {t: {"time_s": rng.uniform(0.1, 2, L).tolist(), "energy_j": rng.uniform(0.1, 2, L).tolist()}
                         for t in types},
        "devices": [{"name": f"{t}{k}", "type": t} for t, c in zip(types, counts) for k in range(c)],
        "media": {"m1": {"bandwidth_Bps": 1000.0, "energy_J_per_bit": 1e-4},
                  "m2": {"bandwidth_Bps": 300.0, "energy_J_per_bit": 5e-4}},
        "links": links,
    }
    if source is not None:
        d["source"] = source
    if memory:
        for t, m in memory.items():
            d["device_types"][t]["memory_bytes"] = m
    return d
