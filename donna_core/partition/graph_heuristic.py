"""Fast graph placement with a certified lower bound (DiviML's idea: a heuristic rated by a bound).

alpha-objective: improve a start by local moves until no move helps or the time limit, first from the LP
relaxation rounded, then (in the time left) from the best of the other starts (every unit on one device; a greedy
pass in unit order), keeping the better result. A move takes one unit, or a whole
*chain* (a maximal path whose inner edges are the only out-edge of their tail and the only in-edge of their
head: the fused runs a backend would keep together; coarsening), to another device. Every move is costed
exactly (incremental, the same arithmetic as :mod:`.graph_costs`).

Lower bound: the LP relaxation of the MILP of :mod:`.graph_milp` without messages (messages cost >= 0, so
dropping them and relaxing integrality can only lower the optimum), with ``B >= max_u min_d time[d, u]``, the
smallest busy time any plan can have (some device runs u whole). The LP value is lowered by ``LP_SLACK``
(relative) for HiGHS's tolerances. The bound is computed before the search, so it stands whenever the time
limit stops it. When the search ends before the time limit with a gap above ``MESSAGE_BOUND_GAP``, the rest of
the time goes to the message-aware bound of :mod:`.graph_bound` (certified by weak duality whatever the LP solver
reached), and the larger of the two bounds is reported.

Latency: start from HEFT, then single-unit and chain moves, each costed by the list schedule of
:mod:`.graph_schedule` (HEFT's priorities), keeping a move only when it lowers the latency, so the result is
never worse than HEFT. Lower bound (messages free, so it can only be lower): the graph is split at its barrier
units (comparable to every other unit, e.g. an inception block's concat); per segment between barriers,
max(critical path with each unit at its fastest allowed time, the LP load bound ``min T: sum_u time[d,u]
y[u,d] <= T`` with y fractional), summed, plus each barrier's fastest time.
"""
from __future__ import annotations

import math
import time

import numpy as np

from .costs import objective
from .errors import InfeasibleError
from .graph_costs import TIE_RTOL, GraphTables, check_assignment, cost_parts
from .graph_bound import message_bound
from .graph_milp import Model
from .graph_schedule import priority_from_rank, schedule, upward_rank
from .heft import heft

LP_SLACK = 1e-6
# The message-aware bound (:mod:`.graph_bound`) is tried, in the time the search left, only when the gap to the
# message-free bound is above this: below it, messages cannot matter much.
MESSAGE_BOUND_GAP = 0.01


def chains(gt: GraphTables) -> list[list[int]]:
    """Maximal chains of length >= 2 (see the module docstring)."""
    L = gt.L
    nxt = [gt.out_edges[u][0][0] if len(gt.out_edges[u]) == 1 and len(gt.in_edges[gt.out_edges[u][0][0]]) == 1
           else -1 for u in range(L)]
    has_prev = [False] * L
    for u in range(L):
        if nxt[u] >= 0:
            has_prev[nxt[u]] = True
    out = []
    for u in range(L):
        if has_prev[u] or nxt[u] < 0:
            continue
        c = [u]
        while nxt[c[-1]] >= 0:
            c.append(nxt[c[-1]])
        out.append(c)
    return out


