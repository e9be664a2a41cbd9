"""Small problem dicts for the solver tests."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

# device counts per type (a, b, c) that the property tests draw from
COUNT_CHOICES = ((1, 1, 1), (2, 1, 0), (2, 2, 0), (3, 1, 0), (1, 0, 0), (2, 1, 1), (1, 1, 0))


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


def draw_tiny(draw, counts_choices=COUNT_CHOICES, rng_offset=0):
    """Inside a ``@st.composite``: a random tiny problem dict with up to 3 device types, one or two media (a
    random pair on the slower one), an optional source and sometimes integer-valued costs (exact ties are then
    common, which exercises the tie rules). Returns the dict and the rng the caller may use for more features."""
    L = draw(st.integers(1, 5))
    counts = draw(st.sampled_from(counts_choices))
    types = [t for t, c in zip("abc", counts) if c]
    counts = [c for c in counts if c]
    seed = draw(st.integers(0, 10_000))
    devices = [f"{t}{k}" for t, c in zip(types, counts) for k in range(c)]
    links = "m1"
    if draw(st.booleans()) and len(devices) > 1:
        i, j = draw(st.sampled_from([(i, j) for i in range(len(devices)) for j in range(i + 1, len(devices))]))
        links = {"default": "m1", "pairs": [[devices[i], devices[j], "m2"]]}
    source = draw(st.sampled_from([None] + devices))
    d = tiny(L=L, types=types, counts=counts, links=links, source=source, seed=seed)
    rng = np.random.default_rng(seed + rng_offset)
    if draw(st.booleans()):
        for t in types:
            d["device_types"][t]["time_s"] = rng.integers(1, 4, L).astype(float).tolist()
            d["device_types"][t]["energy_j"] = rng.integers(1, 4, L).astype(float).tolist()
    return d, rng


# a measured-looking time curve for the tiny problems' media (bandwidths 300 and 1000 B/s: messages of ~1 s)
CURVE = [[100.0, 0.05], [1000.0, 0.2], [5000.0, 0.4]]


def draw_media_extensions(draw, d, rng, shared=True, cpu=True, curve=True):
    """Inside a ``@st.composite``: make each of the tiny problem's media ``m1``, ``m2`` shared, give it the time
    curve ``CURVE`` and CPU costs for some device types, each at random (so every mix occurs, none included)."""
    types = list(d["device_types"])
    for name in ("m1", "m2"):
        m = d["media"][name]
        if shared and draw(st.booleans()):
            m["shared"] = True
        if curve and draw(st.booleans()):
            m["time_curve"] = CURVE
        if cpu and draw(st.booleans()):
            m["cpu"] = {t: {"send_s": float(rng.uniform(0, 0.5)), "recv_s_per_byte": float(rng.uniform(0, 1e-3)),
                            "recv_s": float(rng.uniform(0, 0.3))} for t in types if rng.random() < 0.7}
    return d
