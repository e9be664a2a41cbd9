"""Seeded synthetic problem dicts for solver benchmarks and size tests (not measurements of any device).

* :func:`random_problem`: L units with log-normal costs on three cpu/gpu/cim-like types, D devices;
  ``distinct_links=True`` gives every device pair its own medium (no two devices interchangeable, so the exact
  solver's count-vector space is ``2^D``);
* :func:`transformer_like`: L near-identical units (attention / MLP alternating) over ``n_classes`` device types
  of ``per_class`` devices each, one medium everywhere (the issue's "64 devices in 8 classes of 8").

All costs are **modelled** placeholders with plausible magnitudes; they exist to exercise the solvers.
"""
from __future__ import annotations

import numpy as np


def random_problem(L: int, D: int, seed: int, distinct_links: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    types = ["cpu", "gpu", "cim"]
    speed = {"cpu": 1.0, "gpu": 0.2, "cim": 3.0}
    power = {"cpu": 100.0, "gpu": 200.0, "cim": 1.0}
    dt = {}
    for t in types:
        base = rng.lognormal(-6, 1, L) * speed[t]
        dt[t] = {"time_s": base.tolist(), "energy_j": (base * power[t] * rng.uniform(0.5, 1.5, L)).tolist()}
    devices = [{"name": f"{types[i % 3]}{i // 3}", "type": types[i % 3]} for i in range(D)]
    d = {"name": f"random L={L} D={D} seed={seed}{' distinct links' if distinct_links else ''}",
         "units": [{"name": f"u{i}", "out_bytes": float(rng.integers(1e4, 2e6))} for i in range(L)],
         "input_bytes": 602112, "device_types": dt, "devices": devices, "links": "hb-wcc"}
    if distinct_links:
        media, pairs = {}, []
        for i in range(D):
            for j in range(i + 1, D):
                name = f"l{i}-{j}"
                media[name] = {"bandwidth_Bps": float(rng.uniform(0.5e9, 2e9)),
                               "energy_J_per_bit": float(rng.uniform(0.5e-7, 2e-7))}
                pairs.append([devices[i]["name"], devices[j]["name"], name])
        d["media"], d["links"] = media, {"pairs": pairs}
    return d


def transformer_like(L: int = 80, n_classes: int = 8, per_class: int = 8, seed: int = 0,
                     medium: str = "hb-wcc") -> dict:
    rng = np.random.default_rng(seed)
    # per unit: attention and MLP blocks alternate; each type has its own speed and power
    kind = np.arange(L) % 2
    base_t = np.where(kind == 0, 2.0e-3, 3.0e-3) * rng.uniform(0.97, 1.03, L)
    dt = {}
    for c in range(n_classes):
        speed = float(rng.uniform(0.3, 3.0))
        power = float(rng.uniform(5.0, 150.0))
        t = base_t * speed * rng.uniform(0.95, 1.05, L)
        dt[f"t{c}"] = {"time_s": t.tolist(), "energy_j": (t * power).tolist()}
    devices = [{"name": f"t{c}d{k}", "type": f"t{c}"} for c in range(n_classes) for k in range(per_class)]
    hidden = 128 * 768 * 4
    return {"name": f"transformer-like L={L} {n_classes}x{per_class} seed={seed}",
            "units": [{"name": f"blk{i // 2}.{'attn' if i % 2 == 0 else 'mlp'}", "out_bytes": float(hidden),
                       "weight_bytes": float(2.4e6 if i % 2 == 0 else 4.7e6)} for i in range(L)],
            "input_bytes": float(hidden), "device_types": dt, "devices": devices, "links": medium}
