"""Exact latency by decomposition at barrier units, for branchy graphs such as GoogLeNet's.

A *barrier* is a unit that every other unit either precedes or follows (an inception block's concat) and that
no edge jumps over (from a unit before it to a unit after it). Every message a unit before a barrier c sends
then goes to c or to a unit before c (the destination device must hold a successor), so under the list-scheduling
semantics all work of the
segment before c, messages included, ends before c starts, and nothing of the next segment starts before c
ends. The latency of a plan is therefore the sum, over segments, of the span from one barrier's finish to the
next barrier's finish, and that span depends only on the segment's own placement and on the devices of its
two barriers. So::

    f_1(b)     = span of segment 0 (from t = 0, the input as usual) with barrier c_1 on b
    f_{i+1}(b) = min_a f_i(a) + V_i(a, b)      V_i: min span of segment i with c_i on a, c_{i+1} on b
    latency    = min_a f_k(a) + V_k(a)          (the units after the last barrier)

Each ``V_i`` is the exact latency MILP (:mod:`.graph_latency`) of the segment, with c_i as a zero-time unit
pinned to a and c_{i+1} pinned to b (its contention-free relaxation first: when the true schedule of the
relaxation's plan meets the relaxation's bound, no contention model is needed; a segment of the barrier alone
needs no MILP; a pair (a, b) that a renaming of interchangeable devices maps onto a pair already solved reuses
that solution, renamed). Its dual bound replaces V_i in a second recursion, the lower bound; when
a segment MILP is not solved in time, the segment's critical-path/load bound stands in. Memory couples the
segments, so this is used only when no device's memory can be exceeded by any plan (else the caller uses the
whole-graph MILP).
"""
from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np

from .graph_costs import GraphTables
from .graph_heuristic import fastest_times, segment_bound
from .graph_latency import latency_milp, reachability
from .graph_problem import Graph
from .graph_milp import interchangeable_classes
from .graph_schedule import Schedule, schedule


def barrier_units(gt: GraphTables) -> tuple[list[int], list[int], list[int]]:
    """(barriers, ancestors bitsets, descendants bitsets)."""
    L = gt.L
    desc = reachability(gt)
    anc = [0] * L
    for u in range(L):
        rest = desc[u]
        while rest:
            v = (rest & -rest).bit_length() - 1
            anc[v] |= 1 << u
            rest &= rest - 1
    full = (1 << L) - 1
    # an edge jumping over c (from an ancestor to a descendant) would carry a message across the cut
    jumped = np.zeros(L + 1, dtype=int)
    for u, v in zip(gt.g.src, gt.g.dst):
        if v > u + 1:
            jumped[u + 1] += 1
            jumped[v] -= 1
    jumped = np.cumsum(jumped)[:L] > 0
    return [c for c in range(L) if (anc[c] | desc[c] | (1 << c)) == full and not jumped[c]], anc, desc


def applicable(gt: GraphTables) -> bool:
    """No memory coupling, at least one barrier, and no message CPU costs: a send's CPU follows its unit on the
    device and can reach past the next barrier's start, so segments would no longer be independent (the segment
    MILPs do not model message CPU either)."""
    w = float(gt.p.weight_bytes.sum())
    return bool((w <= gt.mem).all()) and len(barrier_units(gt)[0]) > 0 and not gt.p.has_cpu_cost


