"""Solver entry points: ``solve(problem, alpha, solver)`` and ``pareto_front(problem)``.

Every returned :class:`~donna_core.partition.costs.Result` is re-evaluated from its plan with
:func:`donna_core.partition.costs.evaluate`, so the numbers reported by both solvers come from one cost model.
"""
from __future__ import annotations

import time

from .costs import Result, Tables, check_alpha, evaluate, norm_constants, objective
from .exact import (TIE_RTOL, InfeasibleError, SolverContext, front_bound, known_staircase, min_bottleneck_then_energy,
                    min_energy_then_bottleneck, objective_bound, pareto_labels)
from .paper_dp import paper_partition
from .problem import Problem

SOLVERS = ("exact", "paper")

__all__ = ["solve", "pareto_front", "InfeasibleError", "SOLVERS"]


def _result(p: Problem, plan, alpha, solver, tb, norm, t0, **stats) -> Result:
    r = evaluate(p, plan, alpha, solver, tables=tb, norm=norm)
    r.stats = {"solve_s": time.perf_counter() - t0, **stats}
    return r


def solve(p: Problem, alpha: float, solver: str = "exact") -> Result:
    """Best plan for the alpha-weighted objective (see :mod:`donna_core.partition.costs` for the model and the norms)."""
    alpha = check_alpha(alpha)
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {list(SOLVERS)}")
    t0 = time.perf_counter()
    tb, norm = Tables(p), norm_constants(p)
    if solver == "paper":
        return _result(p, paper_partition(tb, alpha, norm), alpha, solver, tb, norm, t0)
    ctx = SolverContext(tb)
    if alpha == 1.0:
        return _result(p, min_bottleneck_then_energy(tb, ctx), alpha, solver, tb, norm, t0)
    if alpha == 0.0:
        return _result(p, min_energy_then_bottleneck(tb, ctx), alpha, solver, tb, norm, t0)
    # the alpha = 1 and alpha = 0 optima are cheap; the better of them bounds the search for the true optimum
    ub = min(evaluate(p, plan, alpha, tables=tb, norm=norm).objective
             for plan in (min_bottleneck_then_energy(tb, ctx), min_energy_then_bottleneck(tb, ctx)))
    front, n_labels = pareto_labels(tb, ctx, objective_bound(alpha, norm, ub))
    # front points have distinct (B, E); stage count and device order were settled inside each point
    obj = [objective(alpha, b, e, norm) for b, e, _ in front]
    lo = min(obj)
    ties = [i for i in range(len(front)) if obj[i] <= lo + TIE_RTOL * abs(lo)]
    best = min(ties, key=lambda i: (len(front[i][2]), [d for d, _, _ in front[i][2]], obj[i]))
    return _result(p, front[best][2], alpha, solver, tb, norm, t0, front_size=len(front), labels=n_labels)


def pareto_front(p: Problem) -> list[Result]:
    """The exact Pareto front of (bottleneck, energy): bottleneck ascending, energy strictly descending."""
    t0 = time.perf_counter()
    tb, norm = Tables(p), norm_constants(p)
    ctx = SolverContext(tb)
    fast = evaluate(p, min_bottleneck_then_energy(tb, ctx), tables=tb, norm=norm)
    frugal = evaluate(p, min_energy_then_bottleneck(tb, ctx), tables=tb, norm=norm)
    stairs = known_staircase(ctx, fast.bottleneck_s, frugal.bottleneck_s)
    front, _ = pareto_labels(tb, ctx, front_bound(frugal.bottleneck_s, fast.energy_j, stairs))
    return [_result(p, plan, 1.0, "exact-front", tb, norm, t0) for _, _, plan in front]
