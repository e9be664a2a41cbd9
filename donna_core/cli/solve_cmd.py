"""``donna solve`` (best plan for one alpha) and ``donna pareto`` (exact front) sub-commands.

Nothing heavy is imported at module level: :func:`register` runs for every ``donna`` invocation, including
``--help``; the solvers (numpy) are imported by the commands themselves.
"""
from __future__ import annotations

import json
import sys
import time

from ..atomic import json_safe  # one home for strict JSON (non-finite -> null)
from ..untrusted import terminal_safe
from .arg_types import alpha_arg, seconds_arg

# the time limit of `donna solve` counts from here (the command line's start-up, before the problem is read), so
# that the whole process keeps it
_STARTED = time.perf_counter()


def _out_of_memory(exc: MemoryError) -> int:
    msg = " ".join(str(exc).split()) or "out of memory (MemoryError)"
    print(f"donna: error: {msg}; lower --memory-budget, raise the memory limit (ulimit -v) or use a smaller "
          "problem", file=sys.stderr)
    return 1



def format_result(r, name: str) -> str:
    """Human-readable table of a :class:`~donna_core.partition.costs.Result`."""
    name = terminal_safe(name, keep="")
    lines = [f"{name}  [solver={r.solver}, alpha={r.alpha:g}]",
             f"{'device':<12}{'units':>12}{'compute s':>13}{'compute J':>13}{'send s':>12}{'send J':>12}"]
    for s in r.stages:
        lines.append(f"{terminal_safe(s.device, keep=''):<12}{f'{s.first}..{s.last}':>12}"
                     f"{s.compute_s:>13.4g}{s.compute_j:>13.4g}"
                     f"{s.comm_out_s:>12.4g}{s.comm_out_j:>12.4g}")
    if r.input_s or r.input_j:
        lines.append(f"input transfer from the source: {r.input_s:.4g} s, {r.input_j:.4g} J")
    lines.append(f"bottleneck {r.bottleneck_s:.6g} s  throughput {r.throughput_ips:.6g} inf/s  "
                 f"energy {r.energy_j:.6g} J/inf  objective {r.objective:.6g}")
    lines.append(f"norms: time {r.norm['time_s']:.6g} s, energy {r.norm['energy_j']:.6g} J")
    return "\n".join(lines)


def dumps_strict(obj) -> str:
    return json.dumps(json_safe(obj), indent=2, allow_nan=False)


_seconds = seconds_arg("time limit")
_latency_cap = seconds_arg("--max-latency")


def _refuse_cap_on_chain(args) -> None:
    if getattr(args, "max_latency", None) is not None:
        raise ValueError(f"{args.problem}: --max-latency needs a graph problem (a problem file with 'edges'); "
                         "write the chain as edges l -> l+1 with out_bytes[l] to solve it as a graph")


def format_graph_result(r, p) -> str:
    """Human-readable summary of a graph plan (:class:`~donna_core.partition.graph_costs.GraphResult`)."""
    lines = [f"{p.name}  [graph, solver={r.solver}, alpha={r.alpha:g}]",
             f"{'device':<12}{'units':>8}{'busy s':>13}  unit indices"]
    for d in p.device_names:
        units = [i for i, x in enumerate(r.assignment) if x == d]
        if units:
            shown = ",".join(map(str, units[:20])) + (" …" if len(units) > 20 else "")
            lines.append(f"{d:<12}{len(units):>8}{r.device_busy_s[d]:>13.4g}  {shown}")
    for link, t in r.link_busy_s.items():
        lines.append(f"link {link}: busy {t:.4g} s")
    for medium, t in (r.shared_busy_s or {}).items():
        lines.append(f"shared medium {medium}: busy {t:.4g} s")
    if r.device_message_cpu_s:
        lines.append("message CPU (in busy): " + ", ".join(f"{d} {t:.4g} s" for d, t in r.device_message_cpu_s.items()))
    lines.append(f"bottleneck {r.bottleneck_s:.6g} s  throughput {r.throughput_ips:.6g} inf/s  "
                 f"energy {r.energy_j:.6g} J/inf  objective {r.objective:.6g}")
    if r.latency_s is not None:
        cap = r.stats.get("max_latency_s")
        lines.append(f"single-inference latency {r.latency_s:.6g} s" + (f" (cap {cap:g} s)" if cap else ""))
    st = r.stats
    if "lower_bound" in st:
        gap = "0 % (proved optimal)" if st.get("stopped") == "proved" else f"{100 * st['gap']:.3g} %"
        lines.append(f"certified lower bound {st['lower_bound']:.6g}, gap {gap} ({st['solve_s']:.2f} s)")
    return "\n".join(lines)


def _graph_solve(args, p) -> int:
    from ..partition.graph_solve import solve_graph

    r = solve_graph(p, args.alpha, args.solver, objective=args.objective, time_limit_s=args.time_limit,
                    max_latency_s=args.max_latency)
    out = r.to_dict()
    if args.max_latency is not None:
        out["max_latency_s"] = args.max_latency
        out["lower_bound"] = r.stats.get("lower_bound")
    print(dumps_strict(out) if args.json else format_graph_result(r, p))
    return 0


