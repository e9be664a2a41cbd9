"""``donna run`` (execute a plan as a real pipeline and compare with the cost model) and ``donna calibrate-link``
(fit latency + bandwidth of this host's transport and write it as a medium)."""
from __future__ import annotations

import argparse
import json
import os
import sys

from .solve_cmd import alpha_arg


def _load_json(path: str, what: str):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}") from None


def cmd_run(args: argparse.Namespace) -> int:
    raw = _load_json(args.problem, "problem")
    if isinstance(raw, dict) and "edges" in raw:
        return _run_graph(args, raw)
    from ..atomic import write_json_atomic
    from ..partition.problem import load_problem
    from ..partition.solve import solve
    from ..profiling.units import derive_units
    from ..runtime.launch import StageFailed, launch
    from ..runtime.report import format_comparison
    from ..runtime.spec import build_run_spec, model_ref, plan_from_json, resolve_model

    p = load_problem(args.problem)
    plan = plan_from_json(_load_json(args.plan, "plan"), args.plan) if args.plan else solve(p, args.alpha,
                                                                                              args.solver).plan()
    model, gran = model_ref(p, args.model, args.granularity)
    m, x = resolve_model(model)
    names = [u.name for u in derive_units(m, x, gran).units]
    cuda = 0
    if any(p.type_of(p.device_index(d)).lower().startswith(("gpu", "cuda")) for d, _, _ in plan):
        import torch

        cuda = torch.cuda.device_count()
    spec = build_run_spec(p, plan, model, gran, names, alpha=args.alpha, inputs=args.inputs, warmup=args.warmup,
                          emulate_links=args.emulate_links, in_flight=args.in_flight, threads=args.threads,
                          check_outputs=args.check, comm_timeout_s=args.timeout, cuda_count=cuda)
    if args.write_spec:
        spec["print_result"] = True
        write_json_atomic(args.write_spec, spec)
        print(f"wrote {args.write_spec}: {len(spec['stages'])} stages; start one process per stage with "
              f"torchrun ... -m donna_core.runtime.worker {args.write_spec} result.json --first-stage K",
              file=sys.stderr)
        return 0
    import tempfile

    import torch

    try:
        with tempfile.TemporaryDirectory(prefix="donna-run-") as tmp:
            # the stages load these weights instead of initialising the model again (see spec.freeze_model)
            spec["weights"] = os.path.join(tmp, "model.pt")
            torch.save({"ref": model, "state": m.state_dict(), "example": x}, spec["weights"])
            res = launch(spec, timeout_s=args.timeout)
    except StageFailed as exc:
        print(f"donna: {exc}", file=sys.stderr)
        return 1
    out = args.output or "run-result.json"
    write_json_atomic(out, res)
    if args.json:
        print(json.dumps({k: v for k, v in res.items() if k != "raw"}, indent=2))
    else:
        print(format_comparison(res))
        print(f"result written to {out}")
    return 0 if res["measured"]["outputs_check"]["exactly_equal"] else 4


def cmd_calibrate(args: argparse.Namespace) -> int:
    from ..atomic import write_json_atomic
    from ..partition.problem import problem_from_dict
    from ..runtime.calibrate import DEFAULT_SIZES, add_medium, calibrate

    sizes = [int(float(s)) for s in args.sizes] if args.sizes else list(DEFAULT_SIZES)
    rec = calibrate(args.name, sizes, args.repeats, args.timeout, stat=args.stat)
    write_json_atomic(args.output, rec)
    med = rec["medium"]
    print(f"{args.name}: latency {med['latency_s'] * 1e6:.1f} us, bandwidth {med['bandwidth_Bps'] / 1e9:.3f} GB/s "
          f"(fit on the per-size {args.stat}; worst relative error {100 * rec['samples']['max_abs_rel_error']:.1f} %); "
          f"energy per bit assumed, not measured; wrote {args.output}")
    if args.problem:
        d = _load_json(args.problem, "problem")
        new = add_medium(d, args.name, med, use_for_links=args.use_for_links)
        problem_from_dict(new)  # the medium must be one a problem accepts
        target = args.into or args.problem
        write_json_atomic(target, new)
        print(f"added medium {args.name!r} to {target}" + (" and set every link to it" if args.use_for_links else ""))
    return 0


