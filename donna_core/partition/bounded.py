"""Anytime bounded solver: a plan and a certified lower bound on the alpha-objective optimum, within a time limit.

For problems whose exact state space (count vectors over device classes) is too large: many devices with
distinct links, or many classes of many devices. Devices are grouped into the exact solver's classes
(:func:`donna_core.partition.classes.class_members`); swapping members of a class never changes a cost.

**Relaxation** (:mod:`.relaxation`). Drop the rule "class ``b`` is used at most ``size_b`` times" and price each
use of class ``b`` with a Lagrange multiplier ``lambda_b >= 0`` instead. What is left is a shortest path over
states ``(j, b)`` (units ``0..j-1`` done, last stage on class ``b``)::

    G(0, b) = w * E_in(b)                                         if T_in(b) <= theta
    F(k, b) = lambda_b + min_{j<k} G(j, b) + w * E_comp(b, j..k-1)  over stages with T_comp <= theta (and fits)
    G(j, b) = min_a F(j, a) + w * E_comm(a -> b, cut j)           over transfers with T_comm <= theta
    V(lambda, theta) = min_b F(L, b),     w = (1 - alpha) / norm.energy

(class ``a -> a`` pays the link between two members and needs ``size_a >= 2``).

**Why the bound holds.** Take any plan P with bottleneck ``B`` and energy ``E``. (i) Every part of P (stage,
transfer, input time) is ``<= B``, so P is a path of the recursion at every ``theta >= B``, and its path cost is
``w E + lambda . use(P)``; since ``use(P) <= size`` and ``lambda >= 0``, ``V(lambda, theta) - lambda . size <=
w E`` (weak duality). (ii) ``B`` is a part value; the search covers the part values from ``g_0`` (the least
bottleneck of the unpriced relaxation: every plan is one of its paths, so ``B >= g_0``) up to ``hi_0`` (plans
slower than ``best * norm.time / alpha`` cannot beat the best plan) by closed intervals ``[lo, hi]`` whose
union holds every part value in that range. If ``B`` lies in ``[lo, hi]``, ``alpha B / norm.time >= alpha lo /
norm.time`` and, by (i) at ``theta = hi``, the plan's objective is at least::

    bound(lo, hi, lambda) = alpha * lo / norm.time + V(lambda, hi) - lambda . size                 (any lambda >= 0)

(iii) Before an interval is visited its bound is ``alpha lo / norm.time + w E_min`` with ``E_min`` the sum over
units of their least energy on a type that may hold them (transfers cost >= 0): valid without any search, so
stopping at any moment (time limit, visit cap) leaves a valid bound. (iv) An interval's bound only ever
rises to the maximum of such values; children of a split inherit their parent's bound (they hold fewer
plans). (v) The certified bound is ``min(open intervals' bounds, best plan's objective)``. (vi) Floats: the
part values and thresholds are the very numbers :func:`evaluate` uses (the same prefix-sum expressions), so
the theta test is exact; the sums (all terms >= 0) carry a relative error below ``(n+1) u`` (``n`` additions,
``u = 2^-53``), so each computed bound is lowered by ``(8L + 2K + 32) u`` times the magnitudes it was formed
from (which also covers the cancellation in ``V - lambda . size`` when the multipliers are large), and the
final bound by a further relative ``1e-10``. A dual value computed from an unfinished recursion is never used.

**Check.** Every plan seen (those the search finds and any known plan passed in, e.g. the paper DP's) is
tested against the interval holding its bottleneck: a bound above the plan's objective would be a bug, and
raises :class:`BoundError` instead of printing a false certificate.

**Search (anytime).** Repeatedly take the interval with the least bound; improve its multipliers by projected
subgradient steps (Polyak step towards the best plan's objective, ``use - size`` as the subgradient); when its
bound stalls, split it at the geometric middle (snapped to part values; children inherit the multipliers; an
interval of one value gets a few fresh starts instead). Intervals whose bound reaches the best plan's
objective are dropped. **Plans** come from the same recursion with hard capacities carried along (each state
keeps its few cheapest labels with distinct count vectors), priced with the interval's multipliers and its
largest value as theta: always a valid plan, evaluated with the shared cost model.

The search stops when the relative gap ``(plan - bound) / plan`` is at most ``gap_tol`` (``"gap"``), when every
interval's bound has reached the best plan (``"proved"``), when no interval can improve (``"converged"``: the
relaxation's own gap remains), after ``max_visits`` interval visits (``"iterations"``), or at the deadline
(``"time"``: every recursion looks at the clock every few hundred steps). Without the wall-clock stop the
result is deterministic (fixed visit order, ties to the lowest class / earliest cut).
"""
from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass

