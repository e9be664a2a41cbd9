"""The graph cost model (throughput / energy) of a problem with ``edges``, and the evaluation of an assignment.

A plan assigns every unit to one device; a device may hold any set of units. With ``tau(d)`` the type of d:

* device busy time = sum of its units' ``time_s[tau(d)]``; compute energy likewise; memory = sum of the units'
  ``weight_bytes`` <= ``memory_bytes[tau(d)]``; every unit ``allowed`` on its device's type;
* one **message** per (producer unit u, destination device d != device(u)) when d holds at least one successor
  of u; its size is the largest ``bytes`` among u's edges into d. Time ``latency_s + bytes / bandwidth``,
  energy ``8 * bytes * J_per_bit`` over the pair's medium;
* with a ``source``, the input is one message from the source to each other device holding an input-reading
  unit (a unit with no incoming edge);
* a **link** is an unordered device pair; its busy time = the sum of the times of the unit messages between the
  two devices (both directions share it). Each input message is a term of its own, as the input transfer is in
  the chain model (so a contiguous plan costs exactly what the chain model says, even when the source also
  runs a stage next to the first);
* ``bottleneck = max(max device busy, max link busy, max input message time)``; energy = compute + messages.

Communication extensions (:mod:`.media`; without them every number is computed exactly as above):

* a message's time is ``message_time(pair medium, bytes)`` (a measured ``time_curve`` when given);
* a **shared** medium's busy time = the sum of the times of every message over it (unit and input messages, any
  pair, both directions), one more term of the bottleneck. The link busy times and input message times over it
  stay terms too: each is a part of the medium's sum, so it never exceeds it (also in floating point: the
  medium's sum adds the same times in the same order with others in between, and rounding is monotone);
* **CPU** costs: a unit message of b bytes from a to d adds ``send_cpu(a, d, b)`` to a's busy time and
  ``recv_cpu(a, d, b)`` to d's; an input message adds ``recv_cpu(source, d, b)`` to d's, nothing to the source
  (the chain rule). Device busy time = compute + message CPU.

Normalisation (every edge counted as a message, as every cut is for chains)::

    norm.time_s   = max_type sum_{l allowed} time_s[type, l] + max_pair sum_edges (latency_s + bytes / bandwidth)
                    (+ max_pair from the source of (latency_s + input_bytes / bandwidth) with a source)
    norm.energy_j = max_type sum_{l allowed} energy_j[type, l] + max_pair sum_edges 8 * bytes * J_per_bit (+ input)

With a time curve on any medium the time term's communication part is ``max_medium sum_edges message_time(medium,
bytes)`` (+ ``max`` over the source's media of the input's message time), as for chains; sharing and CPU costs do
not change the constants (nor do they for chains).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .costs import check_alpha, objective
from .errors import PlanError
from .media import message_time
from .problem import Problem

# Objectives within this relative distance are ties (then the lexicographically smallest assignment wins).
TIE_RTOL = 1e-9


class GraphTables:
    """Per-device views of a graph problem's costs, computed once and shared by the graph solvers."""

    def __init__(self, p: Problem):
        if p.graph is None:
            raise PlanError("not a graph problem (the problem file has no 'edges')")
        self.p = p
        self.L, self.D = p.L, p.D
        g = p.graph
        self.g = g
        self.time = p.time_s[p.device_type]                  # (D, L)
        self.energy = p.energy_j[p.device_type]
        self.ok = p.allowed[p.device_type] & (p.weight_bytes[None, :] <= p.memory_bytes[p.device_type][:, None])
        self.mem = p.memory_bytes[p.device_type]             # (D,)
        self.lat, self.bw, self.epb = p.link_lat, p.link_bw, p.link_epb
        self.out_edges = [[(int(g.dst[e]), float(g.nbytes[e])) for e in es] for es in g.successors(self.L)]
        self.in_edges = [[(int(g.src[e]), float(g.nbytes[e])) for e in es] for es in g.predecessors(self.L)]
        self.is_input = np.zeros(self.L, dtype=bool)
        self.is_input[g.input_units] = True
        # the communication extensions (README "Communication model extensions"); without them the arithmetic
        # is that of the plain model, operation for operation
        names = sorted({m for row in p.link_medium for m in row if m})
        self.medium_id = np.array([[names.index(m) if m else -1 for m in row] for row in p.link_medium], dtype=int)
        self.curved_media = [names.index(m) for m in names if p.media[m].time_curve is not None]
        self.curved = bool(self.curved_media) and self.D > 1
        self.media = [p.media[m] for m in names]
        self.shared = p.link_shared if p.link_shared is not None else np.full((self.D, self.D), -1)
        self.n_shared = len(p.shared_media)
        self.cpu = p.has_cpu_cost

    def msg_time(self, a: int, d: int, nbytes: float) -> float:
        """Seconds of one message of ``nbytes`` from device ``a`` to ``d``: :func:`.media.message_time` over the
        pair's medium (the line ``latency_s + bytes / bandwidth`` without a time curve)."""
        return float(message_time(self.p.media[self.p.link_medium[a][d]], nbytes))

    def msg_times(self, a: np.ndarray, d, nbytes: np.ndarray) -> np.ndarray:
        """:meth:`msg_time` for arrays of senders ``a``, receivers ``d`` and sizes (the line as one vectorised
        expression; media with a curve through :func:`.media.message_time`)."""
        t = self.lat[a, d] + nbytes / self.bw[a, d]
        if self.curved:
            mid = self.medium_id[a, d]
            for m in self.curved_media:
                sel = mid == m
                if sel.any():
                    t = np.where(sel, message_time(self.media[m], nbytes), t)
        return t

    def send_cpu(self, a: int, d: int, nbytes: float) -> float:
        """Busy seconds a message of ``nbytes`` from ``a`` to ``d`` costs its sender ``a`` (0 without ``cpu``)."""
        if self.p.cpu_send is None:
            return 0.0
        c = self.p.cpu_send[a, d]
        return float(c[0] + nbytes * c[1])

    def recv_cpu(self, a: int, d: int, nbytes: float) -> float:
        """Busy seconds the same message costs its receiver ``d``."""
        if self.p.cpu_recv is None:
            return 0.0
        c = self.p.cpu_recv[a, d]
        return float(c[0] + nbytes * c[1])

    def msg_energy(self, a: int, d: int, nbytes: float) -> float:
        return float(8.0 * nbytes * self.epb[a, d])

    def producer_messages(self, u: int, assign) -> dict[int, float]:
        """Destination device -> message bytes for producer ``u`` under ``assign``."""
        a = assign[u]
        out: dict[int, float] = {}
        for v, b in self.out_edges[u]:
            d = assign[v]
            if d != a and (d not in out or b > out[d]):
                out[d] = b
        return out

    def input_messages(self, assign) -> dict[int, float]:
        s = self.p.source
        if s is None:
            return {}
        return {int(d): self.p.input_bytes for d in sorted({int(assign[u]) for u in self.p.graph.input_units})
                if d != s}


