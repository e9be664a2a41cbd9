"""Single-inference latency (makespan) of a graph plan: the list-scheduling semantics, the one home of the
latency rule (the solvers and the graph run's prediction, :func:`runtime.graph_run.predict_graph_plan`, use it).

Resources: every device runs one task at a time; every **channel** carries one message at a time. A channel is
an independent link (an unordered device pair, both directions share it) or a shared medium (``"shared":
true``: every message over it, between any pairs, uses the one channel). Messages are those of the graph cost
model (one per producer and destination device, the largest edge into that device); with a ``source`` the input
is one message from the source to each other device holding an input-reading unit, ready at t = 0 (without a
source the input is on every device at t = 0). A message takes :meth:`.GraphTables.msg_time` (the pair's medium,
its time curve when given) and starts once its producer has *finished computing*; compute and messages overlap.

Message CPU costs (a medium's ``cpu``, :meth:`.GraphTables.send_cpu` / ``recv_cpu``):

* **send**: after a unit computes, its device spends the send CPU of every message the unit sends, before
  that device's next task (the unit's device block = compute + its sends). The message itself does not wait
  for it: the calibrated CPU cost is the core time spent *during* a transfer whose measured wall time is the
  message's time already (``runtime/calibrate.py``), so making the wire wait for it would count it twice. The
  unit's successors may start once it has computed. The input's send (from the ``source``) costs nothing (as
  in the chain model);
* **receive**: each message with a receive cost > 0 (the input messages included) is a task on the receiving
  device, ready when the message has arrived, which every unit on that device reading the message waits for
  (so it runs before the first of them).

A unit starts when all its inputs are on its device (a producer on the same device: its compute's end;
otherwise the arrival of its message, and that message's receive task when it has one). Latency = when the last
unit finishes computing.

A schedule is fixed by the assignment and a priority for every task (unit, message, receive task): tasks are
taken in priority order among those whose predecessors are placed (Kahn's algorithm; ties by unit index,
producer before its messages, a receive task just before its unit), and each is appended to its resource:
start = max(ready time, resource free time). Every semi-active schedule arises this way (sort its tasks by
start time), so the minimum over priorities is the optimum latency for the assignment.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from .graph_costs import GraphTables

INPUT = -1   # the producer of the input messages


def channel(gt: GraphTables, s: int, d: int) -> tuple:
    """The resource a message from ``s`` to ``d`` occupies: ("m", index into ``p.shared_media``) for a shared
    medium, else ("l", lo, hi), the unordered device pair."""
    ls = gt.p.link_shared
    m = -1 if ls is None else int(ls[s, d])
    return ("m", m) if m >= 0 else ("l", min(s, d), max(s, d))


def has_cpu(gt: GraphTables) -> bool:
    return bool(gt.p.has_cpu_cost)


@dataclass
class Schedule:
    latency_s: float
    start: np.ndarray               # (L,) compute start
    finish: np.ndarray              # (L,) compute end
    messages: list[tuple]           # (producer or INPUT, from, to, bytes, start, finish)
    # message CPU: (device, "send" | "recv", producer or INPUT, destination, start, finish)
    cpu: list[tuple] = field(default_factory=list)

    def to_dict(self, p, a) -> dict:
        names = p.device_names
        out = {"units": [{"unit": p.unit_names[u], "device": names[a[u]], "start_s": float(self.start[u]),
                          "finish_s": float(self.finish[u])} for u in range(p.L)],
               "messages": [{"from_unit": None if u == INPUT else p.unit_names[u], "from": names[s], "to": names[d],
                             "bytes": b, "start_s": t0, "finish_s": t1} for u, s, d, b, t0, t1 in self.messages]}
        if self.cpu:
            out["message_cpu"] = [{"device": names[dev], "kind": k, "from_unit": None if u == INPUT else
                                   p.unit_names[u], "to": names[d], "start_s": t0, "finish_s": t1}
                                  for dev, k, u, d, t0, t1 in self.cpu]
        return out


def message_list(gt: GraphTables, a) -> list[tuple[int, int, int, float]]:
    """(producer or INPUT, from, to, bytes) of every message, input messages first, then by producer, to."""
    out = [(INPUT, gt.p.source, d, b) for d, b in gt.input_messages(a).items()]
    for u in range(gt.L):
        out += [(u, int(a[u]), d, b) for d, b in sorted(gt.producer_messages(u, a).items())]
    return out


def send_blocks(gt: GraphTables, a, msgs) -> np.ndarray:
    """(L,) the send CPU each unit's device spends right after the unit computes (0 without CPU costs)."""
    snd = np.zeros(gt.L)
    if has_cpu(gt):
        for u, s, d, b in msgs:
            if u != INPUT:
                snd[u] += gt.send_cpu(s, d, b)
    return snd