def _sub(gt: GraphTables, units: list[int], head: int | None) -> GraphTables:
    """The segment as its own problem: ``head`` (the previous barrier) first, with zero time and weight."""
    p = gt.p
    idx = ([head] if head is not None else []) + units
    pos = {u: i for i, u in enumerate(idx)}
    rows = [(pos[int(u)], pos[int(v)], float(b)) for u, v, b in zip(p.graph.src, p.graph.dst, p.graph.nbytes)
            if int(u) in pos and int(v) in pos]
    has_in = np.zeros(len(idx), dtype=bool)
    for _, v, _ in rows:
        has_in[v] = True
    g = Graph(np.array([r[0] for r in rows], dtype=int), np.array([r[1] for r in rows], dtype=int),
              np.array([r[2] for r in rows]), np.nonzero(~has_in)[0])
    t, e = p.time_s[:, idx].copy(), p.energy_j[:, idx].copy()
    allowed = p.allowed[:, idx].copy()
    if head is not None:
        t[:, 0] = 0.0
        e[:, 0] = 0.0
        allowed[:, 0] = True
    q = replace(p, unit_names=tuple(p.unit_names[u] for u in idx), out_bytes=p.out_bytes[idx],
                weight_bytes=np.zeros(len(idx)), time_s=t, energy_j=e, allowed=allowed, graph=g,
                source=p.source if head is None else None, raw={})
    return GraphTables(q)


def _canonical_perm(classes, D: int, a, b) -> np.ndarray:
    """A renaming of interchangeable devices (within each class) that maps the pinned pair (a, b) to the
    smallest class members in order of appearance; the segment's optimum is invariant under it."""
    perm = np.arange(D)
    for cls in classes:
        used = [d for d in (a, b) if d is not None and d in cls]
        used = list(dict.fromkeys(used))
        rest = [d for d in cls if d not in used]
        for d, target in zip(used + rest, cls):
            perm[d] = target
    return perm


def _upper(gt: GraphTables, fixed: dict[int, int]) -> float:
    """Latency of a concrete plan (pins kept, every other unit on its fastest allowed device): a valid H."""
    a = np.array([fixed.get(u, int(np.argmin(np.where(gt.ok[:, u], gt.time[:, u], np.inf)))) for u in range(gt.L)])
    return schedule(gt, a, np.arange(gt.L, dtype=float)).latency_s


def _solve_pair(sub: GraphTables, fixed: dict[int, int], seg_lb: float, share: float, deadline: float):
    """(plan, schedule, lower bound, span, proved) of one segment with its barriers pinned."""
    H = _upper(sub, fixed)
    plan = np.array([fixed.get(u, int(np.argmin(np.where(sub.ok[:, u], sub.time[:, u], np.inf))))
                     for u in range(sub.L)])
    sch = schedule(sub, plan, np.arange(sub.L, dtype=float))
    lo, hi = seg_lb, sch.latency_s
    if sub.L == len(fixed) or H == 0:
        return plan, sch, hi, hi, True     # every unit pinned: the one plan's schedule is exact
    proved = False
    if time.perf_counter() < deadline:
        # the contention-free relaxation first: when its plan's true schedule meets its bound, that plan is
        # optimal; otherwise the full model
        for contention in (False, True):
            a2, uk, mk, out = latency_milp(sub, H, share, contention=contention, fixed=fixed)
            if a2 is not None:
                s2 = schedule(sub, a2, uk, mk)
                if s2.latency_s <= hi:
                    hi, plan, sch = s2.latency_s, a2, s2
            if math.isfinite(out.bound):
                lo = max(lo, out.bound * H * (1 - 1e-9))
            proved = out.proved and (contention or hi <= lo * (1 + 1e-6))
            if proved or time.perf_counter() > deadline:
                break
    return plan, sch, min(lo, hi), hi, proved


def _segments(gt: GraphTables, barriers, anc, desc):
    segs, prev = [], None
    for c in barriers + [None]:
        units = [u for u in range(gt.L) if u != prev and (prev is None or desc[prev] >> u & 1)
                 and (c is None or anc[c] >> u & 1 or u == c)]
        if c is None and not units:
            break
        segs.append((prev, c, units))
        prev = c
    return segs


