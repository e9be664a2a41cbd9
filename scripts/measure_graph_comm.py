"""Graph alpha-objective solves under the communication extensions, against the independent-link problem.

One bundled graph problem (default: GoogLeNet, 2 CPU + 1 GPU + 1 CIM, HB-WCC) in four variants: as bundled
(independent HB-WCC links), every link ``hb-wcc-shared``, every link the measured loopback medium of
``data/validation/comm_calibration.json`` (its ``time_curve``), and the same with its measured message CPU costs
(measured for the type ``cpu-run``; assigned here to the problem's CPU type: a modelled transfer of a measured
number). For each variant and alpha: ``exact`` and ``heuristic`` within ``--time-limit``; prints one JSON line per
solve (wall time, objective, gap, why it stopped) and the load average before and after.

    PYTHONPATH=. python scripts/measure_graph_comm.py [--problem F] [--time-limit 60] [--alphas 0 0.5 1]
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path

from donna_core.partition.graph_solve import solve_graph
from donna_core.partition.problem import problem_from_dict

REPO = Path(__file__).resolve().parents[1]


def variants(d: dict, measured: dict) -> dict[str, dict]:
    out = {"independent": d}
    shared = copy.deepcopy(d)
    shared["links"] = "hb-wcc-shared"
    out["shared"] = shared
    med = {k: v for k, v in measured.items() if k not in ("meta", "cpu")}
    curve = copy.deepcopy(d)
    curve["media"] = {**curve.get("media", {}), "loopback": med}
    curve["links"] = "loopback"
    out["curve"] = curve
    cpu = copy.deepcopy(curve)
    cpu_types = [t for t in d["device_types"] if t.startswith("cpu")]
    cpu["media"]["loopback"] = {**med, "cpu": {t: measured["cpu"]["cpu-run"] for t in cpu_types}}
    out["curve+cpu"] = cpu
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problem", default=str(REPO / "data/problems/googlenet_graph_2cpu1gpu1cim_hb-wcc.json"))
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    ap.add_argument("--only", nargs="*", default=None)
    args = ap.parse_args()
    d = json.loads(Path(args.problem).read_text())
    measured = json.loads((REPO / "data/validation/comm_calibration.json").read_text())["idle"]["medium"]
    print(json.dumps({"load_avg_before": os.getloadavg(), "problem": args.problem}), flush=True)
    for name, v in variants(d, measured).items():
        if args.only and name not in args.only:
            continue
        p = problem_from_dict(v)
        for alpha in args.alphas:
            for solver in ("exact", "heuristic"):
                t0 = time.perf_counter()
                r = solve_graph(p, alpha, solver, time_limit_s=args.time_limit)
                print(json.dumps({"variant": name, "alpha": alpha, "solver": solver,
                                  "wall_s": round(time.perf_counter() - t0, 2), "objective": r.objective,
                                  "gap": r.stats.get("gap"), "lower_bound": r.stats.get("lower_bound"),
                                  "stopped": r.stats.get("stopped"), "bottleneck_s": r.bottleneck_s,
                                  "energy_j": r.energy_j, "load": os.getloadavg()[0]}), flush=True)
    print(json.dumps({"load_avg_after": os.getloadavg()}), flush=True)


if __name__ == "__main__":
    main()