def graph_norm(p: Problem) -> dict:
    types = np.unique(p.device_type)
    ok = p.allowed[types]
    comp_t = float(np.where(ok, p.time_s[types], 0.0).sum(axis=1).max())
    comp_e = float(np.where(ok, p.energy_j[types], 0.0).sum(axis=1).max())
    g, D = p.graph, p.D
    total, n = float(g.nbytes.sum()), g.E
    comm_t = comm_e = 0.0
    if D > 1 and n > 0:
        off = ~np.eye(D, dtype=bool)
        comm_t = float((n * p.link_lat[off] + total / p.link_bw[off]).max())
        comm_e = float(8.0 * total * p.link_epb[off].max())
    curved = D > 1 and any(p.media[m].time_curve is not None for row in p.link_medium for m in row if m)
    if curved:
        # the same definition with each medium's own message times (as costs.norm_constants for chains)
        names = sorted({m for row in p.link_medium for m in row if m})
        comm_t = max(float(np.sum(message_time(p.media[m], g.nbytes))) for m in names) if n else 0.0
    if p.source is not None and D > 1:
        others = [v for v in range(D) if v != p.source]
        if curved:
            comm_t += max(float(message_time(p.media[p.link_medium[p.source][v]], p.input_bytes)) for v in others)
        else:
            comm_t += float((p.link_lat[p.source, others] + p.input_bytes / p.link_bw[p.source, others]).max())
        comm_e += float(8.0 * p.input_bytes * p.link_epb[p.source, others].max())
    t, e = comp_t + comm_t, comp_e + comm_e
    return {"time_s": t if t > 0 else 1.0, "energy_j": e if e > 0 else 1.0}


