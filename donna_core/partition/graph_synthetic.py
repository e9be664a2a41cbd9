"""Seeded synthetic graph problems for the graph solver benchmark and tests (not measurements of any device).

* :func:`ws_dag`: a randomly-wired DAG as in RandWire (Xie et al. 2019): a Watts-Strogatz ring lattice
  (each node joined to its ``k`` nearest neighbours, each edge rewired with probability ``p``), every edge
  oriented from the lower to the higher node index;
* :func:`inception_like`: a GoogLeNet-shaped DAG: a stem chain, ``modules`` inception blocks of four parallel
  branches (1, 2, 2 and 2 units) joined by a concat unit, and a head chain;
* :func:`graph_problem`: a problem dict over such edges with log-normal unit costs on cpu/gpu/cim-like types
  (the magnitudes of :mod:`.synthetic`), activation-sized edges, and ``devices`` as ``{type: count}``.

All costs are **modelled** placeholders with plausible magnitudes; they exist to exercise the solvers.
"""
from __future__ import annotations

import numpy as np

SPEED = {"cpu": 1.0, "gpu": 0.2, "cim": 0.6}
POWER = {"cpu": 100.0, "gpu": 200.0, "cim": 5.0}


def ws_dag(n: int, k: int = 4, p: float = 0.75, seed: int = 0) -> list[tuple[int, int]]:
    rng = np.random.default_rng(seed)
    edges = set()
    for i in range(n):
        for j in range(1, k // 2 + 1):
            edges.add((i, (i + j) % n))
    out = set()
    for (i, j) in sorted(edges):
        if rng.random() < p:
            choices = [t for t in range(n) if t != i and (min(i, t), max(i, t)) not in out]
            if choices:
                j = int(rng.choice(choices))
        out.add((min(i, j), max(i, j)))
    return sorted(out)


def inception_like(modules: int = 9, stem: int = 4, head: int = 2) -> list[tuple[int, int]]:
    edges, n = [], 0
    for _ in range(stem - 1):
        edges.append((n, n + 1))
        n += 1
    last = n
    for _ in range(modules):
        ends = []
        nxt = last + 1
        for length in (1, 2, 2, 2):
            prev = last
            for _ in range(length):
                edges.append((prev, nxt))
                prev, nxt = nxt, nxt + 1
            ends.append(prev)
        concat = nxt
        edges += [(e, concat) for e in ends]
        last = concat
    for _ in range(head):
        edges.append((last, last + 1))
        last += 1
    return edges


def graph_problem(edges: list[tuple[int, int]], devices: dict[str, int], seed: int = 0, medium: str = "pcie5",
                  name: str = "synthetic graph", cim_memory_share: float | None = None) -> dict:
    rng = np.random.default_rng(seed)
    L = 1 + max(max(e) for e in edges)
    dt = {}
    base = rng.lognormal(-6, 1, L)
    weights = rng.lognormal(13, 1, L)
    for t in devices:
        tt = base * SPEED[t] * rng.uniform(0.5, 1.5, L)
        dt[t] = {"time_s": tt.tolist(), "energy_j": (tt * POWER[t] * rng.uniform(0.5, 1.5, L)).tolist()}
    if cim_memory_share and "cim" in dt:
        dt["cim"]["memory_bytes"] = float(weights.sum() * cim_memory_share)
    devs = [{"name": f"{t}{i}", "type": t} for t, c in devices.items() for i in range(c)]
    return {"name": name, "units": [{"name": f"n{i}", "weight_bytes": float(weights[i])} for i in range(L)],
            "edges": [[int(u), int(v), float(rng.integers(1e4, 2e6))] for u, v in edges],
            "input_bytes": 602112.0, "device_types": dt, "devices": devs, "links": medium,
            "source": devs[0]["name"], "meta": {"provenance": "modelled: synthetic placeholder costs, "
                                                 "donna_core.partition.graph_synthetic"}}
