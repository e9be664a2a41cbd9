"""Exact MILP for single-inference latency (makespan) under :mod:`.graph_schedule`'s semantics, and its
contention-free relaxation used as a lower bound on larger graphs.

Times are divided by ``H``, the latency of a known plan (the heuristic's), and ``C <= 1`` is imposed (the
optimum is no worse than that plan), so every start time lies in [0, 1] and 1 is a valid big-M. With the
assignment rows of :func:`.graph_milp.add_assignment` and the message levels ``w[u,a,d,k]`` of the alpha MILP
(the input is a virtual producer fixed on the source, finished at 0, with an edge of ``input_bytes`` to every
input-reading unit)::

    F_u = S_u + sum_d time[d,u] x[u,d];   C >= F_u;   C <= 1;   min C
    MS[u,d] >= F_u;   A[u,d] >= MS[u,d] + sum_{a != d, k} c_k(a,d) w[u,a,d,k]     (message u -> d; c_k: the
                      message_time increment of level k over the pair's medium, :func:`level_time`)
    S_v >= A[u,d] - (1 - x[v,d])                       for every edge (u,v) and device d
    unit pairs u, v that no path orders, per device d (o[u,v] binary: u first):
        S_v >= F_u - (1 - o) - (2 - x[u,d] - x[v,d]);   S_u >= F_v - o - (2 - x[u,d] - x[v,d])
    message pairs that may share a channel (q binary), with g = the "any message" level w[.,.,.,K]:
        same destination d, same origin a, independent link:      MS' >= A - (1 - q) - (2 - g[u,a,d] - g[u',a,d])
        opposite directions (u on d', u' on d), independent link: MS' >= A - (1 - q) - (2 - g[u,d',d] - g[u',d,d'])
        shared medium m (any two slots, the same producer's too): g by sum_{a: pair (a, d) on m} g[u,a,d]
        and the reverse rows; message CPU costs: the device rows of :mod:`.graph_latency_cpu` replace the
        unit-pair rows

Without the message-pair rows (``contention=False``) every solution of the model is at most the true latency
of its plan, so its dual bound is a valid lower bound on the optimum; the plan read back is costed by the true
schedule.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .graph_costs import GraphTables
from .graph_milp import Model, add_assignment, canonical, message_levels
from .graph_schedule import INPUT, message_list


def reachability(gt: GraphTables) -> list[int]:
    """Bitset of the descendants of every unit (units are in a topological order)."""
    desc = [0] * gt.L
    for u in range(gt.L - 1, -1, -1):
        for v, _ in gt.out_edges[u]:
            desc[u] |= (1 << v) | desc[v]
    return desc


def contention_pairs(gt: GraphTables) -> int:
    """An upper bound on the message-pair count of the full model (to decide whether to build it)."""
    n = sum(1 for u in range(gt.L) if gt.out_edges[u]) + (gt.p.source is not None)
    slots = n * gt.D
    return slots * (slots - 1) // 2


class MessageKeys(list):
    """Message priorities (a list, in ``message_list`` order) and, in ``recv``, receive-task priorities by
    (producer or INPUT, device)."""
    recv: dict = {}


@dataclass
class LatencyRows:
    """Columns of the scheduling part of a latency model (built on an existing assignment ``X``)."""
    X: np.ndarray
    S: np.ndarray                       # unit start times (scaled by H)
    C: int                              # makespan column, C <= 1
    MS: dict                            # (producer or L for the input, device) -> message start column
    A: dict                             # (producer, device) -> message arrival column
    G: dict                             # (producer, origin, destination) -> "any message" level column
    W: dict                             # (producer, origin, destination) -> (level columns, sizes)
    readers: dict                       # producer (L for the input) -> the units that read its messages
    F: object = None                    # u -> (columns, coefficients) of F_u
    RS: dict = field(default_factory=dict)  # (producer, device) -> receive-task start column (message CPU)


def add_latency_rows(m: Model, gt: GraphTables, X: np.ndarray, H: float) -> LatencyRows:
    """Start times, message times and the per-device unit-order disjunctions (no channel contention); times are
    divided by ``H`` and ``C <= 1`` (so every start time lies in [0, 1] and 1 is a valid big-M). With message
    CPU costs the device rows are those of :func:`.graph_latency_cpu.add_cpu_rows` instead."""
    L, D, p = gt.L, gt.D, gt.p
    S = m.var((L,), ub=1.0)
    C = m.var(ub=1.0)
    tH = gt.time / H

    def F(u):   # columns and coefficients of F_u
        return [S[u], *X[u]], [1.0, *tH[:, u]]

    for u in range(L):
        i, v = F(u)
        m.row([C, *i], [1.0, *-np.array(v)], lo=0)
    # producers: units with successors, and the input (index L) when there is a source
    prods = [u for u in range(L) if gt.out_edges[u]]
    src = p.source if (p.source is not None and D > 1) else None
    if src is not None:
        prods.append(L)
    MS, A, G, Wl, readers = {}, {}, {}, {}, {}
    for u in prods:
        if u < L:
            sizes, members = message_levels(gt, u)
            origins = [a for a in range(D) if gt.ok[a, u]]
        else:
            sizes, members = np.array([p.input_bytes]), [list(map(int, p.graph.input_units))]
            origins = [src]
        delta = sizes - np.append(sizes[1:], 0.0)
        K = len(sizes)
        readers[u] = members[-1]
        dests = [d for d in range(D) if any(gt.ok[d, v] for v in members[-1])]
        for d in dests:
            ms, ar = m.var(ub=1.0), m.var(ub=1.0)
            MS[(u, d)], A[(u, d)] = ms, ar
            if u < L:
                i, v = F(u)
                m.row([ms, *i], [1.0, *-np.array(v)], lo=0)
            dur_i, dur_v = [], []
            for a in origins:
                if a == d:
                    continue
                W = m.var((K,))
                G[(u, a, d)] = int(W[K - 1])
                Wl[(u, a, d)] = (W, sizes)
                for k in range(K):
                    dur_i.append(W[k])
                    dur_v.append(level_time(gt, a, d, sizes, delta, k) / H)
                    for v in members[k]:
                        if u < L:
                            m.row([W[k], X[u, a], X[v, d]], [1, -1, -1], lo=-1)
                        else:
                            m.row([W[k], X[v, d]], [1, -1], lo=0)
            m.row([ar, ms, *dur_i], [1, -1, *-np.array(dur_v)], lo=0)
            for v in members[-1]:
                m.row([S[v], ar, X[v, d]], [1, -1, -1], lo=-1)
    lr = LatencyRows(X, S, C, MS, A, G, Wl, readers, F)
    if p.has_cpu_cost:
        from .graph_latency_cpu import add_cpu_rows
        add_cpu_rows(m, gt, lr, H)
        return lr
    desc = reachability(gt)
    for u in range(L):
        for v in range(u + 1, L):
            if desc[u] >> v & 1:
                continue
            shared = [d for d in range(D) if gt.ok[d, u] and gt.ok[d, v]]
            if not shared:
                continue
            o = m.var(integer=True)
            iu, vu = F(u)
            iv, vv = F(v)
            for d in shared:
                # S_v - F_u - o - x_ud - x_vd >= -3 ;  S_u - F_v + o - x_ud - x_vd >= -2
                m.row([S[v], *iu, o, X[u, d], X[v, d]], [1, *-np.array(vu), -1, -1, -1], lo=-3)
                m.row([S[u], *iv, o, X[u, d], X[v, d]], [1, *-np.array(vv), 1, -1, -1], lo=-2)
    return lr


def level_time(gt: GraphTables, a: int, d: int, sizes: np.ndarray, delta: np.ndarray, k: int) -> float:
    """Seconds level ``k`` adds to a message from ``a`` to ``d`` (levels: sizes descending, level k on when the
    message holds >= sizes[k] bytes): msg_time(sizes[k]) - msg_time(sizes[k + 1]), the last level the whole
    time of the smallest size, so the on levels sum to the message's time (>= 0: message times are
    non-decreasing in bytes). Without a time curve the line's own arithmetic."""
    if gt.p.media[gt.p.link_medium[a][d]].time_curve is None:
        return delta[k] / gt.bw[a, d] + (gt.lat[a, d] if k == len(sizes) - 1 else 0.0)
    nxt = gt.msg_time(a, d, sizes[k + 1]) if k + 1 < len(sizes) else 0.0
    return max(0.0, gt.msg_time(a, d, sizes[k]) - nxt)


