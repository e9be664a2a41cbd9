"""Solve every bundled example problem (data/problems/*.json) with both solvers and print the plans."""
from __future__ import annotations

import sys

from tqdm import tqdm

from donna_core import config
from donna_core.cli.solve_cmd import format_result
from donna_core.partition.problem import load_problem
from donna_core.partition.solve import pareto_front, solve

ROOT = config.ROOT


def main() -> int:
    files = sorted((ROOT / "data" / "problems").glob("*.json"))
    if not files:
        print("no example problems under data/problems/", file=sys.stderr)
        return 1
    for f in tqdm(files, desc="example problems", file=sys.stderr):
        p = load_problem(f)
        if p.graph is not None:     # graph problems are placed by notebook 08 and `donna solve` (graph solvers)
            print(f"\n=== {f.name}: graph problem, {p.L} units, {len(p.graph.src)} edges: see notebook 08 ===")
            continue
        print(f"\n=== {f.name}: {p.L} units, {p.D} devices ===")
        for alpha in (1.0, 0.5, 0.0):
            exact = solve(p, alpha, "exact")
            print(format_result(exact, p.name))
            paper = solve(p, alpha, "paper") if p.D <= 8 else None
            if paper is not None:
                gap = paper.objective / exact.objective - 1 if exact.objective > 0 else 0.0
                print(f"paper DP: objective {paper.objective:.6g} ({gap:+.3%} vs exact), "
                      f"plan {' | '.join(f'{d}:{a}..{b}' for d, a, b in paper.plan())}")
        front = pareto_front(p)
        print(f"exact Pareto front: {len(front)} plans, throughput {front[-1].throughput_ips:.4g}.."
              f"{front[0].throughput_ips:.4g} inf/s, energy {front[-1].energy_j:.4g}..{front[0].energy_j:.4g} J")
    return 0


if __name__ == "__main__":
    sys.exit(main())
