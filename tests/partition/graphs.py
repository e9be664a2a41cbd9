"""Random small graph problems for the graph solver property tests."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from problems import tiny

# device counts per type (a, b, c): at most 3 types, at most 4 devices
GRAPH_COUNTS = ((1, 1, 1), (2, 1, 0), (2, 1, 1), (1, 1, 0), (1, 0, 0), (2, 2, 0))


def graph_dict(L, counts, seed, source_pick=0, p_edge=0.4, int_costs=False, memory=False, links_pair=False):
    types = [t for t, c in zip("abc", counts) if c]
    cs = [c for c in counts if c]
    devices = [f"{t}{k}" for t, c in zip(types, cs) for k in range(c)]
    links = {"default": "m1", "pairs": [[devices[0], devices[-1], "m2"]]} if links_pair and len(devices) > 1 else "m1"
    source = ([None] + devices)[source_pick % (len(devices) + 1)]
    d = tiny(L=L, types=types, counts=cs, links=links, source=source, seed=seed)
    rng = np.random.default_rng(seed + 7)
    if int_costs:
        for t in types:
            d["device_types"][t]["time_s"] = rng.integers(1, 4, L).astype(float).tolist()
            d["device_types"][t]["energy_j"] = rng.integers(1, 4, L).astype(float).tolist()
    d["edges"] = [[u, v, float(rng.choice([0, 100, 200, rng.integers(1, 1000)]))]
                  for u in range(L) for v in range(u + 1, L) if rng.random() < p_edge]
    for u in d["units"]:
        if rng.random() < 0.5:
            del u["out_bytes"]          # optional with edges
    if memory and len(types) > 1:
        d["device_types"][types[0]]["memory_bytes"] = float(sum(u["weight_bytes"] for u in d["units"]) / 2 + 1)
        if rng.random() < 0.5:
            d["device_types"][types[-1]]["allowed"] = [bool(x) for x in rng.random(L) < 0.7]
            d["device_types"][types[0]]["allowed"] = [True] * L
    return d


@st.composite
def graph_problems(draw, max_units=8, counts=GRAPH_COUNTS):
    L = draw(st.integers(1, max_units))
    return graph_dict(L, draw(st.sampled_from(counts)), draw(st.integers(0, 10_000)),
                      source_pick=draw(st.integers(0, 4)), p_edge=draw(st.sampled_from([0.2, 0.4, 0.7])),
                      int_costs=draw(st.booleans()), memory=draw(st.booleans()), links_pair=draw(st.booleans()))