import numpy as np

from .classes import class_members
from .costs import Tables, evaluate
from .errors import InfeasibleError
from .relaxation import OutOfTime, Relaxation

BOUND_SLACK = 1e-10     # relative; the certified bound is lowered by this much on top of the rounding margin
OVERSHOOT = 0.05        # Polyak target = best plan's objective * (1 + this)
LAMBDA_MAX = 1e100      # multipliers beyond this prove nothing more (objectives are normalised, ~1)
ATOMIC_RETRIES = 4      # fresh starts (step factor reset) for an interval that cannot be split
PRIMAL_EVERY = 4        # run the (costlier) capacitated plan search on every 4th visit of an interval
CHECK_RTOL = 1e-9       # a bound above a known plan's objective by more than this (relative) is a bug
_U = 2.0 ** -53


class BoundError(RuntimeError):
    """A computed lower bound exceeds the objective of a known plan: an internal error, never a result."""


@dataclass
class _Interval:
    """Plans whose bottleneck lies in ``[lo, hi]`` (both part values; ``lo == hi``: one value)."""
    lo: float
    hi: float
    lam: np.ndarray
    bound: float
    mu: float = 1.0           # Polyak step factor, halved after 3 steps in a row that do not raise the bound
    miss: int = 0
    retries: int = 0          # an interval that cannot be split is given a few fresh starts before it is final
    stalled: bool = False
    visits: int = 0


def rounding_margin(L: int, K: int, *terms: float) -> float:
    """An upper bound on the float error of a bound formed from ``terms`` (see (vi) in the module docstring)."""
    return (8 * L + 2 * K + 32) * _U * sum(abs(t) for t in terms if math.isfinite(t))


