"""Stage costs from prefix sums, and the window of feasible stages, without any ``L x L`` table.

A stage ``j..k-1`` on type ``t`` costs ``pt[t, k] - pt[t, j]`` seconds and ``pe[t, k] - pe[t, j]`` joules
(:class:`~donna_core.partition.costs.Tables`); it is feasible when ``k > j`` and it fits the type's memory and
allowed units. For a fixed end ``k`` the predicate "feasible, and the stage time is ``<= thr``" is monotone in
``j``: prefix sums are non-decreasing (every cost and weight is ``>= 0``) and a rounded difference ``x - y`` is
monotone in ``y``, so the feasible starts form one range ``[lo(k), k-1]``. The range is found by a vectorised
binary search on the very expressions the cost model uses, so a windowed DP sees exactly the candidates
(and the bit-identical costs) that a dense ``T x (L+1) x (L+1)`` table would hold.
"""
from __future__ import annotations

import numpy as np

from .costs import Tables


def _ok(tb: Tables, t: int, j, k, thr: float):
    """Stage ``j..k-1`` (``j <= k``) on type ``t`` fits, and its time is ``<= thr``."""
    with np.errstate(invalid="ignore"):
        return tb.fits(t, j, k) & (tb.stage_time(t, j, k) <= thr)


def start_lo(tb: Tables, t: int, k: np.ndarray, thr: float = np.inf) -> np.ndarray:
    """Per end ``k``, the least start ``j`` with stage ``j..k-1`` feasible on ``t`` and no slower than ``thr``
    (``k`` itself when there is none: the range of starts ``[lo, k-1]`` is then empty)."""
    k = np.asarray(k, dtype=np.int64)
    lo, hi = np.zeros_like(k), k.copy()      # the empty stage (j = k) always passes for thr >= 0
    if not thr >= 0:
        return k.copy()
    while True:
        act = lo < hi
        if not act.any():
            return lo
        mid = (lo + hi) // 2
        ok = _ok(tb, t, mid, k, thr)
        hi = np.where(act & ok, mid, hi)
        lo = np.where(act & ~ok, mid + 1, lo)


def end_hi(tb: Tables, t: int, j: np.ndarray) -> np.ndarray:
    """Per start ``j``, the largest end ``k`` with stage ``j..k-1`` fitting type ``t`` (``j`` when none does):
    the feasible stages starting at ``j`` are ``k`` in ``(j, end_hi]``."""
    j = np.asarray(j, dtype=np.int64)
    lo, hi = j.copy(), np.full_like(j, tb.L)
    while True:
        act = lo < hi
        if not act.any():
            return lo
        mid = (lo + hi + 1) // 2
        ok = tb.fits(t, j, mid)
        lo = np.where(act & ok, mid, lo)
        hi = np.where(act & ~ok, mid - 1, hi)


def stage_cost(tb: Tables, t: int, j, k) -> tuple[np.ndarray, np.ndarray]:
    """(time, energy) of stages ``j..k-1`` on type ``t``, ``inf`` where empty, backwards or not feasible: the
    entries a dense stage table ``[t, j, k]`` would hold."""
    j, k = np.broadcast_arrays(np.asarray(j), np.asarray(k))
    ok = (k > j) & tb.fits(t, j, k)
    return (np.where(ok, tb.stage_time(t, j, k), np.inf), np.where(ok, tb.stage_energy(t, j, k), np.inf))


def dense_tables(tb: Tables) -> tuple[np.ndarray, np.ndarray]:
    """The dense ``[t, j, k]`` stage time and energy tables (``inf`` where not feasible). ``T x (L+1)^2``
    each: only the front search's completion bounds use them (see the size guard)."""
    p, L1 = tb.p, tb.L + 1
    T = p.time_s.shape[0]
    st = np.full((T, L1, L1), np.inf)
    se = np.full((T, L1, L1), np.inf)
    j = np.arange(L1)[:, None]
    k = np.arange(L1)[None, :]
    for t in np.unique(p.device_type):
        st[t], se[t] = stage_cost(tb, t, j, k)
    return st, se
