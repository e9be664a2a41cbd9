"""Brute-force enumeration of every plan of a small problem: the reference the solvers are tested against.

:func:`reference_cost` recomputes a plan's cost straight from the problem dict (no prefix sums, no
``Tables``), so ``evaluate`` itself is checked against an independent reading of the cost model.
"""
from __future__ import annotations

import itertools

from donna_core.partition.costs import PlanError, evaluate
from donna_core.partition.media import MEDIA_PRESETS, canonical_medium_name


def all_plans(p):
    """Every valid plan (ordered distinct devices x compositions of the units), memory limits and per-unit
    eligibility (``allowed``) applied by ``evaluate``."""
    L, D = p.L, p.D
    for n in range(1, min(D, L) + 1):
        for cuts in itertools.combinations(range(1, L), n - 1):
            bounds = (0,) + cuts + (L,)
            for devs in itertools.permutations(range(D), n):
                plan = [(devs[i], bounds[i], bounds[i + 1] - 1) for i in range(n)]
                try:
                    yield plan, evaluate(p, plan)
                except PlanError:
                    continue


def brute_front(p):
    """Exact (B, E) Pareto points, B ascending and E strictly descending (energies equal to 12 significant
    digits are one point, as in the solver)."""
    pts = sorted({(r.bottleneck_s, r.energy_j) for _, r in all_plans(p)})
    front, best = [], float("inf")
    for b, e in pts:
        if best == float("inf") or e < best - 1e-12 * abs(best):
            front.append((b, e))
            best = e
    return front


def brute_best_objective(p, alpha):
    from donna_core.partition.costs import norm_constants, objective
    norm = norm_constants(p)
    return min(objective(alpha, r.bottleneck_s, r.energy_j, norm) for _, r in all_plans(p))


def _medium(d, a, b):
    links = d["links"]
    name = links if isinstance(links, str) else links.get("default")
    if not isinstance(links, str):
        for x, y, m in links.get("pairs", []):
            if {x, y} == {a, b}:
                name = m
    name = canonical_medium_name(name)
    given = {canonical_medium_name(k): v for k, v in d.get("media", {}).items()}
    if name in given:
        m = given[name]
        return m["bandwidth_Bps"], m["energy_J_per_bit"], m.get("latency_s", 0.0)
    m = MEDIA_PRESETS[name]
    return m.bandwidth_Bps, m.energy_J_per_bit, m.latency_s


def reference_cost(d, plan):
    """(bottleneck, energy) of ``plan`` = [(device name, first, last), ...] read directly from the dict, or None
    when a stage exceeds the memory or holds a unit its type may not run."""
    types = {dev["name"]: dev["type"] for dev in d["devices"]}
    parts, energy = [], 0.0
    src = d.get("source")
    if src is not None and src != plan[0][0]:
        bw, epb, lat = _medium(d, src, plan[0][0])
        nbytes = d.get("input_bytes", 0.0)
        parts.append(lat + nbytes / bw)
        energy += 8 * nbytes * epb
    for n, (dev, first, last) in enumerate(plan):
        spec = d["device_types"][types[dev]]
        units = range(first, last + 1)
        if not all(spec.get("allowed", [True] * len(d["units"]))[l] for l in units):
            return None
        if sum(d["units"][l].get("weight_bytes", 0.0) for l in units) > spec.get("memory_bytes", float("inf")):
            return None
        parts.append(sum(spec["time_s"][l] for l in units))
        energy += sum(spec["energy_j"][l] for l in units)
        if n + 1 < len(plan):
            bw, epb, lat = _medium(d, dev, plan[n + 1][0])
            nbytes = d["units"][last]["out_bytes"]
            parts.append(lat + nbytes / bw)
            energy += 8 * nbytes * epb
    return max(parts), energy