def message_pairs(lr: LatencyRows, gt: GraphTables) -> dict[tuple, list[tuple[list, list]]]:
    """Every pair of message slots ((u, d), (u2, d2)) that may share a channel, with the (g1, g2) column lists
    of each case: both slots use that channel iff sum(g1) = sum(g2) = 1. An independent link: two producers'
    messages between the same devices (either direction); a shared medium: any two messages over it (the same
    producer's to two devices included)."""
    out = {}
    D = gt.D
    ls = gt.p.link_shared if gt.p.link_shared is not None else np.full((D, D), -1)
    slots = sorted(lr.MS)
    G = lr.G
    on = {}     # (slot, shared medium) -> the "any message" columns of the slot's messages over that medium
    for (u, d) in slots:
        for a in range(D):
            if (u, a, d) in G and ls[a, d] >= 0:
                on.setdefault(((u, d), int(ls[a, d])), []).append(G[(u, a, d)])
    for i, (u, d) in enumerate(slots):
        for (u2, d2) in slots[i + 1:]:
            cases = []
            if u2 != u:
                if d2 == d:
                    cases = [([G[(u, a, d)]], [G[(u2, a, d)]]) for a in range(D)
                             if (u, a, d) in G and (u2, a, d) in G and ls[a, d] < 0]
                elif (u, d2, d) in G and (u2, d, d2) in G and ls[d2, d] < 0:
                    cases = [([G[(u, d2, d)]], [G[(u2, d, d2)]])]
            cases += [(on[((u, d), k)], on[((u2, d2), k)]) for k in range(len(gt.p.shared_media))
                      if ((u, d), k) in on and ((u2, d2), k) in on]
            if cases:
                out[((u, d), (u2, d2))] = cases
    return out