@dataclass
class GraphResult:
    solver: str
    alpha: float
    assignment: list[str]
    bottleneck_s: float
    energy_j: float
    objective: float
    norm: dict
    device_busy_s: dict
    link_busy_s: dict
    messages: list[dict]
    stats: dict = field(default_factory=dict)
    latency_s: float | None = None
    schedule: dict | None = None
    # only with shared media / message CPU costs (absent otherwise, so plain results are unchanged)
    shared_busy_s: dict | None = None
    device_message_cpu_s: dict | None = None

    @property
    def throughput_ips(self) -> float:
        return 1.0 / self.bottleneck_s if self.bottleneck_s > 0 else float("inf")

    def to_dict(self) -> dict:
        d = {"solver": self.solver, "alpha": self.alpha, "assignment": list(self.assignment),
             "bottleneck_s": self.bottleneck_s, "throughput_ips": self.throughput_ips, "energy_j": self.energy_j,
             "objective": self.objective, "norm": dict(self.norm), "gap": self.stats.get("gap"),
             "device_busy_s": dict(self.device_busy_s), "link_busy_s": dict(self.link_busy_s),
             "messages": list(self.messages)}
        if self.shared_busy_s is not None:
            d["shared_busy_s"] = dict(self.shared_busy_s)
        if self.device_message_cpu_s is not None:
            d["device_message_cpu_s"] = dict(self.device_message_cpu_s)
        if self.latency_s is not None:
            d["latency_s"] = self.latency_s
            d["schedule"] = self.schedule
        return d


def check_assignment(gt: GraphTables, assignment: Sequence) -> np.ndarray:
    p = gt.p
    if len(assignment) != p.L:
        raise PlanError(f"assignment has {len(assignment)} entries but the model has {p.L} units")
    a = np.array([p.device_index(x) if isinstance(x, str) else int(x) for x in assignment], dtype=int)
    bad = np.nonzero((a < 0) | (a >= p.D))[0]
    if len(bad):
        raise PlanError(f"assignment[{bad[0]}]: device index {a[bad[0]]} out of range 0..{p.D - 1}")
    for u in range(p.L):
        t = p.device_type[a[u]]
        if not p.allowed[t, u]:
            raise PlanError(f"assignment[{u}]: unit {p.unit_names[u]!r} may not run on {p.device_names[a[u]]!r} "
                            f"(device_types[{p.type_names[t]!r}].allowed[{u}] is false)")
    load = np.bincount(a, weights=p.weight_bytes, minlength=p.D)
    over = np.nonzero(load > gt.mem)[0]
    if len(over):
        d = int(over[0])
        raise PlanError(f"device {p.device_names[d]!r} holds {load[d]:.0f} weight bytes but has {gt.mem[d]:.0f}")
    return a


@dataclass
class Parts:
    """The terms of a plan's cost (module docstring)."""
    busy: np.ndarray            # (D,) device busy: compute + message CPU
    link: np.ndarray            # (D, D) link busy, upper triangle
    in_max: float               # the largest input message time
    energy: float
    msgs: list                  # (producer or -1 for the input, from, to, bytes, time, energy)
    shared: np.ndarray          # (number of shared media,) busy time of each
    msg_cpu: np.ndarray | None  # (D,) the message CPU part of ``busy``; None without CPU costs

    @property
    def bottleneck(self) -> float:
        b = max(self.busy.max(), self.link.max(), self.in_max)
        return float(max(b, self.shared.max()) if len(self.shared) else b)