def bounded_solve(tb: Tables, alpha: float, norm: dict, time_limit_s: float = 60.0, gap_tol: float = 1e-9,
                  max_visits: int = 100_000, members=None, n_grid: int = 8, steps_per_visit: int = 10,
                  known_plans=(), deadline: float | None = None):
    """Plan and certified lower bound; returns ``(plan, stats)`` with ``stats["lower_bound"]`` and ``["gap"]``.

    ``known_plans``: plans (device index, first, last) already found elsewhere; the result is never worse than
    them and the bound is checked against them. ``deadline`` (``time.perf_counter()`` value) overrides
    ``time_limit_s`` counted from now."""
    t0 = time.perf_counter()
    deadline = t0 + time_limit_s if deadline is None else deadline
    p = tb.p
    tb.check_runnable()
    rx = Relaxation(tb, alpha, norm, members or class_members(p), deadline)
    K, L, tn = rx.K, rx.L, rx.tn
    w = (1.0 - alpha) / rx.en
    b_floor, e_floor = rx.cheap_floors()
    best = {"obj": math.inf, "plan": None, "B": math.inf}
    seen: list[tuple[float, float]] = []          # (bottleneck, objective) of every plan evaluated

    def offer_plan(plan):
        r = evaluate(p, plan, alpha, tables=tb, norm=norm)
        seen.append((r.bottleneck_s, r.objective))
        # strictly better only: the first plan found keeps a tie (deterministic visit order)
        if r.objective < best["obj"]:
            best["obj"], best["plan"], best["B"] = r.objective, plan, r.bottleneck_s

    def offer(seq):
        if seq is None:
            return
        use = np.bincount([b for b, _, _ in seq], minlength=K)
        if (use > rx.sizes).any():
            return
        offer_plan(rx.plan_devices(seq))

    for plan in known_plans:
        offer_plan([(int(d), int(f), int(l)) for d, f, l in plan])
    zero = np.zeros(K)
    stopped = None
    try:
        g0 = rx.least_bottleneck()
        if not math.isfinite(g0):
            raise InfeasibleError("no plan fits the devices' memory limits")
        offer(rx.capacitated(math.inf, zero))
    except OutOfTime:
        g0, stopped = b_floor, "time"

    def base_bound(lo):
        v = alpha * lo / tn + w * e_floor
        return v - rounding_margin(L, K, v)

    heap: list = []
    closed: list[_Interval] = []          # intervals dropped (bound reached the best plan, or no path)
    counter = 0

    def push(iv):
        nonlocal counter
        heapq.heappush(heap, (iv.bound, iv.lo, counter, iv))
        counter += 1

    lo0 = rx.least_part_gt(np.nextafter(g0, -math.inf)) if stopped is None else b_floor
    hi0 = rx.largest_part_le(math.inf)
    if alpha > 0 and math.isfinite(best["obj"]):
        # a plan with bottleneck above UB * Tn / alpha cannot beat the best plan
        hi0 = rx.largest_part_le(best["obj"] * tn / alpha * (1 + 1e-9))
    for lo, hi in _initial_intervals(rx, lo0, max(hi0, lo0), alpha, n_grid):
        push(_Interval(lo, hi, zero.copy(), base_bound(lo)))
    visits, steps = 0, 0
    while heap and stopped is None:
        ub = best["obj"]
        # drop intervals that cannot hold a better plan
        while heap and math.isfinite(ub) and heap[0][0] >= ub * (1 - BOUND_SLACK):
            closed.append(heapq.heappop(heap)[3])
        if not heap:
            stopped = "proved"      # every interval's bound reached the best plan
            break
        lb = heap[0][0]
        if math.isfinite(ub) and ub - lb <= gap_tol * abs(ub):
            stopped = "gap"
            break
        if time.perf_counter() >= deadline:
            stopped = "time"
            break
        if visits >= max_visits:
            stopped = "iterations"
            break
        _, _, _, iv = heapq.heappop(heap)
        visits += 1
        if iv.stalled:
            if alpha == 0.0 or iv.lo == iv.hi:
                if iv.retries < ATOMIC_RETRIES:
                    iv.retries += 1
                    iv.stalled, iv.mu, iv.miss = False, 1.0, 0
                    push(iv)
                    continue
                push(iv)          # cannot be split and the multipliers no longer move it: the bound is final
                stopped = "converged"
                break
            for a, b in _split(rx, iv.lo, iv.hi):
                child = _Interval(a, b, iv.lam.copy(), max(iv.bound, base_bound(a)))   # (iv) above
                push(child)
            continue
        try:
            improved = _improve(rx, iv, best, offer, steps_per_visit, w)
        except OutOfTime:
            push(iv)              # its bound is the last one completed: still valid
            stopped = "time"
            break
        steps += steps_per_visit
        iv.stalled = not improved
        if math.isfinite(iv.bound):
            push(iv)
        else:
            closed.append(iv)
    stopped = stopped or "converged"
    if stopped == "converged" and best["plan"] is not None:
        try:
            _polish(rx, lo0, best, offer)
        except OutOfTime:
            pass
        if heap and heap[0][0] >= best["obj"] * (1 - BOUND_SLACK):
            closed.extend(iv for *_, iv in heap)
            heap, stopped = [], "proved"
    if best["plan"] is None:
        raise InfeasibleError("no plan found that respects the device counts and memory limits within the "
                              f"time limit ({time_limit_s:g} s)")
    ub = best["obj"]
    lb = min(heap[0][0], ub) if heap else ub
    lb_cert = lb - BOUND_SLACK * abs(lb)
    _check(seen, [iv for *_, iv in heap] + closed, lo0, lb_cert)
    gap = 0.0 if ub <= 0 else max(0.0, (ub - lb_cert) / abs(ub))
    stats = {"lower_bound": lb_cert, "gap": gap, "stopped": stopped, "visits": visits, "lagrange_steps": steps,
             "intervals_open": len(heap), "classes": K, "time_limit_s": time_limit_s,
             "bound_s": time.perf_counter() - t0}
    return best["plan"], stats


def _initial_intervals(rx: Relaxation, lo0: float, hi0: float, alpha: float, n_grid: int):
    """``[lo, hi]`` pieces covering every part value in ``[lo0, hi0]``, cut at geometric grid points (alpha = 0:
    the bottleneck does not count, one interval)."""
    if alpha == 0.0 or lo0 >= hi0:
        return [(lo0, hi0)]
    grid = (np.geomspace(lo0, hi0, n_grid + 1)[1:-1] if lo0 > 0 else hi0 / 2.0 ** np.arange(n_grid - 1, 0, -1))
    out, cur = [], lo0
    for g in grid:
        m = rx.largest_part_le(float(g))
        if m >= cur:
            out.append((cur, m))
            cur = rx.least_part_gt(m)
    if cur <= hi0:
        out.append((cur, hi0))
    return out


def _split(rx: Relaxation, lo: float, hi: float):
    """Two pieces of ``[lo, hi]`` (lo < hi) holding every part value of it, cut near its geometric middle."""
    mid = math.sqrt(lo) * math.sqrt(hi) if lo > 0 else hi / 2
    m = rx.largest_part_le(mid)
    if m >= hi:
        m = rx.largest_part_le(float(np.nextafter(hi, -math.inf)))
    if m < lo:                           # no part value in [lo, mid]
        return [(rx.least_part_gt(mid), hi)]
    return [(lo, m), (rx.least_part_gt(m), hi)]


