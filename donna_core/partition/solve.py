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

import dataclasses
from dataclasses import fields

import numpy as np

from . import guard
from .bounded import BoundError, bounded_solve
from .costs import Result, Tables, check_alpha, evaluate, norm_constants
from .errors import InfeasibleError
from .exact import exact_front, exact_optimum
from .guard import SolverSizeError
from .paper_dp import paper_partition
from .problem import Problem
from .scaling import rescaled

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
          memory_budget: int | str | None = None, started: float | None = None) -> SolverResult:
    """Best plan for the alpha-weighted objective (see :mod:`donna_core.partition.costs` for the model and the norms).

    ``time_limit_s`` bounds the ``bounded`` solver (and ``auto`` when it falls back); ``memory_budget`` (bytes,
    or a string such as ``"4G"``) overrides the default budget of :func:`donna_core.partition.guard.memory_budget`.
    ``started`` (a ``time.perf_counter()`` value, default: now) is when the time limit began, so that a caller
    can count its own start-up (loading the problem) against it.
    """
    alpha = check_alpha(alpha)
    _refuse_graph(p)
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {list(SOLVERS)}")
    time_limit_s = _check_time_limit(time_limit_s)
    budget = guard.memory_budget(memory_budget)
    t0 = time.perf_counter()
    deadline = (t0 if started is None else started) + time_limit_s
    ps = rescaled(p)
    if ps is not p:     # costs near the ends of the float range: solve the exactly rescaled twin, report on p
        r = solve(ps, alpha, solver, time_limit_s=time_limit_s, memory_budget=budget, started=started)
        out = _result(p, r.plan(), alpha, r.solver, Tables(p), norm_constants(p), t0,
                      **{k: v for k, v in r.stats.items() if k != "solve_s"})
        if "lower_bound" in out.stats:
            out.stats["lower_bound"] = _unscaled_bound(p, alpha, out.stats["lower_bound"], out.norm)
            lb, ub = out.stats["lower_bound"], out.objective
            out.stats["gap"] = 0.0 if ub <= 0 else max(0.0, (ub - lb) / ub)
        return out
    tb, norm = Tables(p), norm_constants(p)
    if solver == "paper":
        guard.check(p, alpha, "paper", budget)
        # the paper's DP is exact at alpha in {0, 1} (tested against exact); otherwise it certifies nothing.
        # It ignores shared media and CPU costs (its plan is evaluated under them): then only alpha = 0 stays
        # exact, since neither changes the energy.
        gap = 0.0 if alpha == 0.0 or (alpha == 1.0 and not p.extended) else None
        return _result(p, paper_partition(tb, alpha, norm), alpha, solver, tb, norm, t0, gap=gap)
    if solver == "bounded":
        guard.check(p, alpha, "bounded", budget)
        return _bounded(p, alpha, tb, norm, t0, time_limit_s, deadline, budget)
    try:
        guard.check(p, alpha, "exact", budget)
        return _exact(p, alpha, tb, norm, t0, budget)
    except (SolverSizeError, MemoryError) as exc:
        if solver != "auto":
            if isinstance(exc, MemoryError):
                raise SolverOutOfMemory("exact solver ran out of memory (MemoryError): use --solver bounded or "
                                        "--solver auto, or a smaller problem") from None
            raise
        why = (f"exact refused ({exc})" if isinstance(exc, SolverSizeError) else
               "exact ran out of memory (MemoryError, e.g. under an address-space limit)")
        guard.check(p, alpha, "bounded", budget)
        r = _bounded(p, alpha, tb, norm, t0, time_limit_s, deadline, budget)
        r.stats["fallback"] = f"{why}; used bounded"
        return r


def _refuse_graph(p: Problem) -> None:
    """A problem with edges has its own cost model; the chain solvers would silently cost it as a chain."""
    if p.graph is not None:
        raise ValueError(f"{p.name!r} is a graph problem (it has 'edges'): use graph_solve.solve_graph / "
                         "graph_pareto")


def _unscaled_bound(p: Problem, alpha: float, lb: float, norm: dict) -> float:
    """A bound proved on the rescaled twin, made valid for objectives evaluated on ``p`` itself: there every time
    (energy) is a sum or difference of at most ``2L + 4`` floats, each off by at most ``2^-1074`` in absolute
    terms where it is subnormal (relative rounding is covered by the solvers' own slack), and a quotient
    ``B / norm`` with ``B <= norm`` is then off by at most the two absolute errors over ``norm``."""
    e = 2 * (2 * p.L + 4) * 2.0 ** -1074
    return max(0.0, lb - alpha * e / norm["time_s"] - (1 - alpha) * e / norm["energy_j"])


class SolverOutOfMemory(MemoryError):
    """A solver could not allocate what it needed; the message (one line) says what to do instead."""


# paper DP seconds per (unit, subset, device, device) step, measured on an idle core; used only to decide
# whether its plan is cheap enough to seed the bounded solver
PAPER_STEP_S = 1e-5
PAPER_SHARE = 0.25       # of the time limit the paper DP may take when it seeds the bounded solver


