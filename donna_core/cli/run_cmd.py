"""``donna run`` (execute a plan as a real pipeline and compare with the cost model) and ``donna calibrate-link``
(fit latency + bandwidth of this host's transport and write it as a medium)."""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
from pathlib import Path

from ..atomic import json_safe
from ..untrusted import read_json, terminal_safe
from .profile_cmd import CliArgumentError
from .arg_types import alpha_arg, int_at_least, seconds_arg, size_arg


def _load_json(path: str, what: str):
    """Bounded size and nesting, NaN refused: one error line naming the file (untrusted.read_json)."""
    return read_json(path, what)


def writable_output(path: str, flag: str) -> None:
    """Check, before any measuring, that ``path`` can be written (its directory is created now): a bad path
    found after minutes of measuring would lose the measurement."""
    p = Path(path)
    if p.is_dir():
        raise CliArgumentError(f"{flag} {path}: is a directory")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise CliArgumentError(f"{flag} {path}: {p.parent} exists and is not a directory") from None
    except OSError as exc:
        raise CliArgumentError(f"{flag} {path}: cannot create directory {p.parent} ({exc.strerror})") from None
    if not os.access(p.parent, os.W_OK | os.X_OK):
        raise CliArgumentError(f"{flag} {path}: directory {p.parent} is not writable")
    if p.exists() and not p.is_file():
        raise CliArgumentError(f"{flag} {path}: exists and is not a regular file")


def _write_output(path: str, flag: str, obj) -> None:
    from ..atomic import write_json_atomic

    try:
        write_json_atomic(path, json_safe(obj))
    except OSError as exc:  # named by the user's path, never by the atomic write's temporary file
        raise OSError(exc.errno, exc.strerror or str(exc), path) from None


def _interrupted(exc: "Terminated") -> int:  # noqa: F821 (runtime.launch, imported where raised)
    print(f"donna: terminated by {signal.Signals(exc.signum).name}", file=sys.stderr)
    return exc.code


def cmd_run(args: argparse.Namespace) -> int:
    from ..runtime.launch import Terminated, ending_on_signals

    try:
        with ending_on_signals():
            return _run(args)
    except Terminated as exc:
        return _interrupted(exc)


def _run(args: argparse.Namespace) -> int:
    raw = _load_json(args.problem, "problem")
    if isinstance(raw, dict) and "edges" in raw:
        return _run_graph(args, raw)
    from ..atomic import write_json_atomic
    from ..partition.problem import load_problem
    from ..partition.solve import solve
    from ..runtime.spec import (check_plan, host_cuda_count, is_code_ref, model_ref, needs_cuda, plan_from_json,
                                torch_devices)

    out = args.write_spec or args.output or "run-result.json"
    writable_output(out, "--write-spec" if args.write_spec else "-o")
    p = load_problem(args.problem)
    plan = plan_from_json(_load_json(args.plan, "plan"), args.plan) if args.plan else solve(p, args.alpha,
                                                                                              args.solver).plan()
    # What this host cannot run is refused before torch is imported (that alone takes seconds).
    check_plan(p, plan)
    cuda = host_cuda_count() if needs_cuda(p, plan) else 0
    torch_devices(p, plan, cuda)
    model, gran = model_ref(p, args.model, args.granularity, where=args.problem)

    from ..profiling.module_units import derive_units_any
    from ..runtime.launch import StageFailed, launch, run_dir
    from ..runtime.report import format_comparison
    from ..runtime.spec import build_run_spec, resolve_model

    # code is imported only from the command line (--model), never because the problem file names it
    m, x = resolve_model(model, code_allowed=args.model is not None and is_code_ref(args.model))
    # the profiler's units (fx, else module boundaries), so a profiled untraceable model runs as profiled
    unit_plan, units_note = derive_units_any(m, x, gran)
    if units_note:
        print(f"donna: {model}: {units_note}", file=sys.stderr)
    names = [u.name for u in unit_plan.units]
    spec = build_run_spec(p, plan, model, gran, names, alpha=args.alpha, inputs=args.inputs, warmup=args.warmup,
                          emulate_links=args.emulate_links, in_flight=args.in_flight, threads=args.threads,
                          check_outputs=args.check, comm_timeout_s=args.timeout, cuda_count=cuda)
    if args.write_spec:
        spec["print_result"] = True
        write_json_atomic(args.write_spec, spec)
        model_arg = f" --model {model}" if is_code_ref(model) else ""
        print(f"wrote {args.write_spec}: {len(spec['stages'])} stages; start one process per stage with "
              f"torchrun ... -m donna_core.runtime.worker {args.write_spec} result.json --first-stage K{model_arg}",
              file=sys.stderr)
        return 0
    import torch

    try:
        with run_dir() as tmp:
            # the stages load these weights instead of initialising the model again (see spec.freeze_model)
            spec["weights"] = str(tmp / "model.pt")
            torch.save({"ref": model, "state": m.state_dict(), "example": x}, spec["weights"])
            res = launch(spec, timeout_s=args.timeout)
    except StageFailed as exc:
        print(f"donna: {exc}", file=sys.stderr)
        return 1
    _write_output(out, "-o", res)
    if args.json:
        print(json.dumps(json_safe({k: v for k, v in res.items() if k != "raw"}), indent=2, allow_nan=False))
    else:
        print(terminal_safe(format_comparison(res)))
        print(f"result written to {out}")
    return 0 if res["measured"]["outputs_check"]["exactly_equal"] else 4


