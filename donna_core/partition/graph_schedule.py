"""Single-inference latency (makespan) of a graph plan: the list-scheduling semantics.

Resources: every device runs one unit at a time; every link (unordered device pair) carries one message at a
time. Messages are those of the graph cost model (one per producer and destination device, the largest edge
into that device); with a ``source`` the input is one message from the source to each other device holding an
input-reading unit, ready at t = 0 (without a source the input is on every device at t = 0). A unit starts when
all its inputs are on its device (a producer on the same device: its finish; otherwise the arrival of its
message); a message starts when its producer has finished. Compute and messages overlap.

A schedule is fixed by the assignment and a priority for every task (unit or message): tasks are taken in
priority order among those whose predecessors are placed (Kahn's algorithm; ties by unit index, producer
before its messages), and each is appended to its resource: start = max(ready time, resource free time). Every
semi-active schedule arises this way (sort its tasks by start time), so the minimum over priorities is the
optimum latency for the assignment.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from .graph_costs import GraphTables

INPUT = -1   # the producer of the input messages


@dataclass
class Schedule:
    latency_s: float
    start: np.ndarray               # (L,)
    finish: np.ndarray              # (L,)
    messages: list[tuple]           # (producer or INPUT, from, to, bytes, start, finish)

    def to_dict(self, p, a) -> dict:
        names = p.device_names
        return {"units": [{"unit": p.unit_names[u], "device": names[a[u]], "start_s": float(self.start[u]),
                           "finish_s": float(self.finish[u])} for u in range(p.L)],
                "messages": [{"from_unit": None if u == INPUT else p.unit_names[u], "from": names[s], "to": names[d],
                              "bytes": b, "start_s": t0, "finish_s": t1} for u, s, d, b, t0, t1 in self.messages]}


def message_list(gt: GraphTables, a) -> list[tuple[int, int, int, float]]:
    """(producer or INPUT, from, to, bytes) of every message, input messages first, then by producer, to."""
    out = [(INPUT, gt.p.source, d, b) for d, b in gt.input_messages(a).items()]
    for u in range(gt.L):
        out += [(u, int(a[u]), d, b) for d, b in sorted(gt.producer_messages(u, a).items())]
    return out


def schedule(gt: GraphTables, a, unit_key, msg_key=None) -> Schedule:
    """The list schedule of assignment ``a`` under priorities ``unit_key[u]`` (and ``msg_key[i]`` for
    ``message_list(gt, a)[i]``; default: right after its producer, the input messages first)."""
    L = gt.L
    a = [int(x) for x in a]
    msgs = message_list(gt, a)
    if msg_key is None:
        msg_key = [(-np.inf if u == INPUT else unit_key[u]) for u, _, _, _ in msgs]
    # task ids: units 0..L-1, messages L..L+M-1
    M = len(msgs)
    succ: list[list[int]] = [[] for _ in range(L + M)]
    indeg = [0] * (L + M)
    ready = [0.0] * (L + M)
    via: dict[tuple[int, int], int] = {}
    for i, (u, s, d, b) in enumerate(msgs):
        via[(u, d)] = L + i
        if u != INPUT:
            succ[u].append(L + i)
            indeg[L + i] += 1
    for v in range(L):
        for u, _ in gt.in_edges[v]:
            t = u if a[u] == a[v] else via[(u, a[v])]
            succ[t].append(v)
            indeg[v] += 1
        if gt.is_input[v] and (INPUT, a[v]) in via:
            succ[via[(INPUT, a[v])]].append(v)
            indeg[v] += 1
    key = lambda t: (unit_key[t], t, 0) if t < L else (msg_key[t - L], msgs[t - L][0], 1)  # noqa: E731
    heap = [(key(t), t) for t in range(L + M) if indeg[t] == 0]
    heapq.heapify(heap)
    dev_free = [0.0] * gt.D
    link_free: dict[tuple[int, int], float] = {}
    start, finish = np.zeros(L), np.zeros(L)
    mtimes = [None] * M
    while heap:
        _, t = heapq.heappop(heap)
        if t < L:
            d = a[t]
            s0 = max(ready[t], dev_free[d])
            f = s0 + float(gt.time[d, t])
            dev_free[d] = f
            start[t], finish[t] = s0, f
        else:
            u, s, d, b = msgs[t - L]
            link = (min(s, d), max(s, d))
            s0 = max(ready[t], link_free.get(link, 0.0))
            f = s0 + gt.msg_time(s, d, b)
            link_free[link] = f
            mtimes[t - L] = (s0, f)
        for n in succ[t]:
            ready[n] = max(ready[n], f)
            indeg[n] -= 1
            if indeg[n] == 0:
                heapq.heappush(heap, (key(n), n))
    return Schedule(float(finish.max()) if L else 0.0, start, finish,
                    [(u, s, d, b, *mtimes[i]) for i, (u, s, d, b) in enumerate(msgs)])


def upward_rank(gt: GraphTables) -> np.ndarray:
    """HEFT's upward rank: mean compute time over the devices that may run the unit, plus the largest
    (mean message time + rank) over its successors; mean over the off-diagonal links."""
    L, D = gt.L, gt.D
    ok = gt.ok
    w = np.array([gt.time[ok[:, u], u].mean() if ok[:, u].any() else 0.0 for u in range(L)])
    off = ~np.eye(D, dtype=bool)
    lat = gt.lat[off].mean() if D > 1 else 0.0
    inv_bw = (1.0 / gt.bw[off]).mean() if D > 1 else 0.0
    rank = np.zeros(L)
    for u in range(L - 1, -1, -1):
        best = 0.0
        for v, b in gt.out_edges[u]:
            best = max(best, (lat + b * inv_bw) * (D - 1) / D + rank[v])
        rank[u] = w[u] + best
    return rank


def priority_from_rank(rank: np.ndarray) -> np.ndarray:
    """Unit priorities (smaller first) for decreasing rank; a topological order since rank[u] > rank[v] for every
    edge u -> v unless compute times are 0, where Kahn's algorithm keeps precedence anyway."""
    return -rank
