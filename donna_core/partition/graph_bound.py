"""A communication-aware lower bound on the alpha-objective of a graph problem, certified by weak duality.

Relaxation (every plan maps onto a point of it with at most its true objective, so its optimum is a lower bound).
Columns, all in [0, 1] except ``B`` (times scaled by ``norm.time_s``, energies by ``norm.energy_j``)::

    x[u,d]      unit u on device d (0 where d may not hold u);   sum_d x[u,d] = 1;   memory rows
    y[u,d,k]    "u is not on d and d holds a successor of u of size level >= b_k" (levels as in graph_milp):
                y[u,d,k] >= x[v,d] - x[u,d]  for every such successor v
    r[d]        the input goes to d (with a source, d != source):  r[d] >= x[v,d] for every input-reading unit v
    B >= max_u min_d time[d,u];   B >= sum_u time[d,u] x[u,d] (device busy);   B >= sum_d time[d,u] x[u,d] (u's own
    time);   B >= t_in(d) r[d];   B >= sum_{u,k} cbar_k(d) y[u,d,k] / (D - 1)
    with message CPU costs, device d's busy row adds sum_{u,k} rbar_k(d) y[u,d,k] + recv_cpu(source, d) r[d];
    per shared medium m: B >= sum_{d: every link into d on m} sum_{u,k} cbar_k(d) y[u,d,k]
                               + sum_{(s,d) on m} t_in(d) r[d]
    min  alpha B + (1 - alpha) (sum energy[d,u] x[u,d] + sum ebar_k(d) y[u,d,k] + sum e_in(d) r[d])

``cbar_k(d)`` / ``ebar_k(d)`` / ``rbar_k(d)`` are the cheapest level-k increments (as in :mod:`.graph_milp`,
time curves included) of the message time / energy / receive CPU into d from any other device: a plan's message
from a to d of level j costs sum_{k >= j} of a's increments, at least sum_{k >= j} of the cheapest. The sender's
CPU is left out (its device is fractional here), and so are shared media into devices with independent links:
dropping a term only lowers the bound. Every message into d sits on one of the D - 1 links at d, so
the busiest of them carries at least their average: the last B row. Unlike the bound of
:mod:`.graph_heuristic` (no messages at all), this one charges a message whenever a successor is placed on a
device its producer is not on (in the fractional sense: x[v,d] > x[u,d]).

Certification: the LP is solved approximately (HiGHS's first-order PDLP at alpha = 0, interior point without
crossover otherwise: fast on these large sparse LPs but only accurate to ~1e-4), so its objective is *not* used.
Instead its row duals ``pi`` (any vector would do) are projected onto the dual cone of the row bounds and the
Lagrangian dual function is evaluated exactly:
``g(pi) = min_{s in [lo, hi]} pi.s + min_{col bounds} (c - A^T pi).z``, which by weak duality is <= the LP
optimum for every ``pi``. ``B`` has no upper bound in the LP; for g to be finite it is capped at ``H / alpha``
(H = the objective of any known plan), which keeps every plan at least as good as H, hence the optimum. The
value is lowered by ``SLACK`` (relative) and by the floating-point error bound of its own sum.
"""
from __future__ import annotations

import math
import time

import numpy as np

from .graph_costs import GraphTables
from .graph_milp import Model, add_input_columns, level_increments, message_levels
from .milp import quiet_highs

SLACK = 1e-9
# HiGHS's set-up and presolve outside its own time limit (measured 0.4-0.7 s on a 500-unit, 8-device problem
# on a loaded 2-core machine), and the least solve time worth starting: the bound is skipped (0) when less is left.
SOLVER_OVERHEAD_S = 0.7
MIN_SOLVE_S = 0.3