def _sizes(texts: list[str] | None) -> list[int]:
    """``--sizes``: whole numbers of bytes (``1e6`` allowed), at least two distinct, each small enough that the two
    processes' buffers fit in the memory this host has available."""
    from ..runtime.calibrate import DEFAULT_SIZES

    if not texts:
        return list(DEFAULT_SIZES)
    sizes = []
    for t in texts:
        try:
            v = float(t)
        except ValueError:
            raise CliArgumentError(f"--sizes: {t!r} is not a number of bytes") from None
        if not math.isfinite(v) or v < 1 or v != int(v):
            raise CliArgumentError(f"--sizes: {t!r} is not a whole number of bytes >= 1")
        sizes.append(int(v))
    if len(set(sizes)) < 2:
        raise CliArgumentError("--sizes: give at least two different sizes (the fit has two parameters)")
    avail = _mem_available()
    if avail is not None and 2 * max(sizes) > avail / 2:
        raise CliArgumentError(f"--sizes: {max(sizes):g} bytes needs a buffer of that size in each of the two "
                               f"processes; this host has {avail / 1e9:.2f} GB available (at most half is used)")
    return sizes


def _mem_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def cmd_calibrate(args: argparse.Namespace) -> int:
    from ..runtime.launch import Terminated, ending_on_signals

    try:
        with ending_on_signals():
            return _calibrate(args)
    except Terminated as exc:
        return _interrupted(exc)


def _calibrate(args: argparse.Namespace) -> int:
    from ..partition.problem import load_problem, problem_from_dict
    from ..runtime.calibrate import CalibrationError, add_medium, calibrate, medium_record
    from ..runtime.launch import StageFailed

    sizes = _sizes(args.sizes)
    writable_output(args.output, "-o")
    d = None
    if args.problem:  # checked now: a problem the medium cannot be added to would lose the measurement
        load_problem(args.problem)   # errors name the file and the field
        d = _load_json(args.problem, "problem")
        target = args.into or args.problem
        writable_output(target, "--into" if args.into else "--problem")
        add_medium(d, args.name, medium_record(args.name, 1e-6, 1e9, {}, {})["medium"])
    try:
        rec = calibrate(args.name, sizes, args.repeats, args.timeout, stat=args.stat, cpu_type=args.cpu_type,
                        busy=args.busy, curve_stat=args.curve_stat)
    except StageFailed as exc:
        print(f"donna: calibrate-link: {exc}", file=sys.stderr)
        return 1
    except CalibrationError as exc:
        raise CliArgumentError(f"calibrate-link: {exc}") from None
    _write_output(args.output, "-o", rec)
    med = rec["medium"]
    print(f"{terminal_safe(args.name, keep='')}: latency {med['latency_s'] * 1e6:.1f} us, "
          f"bandwidth {med['bandwidth_Bps'] / 1e9:.3f} GB/s "
          f"(fit on the per-size {args.stat}; worst relative error {100 * rec['samples']['max_abs_rel_error']:.1f} %); "
          f"energy per bit assumed, not measured; wrote {args.output}")
    held = rec["samples"]["held_out"]
    if held["bytes"]:
        print(f"held-out sizes {held['bytes']}: worst error vs the {held['statistic']}, curve "
              f"{100 * held['curve_max_abs_rel_error']:.1f} %, line {100 * held['line_max_abs_rel_error']:.1f} %")
    cpu = rec["samples"]["process_cpu"]
    print("CPU per message (whole process): send {:.1f} us + {:.3f} ns/B, recv {:.1f} us + {:.3f} ns/B".format(
        cpu["send"]["fit"][0] * 1e6, cpu["send"]["fit"][1] * 1e9, cpu["recv"]["fit"][0] * 1e6,
        cpu["recv"]["fit"][1] * 1e9) + ("" if args.cpu_type else " (not written: give --cpu-type)"))
    if d is not None:
        new = add_medium(d, args.name, med, use_for_links=args.use_for_links)
        problem_from_dict(new)  # the medium must be one a problem accepts
        _write_output(target, "--into" if args.into else "--problem", new)
        print(f"added medium {args.name!r} to {terminal_safe(target, keep='')}"
              + (" and set every link to it" if args.use_for_links else ""))
    return 0


