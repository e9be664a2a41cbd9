"""Exact solvers: the Pareto front of (bottleneck, energy) and the exact alpha-weighted optimum.

States are ``(c, a, j)``: ``c`` a count vector saying how many members of each device class are used (see
:mod:`donna_core.partition.classes`), ``a`` the class of the last stage's device, ``j`` the number of units done (the
last stage ends at unit ``j-1``). The device of a stage is determined by the state: the ``c[a]``-th member of class
``a``. A transition appends a stage on class ``b`` (``c[b] < size[b]``) covering units ``j..k-1``::

    B(c + e_b, b, k) = max(B(c, a, j), T_comm(a -> b, cut j), T_comp(b, j..k-1))
    E(c + e_b, b, k) =     E(c, a, j) + E_comm(a -> b, cut j) + E_comp(b, j..k-1)

with the first stage paying the input transfer from the source instead of ``T_comm``. Plans end in states
with ``j = L``.

* **Pareto front** (:func:`.exact_search.pareto_labels`): every state keeps the set of non-dominated ``(B, E)``
  labels. Both ``max`` and ``+`` are monotone, so a label dominated at a state is dominated by one of its extensions
  too: pruning is exact. States are processed level by level (level = number of stages), all labels of a level in
  one set of array operations. Three exact reductions keep the label sets small: a label's ``B`` is raised to the
  least bottleneck any completion must have (so labels below it merge); labels beyond the alpha = 0/1 optima are
  dropped; and labels beaten by a known plan (a "staircase" of least-energy plans under a few bottleneck thresholds,
  :func:`.exact_dp.known_staircase`) are dropped. A label's energy is tested together with the least energy its
  completion must still spend, from a backward DP over the remaining units *and the devices left*
  (:attr:`.exact_context.SolverContext.e_rest_r`: once the cheap devices are used, the rest runs on costlier ones);
  at 0 < alpha < 1 also jointly with its bottleneck, through the same DP under a few bottleneck thresholds
  (:meth:`.exact_context.SolverContext.energy_under`, :meth:`.exact_bounds.ObjectiveBound.joint`). Candidates are
  not even built outside each label's window of stage ends (:class:`.exact_bounds.LabelBound`, the "shadow" of a
  state's next label) nor when an O(n) box test (:func:`.exact_labels.box_dominated`) shows the dominance sort would
  drop them; both skip only labels the reductions above would remove, so the result is unchanged.
* **alpha = 1** (:func:`.exact_dp.min_bottleneck_then_energy`): a min-max DP gives the least bottleneck ``B*``; a
  second DP minimises energy over plans whose every stage and transfer is ``<= B*``. (A single DP on the pair
  ``(B, E)`` would not be exact: once ``max`` saturates, a partial plan with a worse ``B`` but less energy wins.)
* **alpha = 0** (:func:`.exact_dp.min_energy_then_bottleneck`): one DP on the pair ``(E, B)`` in lexicographic
  order, which is exact because ``+`` is strictly monotone.
* **0 < alpha < 1**: the minimiser of ``alpha*B/Tn + (1-alpha)*E/En`` lies on the Pareto front; it is picked there,
  searching only labels whose objective bound is within the best of the alpha = 0/1 plans and the plan of one
  alpha-weighted scalar DP (:func:`.exact_dp.weighted_plan`); the point is picked by
  :func:`.front_select.select_on_front`.

Ties (documented rule, the same in every path): at alpha = 1 the least energy among the fastest plans; at
alpha = 0 the fastest among the least-energy plans; otherwise the least objective; then fewer stages; then the
device sequence in lexicographic order of device index. Plans that still tie differ only in their cuts; they
are separated deterministically in the DP's order (a state keeps the label with the earliest previous cut,
so earlier cuts compared from the last backwards win whenever the tied plans also tie at the states in between).
Equal-length device sequences are compared through per-level ranks (see :func:`.exact_dp.dense_dp`), so there
is no limit on the number of devices.

With shared media or message CPU costs the bottleneck is no longer a running maximum of independent parts;
:mod:`.exact_shared` then searches labels with more coordinates (every alpha, and the front).

This module is the solver's one interface (:func:`exact_optimum`, :func:`exact_front`: the alpha-orchestration
above); the parts, one idea each: :mod:`.exact_context` (shared arrays and completion tables),
:mod:`.exact_dp` (the scalar DPs), :mod:`.exact_labels` (labels and their pruning), :mod:`.exact_bounds`
(label bounds), :mod:`.exact_search` (the front search), :mod:`.exact_sizes` (what is allocated, also read by
the size guard) and :mod:`.ties` (the tie tolerance).
"""
from __future__ import annotations

