"""A MILP peer for the benchmark: the stage-slot formulation a user would write (as in Moirai / DiviML), in HiGHS.

Not one of donna's solvers: it exists so that ``make bench`` can put a general-purpose MILP beside ``exact`` on
the same problems and objective. Needs ``highspy`` (the optional ``bench`` extra); imported only when called.

Slots ``s = 0..S-1`` (``S = min(D, L)``) are the pipeline stages in order. Variables: ``x[l,s]`` (unit ``l`` runs
in slot ``s``), ``y[s,d]`` (slot ``s`` runs on device ``d``), ``c[l,s]`` (the cut after unit ``l`` goes from slot
``s`` to ``s+1``), ``B`` (bottleneck), ``e[s]``/``f[s]`` (compute / transfer energy of slot ``s``), and for
non-uniform links ``q[s,d,d']`` (slots ``s, s+1`` on ``d, d'``). Constraints::

    sum_s x[l,s] = 1;  x[0,0] = 1;  x[l+1,s] <= x[l,s] + x[l,s-1]            (contiguous, consecutive slots)
    sum_d y[s,d] = sum_{s' >= s} x[L-1,s'];  sum_s y[s,d] <= 1              (used slots get one device each)
    B >= sum_l time[t,l] x[l,s] - M_t (1 - Y[s,t]),  Y[s,t] = sum_{d of type t} y[s,d]     (big-M per type)
    e[s] >= sum_l energy[t,l] x[l,s] - M'_t (1 - Y[s,t]);  memory and eligibility likewise
    c[l,s] >= x[l,s] + x[l+1,s+1] - 1;  B >= sum_l T_comm(l) c[l,s];  f[s] >= sum_l E_comm(l) c[l,s]
    B >= sum_d T_in(d) y[0,d]
    min  alpha B / norm.time + (1 - alpha) (sum_s e[s] + f[s] + sum_d E_in(d) y[0,d]) / norm.energy

With per-pair media the transfer rows are written per device pair with ``q`` and a big-M. The plan read back is
re-evaluated with the shared cost model; ``proved`` says whether HiGHS closed its gap.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .costs import Tables


@dataclass
class MilpResult:
    plan: list | None          # [(device index, first, last)], None when HiGHS found no solution in time
    objective: float           # HiGHS's objective of that plan (the model's reading of the cost)
    bound: float               # HiGHS's dual bound
    proved: bool               # optimal within HiGHS's default gap tolerance
    seconds: float
    status: str


class _Rows:
    def __init__(self):
        self.lo, self.hi, self.starts, self.idx, self.val = [], [], [], [], []

    def add(self, idx, val, lo=-math.inf, hi=math.inf):
        self.starts.append(len(self.idx))
        self.idx.extend(int(i) for i in idx)
        self.val.extend(float(v) for v in val)
        self.lo.append(lo)
        self.hi.append(hi)


def quiet_highs():
    """A silent ``Highs`` object; its constructor prints a banner on the C level, so fd 1 is muted around it.
    highspy is imported here: a chain solve never loads it."""
    import os
    import sys

    import highspy
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
            h.silent()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    return h


def milp_solve(tb: Tables, alpha: float, norm: dict, time_limit_s: float = 30.0, threads: int = 1) -> MilpResult:
    p = tb.p
    L, D = p.L, p.D
    S = min(D, L)
    tn, en = norm["time_s"], norm["energy_j"]
    types = sorted(set(int(t) for t in p.device_type))
    n = 0

    def block(*shape):
        nonlocal n
        size = int(np.prod(shape))
        out = np.arange(n, n + size).reshape(shape)
        n += size
        return out

    X = block(L, S)
    Y = block(S, D)
    C = block(max(L - 1, 0), max(S - 1, 0))
    Bv = int(block(1)[0])
    Ev = block(S)
    Fv = block(S)
    off = ~np.eye(D, dtype=bool)
    cuts = np.arange(1, L)                          # cut after unit l is cut index l+1
    ct = np.array([[tb.comm_time(u, v, cuts) if u != v else np.zeros(L - 1) for v in range(D)] for u in range(D)])
    ce = np.array([[tb.comm_energy(u, v, cuts) if u != v else np.zeros(L - 1) for v in range(D)]
                   for u in range(D)])
    uniform = D < 2 or (np.ptp(ct[off], axis=0).max(initial=0) == 0 and np.ptp(ce[off], axis=0).max(initial=0) == 0)
    Q = block(max(S - 1, 0), D, D) if not uniform else None
    lb = np.zeros(n)
    ub = np.ones(n)
    ub[[Bv, *Ev, *Fv]] = math.inf
    integ = np.zeros(n, dtype=np.int32)
    integ[X.ravel()] = 1
    integ[Y.ravel()] = 1
    cost = np.zeros(n)
    cost[Bv] = alpha / tn
    cost[Ev] = (1 - alpha) / en
    cost[Fv] = (1 - alpha) / en
    in_t = np.array([tb.input_cost(d)[0] for d in range(D)])
    in_e = np.array([tb.input_cost(d)[1] for d in range(D)])
    cost[Y[0]] += (1 - alpha) / en * in_e

    r = _Rows()
    for l in range(L):
        r.add(X[l], np.ones(S), 1, 1)
    r.add([X[0, 0]], [1], 1, 1)
    for l in range(L - 1):
        for s in range(S):
            idx, val = [X[l + 1, s], X[l, s]], [1, -1]
            if s > 0:
                idx.append(X[l, s - 1])
                val.append(-1)
            r.add(idx, val, hi=0)
    for s in range(S):
        r.add([*Y[s], *X[L - 1, s:]], [*np.ones(D), *-np.ones(S - s)], 0, 0)
    for d in range(D):
        r.add(Y[:, d], np.ones(S), hi=1)
    for s in range(S):
        for t in types:
            devs = [d for d in range(D) if p.device_type[d] == t]
            m_t = float(p.time_s[t].sum())
            r.add([Bv, *X[:, s], *Y[s, devs]], [1, *-p.time_s[t], *-m_t * np.ones(len(devs))], lo=-m_t)
            m_e = float(p.energy_j[t].sum())
            r.add([Ev[s], *X[:, s], *Y[s, devs]], [1, *-p.energy_j[t], *-m_e * np.ones(len(devs))], lo=-m_e)
            m_w = float(p.weight_bytes.sum())
            if math.isfinite(p.memory_bytes[t]) and m_w > p.memory_bytes[t]:
                r.add([*X[:, s], *Y[s, devs]], [*p.weight_bytes, *m_w * np.ones(len(devs))],
                      hi=float(p.memory_bytes[t]) + m_w)
            for l in np.nonzero(~p.allowed[t])[0]:
                r.add([X[l, s], *Y[s, devs]], np.ones(1 + len(devs)), hi=1)
    for l in range(L - 1):
        for s in range(S - 1):
            r.add([C[l, s], X[l, s], X[l + 1, s + 1]], [1, -1, -1], lo=-1)
    for s in range(S - 1):
        if uniform:
            u, v = (0, 1) if D > 1 else (0, 0)
            r.add([Bv, *C[:, s]], [1, *-ct[u, v]], lo=0)
            r.add([Fv[s], *C[:, s]], [1, *-ce[u, v]], lo=0)
        else:
            for u in range(D):
                for v in range(D):
                    if u == v:
                        r.add([Q[s, u, v]], [1], hi=0)
                        continue
                    r.add([Q[s, u, v], Y[s, u], Y[s + 1, v]], [1, -1, -1], lo=-1)
                    mt, me = float(ct[u, v].max(initial=0)), float(ce[u, v].max(initial=0))
                    r.add([Bv, *C[:, s], Q[s, u, v]], [1, *-ct[u, v], -mt], lo=-mt)
                    r.add([Fv[s], *C[:, s], Q[s, u, v]], [1, *-ce[u, v], -me], lo=-me)
    r.add([Bv, *Y[0]], [1, *-in_t], lo=0)

    h = quiet_highs()
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("threads", int(threads))
    h.setOptionValue("random_seed", 0)
    h.addVars(n, lb, ub)
    h.changeColsCost(n, np.arange(n, dtype=np.int32), cost)
    h.changeColsIntegrality(n, np.arange(n, dtype=np.int32), integ)
    h.addRows(len(r.lo), np.array(r.lo), np.array(r.hi), len(r.idx), np.array(r.starts, dtype=np.int32),
              np.array(r.idx, dtype=np.int32), np.array(r.val))
    t0 = time.perf_counter()
    h.run()
    secs = time.perf_counter() - t0
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    if info.primal_solution_status != 2:      # kSolutionStatusFeasible
        return MilpResult(None, math.inf, float(info.mip_dual_bound), False, secs, status)
    x = np.array(h.getSolution().col_value)
    slot = np.rint(x[X]).argmax(axis=1)
    plan = []
    for s in range(int(slot.max()) + 1):
        units = np.nonzero(slot == s)[0]
        dev = int(np.rint(x[Y[s]]).argmax())
        plan.append((dev, int(units.min()), int(units.max())))
    return MilpResult(plan, float(info.objective_function_value), float(info.mip_dual_bound),
                      status == "Optimal", secs, status)
