"""Where is the certified gap of the graph heuristic on Watts-Strogatz DAGs over 8 devices (the bench's family)?

Two measurements (modelled problems, donna_core.partition.graph_synthetic; one run on this machine each):

* ``--small N,N,...``: the heuristic plan (5 s), the exact MILP (``--exact-s`` seconds, its proven gap), the
  message-free LP bound and the message-aware bound of graph_bound, on ws_dag(N) with the bench's cluster and
  memory shares: is the heuristic or the bound the weak side?
* ``--large``: on the bench's 500-node problems, the *split cap*: the least objective of the message-aware LP
  (graph_bound) over its points that split every unit over the devices the same way (x[u, d] = theta_d). Those
  points force no message, so the LP optimum -- hence that bound and the message-free one -- cannot exceed the
  cap, and (heuristic - cap) / heuristic is a floor on the gap they can certify. At alpha = 0 the cap is also a
  convex combination of single-device plans (every unit on one device) whose average memory use fits each
  device, which bounds every Lagrangian relaxation of the memory rows, whatever inner decomposition (producer
  stars included) is solved exactly: for any multipliers, each inner piece's minimum is at most the same
  combination of its values at those plans, and the multiplier terms are <= 0 there.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from donna_core.partition.graph_bound import message_bound
from donna_core.partition.graph_costs import GraphTables, graph_norm
from donna_core.partition.graph_heuristic import lp_alpha_bound
from donna_core.partition.graph_milp import Model
from donna_core.partition.graph_solve import solve_graph
from donna_core.partition.graph_synthetic import graph_problem, ws_dag
from donna_core.partition.problem import problem_from_dict

CLUSTER8 = {"cpu": 3, "gpu": 2, "cim": 3}


def bench_problem(n: int, seed: int, medium: str):
    return problem_from_dict(graph_problem(ws_dag(n, seed=seed), CLUSTER8, seed=seed, medium=medium,
                                           cim_memory_share=0.2))


def split_cap(gt: GraphTables, alpha: float, norm: dict) -> float:
    """Least scaled objective of the message-aware LP of graph_bound at the points where every unit is split over
    the devices the same way (x[u, d] = theta_d): no y is forced up, so they pay no message; memory rows read
    theta_d * W <= memory_d. At alpha = 0 this is the mixture cap of the module docstring."""
    p, D = gt.p, gt.D
    tn, en = norm["time_s"], norm["energy_j"]
    W = float(p.weight_bytes.sum())
    m = Model()
    theta = m.var((D,))
    for d in range(D):
        if not gt.ok[d].all():      # some unit may not run on d (or alone exceeds its memory)
            m.ub[theta[d]] = 0.0
        elif np.isfinite(gt.mem[d]):
            m.ub[theta[d]] = min(1.0, float(gt.mem[d]) / W)
        e = float(gt.energy[d].sum())
        if p.source is not None and d != p.source:
            e += gt.msg_energy(p.source, d, p.input_bytes)
        m.cost[theta[d]] = (1 - alpha) * e / en
    m.row(theta, np.ones(D), 1, 1)
    if alpha > 0:
        b_min = max(float(gt.time[gt.ok[:, u], u].min()) for u in range(gt.L))
        B = m.var(lb=b_min / tn, ub=np.inf, cost=alpha)
        for d in range(D):
            t_in = gt.msg_time(p.source, d, p.input_bytes) if p.source is not None and d != p.source else 0.0
            m.row([B, theta[d]], [1, -float(gt.time[d].sum()) / tn], lo=0)
            if t_in:
                m.row([B, theta[d]], [1, -t_in / tn], lo=0)
        for u in range(gt.L):
            m.row([B, *theta], [1, *-gt.time[:, u] / tn], lo=0)
    out = m.solve(10.0)
    return out.objective if out.values is not None else np.inf


def small(sizes, seeds, alphas, medium, exact_s):
    print(f"{'n':>4}{'seed':>5}{'alpha':>6}{'heuristic':>11}{'exact':>10}{'exact gap':>10}{'LP free':>10}"
          f"{'msg LP':>10}{'heur/exact':>11}{'bound/exact':>12}")
    for n in sizes:
        for seed in seeds:
            for alpha in alphas:
                p = bench_problem(n, seed, medium)
                gt, norm = GraphTables(p), graph_norm(p)
                h = solve_graph(p, alpha, "heuristic", time_limit_s=5.0)
                free = lp_alpha_bound(gt, alpha, norm, 5.0)
                aware = message_bound(gt, alpha, norm, h.objective, 10.0)
                e = solve_graph(p, alpha, "exact", time_limit_s=exact_s)
                print(f"{n:>4}{seed:>5}{alpha:>6g}{h.objective:>11.5g}{e.objective:>10.5g}{e.stats['gap']:>10.3g}"
                      f"{free:>10.4g}{aware:>10.4g}{h.objective / e.objective:>11.4f}"
                      f"{max(free, aware) / e.objective:>12.4f}", flush=True)


def large(seeds, medium):
    print(f"{'seed':>5}{'alpha':>6}{'heuristic':>11}{'heur gap':>10}{'split cap':>11}{'gap floor':>10}")
    for seed in seeds:
        p = bench_problem(500, seed, medium)
        gt, norm = GraphTables(p), graph_norm(p)
        for alpha in (0.0, 0.5, 1.0):
            h = solve_graph(p, alpha, "heuristic", time_limit_s=5.0)
            cap = split_cap(gt, alpha, norm)
            print(f"{seed:>5}{alpha:>6g}{h.objective:>11.5g}{h.stats['gap']:>10.3%}{cap:>11.5g}"
                  f"{(h.objective - cap) / h.objective:>10.3%}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", default="", help="comma-separated sizes for the exact comparison (e.g. 30,50)")
    ap.add_argument("--large", action="store_true", help="the split cap on the 500-node problems")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--medium", default="hb-wcc")
    ap.add_argument("--exact-s", type=float, default=60.0)
    args = ap.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}; medium {args.medium}")
    seeds = list(range(args.seeds))
    if args.small:
        small([int(x) for x in args.small.split(",")], seeds, (0.0, 0.5), args.medium, args.exact_s)
    if args.large:
        large(seeds, args.medium)
    return 0


if __name__ == "__main__":
    sys.exit(main())