class AlphaState:
    """An assignment with its device busy times, link busy times, shared media's busy times and energy, updated
    move by move (message CPU seconds are part of the device busy times)."""

    def __init__(self, gt: GraphTables, a: np.ndarray, alpha: float, norm: dict):
        self.gt, self.alpha, self.norm = gt, alpha, norm
        self.a = np.array(a, dtype=int)
        r = cost_parts(gt, self.a)
        self.busy, self.link, self.in_max, self.energy, self.shared = r.busy, r.link, r.in_max, r.energy, r.shared
        self.load = np.bincount(self.a, weights=gt.p.weight_bytes, minlength=gt.D)
        self.obj = self._objective(self.busy, self.link, self.in_max, self.energy, self.shared)
        self.spread = self._spread(self.busy, self.link, self.shared)

    def _spread(self, busy, link, shared) -> float:
        """Secondary measure for moves that leave the objective unchanged: the sum of squared busy times (it
        falls when load leaves a device tied at the bottleneck, so plateaus of max() can be crossed)."""
        out = float((busy ** 2).sum() + (link ** 2).sum())
        return out + float((shared ** 2).sum()) if len(shared) else out

    def better(self, r) -> bool:
        obj, parts = r
        if obj < self.obj * (1 - TIE_RTOL):
            return True
        return (obj <= self.obj and self.alpha > 0
                and self._spread(parts[1], parts[2], parts[5]) < self.spread * (1 - 1e-9))

    def _objective(self, busy, link, in_max, energy, shared) -> float:
        b = max(float(busy.max()), float(link.max()), in_max)
        if len(shared):
            b = max(b, float(shared.max()))
        return objective(self.alpha, b, energy, self.norm)

    def _msg_terms(self, producers, a):
        """(link busy, energy, shared busy, message CPU per device) of the messages of ``producers``."""
        gt = self.gt
        link = np.zeros_like(self.link)
        shared = np.zeros(gt.n_shared)
        cpu = np.zeros(gt.D)
        e = 0.0
        for u in producers:
            for d, b in gt.producer_messages(u, a).items():
                s = a[u]
                t = gt.msg_time(s, d, b)
                link[min(s, d), max(s, d)] += t
                e += gt.msg_energy(s, d, b)
                if gt.n_shared and gt.shared[s, d] >= 0:
                    shared[gt.shared[s, d]] += t
                if gt.cpu:
                    cpu[s] += gt.send_cpu(s, d, b)
                    cpu[d] += gt.recv_cpu(s, d, b)
        return link, e, shared, cpu

    def try_move(self, units: list[int], d: int):
        """(objective, new state parts) of moving ``units`` to device ``d``; None when infeasible."""
        gt = self.gt
        if not all(gt.ok[d, u] for u in units):
            return None
        w = gt.p.weight_bytes
        moved = [u for u in units if self.a[u] != d]
        if not moved or self.load[d] + sum(w[u] for u in moved) > gt.mem[d]:
            return None
        producers = set(moved)
        for u in moved:
            producers.update(p for p, _ in gt.in_edges[u])
        b = self.a.copy()
        b[moved] = d
        old_link, old_e, old_sh, old_cpu = self._msg_terms(producers, self.a)
        new_link, new_e, new_sh, new_cpu = self._msg_terms(producers, b)
        busy = self.busy.copy()
        energy = self.energy + new_e - old_e
        for u in moved:
            busy[self.a[u]] -= gt.time[self.a[u], u]
            busy[d] += gt.time[d, u]
            energy += gt.energy[d, u] - gt.energy[self.a[u], u]
        link = self.link - old_link + new_link
        shared = self.shared - old_sh + new_sh if gt.n_shared else self.shared
        if gt.cpu:
            busy += new_cpu - old_cpu
        in_max = self.in_max
        if gt.p.source is not None and any(gt.is_input[u] for u in moved):
            i_old, i_new = _input_terms(gt, self.a), _input_terms(gt, b)
            in_max, energy = i_new[2], energy - i_old[3] + i_new[3]
            if gt.n_shared:
                shared = shared - i_old[0] + i_new[0]
            if gt.cpu:
                busy += i_new[1] - i_old[1]
        return (self._objective(busy, link, in_max, energy, shared),
                (b, busy, link, in_max, energy, shared))

    def apply(self, obj, parts):
        self.a, self.busy, self.link, self.in_max, self.energy, self.shared = parts
        self.load = np.bincount(self.a, weights=self.gt.p.weight_bytes, minlength=self.gt.D)
        self.obj = obj
        self.spread = self._spread(self.busy, self.link, self.shared)


def _input_terms(gt, a):
    """(shared busy, receive CPU per device, max input message time, energy) of the input messages."""
    s = gt.p.source
    t_max, e = 0.0, 0.0
    shared, cpu = np.zeros(gt.n_shared), np.zeros(gt.D)
    for d, b in gt.input_messages(a).items():
        t = gt.msg_time(s, d, b)
        t_max, e = max(t_max, t), e + gt.msg_energy(s, d, b)
        if gt.n_shared and gt.shared[s, d] >= 0:
            shared[gt.shared[s, d]] += t
        cpu[d] += gt.recv_cpu(s, d, b)
    return shared, cpu, t_max, e


def lp_alpha_bound(gt: GraphTables, alpha: float, norm: dict, time_limit_s: float) -> float:
    """The LP lower bound on the scaled alpha-objective (module docstring)."""
    return lp_alpha(gt, alpha, norm, time_limit_s)[0]


def lp_alpha(gt: GraphTables, alpha: float, norm: dict, time_limit_s: float):
    """(LP lower bound, LP assignment matrix (L, D) or None)."""
    L, D = gt.L, gt.D
    m = Model()
    X = m.var((L, D))
    b_min = max((float(gt.time[gt.ok[:, u], u].min()) for u in range(L) if gt.ok[:, u].any()), default=0.0)
    B = m.var(lb=b_min / norm["time_s"], ub=math.inf, cost=alpha)
    for u in range(L):
        for d in range(D):
            m.cost[X[u, d]] = (1 - alpha) * gt.energy[d, u] / norm["energy_j"]
            if not gt.ok[d, u]:
                m.ub[X[u, d]] = 0.0
        m.row(X[u], np.ones(D), 1, 1)
    w = gt.p.weight_bytes
    for d in range(D):
        m.row([B, *X[:, d]], [1, *-gt.time[d] / norm["time_s"]], lo=0)
        if math.isfinite(gt.mem[d]) and w.sum() > gt.mem[d]:
            m.row(X[:, d], w / gt.mem[d], hi=1.0)
    out = m.solve(time_limit_s)
    if out.values is None or out.status != "Optimal":
        return 0.0, None
    return max(0.0, out.objective * (1 - LP_SLACK)), out.values[X]


