"""The device rows of the latency MILP (:mod:`.graph_latency`) when media carry message CPU costs: exact for the
rule of :mod:`.graph_schedule` (a unit's device block = compute + the send CPU of its messages; a receive task
per message on the receiving device, after the message's arrival and before every unit there that reads it).

With the message levels ``W[u, a, d, k]`` of the scheduling rows (on when u on a sends >= sizes[k] bytes to d)
and ``g[u, d] = sum_a W[u, a, d, K-1]`` (a message u -> d exists), times divided by ``H``::

    E_u  = F_u + sum_{a, d, k} sc_k(a, d) W[u, a, d, k]                    (end of u's device block)
    RS[u,d] >= A[u,d];  RE[u,d] >= RS[u,d] + sum_{a, k} rc_k(a, d) W[u, a, d, k]
    S_v >= RE[u,d] - M (1 - x[v,d])                                         (v reads u)
    per device d, with y = x or g of the two tasks (both on d iff y1 + y2 = 2), o binary:
        path u -> v:      S_v >= E_u - M (2 - x[u,d] - x[v,d])
        otherwise:        start_2 >= end_1 - M (1 - o) - M (2 - y1 - y2);  start_1 >= end_2 - M o - M (2 - y1 - y2)

``sc_k``/``rc_k`` are the level increments of the send/receive CPU (as :func:`.graph_latency.level_time` for
the message time; the input's send costs nothing). Every time lies in [0, M] with M = 1 + the largest send block
/ H (unit starts and makespan <= 1; a block ends at most its send CPU after its unit), so M is a valid big-M. A
receive task whose costs are 0 from every origin is left out (its readers wait for the arrival), as in the rule.
"""
from __future__ import annotations

import numpy as np

from .graph_costs import GraphTables
from .graph_milp import Model


def _increments(f, sizes) -> list[float]:
    vals = [f(b) for b in sizes] + [0.0]
    return [max(0.0, vals[k] - vals[k + 1]) for k in range(len(sizes))]


def add_cpu_rows(m: Model, gt: GraphTables, lr, H: float) -> None:
    from .graph_latency import reachability
    L, D, X, S = gt.L, gt.D, lr.X, lr.S
    snd: dict[int, tuple[list, list]] = {u: ([], []) for u in range(L)}
    rcv: dict[tuple, tuple[list, list]] = {}
    worst = 0.0
    for (u, a, d), (W, sizes) in lr.W.items():
        if u < L:
            inc = _increments(lambda b, a=a, d=d: gt.send_cpu(a, d, b), sizes)
            snd[u][0].extend(W)
            snd[u][1].extend(c / H for c in inc)
        inc = _increments(lambda b, a=a, d=d: gt.recv_cpu(a, d, b), sizes)
        cols, vals = rcv.setdefault((u, d), ([], []))
        cols.extend(W)
        vals.extend(c / H for c in inc)
    for u in range(L):
        # at most one origin is on: the largest block is the largest over origins
        per_origin = {}
        for (w, a, d), (W, sizes) in lr.W.items():
            if w == u:
                per_origin[a] = per_origin.get(a, 0.0) + gt.send_cpu(a, d, sizes[0]) / H
        worst = max([worst, *per_origin.values()])
    M = 1.0 + worst

    def E(u):
        i, v = lr.F(u)
        return [*i, *snd[u][0]], [*v, *snd[u][1]]

    def g(u, d):
        return [lr.G[(u, a, d)] for a in range(D) if (u, a, d) in lr.G]

    tasks = []      # (kind, key, device, start cols/vals, end cols/vals, on-device cols)
    for (u, d), (cols, vals) in sorted(rcv.items()):
        if not any(vals):
            continue
        rs, re = m.var(ub=M), m.var(ub=M)
        lr.RS[(u, d)] = int(rs)
        m.row([rs, lr.A[(u, d)]], [1, -1], lo=0)
        m.row([re, rs, *cols], [1, -1, *-np.array(vals)], lo=0)
        for v in lr.readers[u]:
            if gt.ok[d, v]:
                m.row([S[v], re, X[v, d]], [1, -1, -M], lo=-M)
        tasks.append(("r", u, d, ([rs], [1.0]), ([re], [1.0]), g(u, d)))
    for u in range(L):
        for d in range(D):
            if gt.ok[d, u]:
                tasks.append(("u", u, d, ([S[u]], [1.0]), E(u), [X[u, d]]))
    desc = reachability(gt)
    by_dev: dict[int, list] = {}
    for t in tasks:
        by_dev.setdefault(t[2], []).append(t)
    for d, ts in by_dev.items():
        for i, t1 in enumerate(ts):
            for t2 in ts[i + 1:]:
                _pair(m, t1, t2, desc, lr, M)


def _pair(m: Model, t1, t2, desc, lr, M: float) -> None:
    k1, u1, _, s1, e1, y1 = t1
    k2, u2, _, s2, e2, y2 = t2
    if k1 == "r" and k2 == "u" and u2 in lr.readers[u1]:
        return      # a reader waits for the receive task already
    if k1 == "u" and k2 == "r" and u1 in lr.readers[u2]:
        return
    if k1 == "u" and k2 == "u" and (desc[u1] >> u2 & 1 or desc[u2] >> u1 & 1):
        a, b = (t1, t2) if desc[u1] >> u2 & 1 else (t2, t1)
        # b after a's whole block: b.start - a.end - M y_a - M y_b >= -2M
        m.row([*b[3][0], *a[4][0], *a[5], *b[5]], [*b[3][1], *-np.array(a[4][1]), *[-M] * (len(a[5]) + len(b[5]))],
              lo=-2 * M)
        return
    o = m.var(integer=True)
    ys = [*y1, *y2]
    # o = 1: t1 first:  s2 - e1 - M o - M y >= -3M ;  o = 0: t2 first:  s1 - e2 + M o - M y >= -2M
    m.row([*s2[0], *e1[0], int(o), *ys], [*s2[1], *-np.array(e1[1]), -M, *[-M] * len(ys)], lo=-3 * M)
    m.row([*s1[0], *e2[0], int(o), *ys], [*s1[1], *-np.array(e2[1]), M, *[-M] * len(ys)], lo=-2 * M)