def _run_graph(args: argparse.Namespace, raw: dict) -> int:
    """A graph problem: run the ``--plan``'s ``assignment`` (one process per used device, runtime/graph_run.py)."""
    from ..atomic import write_json_atomic
    from ..runtime.graph_run import build_graph_run_spec, format_graph_result, run_graph_plan, split_graph_problem
    from ..runtime.graph_worker import build_model_for
    from ..runtime.launch import StageFailed
    from ..profiling.graph_units import derive_graph_units

    if not args.plan:
        raise ValueError(f"{args.problem}: a graph problem needs --plan with an 'assignment' (device per unit)")
    plan = _load_json(args.plan, "plan")
    assignment = plan.get("assignment") if isinstance(plan, dict) else None
    if not isinstance(assignment, list) or not all(isinstance(a, str) for a in assignment):
        raise ValueError(f"{args.plan}: field 'assignment' must be a list of device names, one per unit")
    p, edges = split_graph_problem(raw)
    model = args.model or p.meta.get("model")
    if not model:
        raise ValueError(f"{args.problem}: meta has no model; pass --model")
    m, x = build_model_for(model)
    names = [u.name for u in derive_graph_units(m, x).units]
    spec = build_graph_run_spec(p, edges, assignment, model, names, inputs=args.inputs, warmup=args.warmup,
                                threads=args.threads, check_outputs=args.check or 4, comm_timeout_s=args.timeout)
    try:
        res = run_graph_plan(spec, timeout_s=args.timeout)
    except StageFailed as exc:
        print(f"donna: {exc}", file=sys.stderr)
        return 1
    out = args.output or "run-result.json"
    write_json_atomic(out, res)
    print(json.dumps(res, indent=2) if args.json else format_graph_result(res))
    return 0 if res["measured"]["outputs_check"]["exactly_equal"] else 4


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {v}")
    return v


def register(sub) -> None:
    r = sub.add_parser("run", help="execute a plan as a torch.distributed pipeline and compare with the cost model",
                       description="Run a plan for real: one process per stage (gloo), N inputs streamed through, "
                                   "predicted vs measured per stage and in total.")
    r.add_argument("problem", help="problem JSON (its meta names the model and granularity)")
    r.add_argument("--alpha", type=alpha_arg, default=1.0, help="alpha for the solver (and the reported objective)")
    r.add_argument("--solver", default="exact", help="solver that picks the plan (default exact)")
    r.add_argument("--plan", default=None, help="run this plan instead (JSON of `donna solve --json`; for a graph "
                                                "problem, an object with 'assignment': a device per unit)")
    r.add_argument("--inputs", type=_positive_int, default=50, help="inputs streamed through (default 50)")
    r.add_argument("--warmup", type=int, default=5, help="first inputs left out of the statistics (default 5)")
    r.add_argument("--emulate-links", action="store_true",
                   help="shape every link to its medium: hold each message latency + bytes/bandwidth")
    r.add_argument("--in-flight", type=_positive_int, default=2, help="queue depth per link (default 2)")
    r.add_argument("--threads", type=_positive_int, default=1, help="torch threads per stage (default 1)")
    r.add_argument("--check", type=int, default=None, help="outputs compared with the single-process model "
                                                            "(default all)")
    r.add_argument("--timeout", type=float, default=600.0, help="stop the whole run after this many seconds")
    r.add_argument("--model", default=None, help="zoo model or module:function (default: problem meta)")
    r.add_argument("--granularity", choices=("layer", "block"), default=None, help="default: problem meta")
    r.add_argument("-o", "--output", default=None, help="result JSON (default run-result.json)")
    r.add_argument("--write-spec", default=None, metavar="SPEC.json",
                   help="only write the run spec for torchrun (multi-host) and exit")
    r.add_argument("--json", action="store_true", help="print the result as JSON")
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("calibrate-link", help="fit latency + bandwidth of this host's transport (gloo)",
                       description="Ping-pong between two local processes over the runtime's transport; fit "
                                   "time = latency_s + bytes / bandwidth_Bps; write the medium.")
    c.add_argument("--name", default="loopback", help="medium name (default loopback)")
    c.add_argument("--sizes", nargs="*", default=None, help="message sizes in bytes (default 1e3 .. 1e8)")
    c.add_argument("--repeats", type=_positive_int, default=20)
    c.add_argument("--stat", choices=("median", "p25", "min"), default="p25",
                   help="per-size statistic fitted (default p25: the transport without scheduler wake-up delays "
                        "from other load; the median is recorded too)")
    c.add_argument("--timeout", type=float, default=300.0)
    c.add_argument("-o", "--output", default="link-calibration.json")
    c.add_argument("--problem", default=None, help="also add the medium to this problem JSON")
    c.add_argument("--into", default=None, help="write the extended problem here (default: in place)")
    c.add_argument("--use-for-links", action="store_true", help="and set every link of the problem to it")
    c.set_defaults(func=cmd_calibrate)