def _lp_rounding(gt: GraphTables, x: np.ndarray) -> np.ndarray | None:
    """The LP solution rounded: units by decreasing largest share, each to its largest-share device with room."""
    L, D = gt.L, gt.D
    a = np.full(L, -1)
    load = np.zeros(D)
    w = gt.p.weight_bytes
    for u in sorted(range(L), key=lambda u: (-x[u].max(), u)):
        for d in sorted(range(D), key=lambda d: (-x[u, d], d)):
            if gt.ok[d, u] and load[d] + w[u] <= gt.mem[d]:
                a[u] = d
                load[d] += w[u]
                break
        else:
            return None
    return a


def _start_points(gt: GraphTables, alpha, norm, lp_x=None) -> list[np.ndarray]:
    L, D = gt.L, gt.D
    starts = []
    if lp_x is not None:
        r = _lp_rounding(gt, lp_x)
        if r is not None:
            starts.append(r)
    for d in range(D):
        if gt.ok[d].all() and gt.p.weight_bytes.sum() <= gt.mem[d]:
            starts.append(np.full(L, d))
    # greedy in unit order: each unit where the partial plan's objective grows least (memory permitting)
    a = np.full(L, -1)
    load = np.zeros(D)
    busy = np.zeros(D)
    for u in range(L):
        best = None
        for d in range(D):
            if not gt.ok[d, u] or load[d] + gt.p.weight_bytes[u] > gt.mem[d]:
                continue
            comm_t = sum(gt.msg_time(a[p], d, b) for p, b in gt.in_edges[u] if a[p] != d)
            comm_e = sum(gt.msg_energy(a[p], d, b) for p, b in gt.in_edges[u] if a[p] != d)
            score = objective(alpha, max(busy[d] + gt.time[d, u], comm_t), gt.energy[d, u] + comm_e, norm)
            if best is None or score < best[0]:
                best = (score, d)
        if best is None:
            break
        a[u] = best[1]
        load[best[1]] += gt.p.weight_bytes[u]
        busy[best[1]] += gt.time[best[1], u]
    if (a >= 0).all():
        starts.append(a)
    return starts


def feasible_start(gt: GraphTables) -> np.ndarray:
    """A plan that fits memory and ``allowed``: the greedy start, else the fastest plan the MILP finds."""
    from .graph_costs import graph_norm
    from .graph_milp import alpha_milp
    norm = graph_norm(gt.p)
    starts = _start_points(gt, 1.0, norm)
    if starts:
        return starts[0]
    a, _ = alpha_milp(gt, 1.0, norm, 60.0)
    if a is None:
        raise InfeasibleError("no assignment satisfies the memory limits and allowed flags")
    return a


def _local_search(state: AlphaState, groups: list[list[int]], deadline: float) -> str:
    """Best single-group move per group, sweeping until no move helps (or the deadline); returns why it stopped."""
    improved = True
    while improved:
        improved = False
        for g in groups:
            if time.perf_counter() > deadline:
                return "time limit"
            best = None
            for d in range(state.gt.D):
                r = state.try_move(g, d)
                if r is not None and state.better(r) and (best is None or r[0] < best[0]):
                    best = r
            if best is not None:
                state.apply(*best)
                improved = True
    return "local optimum"


def alpha_heuristic(gt: GraphTables, alpha: float, norm: dict, time_limit_s: float,
                    with_message_bound: bool = True) -> tuple[np.ndarray, dict]:
    """(assignment, stats). ``with_message_bound=False`` when a MILP follows: the time goes to the MILP instead."""
    t0 = time.perf_counter()
    deadline = t0 + time_limit_s
    bound, lp_x = lp_alpha(gt, alpha, norm, max(0.1, time_limit_s / 2))
    starts = _start_points(gt, alpha, norm, lp_x) or [feasible_start(gt)]
    states = [AlphaState(gt, s, alpha, norm) for s in starts]
    # searched: the LP rounding (first when present: its loads follow the LP's balance, which the search keeps
    # while it removes messages) and then the best other start, in the time left; the better result is kept
    # (the earlier one on a tie)
    first = states[0] if lp_x is not None and _lp_rounding(gt, lp_x) is not None else None
    rest = [s for s in states if s is not first]
    order = ([first] if first is not None else []) + ([min(rest, key=lambda s: (s.obj, s.a.tolist()))] if rest else [])
    groups = [[u] for u in range(gt.L)] + chains(gt)
    state, stopped = None, "time limit"
    for cand in order:
        if state is not None and time.perf_counter() > deadline:
            break
        why = _local_search(cand, groups, deadline)
        if state is None or cand.obj < state.obj * (1 - TIE_RTOL):
            state, stopped = cand, why
    check_assignment(gt, state.a)
    rest = time_limit_s - (time.perf_counter() - t0)
    if with_message_bound and state.obj > bound * (1 + MESSAGE_BOUND_GAP) and rest > 0:
        bound = max(bound, message_bound(gt, alpha, norm, state.obj, rest))
    gap = (state.obj - bound) / state.obj if state.obj > 0 else 0.0
    return state.a, {"lower_bound": bound, "gap": max(0.0, gap), "stopped": stopped}


