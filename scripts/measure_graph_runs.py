#!/usr/bin/env python
"""Run graph plans on this machine's 2 cores and compare measured with predicted throughput and latency.

    PYTHONPATH=. .venv/bin/python scripts/measure_graph_runs.py [--models randwire_n32_s0 ...] [--inputs 30]

Everything the prediction uses is measured in the same window as the runs, on the same host:

1. the transport: ``calibrate-link`` (gloo ping-pong; the time_curve follows the per-size *mean*, which is what a
   stream of messages costs, wake-up delays included) and the CPU each end's process gives to a message
   (written as the medium's ``cpu`` cost for ``cpu-host``);
2. per model, a fresh ``cpu-host`` graph profile (1 thread, this process pinned to one core, as a device
   process is), written to data/validation/graph_profiles/ (the figures' profiles are not touched).

Problem per model: that profile on 2 devices (``cpu0``, ``cpu1``, one process each, pinned to one core each)
linked by the calibrated medium.  Plans: a simple deterministic local search on the prediction from the balanced
contiguous split (move one unit at a time while it lowers the objective and each device keeps >= 30 % of the
compute: the runs measure 2-device plans) -- one plan for throughput, one for latency.  These plans are not
claimed optimal: they are what is measured.  Writes data/validation/graph_runs.json.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys

from donna_core import config

from tqdm import tqdm


from donna_core.atomic import write_json_atomic  # noqa: E402
from donna_core.profiling.graph_profiles import profile_graph_model, read_edges  # noqa: E402
from donna_core.profiling.problem_builder import build_graph_problem  # noqa: E402
from donna_core.profiling.profiles import EDGES_FILE, profile_path, write_profile  # noqa: E402
from donna_core.runtime.calibrate import calibrate  # noqa: E402
from donna_core.runtime.validation import POWER_W  # noqa: E402  (energy is not what this measures)
from donna_core.runtime.graph_run import (build_graph_run_spec, format_graph_result, predict_graph_plan,  # noqa: E402
                                          run_graph_plan, split_graph_problem)

ROOT = config.ROOT

DEVICES = ("cpu0", "cpu1")


# each device must hold at least this share of the plan's compute: a 2-device plan, not one device and a spare
MIN_SHARE = 0.3


def local_search(problem, edges, key) -> list[str]:
    """Start from the contiguous split that balances compute; move single units to the other device while
    ``key(prediction)`` drops and each device keeps at least :data:`MIN_SHARE` of the compute."""
    t = [float(problem.time_s[problem.device_type[0], i]) for i in range(problem.L)]
    total = sum(t)
    run, cut = 0.0, 0
    while cut < problem.L and run + t[cut] <= total / 2:
        run, cut = run + t[cut], cut + 1
    a = [DEVICES[0]] * cut + [DEVICES[1]] * (problem.L - cut)

    def ok(plan) -> bool:
        share = sum(x for x, d in zip(t, plan) if d == DEVICES[0]) / total
        return MIN_SHARE <= share <= 1 - MIN_SHARE

    best = key(predict_graph_plan(problem, edges, a))
    for _ in range(30):
        improved = False
        for i in range(problem.L):
            a[i] = DEVICES[1] if a[i] == DEVICES[0] else DEVICES[0]
            k = key(predict_graph_plan(problem, edges, a)) if ok(a) else None
            if k is not None and k < best:
                best, improved = k, True
            else:
                a[i] = DEVICES[1] if a[i] == DEVICES[0] else DEVICES[0]
        if not improved:
            break
    return a


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["randwire_n32_s0", "randwire_n64_s1", "googlenet"])
    ap.add_argument("--inputs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--latency-inputs", type=int, default=15)
    ap.add_argument("--in-flight", type=int, default=8, help="inputs a device keeps open while streaming")
    ap.add_argument("--calib-repeats", type=int, default=40)
    ap.add_argument("--out", default=str(ROOT / "data" / "validation" / "graph_runs.json"))
    args = ap.parse_args(argv)
    cal = calibrate("loopback", repeats=args.calib_repeats, cpu_type="cpu-host", curve_stat="mean")
    prof_root = ROOT / "data" / "profiles"
    fresh_root = ROOT / "data" / "validation" / "graph_profiles"
    records = []
    for m in tqdm(args.models, desc="graph runs", unit="model"):
        affinity = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(affinity)})  # profile on one core, as the device processes run
        try:
            host = profile_graph_model(m, repeats=20, progress=False,
                                       notes="profiled minutes before the graph runs it predicts "
                                             "(scripts/measure_graph_runs.py), this process pinned to one core")
        finally:
            os.sched_setaffinity(0, affinity)
        write_profile(host, profile_path(fresh_root, m, "graph", "cpu-host"))
        d = build_graph_problem({"cpu-host": host}, read_edges(prof_root / m / "graph" / EDGES_FILE),
                                {"cpu-host": 2}, cal["name"], media={cal["name"]: cal["medium"]},
                                assume_power_w={"cpu-host": POWER_W})
        p, e = split_graph_problem(d)
        names = list(p.unit_names)
        plans = {"throughput": local_search(p, e, lambda r: (r["bottleneck_s"], r["latency_s"])),
                 "latency": local_search(p, e, lambda r: (r["latency_s"], r["bottleneck_s"]))}
        for goal, a in plans.items():
            spec = build_graph_run_spec(p, e, a, m, names, inputs=args.inputs, warmup=args.warmup,
                                        latency_inputs=args.latency_inputs, check_outputs=4,
                                        in_flight=args.in_flight)
            res = run_graph_plan(spec, timeout_s=900)
            res["plan_goal"] = goal
            res["profile_load_avg"] = [host.meta.get("load_avg_before"), host.meta.get("load_avg_after")]
            print(format_graph_result(res), flush=True)
            records.append(res)
    write_json_atomic(args.out, {
        "format": 1, "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "how": "scripts/measure_graph_runs.py: 2 processes (one per device, pinned to one core each, 1 thread), "
               "gloo over loopback; throughput over the streamed inputs after warm-up, latency = median over "
               "inputs run one at a time; prediction (runtime/graph_run.py) from a cpu-host graph profile and a "
               "loopback calibration (mean time curve + each end's process CPU per message) both measured in "
               "the same window, just before the runs",
        "calibration": {"medium": cal["medium"], "provenance": cal["provenance"],
                        "held_out": cal["samples"]["held_out"], "process_cpu": cal["samples"]["process_cpu"]},
        "host_load_avg_at_start": list(os.getloadavg()), "runs": records})
    return 0


if __name__ == "__main__":
    sys.exit(main())
