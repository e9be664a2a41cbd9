"""Graph solver benchmark (`make bench`): exact MILP, heuristic and HEFT on synthetic graph problems.

Prints one table. Problems (seeded, modelled placeholder costs, donna_core.partition.graph_synthetic):
* RandWire-like 64-node Watts-Strogatz DAGs over 2 CPU + 1 GPU + 1 CIM: the alpha-objective MILP (target:
  proved optimal, gap 0, in <= 10 s);
* 500-node Watts-Strogatz DAGs over 8 devices: the heuristic with a 5 s limit (target: certified gap <= 5 %);
* a GoogLeNet-shaped graph (9 inception modules, 76 units) over 4 devices: the latency MILP with a 60 s limit
  (target: proven gap <= 5 %), with the heuristic and HEFT beside it (target: heuristic <= HEFT).
Each line is one run on this machine (1 HiGHS thread); the load average is printed with the table.
"""
from __future__ import annotations

import argparse
import os
import sys
import time


from donna_core.partition.graph_solve import solve_graph  # noqa: E402
from donna_core.partition.graph_synthetic import graph_problem, inception_like, ws_dag  # noqa: E402
from donna_core.partition.problem import problem_from_dict  # noqa: E402

CLUSTER4 = {"cpu": 2, "gpu": 1, "cim": 1}
CLUSTER8 = {"cpu": 3, "gpu": 2, "cim": 3}


def row(label, objective, alpha, r, target):
    gap = r.stats.get("gap")
    value = r.latency_s if objective == "latency" else r.objective
    print(f"{label:<34}{objective:>8}{alpha:>6g}{r.solver:>10}{value:>13.6g}{100 * gap:>9.3g}%"
          f"{r.stats['solve_s']:>9.2f}s  {target}", flush=True)
    return r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one seed per case, shorter limits (a smoke run)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per case (default 3; --quick: 1)")
    args = ap.parse_args(argv)
    seeds = [0] if args.quick else list(range(args.seeds))
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    print(f"{'problem':<34}{'obj':>8}{'alpha':>6}{'solver':>10}{'value':>13}{'gap':>10}{'time':>10}  target")
    for medium in ("pcie5", "hb-wcc"):
        for seed in seeds:
            p = problem_from_dict(graph_problem(ws_dag(64, seed=seed), CLUSTER4, seed=seed, medium=medium,
                                                cim_memory_share=0.3))
            for alpha in (0.0, 0.5, 1.0):
                r = solve_graph(p, alpha, "exact", time_limit_s=10.0)
                ok = r.stats["gap"] == 0.0 and r.stats["solve_s"] <= 10.0
                row(f"ws64 s{seed} {medium} 2cpu+gpu+cim", "alpha", alpha, r,
                    f"gap 0 in <=10 s: {'met' if ok else 'NOT met'}")
    for medium in ("pcie5", "hb-wcc"):
        for seed in seeds:
            p = problem_from_dict(graph_problem(ws_dag(500, seed=seed), CLUSTER8, seed=seed, medium=medium,
                                                cim_memory_share=0.2))
            for alpha in (0.0, 0.5, 1.0):
                r = solve_graph(p, alpha, "heuristic", time_limit_s=5.0)
                ok = r.stats["gap"] <= 0.05 and r.stats["solve_s"] <= 5.5
                row(f"ws500 s{seed} {medium} 8 devices", "alpha", alpha, r,
                    f"gap <=5 % in <=5 s: {'met' if ok else 'NOT met'}")
    limit = 20.0 if args.quick else 60.0
    for medium in ("pcie5", "hb-wcc"):
        for seed in seeds:
            p = problem_from_dict(graph_problem(inception_like(), CLUSTER4, seed=seed, medium=medium))
            heft = row(f"inception76 s{seed} {medium} 4 dev", "latency", 1, solve_graph(
                p, 1.0, "heft", objective="latency"), "baseline")
            h = row(f"inception76 s{seed} {medium} 4 dev", "latency", 1, solve_graph(
                p, 1.0, "heuristic", objective="latency", time_limit_s=5.0),
                "")
            r = solve_graph(p, 1.0, "exact", objective="latency", time_limit_s=limit)
            ok = r.stats["gap"] <= 0.05 and r.stats["solve_s"] <= limit + 5
            row(f"inception76 s{seed} {medium} 4 dev", "latency", 1, r,
                f"gap <=5 % in <={limit:g} s: {'met' if ok else 'NOT met'}; heuristic <= HEFT: "
                f"{'met' if h.latency_s <= heft.latency_s else 'NOT met'}")
    return 0



if __name__ == "__main__":
    t0 = time.perf_counter()
    code = main()
    print(f"total {time.perf_counter() - t0:.1f} s")
    sys.exit(code)