def message_lp(gt: GraphTables, alpha: float, norm: dict, cap_objective: float):
    """The relaxation above as a :class:`Model` (``B``'s upper bound = ``cap_objective / alpha``; its first L
    rows are the assignment rows), its x columns (L, D) and its auxiliary columns (B first, then y and r)."""
    L, D, p = gt.L, gt.D, gt.p
    tn, en = norm["time_s"], norm["energy_j"]
    m = Model()
    X = m.var((L, D))
    aux: list[int] = []
    for u in range(L):
        for d in range(D):
            m.cost[X[u, d]] = (1 - alpha) * gt.energy[d, u] / en
            if not gt.ok[d, u]:
                m.ub[X[u, d]] = 0.0
        m.row(X[u], np.ones(D), 1, 1)
    w = p.weight_bytes
    for d in range(D):
        if math.isfinite(gt.mem[d]) and w.sum() > gt.mem[d]:
            m.row(X[:, d], w / gt.mem[d], hi=1.0)
    # without a cost on B (alpha = 0) every B row is slack in some optimum: B and its rows are left out
    B = None
    busy_terms = [([], []) for _ in range(D)]   # message CPU columns of device d's busy row (with CPU costs)
    if alpha > 0:
        b_min = max((float(gt.time[gt.ok[:, u], u].min()) for u in range(L) if gt.ok[:, u].any()), default=0.0)
        B = m.var(lb=b_min / tn, ub=max(b_min / tn, cap_objective / alpha), cost=alpha)
        aux.append(B)
        if not gt.cpu:
            for d in range(D):
                m.row([B, *X[:, d]], [1, *-gt.time[d] / tn], lo=0)
        for u in range(L):
            m.row([B, *X[u]], [1, *-gt.time[:, u] / tn], lo=0)
    # receivers all of whose links are on one shared medium: every message into them is on it
    only_on = [int(gt.shared[(d + 1) % D, d]) if D > 1 and all(gt.shared[a, d] == gt.shared[(d + 1) % D, d] >= 0
                                                                  for a in range(D) if a != d) else -1
               for d in range(D)]
    shared_terms: list[tuple[list, list]] = [([], []) for _ in range(gt.n_shared)]
    into: list[tuple[list, list]] = [([], []) for _ in range(D)]
    for u in range(L):
        if not gt.out_edges[u] or D < 2:
            continue
        sizes, members = message_levels(gt, u)
        delta = sizes - np.append(sizes[1:], 0.0)
        K = len(sizes)
        for d in range(D):
            Y = m.var((K,))
            aux.extend(int(c) for c in Y)
            others = [a for a in range(D) if a != d]
            ct = np.array([level_increments(gt, a, d, sizes, delta) for a in others]).min(axis=0)
            rc = (np.array([level_increments(gt, a, d, sizes, delta, gt.recv_cpu) for a in others]).min(axis=0)
                  if gt.cpu else None)
            for k in range(K):
                m.cost[Y[k]] = (1 - alpha) * min(8.0 * delta[k] * gt.epb[a, d] for a in others) / en
                into[d][0].append(Y[k])
                into[d][1].append(ct[k] / tn / (D - 1))
                if only_on[d] >= 0:
                    shared_terms[only_on[d]][0].append(Y[k])
                    shared_terms[only_on[d]][1].append(ct[k] / tn)
                if rc is not None and rc[k] > 0:
                    busy_terms[d][0].append(Y[k])
                    busy_terms[d][1].append(rc[k] / tn)
                for v in members[k]:
                    m.row([Y[k], X[v, d], X[u, d]], [1, -1, 1], lo=0)
    for d in range(D if B is not None else 0):
        if into[d][0]:
            m.row([B, *into[d][0]], [1, *-np.array(into[d][1])], lo=0)
    for d, R in add_input_columns(m, gt, X, B, tn, shared_terms, busy_terms, busy_sign=1.0):
        m.cost[R] = (1 - alpha) * 8.0 * p.input_bytes * gt.epb[p.source, d] / en
        aux.append(R)
    if B is not None and gt.cpu:
        for d in range(D):
            m.row([B, *X[:, d], *busy_terms[d][0]], [1, *-gt.time[d] / tn, *-np.array(busy_terms[d][1])], lo=0)
    for idx, val in (shared_terms if B is not None else []):
        if idx:
            m.row([B, *idx], [1, *-np.array(val)], lo=0)
    return m, X, aux


def dual_value(m: Model, pi: np.ndarray, X: np.ndarray | None = None, assign_rows: np.ndarray | None = None) -> float:
    """A certified lower bound on the LP optimum of ``m`` from any row multipliers ``pi`` (module docstring).
    With ``X`` (L, D) and its assignment rows ``assign_rows`` (sum_d x[u,d] = 1), those rows are kept as
    constraints instead of priced: each unit then takes its least reduced cost over its devices, which is the
    best multiplier for them whatever ``pi`` says."""
    lo, hi = np.array(m.rlo, dtype=float), np.array(m.rhi, dtype=float)
    pi = np.where(np.isfinite(pi), pi, 0.0)
    pi = np.where((pi > 0) & ~np.isfinite(lo), 0.0, pi)
    pi = np.where((pi < 0) & ~np.isfinite(hi), 0.0, pi)
    if assign_rows is not None:
        pi = pi.copy()
        pi[assign_rows] = 0.0
    row_terms = np.where(pi > 0, pi * np.where(np.isfinite(lo), lo, 0.0),
                         pi * np.where(np.isfinite(hi), hi, 0.0))
    reduced = _reduced(m, pi)
    lb, ub = np.array(m.lb, dtype=float), np.array(m.ub, dtype=float)
    free = np.ones(len(lb), dtype=bool)
    unit_terms = np.zeros(0)
    if X is not None:
        free[X.ravel()] = False
        rx = np.where(ub[X] > 0, reduced[X], np.inf)
        unit_terms = rx.min(axis=1)
        if not np.isfinite(unit_terms).all():
            return -math.inf
    r, lb, ub = reduced[free], lb[free], ub[free]
    if (np.isinf(lb) & (r > 0)).any() or (np.isinf(ub) & (r < 0)).any():
        return -math.inf
    col_terms = np.where(r > 0, r * np.where(np.isfinite(lb), lb, 0.0), r * np.where(np.isfinite(ub), ub, 0.0))
    total = float(row_terms.sum() + col_terms.sum() + unit_terms.sum())
    # |rounding error| of the sums (and of the reduced costs) stays far below this
    err = 1e-12 * float(np.abs(row_terms).sum() + np.abs(col_terms).sum() + np.abs(unit_terms).sum()
                        + np.abs(m.cost).sum() + np.abs(pi).sum() * max(1.0, np.abs(m.val).max(initial=0.0)))
    return total - err - SLACK * abs(total)