import numpy as np

from .costs import Tables, evaluate
from .errors import InfeasibleError
from .exact_bounds import front_bound, objective_bound
from .exact_context import SolverContext
from .exact_dp import (N_STAIRS, known_staircase, min_bottleneck_then_energy, min_energy_then_bottleneck,
                       weighted_plan)
from .exact_search import pareto_labels, progress_bar
from .exact_shared import extended_front, extended_optimum
from .exact_sizes import N_THETAS
from .front_select import select_on_front
from .ties import TIE_RTOL

__all__ = ["exact_optimum", "exact_front", "InfeasibleError", "TIE_RTOL"]


def exact_optimum(tb: Tables, alpha: float, norm: dict, budget: int | None = None) -> tuple[list, dict]:
    """The alpha-optimal plan (``[(device index, first, last), ...]``) and the search's stats (``gap`` 0;
    ``front_size`` and ``labels`` where a label search ran). ``norm``: the objective's norms
    (:func:`.costs.norm_constants`); ``budget``: bytes the label search may hold (checked before each level)."""
    p = tb.p
    ctx = SolverContext(tb)
    if p.extended:
        return _extended(tb, ctx, alpha, norm, budget)
    if alpha == 1.0:
        return min_bottleneck_then_energy(tb, ctx), {"gap": 0.0}
    if alpha == 0.0:
        return min_energy_then_bottleneck(tb, ctx), {"gap": 0.0}
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
        thetas = np.geomspace(b_lo, b_hi, N_THETAS)
        bound.set_completion(thetas, ctx.energy_under(thetas), ctx.e_rest_r)
    front, n_labels = pareto_labels(tb, ctx, bound, budget=budget)
    # front points have distinct (B, E); stage count and device order were settled inside each point
    best = select_on_front(front, alpha, norm)
    return front[best][2], {"front_size": len(front), "labels": n_labels, "gap": 0.0}


def _extended(tb: Tables, ctx: SolverContext, alpha: float, norm: dict, budget) -> tuple[list, dict]:
    # the independent-link solvers' plans, evaluated under the true model, give the bound the search must beat
    # (alpha > 0: the least-bottleneck plan; alpha < 1: single-device plans, cheap and often near the least
    # energy); the search lowers the bound itself as it completes plans
    p = tb.p
    plans = [min_bottleneck_then_energy(tb, ctx)] if alpha > 0.0 else []
    if alpha < 1.0:
        plans += [[(d, 0, p.L - 1)] for d in range(p.D) if np.isfinite(ctx.st[p.device_type[d], 0, p.L])]
    ub = min([evaluate(p, plan, alpha, tables=tb, norm=norm).objective for plan in plans] + [np.inf])
    plan, n_labels = extended_optimum(tb, ctx, alpha, norm, ub, budget)
    return plan, {"labels": n_labels, "gap": 0.0}


def exact_front(tb: Tables, norm: dict, budget: int | None = None,
                progress: bool | None = None) -> list[tuple[float, float, list]]:
    """The exact Pareto front of (bottleneck, energy) as ``(B, E, plan)``: bottleneck ascending, energy strictly
    descending. ``progress``: a tqdm bar on stderr over the search's steps (None: when stderr is a terminal)."""
    p = tb.p
    ctx = SolverContext(tb)
    if p.extended:
        return extended_front(tb, ctx, budget=budget)
    bar = progress_bar(2 + N_STAIRS + int(ctx.cl.sizes.sum()), "exact Pareto front", progress)
    try:
        fast = evaluate(p, min_bottleneck_then_energy(tb, ctx), tables=tb, norm=norm)
        frugal = evaluate(p, min_energy_then_bottleneck(tb, ctx), tables=tb, norm=norm)
        bar.update(2)
        stairs = known_staircase(ctx, fast.bottleneck_s, frugal.bottleneck_s, bar=bar)
        front, _ = pareto_labels(tb, ctx, front_bound(frugal.bottleneck_s, fast.energy_j, stairs), budget=budget,
                                 bar=bar)
    finally:
        bar.close()
    return front
