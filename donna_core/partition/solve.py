"""Solver entry points: ``solve(problem, alpha, solver)`` and ``pareto_front(problem)``.

Every returned :class:`~donna_core.partition.costs.Result` is re-evaluated from its plan with
:func:`donna_core.partition.costs.evaluate`, so the numbers reported by every solver come from one cost model.

Solvers: ``exact`` (optimal, :mod:`.exact`), ``paper`` (Algorithm 1, :mod:`.paper_dp`), ``bounded`` (a plan
and a certified lower bound within ``time_limit_s``, :mod:`.bounded`) and ``auto``. Before allocating, each
solver's size is checked against the memory budget (:mod:`.guard`); ``exact`` and ``paper`` refuse with a
:class:`~donna_core.partition.guard.SolverSizeError` (one line: the size and what to do). **``auto``** runs
``exact`` when its estimate fits the budget and the search stays within it, otherwise ``bounded`` with the
same time limit, and says so in ``stats["fallback"]``. Every solver result's ``to_dict()`` has ``gap`` (the
relative distance from the certified lower bound: 0 for ``exact``, null for ``paper`` at 0 < alpha < 1).
"""
from __future__ import annotations

import math
import time

import numpy as np
from dataclasses import fields

from . import guard
from .bounded import bounded_solve
from .costs import Result, Tables, check_alpha, evaluate, norm_constants, objective
from .exact import (TIE_RTOL, InfeasibleError, SolverContext, front_bound, known_staircase, min_bottleneck_then_energy,
                    min_energy_then_bottleneck, objective_bound, pareto_labels, weighted_plan)
from .guard import SolverSizeError
from .paper_dp import paper_partition
from .problem import Problem

SOLVERS = ("exact", "paper", "bounded", "auto")

__all__ = ["solve", "pareto_front", "InfeasibleError", "SolverSizeError", "SOLVERS", "SolverResult"]


class SolverResult(Result):
    """A :class:`Result` returned by a solver: ``to_dict()`` also reports ``gap``, the certified relative
    distance to the optimum: 0 for ``exact``, the bound's gap for ``bounded``, ``None`` (JSON null) for
    ``paper``, which has no bound (it is exact only at alpha in {0, 1})."""

    def to_dict(self) -> dict:
        d = super().to_dict()
        gap = self.stats.get("gap")
        d["gap"] = None if gap is None else float(gap)
        return d


def _result(p: Problem, plan, alpha, solver, tb, norm, t0, **stats) -> SolverResult:
    r = evaluate(p, plan, alpha, solver, tables=tb, norm=norm)
    out = SolverResult(**{f.name: getattr(r, f.name) for f in fields(Result)})
    out.stats = {"solve_s": time.perf_counter() - t0, **stats}
    return out


def _check_time_limit(t) -> float:
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not (t > 0 and math.isfinite(t)):
        raise ValueError(f"time limit must be a positive number of seconds, got {t!r}")
    return float(t)


def solve(p: Problem, alpha: float, solver: str = "exact", *, time_limit_s: float = 60.0,
          memory_budget: int | str | None = None) -> SolverResult:
    """Best plan for the alpha-weighted objective (see :mod:`donna_core.partition.costs` for the model and the norms).

    ``time_limit_s`` bounds the ``bounded`` solver (and ``auto`` when it falls back); ``memory_budget`` (bytes,
    or a string such as ``"4G"``) overrides the default budget of :func:`donna_core.partition.guard.memory_budget`.
    """
    alpha = check_alpha(alpha)
    _refuse_graph(p)
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {list(SOLVERS)}")
    time_limit_s = _check_time_limit(time_limit_s)
    budget = guard.memory_budget(memory_budget)
    t0 = time.perf_counter()
    tb, norm = Tables(p), norm_constants(p)
    if solver == "paper":
        guard.check(p, alpha, "paper", budget)
        # the paper's DP is exact at alpha in {0, 1} (tested against exact); otherwise it certifies nothing
        gap = 0.0 if alpha in (0.0, 1.0) else None
        return _result(p, paper_partition(tb, alpha, norm), alpha, solver, tb, norm, t0, gap=gap)
    if solver == "bounded":
        guard.check(p, alpha, "bounded", budget)
        return _bounded(p, alpha, tb, norm, t0, time_limit_s)
    try:
        guard.check(p, alpha, "exact", budget)
        return _exact(p, alpha, tb, norm, t0, budget)
    except SolverSizeError as exc:
        if solver != "auto":
            raise
        guard.check(p, alpha, "bounded", budget)
        r = _bounded(p, alpha, tb, norm, t0, time_limit_s)
        r.stats["fallback"] = f"exact refused ({exc}); used bounded"
        return r


