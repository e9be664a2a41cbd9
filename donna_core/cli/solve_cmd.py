"""``donna solve`` (best plan for one alpha) and ``donna pareto`` (exact front) sub-commands."""
from __future__ import annotations

import argparse
import json

from ..partition.costs import PlanError, Result
from ..partition.exact import InfeasibleError
from ..partition.problem import load_problem
from ..partition.solve import SOLVERS, pareto_front, solve


def format_result(r: Result, name: str) -> str:
    lines = [f"{name}  [solver={r.solver}, alpha={r.alpha:g}]",
             f"{'device':<12}{'units':>12}{'compute s':>13}{'compute J':>13}{'send s':>12}{'send J':>12}"]
    for s in r.stages:
        lines.append(f"{s.device:<12}{f'{s.first}..{s.last}':>12}{s.compute_s:>13.4g}{s.compute_j:>13.4g}"
                     f"{s.comm_out_s:>12.4g}{s.comm_out_j:>12.4g}")
    if r.input_s or r.input_j:
        lines.append(f"input transfer from the source: {r.input_s:.4g} s, {r.input_j:.4g} J")
    lines.append(f"bottleneck {r.bottleneck_s:.6g} s  throughput {r.throughput_ips:.6g} inf/s  "
                 f"energy {r.energy_j:.6g} J/inf  objective {r.objective:.6g}")
    lines.append(f"norms: time {r.norm['time_s']:.6g} s, energy {r.norm['energy_j']:.6g} J")
    return "\n".join(lines)


def _alpha(text: str) -> float:
    try:
        a = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"alpha must be a number in [0, 1], got {text!r}") from None
    if not 0.0 <= a <= 1.0:
        raise argparse.ArgumentTypeError(f"alpha must be in [0, 1], got {text}")
    return a


def _seconds(text: str) -> float:   # b-solvers
    try:
        t = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"time limit must be a number of seconds, got {text!r}") from None
    if not (t > 0 and t < float("inf")):
        raise argparse.ArgumentTypeError(f"time limit must be > 0 seconds, got {text}")
    return t


def cmd_solve(args) -> int:
    p = load_problem(args.problem)
    # --- b-solvers: time limit, memory budget, certified gap ---
    r = solve(p, args.alpha, args.solver, time_limit_s=args.time_limit, memory_budget=args.memory_budget)
    print(json.dumps(r.to_dict(), indent=2) if args.json else format_result(r, p.name))
    if not args.json and "lower_bound" in r.stats:
        print(f"certified lower bound {r.stats['lower_bound']:.6g}, gap {100 * r.stats['gap']:.3g} % "
              f"(stopped: {r.stats['stopped']}, {r.stats['solve_s']:.2f} s)")
    if not args.json and "fallback" in r.stats:
        print(r.stats["fallback"])
    # --- end b-solvers ---
    return 0


def cmd_pareto(args) -> int:
    p = load_problem(args.problem)
    front = pareto_front(p, memory_budget=args.memory_budget)   # b-solvers: memory budget
    if args.json:
        out = {"front": [{"bottleneck_s": r.bottleneck_s, "throughput_ips": r.throughput_ips,
                          "energy_j": r.energy_j, "stages": r.to_dict()["stages"]} for r in front]}
        print(json.dumps(out, indent=2))
    else:
        print(f"{p.name}: {len(front)} Pareto-optimal plans (bottleneck ascending)")
        print(f"{'bottleneck s':>14}{'throughput/s':>14}{'energy J':>12}  plan")
        for r in front:
            plan = " | ".join(f"{s.device}:{s.first}..{s.last}" for s in r.stages)
            print(f"{r.bottleneck_s:>14.6g}{r.throughput_ips:>14.6g}{r.energy_j:>12.6g}  {plan}")
    return 0


def register(sub) -> None:
    ps = sub.add_parser("solve", help="best plan for one alpha")
    ps.add_argument("problem", help="problem JSON file")
    ps.add_argument("--alpha", type=_alpha, default=1.0, help="weight of throughput vs energy, in [0, 1]")
    ps.add_argument("--solver", choices=SOLVERS, default="exact")
    ps.add_argument("--json", action="store_true", help="print one JSON object")
    # --- b-solvers: bounded solver and size guard ---
    ps.add_argument("--time-limit", type=_seconds, default=60.0, metavar="S",
                    help="time limit of --solver bounded (and auto when it falls back), seconds (default 60)")
    ps.add_argument("--memory-budget", default=None, metavar="BYTES",
                    help="refuse solves that need more (e.g. 4G, 512MiB; default: DONNA_MEMORY_BUDGET or half "
                         "the available RAM)")
    # --- end b-solvers ---
    ps.set_defaults(func=cmd_solve)
    pp = sub.add_parser("pareto", help="exact Pareto front of (bottleneck, energy)")
    pp.add_argument("problem", help="problem JSON file")
    pp.add_argument("--json", action="store_true")
    pp.add_argument("--memory-budget", default=None, metavar="BYTES", help="as for solve")   # b-solvers
    pp.set_defaults(func=cmd_pareto)