def cost_parts(gt: GraphTables, a) -> Parts:
    """The cost terms of a checked assignment."""
    D, L = gt.D, gt.L
    busy = np.zeros(D)
    np.add.at(busy, a, gt.time[a, np.arange(L)])
    energy = float(gt.energy[a, np.arange(L)].sum())
    link = np.zeros((D, D))
    shared = np.zeros(gt.n_shared)
    cpu = np.zeros(D) if gt.cpu else None
    msgs = []
    for u in range(L):
        for d, b in sorted(gt.producer_messages(u, a).items()):
            t, e = gt.msg_time(a[u], d, b), gt.msg_energy(a[u], d, b)
            link[min(a[u], d), max(a[u], d)] += t
            energy += e
            msgs.append((u, int(a[u]), d, b, t, e))
            if gt.n_shared and gt.shared[a[u], d] >= 0:
                shared[gt.shared[a[u], d]] += t
            if cpu is not None:
                cpu[a[u]] += gt.send_cpu(a[u], d, b)
                cpu[d] += gt.recv_cpu(a[u], d, b)
    in_max = 0.0
    for d, b in gt.input_messages(a).items():
        s = gt.p.source
        t, e = gt.msg_time(s, d, b), gt.msg_energy(s, d, b)
        in_max = max(in_max, t)
        energy += e
        msgs.append((-1, s, d, b, t, e))
        if gt.n_shared and gt.shared[s, d] >= 0:
            shared[gt.shared[s, d]] += t
        if cpu is not None:
            cpu[d] += gt.recv_cpu(s, d, b)
    if cpu is not None:
        busy = busy + cpu
    return Parts(busy, link, in_max, energy, msgs, shared, cpu)


def costs(gt: GraphTables, a) -> tuple[np.ndarray, np.ndarray, float, float, list]:
    """(device busy (D,), link busy (D, D) upper triangle, max input message time, energy, messages) of a
    checked assignment; messages are (producer or -1 for the input, from, to, bytes, time, energy). Shared
    media's busy times are in :func:`cost_parts` only."""
    r = cost_parts(gt, a)
    return r.busy, r.link, r.in_max, r.energy, r.msgs


def evaluate_graph(p: Problem, assignment: Sequence, alpha: float = 1.0, solver: str = "given",
                   gt: GraphTables | None = None, norm: dict | None = None) -> GraphResult:
    """Cost of an assignment (device name or index per unit, in unit order)."""
    alpha = check_alpha(alpha)
    gt = gt or GraphTables(p)
    norm = norm or graph_norm(p)
    a = check_assignment(gt, assignment)
    r = cost_parts(gt, a)
    busy, link, energy = r.busy, r.link, r.energy
    b = r.bottleneck
    names = p.device_names
    out = GraphResult(
        solver, alpha, [names[d] for d in a], b, float(energy), objective(alpha, b, energy, norm), norm,
        {names[d]: float(busy[d]) for d in range(p.D) if (a == d).any()},
        {f"{names[i]}-{names[j]}": float(link[i, j]) for i in range(p.D) for j in range(i + 1, p.D) if link[i, j] > 0},
        [{"from_unit": None if u < 0 else p.unit_names[u], "from": names[s], "to": names[d], "bytes": nb,
          "time_s": t, "energy_j": e} for u, s, d, nb, t, e in r.msgs])
    if gt.n_shared:
        out.shared_busy_s = {m: float(x) for m, x in zip(p.shared_media, r.shared)}
    if r.msg_cpu is not None:
        out.device_message_cpu_s = {names[d]: float(r.msg_cpu[d]) for d in range(p.D) if (a == d).any()}
    return out


