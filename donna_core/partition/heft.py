"""HEFT (Topcuoglu, Hariri and Wu, 2002), the classic list scheduler for heterogeneous DAGs: the baseline for
the latency objective.

Units are taken in decreasing upward rank (:func:`~.graph_schedule.upward_rank`); each goes to the allowed
device with room left in memory that gives it the earliest finish time, given the units placed before it
(messages appended to their channels, as in :mod:`.graph_schedule`, a message's receive CPU added to its
arrival and its send CPU to the sender's device once the message is known; no insertion into idle gaps). Ties go to the
lowest device index. The returned latency is that of the final plan under :func:`~.graph_schedule.schedule`
with the same priorities.
"""
from __future__ import annotations

import numpy as np

from .errors import InfeasibleError
from .graph_costs import GraphTables
from .graph_schedule import channel, priority_from_rank, schedule, upward_rank


def heft(gt: GraphTables) -> tuple[np.ndarray, np.ndarray]:
    """(assignment, unit priorities) of HEFT's plan."""
    L, D, p = gt.L, gt.D, gt.p
    key = priority_from_rank(upward_rank(gt))
    order = sorted(range(L), key=lambda u: (key[u], u))
    a = np.full(L, -1)
    dev_free = np.zeros(D)
    link_free: dict[tuple[int, int], float] = {}
    finish = np.zeros(L)
    arrive: dict[tuple[int, int], float] = {}   # (producer, device) -> message arrival, once sent
    load = np.zeros(D)
    src = p.source
    for v in order:
        best = None
        for d in range(D):
            if not gt.ok[d, v] or load[d] + p.weight_bytes[v] > gt.mem[d]:
                continue
            links = dict(link_free)
            ready = 0.0
            if gt.is_input[v] and src is not None and d != src:
                ready = arrive.get((-1, d), _send(gt, links, src, d, p.input_bytes, 0.0))
            for u, _ in gt.in_edges[v]:
                if a[u] == d:
                    ready = max(ready, finish[u])
                elif (u, d) in arrive:
                    ready = max(ready, arrive[(u, d)])
                else:
                    size = max(b for w, b in gt.out_edges[u] if w == v)
                    ready = max(ready, _send(gt, links, int(a[u]), d, size, finish[u]))
            f = max(ready, dev_free[d]) + gt.time[d, v]
            if best is None or f < best[0]:
                best = (f, d)
        if best is None:
            raise InfeasibleError(f"HEFT: unit {p.unit_names[v]!r} fits on no device (memory or allowed)")
        f, d = best
        # commit: the messages v needs on d (their size may grow later when another successor of the same
        # producer lands on d; the final latency is recomputed by graph_schedule.schedule)
        if gt.is_input[v] and src is not None and d != src and (-1, d) not in arrive:
            arrive[(-1, d)] = _send(gt, link_free, src, d, p.input_bytes, 0.0)
        for u, _ in gt.in_edges[v]:
            if a[u] != d and (u, d) not in arrive:
                size = max(b for w, b in gt.out_edges[u] if w == v)
                arrive[(u, d)] = _send(gt, link_free, int(a[u]), d, size, finish[u])
                # the sender's CPU, charged once the message is known (later than the schedule puts it)
                dev_free[a[u]] += gt.send_cpu(int(a[u]), d, size)
        a[v] = d
        load[d] += p.weight_bytes[v]
        start = max(max([0.0] + [finish[u] if a[u] == d else arrive[(u, d)] for u, _ in gt.in_edges[v]]),
                    arrive.get((-1, d), 0.0) if gt.is_input[v] else 0.0, dev_free[d])
        finish[v] = start + gt.time[d, v]
        dev_free[d] = finish[v]
    return a, key


def _send(gt, link_free, s, d, nbytes, ready) -> float:
    """Append a message to its channel (:func:`.graph_schedule.channel`); its arrival plus the receiver's CPU."""
    ch = channel(gt, s, d)
    t0 = max(ready, link_free.get(ch, 0.0))
    link_free[ch] = t0 + gt.msg_time(s, d, nbytes)
    return link_free[ch] + gt.recv_cpu(s, d, nbytes)


def heft_latency(gt: GraphTables):
    a, key = heft(gt)
    return a, key, schedule(gt, a, key)