def _reduced(m: Model, pi: np.ndarray) -> np.ndarray:
    starts = np.append(np.array(m.starts, dtype=np.int64), len(m.idx))
    row_of = np.repeat(np.arange(len(m.rlo)), np.diff(starts))
    reduced = np.array(m.cost, dtype=float)
    np.subtract.at(reduced, np.array(m.idx, dtype=np.int64), np.array(m.val, dtype=float) * pi[row_of])
    return reduced


def message_bound(gt: GraphTables, alpha: float, norm: dict, cap_objective: float, time_limit_s: float) -> float:
    """Lower bound on the scaled alpha-objective of every plan (0 when the LP solver gives no multipliers)."""
    if gt.D < 2 or not math.isfinite(cap_objective):
        return 0.0
    t0 = time.perf_counter()
    m, X, aux = message_lp(gt, alpha, norm, cap_objective)
    rest = time_limit_s - (time.perf_counter() - t0) - SOLVER_OVERHEAD_S
    if rest < MIN_SOLVE_S:
        return 0.0
    pi = _row_duals(m, rest, alpha)
    if pi is None:
        return 0.0
    pi = _balance(m, aux, pi)
    assign_rows = np.arange(gt.L)       # message_lp adds them first, one per unit
    return max(0.0, dual_value(m, pi, X, assign_rows))


def _balance(m: Model, aux: list[int], pi: np.ndarray) -> np.ndarray:
    """An approximate solver leaves the multipliers of the rows that push an auxiliary column (B, y, r) up summing
    to more than its reduced cost allows, so g would charge the column at its upper bound; scaling them down
    until its reduced cost is 0 removes that loss. Any multipliers give a valid bound: this only sharpens it."""
    pi = pi.copy()
    starts = np.append(np.array(m.starts, dtype=np.int64), len(m.idx))
    row_of = np.repeat(np.arange(len(m.rlo)), np.diff(starts))
    idx, val = np.array(m.idx, dtype=np.int64), np.array(m.val, dtype=float)
    is_aux = np.zeros(len(m.lb), dtype=bool)
    is_aux[aux] = True
    up = (val > 0) & is_aux[idx]
    rows, cols = row_of[up], idx[up]
    # B first (its rows also hold y columns, with negative coefficients), then every other column at once (their
    # rows hold no other auxiliary column)
    for sel in ((cols == aux[0]) if aux else np.zeros(len(cols), dtype=bool), cols != (aux[0] if aux else -1)):
        reduced = _reduced(m, pi)
        r, c = rows[sel], cols[sel]
        push = np.bincount(c, weights=np.maximum(pi[r], 0.0), minlength=len(m.lb))
        factor = np.ones(len(m.lb))
        need = (reduced < 0) & (push > 0)
        factor[need] = np.maximum(0.0, (push[need] + reduced[need]) / push[need])
        pi[r] = np.where(pi[r] > 0, pi[r] * factor[c], pi[r])
    return pi


def _row_duals(m: Model, time_limit_s: float, alpha: float) -> np.ndarray | None:
    """Row multipliers of an approximate LP solve. The solver is a speed choice only (any multipliers certify):
    with alpha > 0 the B rows make PDLP converge slowly (measured 5.2-7.5 s on the 500-unit, 8-device HB-WCC
    problems, so a 5 s budget gave no bound), while interior point without crossover took 1.5-2.7 s for the
    same certified value; at alpha = 0 PDLP is the faster one (0.7 s against 2.6 s)."""
    n = len(m.lb)
    h = quiet_highs()
    solver = ("pdlp",) if alpha == 0 else ("ipm", "run_crossover", "off")
    opts = [("time_limit", float(time_limit_s)), ("threads", 1), ("random_seed", 0), ("solver", solver[0])]
    if len(solver) > 1:
        opts.append((solver[1], solver[2]))
    for k, v in opts:
        h.setOptionValue(k, v)
    h.addVars(n, np.array(m.lb, dtype=float), np.array(m.ub, dtype=float))
    h.changeColsCost(n, np.arange(n, dtype=np.int32), np.array(m.cost, dtype=float))
    h.addRows(len(m.rlo), np.array(m.rlo, dtype=float), np.array(m.rhi, dtype=float), len(m.idx),
              np.array(m.starts, dtype=np.int32), np.array(m.idx, dtype=np.int32), np.array(m.val, dtype=float))
    if h.getNumRow() != len(m.rlo):
        return None
    h.run()
    pi = np.array(h.getSolution().row_dual, dtype=float)
    return pi if len(pi) == len(m.rlo) else None