def add_pair_rows(m: Model, lr: LatencyRows, pair: tuple, cases: list[tuple[list, list]]) -> None:
    """The channel disjunction of two message slots: when both use the same channel, one ends before the other
    starts."""
    s1, s2 = pair
    q = m.var(integer=True)
    for g1, g2 in cases:
        n1, n2 = [-1] * len(g1), [-1] * len(g2)
        # q = 1: s1 first
        m.row([lr.MS[s2], lr.A[s1], q, *g1, *g2], [1, -1, -1, *n1, *n2], lo=-3)
        m.row([lr.MS[s1], lr.A[s2], q, *g1, *g2], [1, -1, 1, *n1, *n2], lo=-2)


def read_plan(gt: GraphTables, lr: LatencyRows, x: np.ndarray, fixed: dict | None = None):
    """(assignment, unit keys, message keys) of a solution: the assignment renamed to canonical form (unless
    units are pinned) and the MILP's start times as list-schedule priorities."""
    L = gt.L
    a_raw = np.rint(x[lr.X]).argmax(axis=1)
    a = a_raw if fixed else canonical(gt.p, a_raw)
    # canonical() only renames interchangeable devices: carry the MILP's message start times over
    back = {int(new): int(old) for old, new in zip(a_raw, a)}
    ukey = x[lr.S]
    mkey = MessageKeys(x[lr.MS[(L if u == INPUT else u, back.get(d, d))]] for u, s, d, b in message_list(gt, a))
    # receive tasks (message CPU) by their start times too, so the list schedule is no later than the MILP's
    fwd = {old: new for new, old in back.items()}
    mkey.recv = {(INPUT if u == L else u, fwd.get(d, d)): x[c] for (u, d), c in lr.RS.items()}
    return a, ukey, mkey


def latency_milp(gt: GraphTables, H: float, time_limit_s: float, contention: bool = True,
                 warm_assign: np.ndarray | None = None, fixed: dict[int, int] | None = None):
    """(assignment, unit keys, message keys, outcome) of the MILP; keys are the MILP's start times. ``fixed``
    pins units to devices."""
    L, D = gt.L, gt.D
    m = Model()
    X = add_assignment(m, gt, fixed)
    lr = add_latency_rows(m, gt, X, H)
    m.cost[lr.C] = 1.0
    if contention:
        for pair, cases in message_pairs(lr, gt).items():
            add_pair_rows(m, lr, pair, cases)
    warm = None
    if warm_assign is not None:
        warm = {int(X[u, d]): float(warm_assign[u] == d) for u in range(L) for d in range(D)}
    out = m.solve(time_limit_s, warm)
    if out.values is None:
        return None, None, None, out
    return (*read_plan(gt, lr, out.values, fixed), out)