def cmd_solve(args) -> int:
    from ..partition.problem import load_problem

    p = load_problem(args.problem)
    if p.graph is not None:     # the problem decides: a file with "edges" is a graph problem
        return _graph_solve(args, p)
    if args.objective != "alpha":
        raise ValueError(f"--objective {args.objective}: single-inference latency needs a graph problem "
                         "(a problem file with 'edges')")
    _refuse_cap_on_chain(args)
    from ..partition.solve import SOLVERS, solve

    if args.solver not in SOLVERS:
        raise ValueError(f"--solver: unknown solver {args.solver!r}; choose one of {list(SOLVERS)}")
    try:
        r = solve(p, args.alpha, args.solver, time_limit_s=args.time_limit, memory_budget=args.memory_budget,
                  started=_STARTED)
    except MemoryError as exc:
        return _out_of_memory(exc)
    print(dumps_strict(r.to_dict()) if args.json else format_result(r, p.name))
    if not args.json and "lower_bound" in r.stats:
        # a proof still reports the bound lowered by the solver's float slack (1e-10 relative): say so plainly
        gap = ("0 % (proved optimal; the bound carries a 1e-10 relative float slack)" if r.stats["stopped"] == "proved"
               else f"{100 * r.stats['gap']:.3g} %")
        print(f"certified lower bound {r.stats['lower_bound']:.6g}, gap {gap} "
              f"(stopped: {r.stats['stopped']}, {r.stats['solve_s']:.2f} s)")
    if not args.json and "fallback" in r.stats:
        print(terminal_safe(r.stats["fallback"]))
    return 0


def cmd_pareto(args) -> int:
    from ..partition.problem import load_problem
    from ..partition.solve import pareto_front

    try:
        p = load_problem(args.problem)
        if p.graph is not None:
            return _graph_pareto(args, p)
        _refuse_cap_on_chain(args)
        front = pareto_front(p, memory_budget=args.memory_budget)
    except MemoryError as exc:
        return _out_of_memory(exc)
    if args.json:
        out = {"front": [{"bottleneck_s": r.bottleneck_s, "throughput_ips": r.throughput_ips,
                          "energy_j": r.energy_j, "stages": r.to_dict()["stages"]} for r in front]}
        print(dumps_strict(out))
    else:
        print(f"{terminal_safe(p.name, keep='')}: {len(front)} Pareto-optimal plans (bottleneck ascending)")
        print(f"{'bottleneck s':>14}{'throughput/s':>14}{'energy J':>12}  plan")
        for r in front:
            plan = " | ".join(f"{terminal_safe(s.device, keep='')}:{s.first}..{s.last}" for s in r.stages)
            print(f"{r.bottleneck_s:>14.6g}{r.throughput_ips:>14.6g}{r.energy_j:>12.6g}  {plan}")
    return 0


def _graph_pareto(args, p) -> int:
    from ..partition.graph_solve import graph_pareto

    front = graph_pareto(p, max_latency_s=args.max_latency)
    if args.json:
        print(dumps_strict({"front": [{"bottleneck_s": r.bottleneck_s, "throughput_ips": r.throughput_ips,
                                       "energy_j": r.energy_j, "assignment": r.assignment} for r in front]}))
    else:
        cap = "" if args.max_latency is None else f" with latency <= {args.max_latency:g} s"
        print(f"{p.name}: {len(front)} Pareto-optimal graph plans{cap} (bottleneck ascending)")
        print(f"{'bottleneck s':>14}{'throughput/s':>14}{'energy J':>12}  assignment")
        for r in front:
            print(f"{r.bottleneck_s:>14.6g}{r.throughput_ips:>14.6g}{r.energy_j:>12.6g}  {' '.join(r.assignment)}")
    return 0


def register(sub) -> None:
    ps = sub.add_parser("solve", help="best plan for one alpha")
    ps.add_argument("problem", help="problem JSON file")
    ps.add_argument("--alpha", type=alpha_arg, default=1.0, help="weight of throughput vs energy, in [0, 1]")
    # checked against partition.solve.SOLVERS when the command runs, so --help never imports the solvers
    ps.add_argument("--solver", default="exact", metavar="NAME",
                    help="exact (default), paper (the paper's Algorithm 1), bounded (a plan and a certified "
                         "lower bound within --time-limit) or auto (exact, or bounded when exact exceeds the "
                         "memory budget); for graph problems: exact (HiGHS MILP), heuristic (= bounded), heft "
                         "or auto (= exact)")
    ps.add_argument("--objective", choices=("alpha", "latency"), default="alpha",
                    help="alpha: the alpha-weighted throughput/energy objective (default); latency: the "
                         "single-inference latency of a graph problem")
    ps.add_argument("--max-latency", type=_latency_cap, default=None, metavar="S",
                    help="graph problems: only plans whose single-inference latency (best order of units and "
                         "messages) is <= S seconds; minimise the alpha-objective among them (exit 3 when none is)")
    ps.add_argument("--json", action="store_true",
                    help="print one JSON object (strict RFC 8259: a non-finite number, e.g. the throughput of a "
                         "plan that costs nothing, is null)")
    # the bounded solver and the size guard
    ps.add_argument("--time-limit", type=_seconds, default=60.0, metavar="S",
                    help="time limit of --solver bounded (and auto when it falls back), seconds (default 60)")
    ps.add_argument("--memory-budget", default=None, metavar="BYTES",
                    help="refuse solves that need more (e.g. 4G, 512MiB; default: DONNA_MEMORY_BUDGET or half "
                         "the available RAM)")
    ps.set_defaults(func=cmd_solve)
    pp = sub.add_parser("pareto", help="exact Pareto front of (bottleneck, energy)")
    pp.add_argument("problem", help="problem JSON file")
    pp.add_argument("--json", action="store_true", help="print one JSON object (strict RFC 8259, as solve)")
    pp.add_argument("--memory-budget", default=None, metavar="BYTES", help="as for solve")
    pp.add_argument("--max-latency", type=_latency_cap, default=None, metavar="S",
                    help="graph problems: the front of the plans whose single-inference latency is <= S seconds")
    pp.set_defaults(func=cmd_pareto)