def recv_tasks(gt: GraphTables, msgs) -> list[tuple[int, float]]:
    """(index into ``msgs``, seconds) of every message with a receive cost > 0, in message order."""
    if not has_cpu(gt):
        return []
    out = [(i, gt.recv_cpu(s, d, b)) for i, (u, s, d, b) in enumerate(msgs)]
    return [(i, r) for i, r in out if r > 0]


def schedule(gt: GraphTables, a, unit_key, msg_key=None) -> Schedule:
    """The list schedule of assignment ``a`` under priorities ``unit_key[u]`` (and ``msg_key[i]`` for
    ``message_list(gt, a)[i]``; default: right after its producer, the input messages first). A receive task
    takes ``msg_key.recv[(producer, device)]`` when ``msg_key`` carries it (:class:`.graph_latency.MessageKeys`),
    else the priority of the first unit (by ``unit_key``, then index) on its device that reads the message."""
    L = gt.L
    a = [int(x) for x in a]
    msgs = message_list(gt, a)
    if msg_key is None:
        msg_key = [(-np.inf if u == INPUT else unit_key[u]) for u, _, _, _ in msgs]
    M = len(msgs)
    snd = send_blocks(gt, a, msgs)
    rtasks = recv_tasks(gt, msgs)
    # task ids: units 0..L-1, messages L..L+M-1, receive tasks L+M..
    n = L + M + len(rtasks)
    succ: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    ready = [0.0] * n
    via: dict[tuple[int, int], int] = {}        # (producer, device) -> the task a reader waits for
    for i, (u, s, d, b) in enumerate(msgs):
        via[(u, d)] = L + i
        if u != INPUT:
            succ[u].append(L + i)
            indeg[L + i] += 1
    rinfo = {}
    for j, (i, r) in enumerate(rtasks):
        t = L + M + j
        u, _, d, _ = msgs[i]
        succ[L + i].append(t)
        indeg[t] += 1
        via[(u, d)] = t
        rinfo[t] = (d, r)
    readers: dict[int, list[int]] = {}
    for v in range(L):
        for u, _ in gt.in_edges[v]:
            t = u if a[u] == a[v] else via[(u, a[v])]
            succ[t].append(v)
            indeg[v] += 1
            readers.setdefault(t, []).append(v)
        if gt.is_input[v] and (INPUT, a[v]) in via:
            t = via[(INPUT, a[v])]
            succ[t].append(v)
            indeg[v] += 1
            readers.setdefault(t, []).append(v)
    given = getattr(msg_key, "recv", None) or {}     # receive-task priorities (the MILP's start times)
    rkey = {}
    for t in rinfo:
        u, _, d, _ = msgs[rtasks[t - L - M][0]]
        first = min((unit_key[v], v) for v in readers[t])
        rkey[t] = (given[(u, d)], first[1]) if (u, d) in given else first

    # keys from an exact solution (start times / makespan) carry the solver's feasibility tolerance: starts that
    # close are the same instant (else a 403 B message "starting" 1e-12 earlier would pass the 0 B one the
    # solution sends first)
    mq = (lambda k: round(float(k), 6)) if hasattr(msg_key, "recv") else (lambda k: k)

    def key(t):
        if t < L:
            return (unit_key[t], t, 0)
        if t < L + M:
            # equal keys: the shorter message first -- on one channel the order an exact start-time solution
            # implies (two messages starting together there means the first takes no time); across resources
            # the order of equal keys does not change any start time
            u, s_, d_, b = msgs[t - L]
            return (mq(msg_key[t - L]), gt.msg_time(s_, d_, b), u, 1)
        return (rkey[t][0], rkey[t][1], -1)

    heap = [(key(t), t) for t in range(n) if indeg[t] == 0]
    heapq.heapify(heap)
    dev_free = [0.0] * gt.D
    chan_free: dict[tuple, float] = {}
    start, finish = np.zeros(L), np.zeros(L)
    mtimes = [None] * M
    cpu = []
    while heap:
        _, t = heapq.heappop(heap)
        if t < L:
            d = a[t]
            s0 = max(ready[t], dev_free[d])
            f = s0 + float(gt.time[d, t])
            dev_free[d] = f + snd[t]
            start[t], finish[t] = s0, f
            if snd[t] > 0:
                cpu.append((d, "send", t, -1, f, f + snd[t]))
        elif t < L + M:
            u, s, d, b = msgs[t - L]
            ch = channel(gt, s, d)
            s0 = max(ready[t], chan_free.get(ch, 0.0))
            f = s0 + gt.msg_time(s, d, b)
            chan_free[ch] = f
            mtimes[t - L] = (s0, f)
        else:
            d, r = rinfo[t]
            s0 = max(ready[t], dev_free[d])
            f = dev_free[d] = s0 + r
            u = msgs[rtasks[t - L - M][0]][0]
            cpu.append((d, "recv", u, d, s0, f))
        for m in succ[t]:
            ready[m] = max(ready[m], f)
            indeg[m] -= 1
            if indeg[m] == 0:
                heapq.heappush(heap, (key(m), m))
    return Schedule(float(finish.max()) if L else 0.0, start, finish,
                    [(u, s, d, b, *mtimes[i]) for i, (u, s, d, b) in enumerate(msgs)], cpu)


