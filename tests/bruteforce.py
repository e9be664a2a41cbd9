"""Brute-force enumeration of every plan of a small problem: the reference the solvers are tested against."""
from __future__ import annotations

import itertools

from donna_core.partition.costs import PlanError, evaluate


def all_plans(p):
    """Every valid plan (ordered distinct devices x compositions of the units), memory limits applied."""
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