def evaluate_many(gt: GraphTables, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bottleneck and energy of many assignments at once (rows of ``A``, shape (N, L)); infeasible rows
    (memory, ``allowed``) get ``inf``. Same arithmetic as :func:`costs`, vectorised, for brute force and fronts."""
    N, L = A.shape
    D = gt.D
    cols = np.arange(L)
    t_u = gt.time[A, cols]                      # (N, L)
    busy = np.zeros((N, D))
    for d in range(D):
        busy[:, d] = np.where(A == d, t_u, 0.0).sum(axis=1)
    energy = gt.energy[A, cols].sum(axis=1)
    feas = gt.ok[A, cols].all(axis=1)
    w = gt.p.weight_bytes
    for d in range(D):
        feas &= np.where(A == d, w, 0.0).sum(axis=1) <= gt.mem[d]
    link = np.zeros((N, D, D))
    shared = np.zeros((N, gt.n_shared))
    cpu = np.zeros((N, D)) if gt.cpu else None
    rows = np.arange(N)
    for u in range(L):
        if not gt.out_edges[u]:
            continue
        a = A[:, u]
        for d in range(D):
            size = np.full(N, -1.0)
            for v, b in gt.out_edges[u]:
                size = np.where(A[:, v] == d, np.maximum(size, b), size)
            has = (size >= 0) & (a != d)
            if not has.any():
                continue
            t = np.where(has, gt.msg_times(a, d, np.maximum(size, 0)), 0.0)
            energy = energy + np.where(has, 8.0 * np.maximum(size, 0) * gt.epb[a, d], 0.0)
            lo, hi = np.minimum(a, d), np.maximum(a, d)
            np.add.at(link, (rows, lo, hi), t)
            if gt.n_shared:
                _add_shared(shared, gt.shared[a, d], t)
            if cpu is not None:
                sb = np.maximum(size, 0)
                cs, cr = gt.p.cpu_send[a, d], gt.p.cpu_recv[a, d]
                np.add.at(cpu, (rows, a), np.where(has, cs[:, 0] + sb * cs[:, 1], 0.0))
                cpu[:, d] += np.where(has, cr[:, 0] + sb * cr[:, 1], 0.0)
    in_max = np.zeros(N)
    s = gt.p.source
    if s is not None and gt.D > 1:
        ib = gt.p.input_bytes
        for d in range(D):
            if d == s:
                continue
            has = (A[:, gt.p.graph.input_units] == d).any(axis=1)
            t = np.where(has, gt.msg_time(s, d, ib), 0.0)
            in_max = np.maximum(in_max, t)
            energy = energy + np.where(has, 8.0 * ib * gt.epb[s, d], 0.0)
            if gt.n_shared and gt.shared[s, d] >= 0:
                shared[:, gt.shared[s, d]] += t
            if cpu is not None:
                cpu[:, d] += np.where(has, gt.recv_cpu(s, d, ib), 0.0)
    if cpu is not None:
        busy = busy + cpu
    # max is exact, so the order of the terms does not matter
    b = np.maximum(np.maximum(busy.max(axis=1), link.reshape(N, -1).max(axis=1)), in_max)
    if gt.n_shared:
        b = np.maximum(b, shared.max(axis=1))
    return np.where(feas, b, math.inf), np.where(feas, energy, math.inf)


def _add_shared(shared: np.ndarray, sid: np.ndarray, t: np.ndarray) -> None:
    """Add each row's message time to the shared medium its pair uses (``sid`` -1: an independent link)."""
    on = sid >= 0
    if on.any():
        np.add.at(shared, (np.nonzero(on)[0], sid[on]), t[on])


def all_assignments(L: int, D: int, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Assignments number ``start..stop-1`` in lexicographic order (unit 0 most significant)."""
    stop = D ** L if stop is None else stop
    idx = np.arange(start, stop, dtype=np.int64)
    A = np.empty((len(idx), L), dtype=np.int64)
    for u in range(L - 1, -1, -1):
        A[:, u] = idx % D
        idx //= D
    return A