def mean_message_time(gt: GraphTables, nbytes: float) -> float:
    """Mean over the ordered device pairs (a != d) of a message's time plus, with CPU costs, its send and
    receive CPU (the per-message cost HEFT's rank uses)."""
    D = gt.D
    if D < 2:
        return 0.0
    curved = any(gt.p.media[m].time_curve is not None for row in gt.p.link_medium for m in row if m)
    off = ~np.eye(D, dtype=bool)
    if curved or has_cpu(gt):
        pairs = [(i, j) for i in range(D) for j in range(D) if i != j]
        return float(np.mean([gt.msg_time(i, j, nbytes) + gt.send_cpu(i, j, nbytes) + gt.recv_cpu(i, j, nbytes)
                              for i, j in pairs]))
    return float(gt.lat[off].mean() + nbytes * (1.0 / gt.bw[off]).mean())


def upward_rank(gt: GraphTables) -> np.ndarray:
    """HEFT's upward rank: mean compute time over the devices that may run the unit, plus the largest
    (mean message time + rank) over its successors; mean over the off-diagonal links."""
    L, D = gt.L, gt.D
    ok = gt.ok
    w = np.array([gt.time[ok[:, u], u].mean() if ok[:, u].any() else 0.0 for u in range(L)])
    rank = np.zeros(L)
    for u in range(L - 1, -1, -1):
        best = 0.0
        for v, b in gt.out_edges[u]:
            best = max(best, mean_message_time(gt, b) * (D - 1) / D + rank[v])
        rank[u] = w[u] + best
    return rank


def priority_from_rank(rank: np.ndarray) -> np.ndarray:
    """Unit priorities (smaller first) for decreasing rank; a topological order since rank[u] > rank[v] for every
    edge u -> v unless compute times are 0, where Kahn's algorithm keeps precedence anyway."""
    return -rank
