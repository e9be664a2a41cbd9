"""Brute force over every assignment (and, for latency, every task order) of tiny graph problems."""
from __future__ import annotations

import math

import numpy as np

from donna_core.partition.graph_costs import GraphTables, all_assignments, evaluate_many
from donna_core.partition.graph_schedule import INPUT, message_list


def best_alpha(gt: GraphTables, alpha: float, norm: dict) -> float:
    A = all_assignments(gt.L, gt.D)
    b, e = evaluate_many(gt, A)
    with np.errstate(invalid="ignore"):
        obj = alpha * b / norm["time_s"] + (1 - alpha) * e / norm["energy_j"]
    return float(np.min(np.where(np.isfinite(b), obj, math.inf)))


def latency_of(gt: GraphTables, a, bound: float = math.inf) -> float:
    """Minimum latency of assignment ``a`` over every linear extension of its task DAG (units and messages),
    each task appended to its resource: by DFS with pruning at ``bound``."""
    L = gt.L
    msgs = message_list(gt, a)
    n = L + len(msgs)
    dur, res, preds = [0.0] * n, [None] * n, [[] for _ in range(n)]
    via = {}
    for i, (u, s, d, b) in enumerate(msgs):
        t = L + i
        via[(u, d)] = t
        dur[t] = gt.msg_time(s, d, b)
        res[t] = ("l", min(s, d), max(s, d))
        if u != INPUT:
            preds[t].append(u)
    for v in range(L):
        dur[v] = float(gt.time[a[v], v])
        res[v] = ("d", int(a[v]))
        for u, _ in gt.in_edges[v]:
            preds[v].append(u if a[u] == a[v] else via[(u, int(a[v]))])
        if gt.is_input[v] and (INPUT, int(a[v])) in via:
            preds[v].append(via[(INPUT, int(a[v]))])
    best = [bound]
    finish = [None] * n

    def dfs(done: int, free: dict, span: float):
        if span >= best[0]:
            return
        if done == n:
            best[0] = span
            return
        for t in range(n):
            if finish[t] is not None or any(finish[q] is None for q in preds[t]):
                continue
            s0 = max([free.get(res[t], 0.0)] + [finish[q] for q in preds[t]])
            finish[t] = s0 + dur[t]
            old = free.get(res[t])
            free[res[t]] = finish[t]
            dfs(done + 1, free, max(span, finish[t]))
            finish[t] = None
            if old is None:
                del free[res[t]]
            else:
                free[res[t]] = old

    dfs(0, {}, 0.0)
    return best[0]


def best_latency(gt: GraphTables) -> float:
    best = math.inf
    for a in all_assignments(gt.L, gt.D):
        if not gt.ok[a, np.arange(gt.L)].all():
            continue
        if (np.bincount(a, weights=gt.p.weight_bytes, minlength=gt.D) > gt.mem).any():
            continue
        best = min(best, latency_of(gt, a, best))
    return best


def fits_cap(gt: GraphTables, a, cap: float) -> bool:
    """Whether some order of the tasks of assignment ``a`` finishes by ``cap`` (latency <= cap exactly)."""
    bound = math.nextafter(cap, math.inf)
    return latency_of(gt, a, bound) < bound


def best_alpha_capped(gt: GraphTables, alpha: float, norm: dict, cap: float) -> float:
    """Least alpha-objective over the assignments with a latency <= ``cap`` (inf when none): assignments in
    increasing objective, the first that fits."""
    A = all_assignments(gt.L, gt.D)
    b, e = evaluate_many(gt, A)
    with np.errstate(invalid="ignore"):
        obj = alpha * b / norm["time_s"] + (1 - alpha) * e / norm["energy_j"]
    # latency >= bottleneck (each device runs one unit at a time, each link one message), so b > cap cannot fit
    cand = np.nonzero(np.isfinite(b) & (b <= cap))[0]
    for i in cand[np.argsort(obj[cand], kind="stable")]:
        if fits_cap(gt, A[i], cap):
            return float(obj[i])
    return math.inf