def _run_graph(args: argparse.Namespace, raw: dict) -> int:
    """A graph problem: run the ``--plan``'s ``assignment`` (one process per used device, runtime/graph_run.py)."""
    from ..runtime.graph_run import build_graph_run_spec, format_graph_result, run_graph_plan, split_graph_problem
    from ..runtime.graph_worker import build_model_for
    from ..runtime.launch import StageFailed
    from ..profiling.graph_units import derive_graph_units

    out = args.output or "run-result.json"
    writable_output(out, "-o")     # before measuring
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
    m, x = build_model_for(model, code_allowed=args.model is not None)
    names = [u.name for u in derive_graph_units(m, x).units]
    spec = build_graph_run_spec(p, edges, assignment, model, names, inputs=args.inputs, warmup=args.warmup,
                                threads=args.threads, check_outputs=args.check or 4, comm_timeout_s=args.timeout)
    try:
        res = run_graph_plan(spec, timeout_s=args.timeout)
    except StageFailed as exc:
        print(f"donna: {exc}", file=sys.stderr)
        return 1
    _write_output(out, "-o", res)
    print(json.dumps(json_safe(res), indent=2, allow_nan=False) if args.json
          else terminal_safe(format_graph_result(res)))
    return 0 if res["measured"]["outputs_check"]["exactly_equal"] else 4


def register(sub) -> None:
    r = sub.add_parser("run", help="execute a plan as a torch.distributed pipeline and compare with the cost model",
                       description="Run a plan for real: one process per stage (gloo), N inputs streamed through, "
                                   "predicted vs measured per stage and in total.")
    r.add_argument("problem", help="problem JSON (its meta names the model and granularity)")
    r.add_argument("--alpha", type=alpha_arg, default=1.0, help="alpha for the solver (and the reported objective)")
    r.add_argument("--solver", default="exact", help="solver that picks the plan (default exact)")
    r.add_argument("--plan", default=None, help="run this plan instead (JSON of `donna solve --json`; for a graph "
                                                "problem, an object with 'assignment': a device per unit)")
    r.add_argument("--inputs", type=int_at_least(1), default=50, help="inputs streamed through (default 50)")
    r.add_argument("--warmup", type=int, default=5, help="first inputs left out of the statistics (default 5)")
    r.add_argument("--emulate-links", action="store_true",
                   help="shape every link to its medium: hold each message latency + bytes/bandwidth")
    r.add_argument("--in-flight", type=int_at_least(1), default=2, help="queue depth per link (default 2)")
    r.add_argument("--threads", type=int_at_least(1), default=1, help="torch threads per stage (default 1)")
    r.add_argument("--check", type=int_at_least(1), default=None, help="outputs compared with the single-process model "
                                                            "(default all)")
    r.add_argument("--timeout", type=seconds_arg("--timeout"), default=600.0,
                   help="stop the whole run after this many seconds")
    r.add_argument("--model", default=None,
                   help="zoo model (vgg8, vgg19, resnet152, vit_b_16) or package.module:function returning (model, "
                        "example input); default: the zoo model named by the problem's meta.model (a problem file "
                        "never selects code)")
    r.add_argument("--granularity", choices=("layer", "block"), default=None, help="default: problem meta")
    r.add_argument("-o", "--output", default=None, help="result JSON (default run-result.json)")
    r.add_argument("--write-spec", default=None, metavar="SPEC.json",
                   help="only write the run spec for torchrun (multi-host) and exit")
    r.add_argument("--json", action="store_true", help="print the result as JSON")
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("calibrate-link", help="fit latency + bandwidth of this host's transport (gloo)",
                       description="Ping-pong between two local processes over the runtime's transport; fit "
                                   "time = latency_s + bytes / bandwidth_Bps and a measured time_curve; "
                                   "write the medium.")
    c.add_argument("--name", default="loopback", help="medium name (default loopback)")
    c.add_argument("--sizes", nargs="*", type=size_arg, default=None,
                   help="message sizes in bytes (default 1e3 .. 1e8)")
    c.add_argument("--repeats", type=int_at_least(1), default=20)
    c.add_argument("--stat", choices=("median", "mean", "p25", "min"), default="p25",
                   help="per-size statistic fitted (default p25: the transport without scheduler wake-up delays "
                        "from other load; mean: what a stream of messages costs on average; the median is "
                        "recorded too)")
    c.add_argument("--curve-stat", choices=("median", "mean"), default="median",
                   help="per-size statistic the time_curve follows (default median; mean: the average cost of a "
                        "message in a stream, occasional wake-up delays included)")
    c.add_argument("--timeout", type=seconds_arg("--timeout"), default=300.0)
    c.add_argument("--cpu-type", default=None, help="write the measured CPU cost of send/recv for this device type "
                                                    "(the medium's \"cpu\"; default: recorded, not written)")
    c.add_argument("--busy", action="store_true", help="measure while each end's core also computes (a 1-thread "
                                                       "loop), as a pipeline stage's transport does")
    c.add_argument("-o", "--output", default="link-calibration.json")
    c.add_argument("--problem", default=None, help="also add the medium to this problem JSON")
    c.add_argument("--into", default=None, help="write the extended problem here (default: in place)")
    c.add_argument("--use-for-links", action="store_true", help="and set every link of the problem to it")
    c.set_defaults(func=cmd_calibrate)
