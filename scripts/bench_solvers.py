"""Solver cost on random instances with 3 device types (run: make bench). Prints a markdown table.

Not a test: timings depend on the machine. Instances are random but seeded, so reruns solve the same problems.
"""
from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from donna_core.partition.problem import problem_from_dict
from donna_core.partition.solve import pareto_front, solve


def random_problem(L: int, D: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    types = ["cpu", "gpu", "cim"]
    speed = {"cpu": 1.0, "gpu": 0.2, "cim": 3.0}
    power = {"cpu": 100.0, "gpu": 200.0, "cim": 1.0}
    dt = {}
    for t in types:
        base = rng.lognormal(-6, 1, L) * speed[t]
        dt[t] = {"time_s": base.tolist(), "energy_j": (base * power[t] * rng.uniform(0.5, 1.5, L)).tolist()}
    devices = [{"name": f"{types[i % 3]}{i // 3}", "type": types[i % 3]} for i in range(D)]
    return {"name": f"random L={L} D={D} seed={seed}",
            "units": [{"name": f"u{i}", "out_bytes": float(rng.integers(1e4, 2e6))} for i in range(L)],
            "input_bytes": 602112, "device_types": dt, "devices": devices, "links": "hb-wcc"}


def timed(fn, repeats: int):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3, help="best of N runs")
    args = ap.parse_args()
    print(f"host: {platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"best of {args.repeats}")
    print("| case | solver | alpha | seconds | result |")
    print("|---|---|---|---|---|")
    cases = [(53, 4), (53, 8), (53, 12), (150, 8), (150, 10)]
    for L, D in cases:
        p = problem_from_dict(random_problem(L, D, seed=L * 100 + D))
        for solver, alpha in [("exact", 1.0), ("exact", 0.0), ("exact", 0.8), ("paper", 0.8)]:
            if solver == "paper" and D > 8:
                continue  # 2^D subsets x D^2: the paper's DP is only practical for small D
            if solver == "exact" and alpha not in (0.0, 1.0) and L > 60 and D > 8:
                continue  # the full front at L=150, D=10 is outside the targets; alpha 0/1 have fast paths
            s, r = timed(lambda: solve(p, alpha, solver), args.repeats)
            print(f"| L={L} D={D} | {solver} | {alpha} | {s:.3f} | {len(r.stages)} stages, "
                  f"B={r.bottleneck_s:.4g} s, E={r.energy_j:.4g} J |")
    p = problem_from_dict(random_problem(53, 8, seed=53 * 100 + 8))
    s, front = timed(lambda: pareto_front(p), args.repeats)
    print(f"| L=53 D=8 | exact front | - | {s:.3f} | {len(front)} Pareto points |")
    p = problem_from_dict(random_problem(150, 8, seed=150 * 100 + 8))
    s, front = timed(lambda: pareto_front(p), 1)
    print(f"| L=150 D=8 | exact front | - | {s:.3f} | {len(front)} Pareto points (one run) |")
    # the paper's scenarios: D=4 (2 + 2 devices), L up to 160
    for L in (8, 19, 156, 160):
        d = random_problem(L, 4, seed=L)
        d["devices"] = [{"name": "cpu0", "type": "cpu"}, {"name": "cpu1", "type": "cpu"},
                        {"name": "gpu0", "type": "gpu"}, {"name": "gpu1", "type": "gpu"}]
        p = problem_from_dict(d)
        for alpha in (1.0, 0.6):
            s, r = timed(lambda: solve(p, alpha, "paper"), args.repeats)
            print(f"| paper scenario L={L} D=4 | paper | {alpha} | {s:.3f} | {len(r.stages)} stages |")
        s, front = timed(lambda: pareto_front(p), args.repeats)
        print(f"| paper scenario L={L} D=4 | exact front | - | {s:.3f} | {len(front)} points |")


if __name__ == "__main__":
    main()