def _paper_seed(p, tb, alpha, norm, time_limit_s, budget):
    """The paper DP's plan when it is cheap (few devices): the bounded solver then never returns a worse plan,
    and its bound is checked against this plan's objective (an upper bound on the optimum)."""
    if p.D > 12 or p.L * 2**p.D * p.D * p.D * PAPER_STEP_S > PAPER_SHARE * time_limit_s:
        return []
    if not guard.estimate(p, alpha, "paper", budget).feasible_in_budget:
        return []
    return [paper_partition(tb, alpha, norm)]


def independent_twin(p: Problem) -> Problem:
    """``p`` with every shared medium made independent links and no message CPU cost. For every plan its cost is at
    most the plan's cost under ``p`` (the bottleneck only loses terms -- a shared medium's sum is at least each of
    its transfers, a stage's busy time at least its compute -- and the energy and the norms are the same), so any
    lower bound proved on the twin holds for ``p``."""
    D = p.D
    return dataclasses.replace(p, shared_media=(), link_shared=np.full((D, D), -1, dtype=np.int64),
                               cpu_send=np.zeros((D, D, 2)), cpu_recv=np.zeros((D, D, 2)))


def _bounded_extended(p, alpha, tb, norm, t0, time_limit_s, deadline, budget) -> SolverResult:
    """Shared media / message CPU costs: the Lagrangian bound is derived for independent links and compute-only
    stage times, so it runs on :func:`independent_twin`; its bound is valid for ``p`` (see there) and its plan,
    with the paper DP's when cheap, is costed under ``p``'s true model; the cheaper one is returned (the bounded
    solver's own on a tie), with the gap against that bound."""
    twin = independent_twin(p)
    tw_tb, tw_norm = Tables(twin), norm_constants(twin)
    if tw_norm != norm:
        raise BoundError(f"bounded solver: the independent twin's norms {tw_norm} differ from {norm}; this is a bug")
    known = _paper_seed(twin, tw_tb, alpha, tw_norm, time_limit_s, budget)
    plan, stats = bounded_solve(tw_tb, alpha, tw_norm, time_limit_s=time_limit_s, known_plans=known,
                                deadline=deadline)
    cands = [plan] + known
    costed = [evaluate(p, c, alpha, tables=tb, norm=norm).objective for c in cands]
    best = min(range(len(cands)), key=lambda i: (costed[i], i))
    r = _result(p, cands[best], alpha, "bounded", tb, norm, t0, **stats)
    lb = stats["lower_bound"]
    if lb > r.objective * (1 + 1e-9):
        raise BoundError(f"bounded solver: the twin's bound {lb!r} exceeds the plan's true objective "
                         f"{r.objective!r}; this is a bug, please report it")
    r.stats["stopped"] = f"{stats.get('stopped')} (bound and search on the independent-link twin)"
    r.stats["gap"] = 0.0 if r.objective <= 0 else max(0.0, (r.objective - lb) / r.objective)
    return r


def _bounded(p, alpha, tb, norm, t0, time_limit_s, deadline, budget) -> SolverResult:
    if p.extended:
        return _bounded_extended(p, alpha, tb, norm, t0, time_limit_s, deadline, budget)
    known = _paper_seed(p, tb, alpha, norm, time_limit_s, budget)
    plan, stats = bounded_solve(tb, alpha, norm, time_limit_s=time_limit_s, known_plans=known, deadline=deadline)
    r = _result(p, plan, alpha, "bounded", tb, norm, t0, **stats)
    if known:
        paper_obj = evaluate(p, known[0], alpha, tables=tb, norm=norm).objective
        # the bounded solver already checks every plan it saw against its bound; this is the end-to-end check
        if r.stats["lower_bound"] > paper_obj * (1 + 1e-9) or r.objective > paper_obj * (1 + 1e-12):
            raise BoundError(f"bounded solver: bound {r.stats['lower_bound']!r} / plan {r.objective!r} against the "
                             f"paper DP's objective {paper_obj!r}; this is a bug, please report it")
        r.stats["paper_objective"] = paper_obj
    return r


def _exact(p, alpha, tb, norm, t0, budget) -> SolverResult:
    plan, stats = exact_optimum(tb, alpha, norm, budget)
    return _result(p, plan, alpha, "exact", tb, norm, t0, **stats)


def pareto_front(p: Problem, *, memory_budget: int | str | None = None,
                 progress: bool | None = None) -> list[SolverResult]:
    """The exact Pareto front of (bottleneck, energy): bottleneck ascending, energy strictly descending.
    Refuses with :class:`SolverSizeError` above the memory budget (the front has no bounded mode).
    ``progress``: a tqdm bar on stderr over the search's steps (None: when stderr is a terminal)."""
    _refuse_graph(p)
    budget = guard.memory_budget(memory_budget)
    guard.check(p, None, "exact", budget)
    t0 = time.perf_counter()
    ps = rescaled(p)
    if ps is not p:
        tb, norm = Tables(p), norm_constants(p)
        return [_result(p, r.plan(), 1.0, "exact-front", tb, norm, t0, gap=0.0)
                for r in pareto_front(ps, memory_budget=budget)]
    tb, norm = Tables(p), norm_constants(p)
    return [_result(p, plan, 1.0, "exact-front", tb, norm, t0, gap=0.0)
            for _, _, plan in exact_front(tb, norm, budget=budget, progress=progress)]