def solve_segments(gt: GraphTables, time_limit_s: float):
    """(assignment, unit priorities, message priorities, latency of the DP plan, lower bound, whether every
    segment MILP was proved optimal)."""
    t0 = time.perf_counter()
    deadline = t0 + time_limit_s
    D = gt.D
    barriers, anc, desc = barrier_units(gt)
    fastest = fastest_times(gt)
    segs = _segments(gt, barriers, anc, desc)
    # the source matters only in the first segment; later segments may rename every interchangeable device
    seg_classes = [interchangeable_classes(gt.p) if h is None else
                   interchangeable_classes(replace(gt.p, source=None)) for h, _, _ in segs]
    jobs = []
    for (h, c, units), classes in zip(segs, seg_classes):
        keys = {(None if h is None else int(_canonical_perm(classes, D, a, b)[a]),
                 None if c is None else int(_canonical_perm(classes, D, a, b)[b]))
                for a in ([None] if h is None else range(D)) for b in ([None] if c is None else range(D))}
        jobs.append(len(keys) if len(units) > 1 else 0)
    jobs_left = sum(jobs)
    proved_all = True
    f_hi, f_lo, choice = {None: 0.0}, {None: 0.0}, []
    for (h, c, units), classes in zip(segs, seg_classes):
        sub = _sub(gt, units, h)
        off = 1 if h is not None else 0
        seg_lb = segment_bound(gt, [u for u in units if u != h], fastest, 5.0)
        new_hi, new_lo, pick = {}, {}, {}
        cache: dict = {}
        for b in ([None] if c is None else range(D)):
            if b is not None and not gt.ok[b, c]:
                continue
            best_hi, best_lo = (math.inf, None), math.inf
            for a in ([None] if h is None else range(D)):
                if a not in f_hi:
                    continue
                perm = _canonical_perm(classes, D, a, b)
                key = (None if a is None else int(perm[a]), None if b is None else int(perm[b]))
                if key not in cache:
                    fixed = {}
                    if key[0] is not None:
                        fixed[0] = key[0]
                    if key[1] is not None:
                        fixed[off + units.index(c)] = key[1]
                    share = max(0.05, (deadline - time.perf_counter()) / max(1, jobs_left))
                    jobs_left -= 1 if len(units) > 1 else 0
                    cache[key] = _solve_pair(sub, fixed, seg_lb, share, deadline)
                    proved_all &= cache[key][4]
                plan_c, sch_c, lo, hi, _ = cache[key]
                inv = np.argsort(perm)      # rename the canonical pair's devices back to (a, b)
                plan = inv[plan_c]
                sch = Schedule(sch_c.latency_s, sch_c.start, sch_c.finish,
                               [(u, int(inv[x]), int(inv[y]), nb, s0, s1) for u, x, y, nb, s0, s1 in sch_c.messages])
                if f_hi[a] + hi < best_hi[0]:
                    best_hi = (f_hi[a] + hi, (a, plan, sch, f_hi[a]))
                best_lo = min(best_lo, f_lo[a] + lo)
            if best_hi[1] is not None:
                new_hi[b], new_lo[b], pick[b] = best_hi[0], best_lo, best_hi[1]
        choice.append((units, h, off, pick))
        f_hi, f_lo = new_hi, new_lo
    # walk back the choices; the segment schedules, shifted by their start offsets, form one schedule of the
    # whole plan (module docstring), whose start times become the priorities of the final list schedule
    end = min(f_hi, key=lambda b: (f_hi[b], -1 if b is None else b))
    lower = min(f_lo.values())
    assign = np.full(gt.L, -1)
    ukey = np.zeros(gt.L)
    mstart: dict[tuple[int, int], float] = {}
    b = end
    for units, h, off, pick in reversed(choice):
        a, plan, sch, offset = pick[b]
        idx = ([h] if h is not None else []) + units
        for i, u in enumerate(units):
            assign[u] = plan[off + i]
            ukey[u] = offset + sch.start[off + i]
        for prod, _, d, _, start, _ in sch.messages:
            mstart[(idx[prod] if prod >= 0 else prod, d)] = offset + start
        b = a
    from .graph_schedule import message_list
    mkey = [mstart.get((u, d), math.inf) for u, _, d, _ in message_list(gt, assign)]
    return assign, ukey, mkey, f_hi[end], lower, proved_all