def _check(seen, leaves, lo0: float, lb_cert: float) -> None:
    """Raise :class:`BoundError` when a plan's objective is below the bound of the interval holding its
    bottleneck, or below the certified bound."""
    for B, obj in seen:
        tol = CHECK_RTOL * abs(obj) + 1e-300
        if lb_cert > obj + tol:
            raise BoundError(f"bounded solver: certified bound {lb_cert!r} exceeds the objective {obj!r} of a "
                             "known plan; this is a bug, please report it")
        if B < lo0 * (1 - 1e-12):
            raise BoundError(f"bounded solver: a plan has bottleneck {B!r} below the least bottleneck {lo0!r}")
        for iv in leaves:
            if iv.lo <= B <= iv.hi and iv.bound > obj + tol:
                raise BoundError(f"bounded solver: interval [{iv.lo!r}, {iv.hi!r}] has bound {iv.bound!r} above "
                                 f"the objective {obj!r} of a plan in it; this is a bug, please report it")


def _polish(rx: Relaxation, lo0: float, best: dict, offer) -> None:
    """The bound can no longer move; spend the time left on plans: bisect the threshold between the least
    possible bottleneck and the best plan's, asking the capacity-respecting recursion (unpriced, with more
    labels per state) for a plan at each threshold."""
    K, L = rx.K, rx.L
    R = int(min(16, max(2, 8e6 // (L * L * K * K))))
    lo, hi = lo0, best["B"]
    while lo < hi and time.perf_counter() < rx.deadline:
        m = rx.largest_part_le(lo + (hi - lo) / 2)
        if not lo <= m < hi:
            m = lo
        seq = rx.capacitated(m, np.zeros(K), R)
        fits = seq is not None and (np.bincount([b for b, _, _ in seq], minlength=K) <= rx.sizes).all()
        if fits:
            offer(seq)
            hi = m
        else:
            lo = rx.least_part_gt(m)


def _improve(rx: Relaxation, iv: _Interval, best: dict, offer, n_steps: int, w: float) -> bool:
    """A few subgradient steps on one interval's multipliers; True when its bound rose."""
    start = iv.bound
    floor = rx.alpha * iv.lo / rx.tn
    thr = iv.hi

    def value(v, lam):
        lam_size = float(lam @ rx.sizes)
        val = floor + v - lam_size
        return val - rounding_margin(rx.L, rx.K, floor, v, lam_size)

    if iv.visits == 0 and iv.lam.any():
        # inherited multipliers can be worse than none: lambda = 0 is always a valid bound
        v, use, _ = rx.relaxed(thr, np.zeros_like(iv.lam))
        if use is None:
            iv.bound = math.inf
            return True
        iv.bound = max(iv.bound, value(v, np.zeros_like(iv.lam)))
    for _ in range(n_steps):
        v, use, seq = rx.relaxed(thr, iv.lam)
        if use is None:
            iv.bound = math.inf           # no path at all: the interval holds no plan
            return True
        val = value(v, iv.lam)
        if val > iv.bound:
            iv.bound, iv.miss = val, 0
        else:
            iv.miss += 1
            if iv.miss >= 3:
                iv.mu, iv.miss = max(iv.mu / 2, 1e-4), 0
        offer(seq)
        sub = (use - rx.sizes).astype(float)
        # projected step: multipliers of unused-to-capacity classes stay at 0
        sub = np.where((iv.lam <= 0) & (sub < 0), 0.0, sub)
        norm2 = float(sub @ sub)
        if norm2 == 0:
            break                          # this path is optimal for the relaxation at these multipliers
        # aim a little above the best plan: an interval is dropped only once its bound passes that plan
        # (when the relaxation is infeasible the dual is unbounded: keep stepping by half the interval's room)
        if math.isfinite(best["obj"]):
            target = best["obj"] * (1 + OVERSHOOT)
            push = max(target - val, 0.5 * abs(target - floor), 1e-12 * abs(target))
        else:
            push = abs(val) + 1.0
        step = iv.mu * push / norm2
        # capped far above any objective scale so that sums of multipliers never overflow
        iv.lam = np.clip(iv.lam + step * sub, 0.0, LAMBDA_MAX)
    if iv.visits % PRIMAL_EVERY == 0:
        offer(rx.capacitated(thr, iv.lam))
    iv.visits += 1
    if not math.isfinite(start):
        return True
    # "improved" = closed a visible part of this interval's distance to the best plan; slow convergence counts
    # as stalled so that the interval gets split instead
    room = best["obj"] - start if math.isfinite(best["obj"]) else abs(start)
    return iv.bound - start > max(0.01 * room, 1e-9 * abs(start))