def fastest_times(gt: GraphTables) -> np.ndarray:
    return np.array([gt.time[gt.ok[:, u], u].min() if gt.ok[:, u].any() else 0.0 for u in range(gt.L)])


def segment_bound(gt: GraphTables, units: list[int], fastest: np.ndarray, time_limit_s: float) -> float:
    """max(critical path of ``units`` at their fastest times, the LP load bound of ``units``), messages free."""
    if not units:
        return 0.0
    inside = set(units)
    path = {}
    for v in units:     # units are in topological order
        path[v] = fastest[v] + max((path[u] for u, _ in gt.in_edges[v] if u in inside), default=0.0)
    cp = max(path.values())
    D = gt.D
    m = Model()
    X = m.var((len(units), D))
    T = m.var(ub=math.inf, cost=1.0)
    scale = cp if cp > 0 else 1.0
    for i, u in enumerate(units):
        for d in range(D):
            if not gt.ok[d, u]:
                m.ub[X[i, d]] = 0.0
        m.row(X[i], np.ones(D), 1, 1)
    for d in range(D):
        m.row([T, *X[:, d]], [1, *-gt.time[d, units] / scale], lo=0)
    out = m.solve(time_limit_s)
    load = out.objective * scale * (1 - LP_SLACK) if out.status == "Optimal" else 0.0
    return max(cp * (1 - 1e-12), load)


def latency_lower_bound(gt: GraphTables, time_limit_s: float = 10.0) -> float:
    """Lower bound on the latency of every plan (messages free): split the graph at its *barrier* units (units
    every other unit either precedes or follows; nothing overlaps them), and add, over the segments between
    barriers, max(critical path at the fastest allowed times, LP load bound), plus each barrier's fastest time."""
    from .graph_latency import reachability
    L = gt.L
    fastest = fastest_times(gt)
    desc = reachability(gt)
    anc = [0] * L
    for u in range(L):
        for v in range(L):
            if desc[u] >> v & 1:
                anc[v] |= 1 << u
    full = (1 << L) - 1
    barriers = [c for c in range(L) if (anc[c] | desc[c] | (1 << c)) == full]
    bound, prev = 0.0, None
    for c in barriers + [None]:
        seg = [u for u in range(L) if (prev is None or desc[prev] >> u & 1) and (c is None or anc[c] >> u & 1)]
        bound += segment_bound(gt, seg, fastest, time_limit_s)
        if c is not None:
            bound += fastest[c] * (1 - 1e-12)
        prev = c
    return bound


def latency_heuristic(gt: GraphTables, time_limit_s: float):
    """(assignment, unit priorities, schedule, HEFT's schedule, stats)."""
    t0 = time.perf_counter()
    try:
        a, key = heft(gt)
        base = schedule(gt, a, key)
    except InfeasibleError:     # HEFT's greedy filled the memory; start from any plan that fits
        a, key, base = feasible_start(gt), priority_from_rank(upward_rank(gt)), None
    best = base or schedule(gt, a, key)
    groups = [[u] for u in range(gt.L)] + chains(gt)
    stopped = "local optimum"
    improved = True
    w = gt.p.weight_bytes
    while improved and stopped != "time limit":
        improved = False
        for g in groups:
            if time.perf_counter() - t0 > time_limit_s:
                stopped = "time limit"
                break
            load = np.bincount(a, weights=w, minlength=gt.D)
            for d in range(gt.D):
                moved = [u for u in g if a[u] != d]
                if not moved or not all(gt.ok[d, u] for u in g) or load[d] + w[moved].sum() > gt.mem[d]:
                    continue
                b = a.copy()
                b[moved] = d
                s = schedule(gt, b, key)
                if s.latency_s < best.latency_s * (1 - TIE_RTOL):
                    a, best, improved = b, s, True
                    load = np.bincount(a, weights=w, minlength=gt.D)
    lb = latency_lower_bound(gt)
    gap = (best.latency_s - lb) / best.latency_s if best.latency_s > 0 else 0.0
    return a, key, best, base, {"lower_bound": lb, "gap": max(0.0, gap), "stopped": stopped}