def _refuse_graph(p: Problem) -> None:
    """A problem with edges has its own cost model; the chain solvers would silently cost it as a chain."""
    if p.graph is not None:
        raise ValueError(f"{p.name!r} is a graph problem (it has 'edges'): use graph_solve.solve_graph / "
                         "graph_pareto")


def _bounded(p, alpha, tb, norm, t0, time_limit_s) -> SolverResult:
    plan, stats = bounded_solve(tb, alpha, norm, time_limit_s=time_limit_s)
    return _result(p, plan, alpha, "bounded", tb, norm, t0, **stats)


def _exact(p, alpha, tb, norm, t0, budget) -> SolverResult:
    ctx = SolverContext(tb)
    if alpha == 1.0:
        return _result(p, min_bottleneck_then_energy(tb, ctx), alpha, "exact", tb, norm, t0, gap=0.0)
    if alpha == 0.0:
        return _result(p, min_energy_then_bottleneck(tb, ctx), alpha, "exact", tb, norm, t0, gap=0.0)
    # the alpha = 1 and alpha = 0 optima are cheap; the better of them bounds the search for the true optimum
    # (plus one alpha-weighted scalar DP, usually within a few per cent of the optimum: a tighter bound)
    fast = evaluate(p, min_bottleneck_then_energy(tb, ctx), alpha, tables=tb, norm=norm)
    others = (min_energy_then_bottleneck(tb, ctx), weighted_plan(tb, ctx, alpha, norm))
    ub = min([fast.objective] + [evaluate(p, plan, alpha, tables=tb, norm=norm).objective for plan in others])
    bound = objective_bound(alpha, norm, ub)
    # a joint (bottleneck, energy) completion bound over a few bottleneck thresholds between the fastest
    # plan's bottleneck and the bottleneck the limit allows with zero energy
    b_lo = float(fast.bottleneck_s)
    b_hi = ub * norm["time_s"] / alpha
    if b_hi > b_lo > 0:
        thetas = np.geomspace(b_lo, b_hi, guard.N_THETAS)
        bound.set_completion(thetas, ctx.energy_under(thetas), ctx.e_rest_r)
    front, n_labels = pareto_labels(tb, ctx, bound, budget=budget)
    # front points have distinct (B, E); stage count and device order were settled inside each point
    obj = [objective(alpha, b, e, norm) for b, e, _ in front]
    lo = min(obj)
    ties = [i for i in range(len(front)) if obj[i] <= lo + TIE_RTOL * abs(lo)]
    best = min(ties, key=lambda i: (len(front[i][2]), [d for d, _, _ in front[i][2]], obj[i]))
    return _result(p, front[best][2], alpha, "exact", tb, norm, t0, front_size=len(front), labels=n_labels,
                   gap=0.0)


def pareto_front(p: Problem, *, memory_budget: int | str | None = None) -> list[SolverResult]:
    """The exact Pareto front of (bottleneck, energy): bottleneck ascending, energy strictly descending.
    Refuses with :class:`SolverSizeError` above the memory budget (the front has no bounded mode)."""
    _refuse_graph(p)
    budget = guard.memory_budget(memory_budget)
    guard.check(p, None, "exact", budget)
    t0 = time.perf_counter()
    tb, norm = Tables(p), norm_constants(p)
    ctx = SolverContext(tb)
    fast = evaluate(p, min_bottleneck_then_energy(tb, ctx), tables=tb, norm=norm)
    frugal = evaluate(p, min_energy_then_bottleneck(tb, ctx), tables=tb, norm=norm)
    stairs = known_staircase(ctx, fast.bottleneck_s, frugal.bottleneck_s)
    front, _ = pareto_labels(tb, ctx, front_bound(frugal.bottleneck_s, fast.energy_j, stairs), budget=budget)
    return [_result(p, plan, 1.0, "exact-front", tb, norm, t0, gap=0.0) for _, _, plan in front]
