"""Exact MILP for the alpha-objective of a graph problem (HiGHS via ``highspy``, imported only when called).

Times are divided by ``norm.time_s`` and energies by ``norm.energy_j`` so every coefficient is O(1) and HiGHS's
absolute tolerances (1e-7) are relative to the objective's scale. Variables and rows::

    x[u,d] in {0,1}          unit u on device d (fixed to 0 where d's type may not run u or u alone overflows d)
    sum_d x[u,d] = 1;  sum_u weight[u] x[u,d] <= memory[d]
    w[u,a,d,k] in [0,1]      "u runs on a and sends a message of at least level k to d" (a != d); u's distinct
                             out-edge sizes b_1 > ... > b_K (b_{K+1} = 0) are the levels
    w[u,a,d,k] >= x[u,a] + x[v,d] - 1        for every edge (u,v) with bytes >= b_k
    sum_{a != d} w[u,a,d,k] >= x[v,d] - x[u,d]   (the same rule aggregated over a: a tighter LP relaxation)
    r[d] >= x[v,d]           the input goes to d (v reads the input; only with a source, d != source)
    B >= sum_u time[d,u] x[u,d] (+ message CPU, below)                   (device busy)
    B >= sum_{u,k} c_k(a,b) (w[u,a,b,k] + w[u,b,a,k])                     (link {a,b} busy, independent media)
    B >= t_in(d) r[d]                                                      (input message)
    B >= sum_{(a,d) on m} sum_{u,k} c_k(a,d) w[u,a,d,k] + sum_{(s,d) on m} t_in(d) r[d]   (shared medium m)
    min  alpha B + (1 - alpha) (sum energy[d,u] x[u,d] + sum_{u,k} e_k(a,d) w[u,a,d,k] + sum e_in(d) r[d])

with ``c_k(a,b) = (b_k - b_{k+1}) / bw[a,b] + [k = K] latency[a,b]`` (so a message of size b_j costs exactly
``latency + b_j / bw`` through ``w[.,.,.,j..K] = 1``) and ``e_k`` likewise; with a time curve
``c_k = t(b_k) - t(b_{k+1})`` (``t(b_{K+1}) = 0``), >= 0 as the curve's time is non-decreasing
(:func:`level_increments`). Message CPU costs go into the device busy rows the same way: ``w[u,a,d,k]`` names
the sender a, so sender a's row gets the increments of ``send_cpu(a, d, .)`` and receiver d's those of
``recv_cpu(a, d, .)``, and d's row ``recv_cpu(source, d, input_bytes) r[d]``: no product of indicators is
needed. A link on a shared medium has no row of its own (the medium's row holds its terms). Interchangeable
devices (same type, not the source, same medium to every other device) are ordered: the first unit of the later
one comes after the first unit of the earlier one (``x[u,d2] <= sum_{v<u} x[v,d1]``), which removes mirror
solutions and is also the canonical form results are reported in.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .graph_costs import GraphTables
from .milp import quiet_highs

MIP_REL_GAP = 1e-6


@dataclass
class MilpOutcome:
    values: np.ndarray | None    # column values of the best solution, None when none was found
    objective: float             # HiGHS's objective of that solution (inf without one)
    bound: float                 # HiGHS's dual bound (a valid lower bound on the scaled objective)
    proved: bool                 # HiGHS reports Optimal (gap within MIP_REL_GAP)
    seconds: float
    status: str


class Model:
    """Columns and rows of a MILP, built with numpy-friendly calls, solved by HiGHS."""

    def __init__(self):
        self.lb, self.ub, self.cost, self.integ = [], [], [], []
        self.rlo, self.rhi, self.starts, self.idx, self.val = [], [], [], [], []

    def var(self, shape=(), lb=0.0, ub=1.0, integer=False, cost=0.0) -> np.ndarray:
        n = int(np.prod(shape)) if shape else 1
        first = len(self.lb)
        self.lb += [lb] * n
        self.ub += [ub] * n
        self.cost += [cost] * n
        self.integ += [1 if integer else 0] * n
        out = np.arange(first, first + n)
        return out.reshape(shape) if shape else int(out[0])

    def row(self, idx, val, lo=-math.inf, hi=math.inf) -> None:
        merged: dict[int, float] = {}     # HiGHS refuses a row naming a column twice
        for i, v in zip(idx, val):
            merged[int(i)] = merged.get(int(i), 0.0) + float(v)
        self.starts.append(len(self.idx))
        self.idx.extend(merged)
        self.val.extend(merged.values())
        self.rlo.append(lo)
        self.rhi.append(hi)

    def solve(self, time_limit_s: float, warm: dict[int, float] | None = None) -> MilpOutcome:
        n = len(self.lb)
        h = quiet_highs()
        for k, v in (("time_limit", float(time_limit_s)), ("threads", 1), ("random_seed", 0),
                     ("mip_rel_gap", MIP_REL_GAP), ("mip_abs_gap", 1e-9)):
            h.setOptionValue(k, v)
        h.addVars(n, np.array(self.lb, dtype=float), np.array(self.ub, dtype=float))
        cols = np.arange(n, dtype=np.int32)
        h.changeColsCost(n, cols, np.array(self.cost, dtype=float))
        h.changeColsIntegrality(n, cols, np.array(self.integ, dtype=np.uint8))
        status = h.addRows(len(self.rlo), np.array(self.rlo, dtype=float), np.array(self.rhi, dtype=float),
                  len(self.idx), np.array(self.starts, dtype=np.int32), np.array(self.idx, dtype=np.int32),
                  np.array(self.val, dtype=float))
        if h.getNumRow() != len(self.rlo):
            raise RuntimeError(f"HiGHS refused the model's rows ({status})")
        if warm:
            keys = np.array(sorted(warm), dtype=np.int32)
            h.setSolution(len(keys), keys, np.array([warm[k] for k in keys], dtype=float))
        t0 = time.perf_counter()
        h.run()
        secs = time.perf_counter() - t0
        status = h.modelStatusToString(h.getModelStatus())
        info = h.getInfo()
        bound = float(info.mip_dual_bound)
        if info.primal_solution_status != 2:
            return MilpOutcome(None, math.inf, bound, False, secs, status)
        return MilpOutcome(np.array(h.getSolution().col_value), float(info.objective_function_value), bound,
                           status == "Optimal", secs, status)



def interchangeable_classes(p) -> list[list[int]]:
    """Groups (size >= 2) of devices that can swap every unit without changing any cost."""
    groups: dict[tuple, list[int]] = {}
    for d in range(p.D):
        if d == p.source:
            continue
        key = (int(p.device_type[d]),)
        groups.setdefault(key, []).append(d)
    out = []
    for devs in groups.values():
        classes: list[list[int]] = []
        for d in devs:
            for c in classes:
                e = c[0]
                if all(p.link_medium[d][o] == p.link_medium[e][o] for o in range(p.D) if o not in (d, e)):
                    c.append(d)
                    break
            else:
                classes.append([d])
        out += [c for c in classes if len(c) > 1]
    return out


def canonical(p, a: np.ndarray) -> np.ndarray:
    """Rename interchangeable devices so that, within each class, devices are used in order of their first unit
    (the symmetry-breaking rule the MILPs impose); costs are unchanged."""
    a = np.array(a, dtype=int)
    for cls in interchangeable_classes(p):
        first = sorted(cls, key=lambda d: (int(np.argmax(a == d)) if (a == d).any() else p.L, d))
        mapping = {old: new for old, new in zip(first, cls)}
        a = np.array([mapping.get(int(d), int(d)) for d in a])
    return a


def add_assignment(m: Model, gt: GraphTables, fixed: dict[int, int] | None = None) -> np.ndarray:
    """``x[u,d]`` with the assignment, eligibility, memory and symmetry-breaking rows; ``fixed`` pins units to
    devices (then no symmetry is broken: pinned devices are no longer interchangeable)."""
    L, D, p = gt.L, gt.D, gt.p
    X = m.var((L, D), integer=True)
    for u in range(L):
        for d in range(D):
            if not gt.ok[d, u] or (fixed and u in fixed and fixed[u] != d):
                m.ub[X[u, d]] = 0.0
        m.row(X[u], np.ones(D), 1, 1)
    w = p.weight_bytes
    for d in range(D):
        if math.isfinite(gt.mem[d]) and w.sum() > gt.mem[d]:
            m.row(X[:, d], w / gt.mem[d], hi=1.0)
    for cls in ([] if fixed else interchangeable_classes(p)):
        for d1, d2 in zip(cls, cls[1:]):
            m.row([X[0, d2]], [1], hi=0)
            for u in range(1, L):
                m.row([X[u, d2], *X[:u, d1]], [1, *-np.ones(u)], hi=0)
    return X


def message_levels(gt: GraphTables, u: int) -> tuple[np.ndarray, list[list[int]]]:
    """Distinct out-edge sizes of ``u`` descending, and for each level the successors with bytes >= it."""
    sizes = np.array(sorted({b for _, b in gt.out_edges[u]}, reverse=True))
    members = [[v for v, b in gt.out_edges[u] if b >= s] for s in sizes]
    return sizes, members


def level_increments(gt: GraphTables, a: int, d: int, sizes: np.ndarray, delta: np.ndarray, f=None) -> np.ndarray:
    """Per size level k, what a message from ``a`` to ``d`` of size ``sizes[k]`` costs more than one of
    ``sizes[k + 1]`` (the last level: its whole cost), for ``f(a, d, bytes)`` (default: the message time), so
    levels ``j..K-1`` add up to ``f`` of ``sizes[j]``. Without a time curve the plain line's increments,
    ``delta_k / bw + [k = K-1] latency``. ``f`` is non-decreasing in the bytes, so every increment is >= 0 (clipped
    at 0 against rounding), which keeps the MILP exact: it pays at least the increments a plan forces."""
    if f is None and (not gt.curved or gt.medium_id[a, d] not in gt.curved_media):
        K = len(sizes)
        return np.array([delta[k] / gt.bw[a, d] + (gt.lat[a, d] if k == K - 1 else 0.0) for k in range(K)])
    f = f or gt.msg_time
    vals = np.array([f(a, d, float(b)) for b in sizes] + [0.0])
    inc = vals[:-1] - vals[1:]
    return np.maximum(inc, 0.0)


def alpha_milp(gt: GraphTables, alpha: float, norm: dict, time_limit_s: float,
               warm: np.ndarray | None = None, cap: float | None = None,
               extend=None) -> tuple[np.ndarray | None, MilpOutcome]:
    """Optimal assignment for ``alpha``. With ``cap`` (alpha in {0, 1} only) the tie-break solve instead:
    minimise the other term (energy at alpha = 1, bottleneck at alpha = 0) subject to the optimised term
    (scaled by its norm) <= ``cap``. ``extend(model, X)``, when given, adds rows on the assignment columns
    before the solve (e.g. a latency constraint)."""
    L, D, p = gt.L, gt.D, gt.p
    tn, en = norm["time_s"], norm["energy_j"]
    m = Model()
    X = add_assignment(m, gt)
    B = m.var(ub=math.inf)
    ecost: dict[int, float] = {}        # the energy term's coefficients (scaled by norm.energy_j)
    for u in range(L):
        for d in range(D):
            ecost[int(X[u, d])] = gt.energy[d, u] / en
    # device busy rows: written here without CPU costs (the plain model's row order), at the end with them, once
    # the message columns that add their CPU seconds exist
    busy_terms = [([B, *X[:, d]], [1.0, *-gt.time[d] / tn]) for d in range(D)]
    if not gt.cpu:
        for idx, val in busy_terms:
            m.row(idx, val, lo=0)
    link_terms: dict[tuple[int, int], tuple[list, list]] = {}
    shared_terms: list[tuple[list, list]] = [([], []) for _ in range(gt.n_shared)]
    warm_cols: dict[int, float] = {}
    for u in range(L):
        if not gt.out_edges[u]:
            continue
        sizes, members = message_levels(gt, u)
        delta = sizes - np.append(sizes[1:], 0.0)
        K = len(sizes)
        Wsum: dict[int, list] = {}
        for a in range(D):
            if not gt.ok[a, u]:
                continue
            for d in range(D):
                if d == a:
                    continue
                W = m.var((K,))
                Wsum.setdefault(d, []).append(W)
                ct = level_increments(gt, a, d, sizes, delta)
                sid = gt.shared[a, d]
                if gt.cpu:
                    cs, cr = (level_increments(gt, a, d, sizes, delta, f) for f in (gt.send_cpu, gt.recv_cpu))
                for k in range(K):
                    ecost[int(W[k])] = 8.0 * delta[k] * gt.epb[a, d] / en
                    if sid >= 0:
                        shared_terms[sid][0].append(W[k])
                        shared_terms[sid][1].append(ct[k] / tn)
                    else:   # a link on a shared medium is part of the medium's row, which dominates its own
                        terms = link_terms.setdefault((min(a, d), max(a, d)), ([], []))
                        terms[0].append(W[k])
                        terms[1].append(ct[k] / tn)
                    if gt.cpu:
                        for dev, c in ((a, cs[k]), (d, cr[k])):
                            if c > 0:
                                busy_terms[dev][0].append(W[k])
                                busy_terms[dev][1].append(-c / tn)
                    for v in members[k]:
                        m.row([W[k], X[u, a], X[v, d]], [1, -1, -1], lo=-1)
                    if warm is not None:
                        warm_cols[int(W[k])] = float(warm[u] == a and any(warm[v] == d for v in members[k]))
        # a tighter, aggregated form of the same rule: whatever u's device, a message of level k reaches d
        # when u is not on d and a successor of that level is
        for d, Ws in Wsum.items():
            for k in range(K):
                for v in members[k]:
                    m.row([*(W[k] for W in Ws), X[v, d], X[u, d]], [*np.ones(len(Ws)), -1, 1], lo=0)
    for (a, b), (idx, val) in link_terms.items():
        m.row([B, *idx], [1, *-np.array(val)], lo=0)
    for d, R in add_input_columns(m, gt, X, B, tn, shared_terms, busy_terms, busy_sign=-1.0):
        ecost[R] = 8.0 * p.input_bytes * gt.epb[p.source, d] / en
        if warm is not None:
            warm_cols[R] = float(any(warm[v] == d for v in p.graph.input_units))
    if gt.cpu:
        for idx, val in busy_terms:
            m.row(idx, val, lo=0)
    for idx, val in shared_terms:
        if idx:
            m.row([B, *idx], [1, *-np.array(val)], lo=0)
    if cap is None:
        m.cost[B] = alpha
        for i, c in ecost.items():
            m.cost[i] = (1 - alpha) * c
    elif alpha == 1.0:
        m.ub[B] = cap
        for i, c in ecost.items():
            m.cost[i] = c
    else:
        m.cost[B] = 1.0
        m.row(list(ecost), list(ecost.values()), hi=cap)
    if extend is not None:
        extend(m, X)
    if warm is not None:
        for u in range(L):
            for d in range(D):
                warm_cols[int(X[u, d])] = float(warm[u] == d)
    out = m.solve(time_limit_s, warm_cols if warm is not None else None)
    if out.values is None:
        return None, out
    return canonical(p, np.rint(out.values[X]).argmax(axis=1)), out


def add_input_columns(m: Model, gt: GraphTables, X, B, tn: float, shared_terms, busy_terms,
                      busy_sign: float) -> list[tuple[int, int]]:
    """With a source: per other device d a column R "the input goes to d" (R >= x[v,d] for every input-reading
    unit v) and, when the model has a bottleneck column ``B``, the input message's terms: B >= t_in R, its time in
    its shared medium's sum and its receive CPU in d's busy terms (coefficient sign ``busy_sign``, as the caller
    writes its busy rows). Returns the (d, R) pairs; the caller prices them."""
    p, D, s = gt.p, gt.D, gt.p.source
    out: list[tuple[int, int]] = []
    if s is None or D < 2:
        return out
    for d in range(D):
        if d == s:
            continue
        R = m.var()
        out.append((d, R))
        for v in p.graph.input_units:
            m.row([R, X[v, d]], [1, -1], lo=0)
        if B is None:
            continue
        t_in = gt.msg_time(s, d, p.input_bytes) / tn
        m.row([B, R], [1, -t_in], lo=0)
        if gt.shared[s, d] >= 0:
            shared_terms[gt.shared[s, d]][0].append(R)
            shared_terms[gt.shared[s, d]][1].append(t_in)
        if gt.cpu and gt.recv_cpu(s, d, p.input_bytes) > 0:
            busy_terms[d][0].append(R)
            busy_terms[d][1].append(busy_sign * gt.recv_cpu(s, d, p.input_bytes) / tn)
    return out
