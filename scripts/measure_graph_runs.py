#!/usr/bin/env python
"""Run graph plans on this machine's 2 cores and compare measured with predicted throughput and latency.

    PYTHONPATH=. .venv/bin/python scripts/measure_graph_runs.py [--models randwire_n32_s0 ...] [--inputs 30]

Problem per model: its measured ``cpu-host`` graph profile on 2 devices (``cpu0``, ``cpu1``, one process each,
pinned to one core each) linked by this host's calibrated transport (``loopback`` from
data/validation/calibration.json).  Plans: a simple deterministic local search on the prediction (move one
unit at a time while it lowers the objective) -- one plan for throughput, one for latency.  These plans are
not claimed optimal: they are what is measured.  Writes data/validation/graph_runs.json.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys

from donna_core import config

from tqdm import tqdm


from donna_core.atomic import write_json_atomic  # noqa: E402
from donna_core.profiling.graph_profiles import read_edges  # noqa: E402
from donna_core.profiling.problem_builder import build_graph_problem  # noqa: E402
from donna_core.profiling.profiles import EDGES_FILE, profile_path, read_profile  # noqa: E402
from donna_core.runtime.validation import POWER_W  # noqa: E402  (energy is not what this measures)
from donna_core.runtime.graph_run import (build_graph_run_spec, format_graph_result, predict_graph_plan,  # noqa: E402
                                          run_graph_plan, split_graph_problem)

ROOT = config.ROOT

DEVICES = ("cpu0", "cpu1")


def local_search(problem, edges, key) -> list[str]:
    """Start with all units on cpu0; move single units to the other device while ``key(prediction)`` drops."""
    a = [DEVICES[0]] * problem.L
    best = key(predict_graph_plan(problem, edges, a))
    for _ in range(30):
        improved = False
        for i in range(problem.L):
            a[i] = DEVICES[1] if a[i] == DEVICES[0] else DEVICES[0]
            k = key(predict_graph_plan(problem, edges, a))
            if k < best:
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
    ap.add_argument("--out", default=str(ROOT / "data" / "validation" / "graph_runs.json"))
    args = ap.parse_args(argv)
    cal = json.loads((ROOT / "data" / "validation" / "calibration.json").read_text())
    prof_root = ROOT / "data" / "profiles"
    records = []
    for m in tqdm(args.models, desc="graph runs", unit="model"):
        host = read_profile(profile_path(prof_root, m, "graph", "cpu-host"))
        d = build_graph_problem({"cpu-host": host}, read_edges(prof_root / m / "graph" / EDGES_FILE),
                                {"cpu-host": 2}, cal["name"], media={cal["name"]: cal["medium"]},
                                assume_power_w={"cpu-host": POWER_W})
        p, e = split_graph_problem(d)
        names = list(p.unit_names)
        plans = {"throughput": local_search(p, e, lambda r: (r["bottleneck_s"], r["latency_s"])),
                 "latency": local_search(p, e, lambda r: (r["latency_s"], r["bottleneck_s"]))}
        for goal, a in plans.items():
            spec = build_graph_run_spec(p, e, a, m, names, inputs=args.inputs, warmup=args.warmup,
                                        latency_inputs=args.latency_inputs, check_outputs=4)
            res = run_graph_plan(spec, timeout_s=900)
            res["plan_goal"] = goal
            res["profile_load_avg"] = [host.meta.get("load_avg_before"), host.meta.get("load_avg_after")]
            print(format_graph_result(res), flush=True)
            records.append(res)
    write_json_atomic(args.out, {
        "format": 1, "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "how": "scripts/measure_graph_runs.py: 2 processes (one per device, pinned to one core each, 1 thread), "
               "gloo over loopback; throughput over the streamed inputs after warm-up, latency = median over "
               "inputs run one at a time; prediction from the measured cpu-host graph profile and the calibrated "
               "loopback link (runtime/graph_run.py)",
        "host_load_avg_at_start": list(os.getloadavg()), "runs": records})
    return 0


if __name__ == "__main__":
    sys.exit(main())
