"""Record or compare the exact solver's answers on a fixed corpus (a guard for speed work on the exact solver).

``record OUT.json`` stores, for ~40 problems (the bundled data/problems, tests/data/paper_suboptimal.json,
seeded synthetic ones with and without distinct links / latency_s / ``allowed``), the plan, bottleneck and
energy of the exact alpha-optima (alpha in {0, 0.3, 0.5, 0.8, 1}) and the exact Pareto front. ``compare
REF.json`` recomputes them and lists every difference (plans must be identical; costs equal to 1e-12 relative).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from donna_core import config
from donna_core.atomic import write_text_atomic
from donna_core.partition.errors import InfeasibleError
from donna_core.partition.problem import problem_from_dict
from donna_core.partition.solve import pareto_front, solve
from donna_core.partition.synthetic import random_problem

ROOT = config.ROOT
ALPHAS = (0.0, 0.3, 0.5, 0.8, 1.0)


def _with_latency_allowed(d: dict, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    L = len(d["units"])
    if "media" in d:
        for m in d["media"].values():
            m["latency_s"] = float(rng.uniform(0, 2e-4))
    for name, t in d["device_types"].items():
        if name != "cpu":
            t["allowed"] = [bool(x) for x in rng.random(L) > 0.15]
    return d


def corpus() -> list[tuple[str, dict]]:
    out = []
    chains = [f for f in sorted((ROOT / "data" / "problems").glob("*.json"))
              if "edges" not in json.loads(f.read_text())]
    for f in chains + [ROOT / "tests" / "data" / "paper_suboptimal.json"]:
        out.append((f.name, json.loads(f.read_text())))
    for seed in range(8):
        out.append((f"random L=40 D=6 s{seed}", random_problem(40, 6, seed)))
    for seed in range(6):
        out.append((f"random L=30 D=5 distinct s{seed}", random_problem(30, 5, seed, distinct_links=True)))
    for seed in range(8):
        out.append((f"random L=35 D=6 distinct+lat+allowed s{seed}",
                    _with_latency_allowed(random_problem(35, 6, 100 + seed, distinct_links=True), seed)))
    for seed in range(4):
        out.append((f"random L=60 D=8 s{seed}", random_problem(60, 8, 200 + seed)))
    out.append(("random L=150 D=8 seed 15008", random_problem(150, 8, 15008)))
    return out


def answers(d: dict) -> dict:
    p = problem_from_dict(d)
    res = {}
    for a in ALPHAS:
        try:
            r = solve(p, a)
            res[str(a)] = {"plan": [list(s) for s in r.plan()], "B": r.bottleneck_s, "E": r.energy_j}
        except InfeasibleError as exc:   # infeasible problems are part of the corpus; any other error is a bug
            res[str(a)] = {"error": type(exc).__name__}
    try:
        res["front"] = [{"plan": [list(s) for s in r.plan()], "B": r.bottleneck_s, "E": r.energy_j}
                        for r in pareto_front(p)]
    except InfeasibleError as exc:
        res["front"] = {"error": type(exc).__name__}
    return res


def _diff(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a)} vs {sorted(b)}"]
        return [x for k in a for x in _diff(a[k], b[k], f"{path}/{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} vs {len(b)}"]
        return [x for i, (u, v) in enumerate(zip(a, b)) for x in _diff(u, v, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float):
        return [] if abs(a - b) <= 1e-12 * max(abs(a), abs(b)) else [f"{path}: {a!r} vs {b!r}"]
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["record", "compare"])
    ap.add_argument("file")
    args = ap.parse_args()
    t0 = time.perf_counter()
    got = {}
    for name, d in corpus():
        t = time.perf_counter()
        got[name] = answers(d)
        print(f"{name}: {time.perf_counter() - t:.2f} s", file=sys.stderr)
    print(f"{len(got)} problems in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    if args.mode == "record":
        write_text_atomic(args.file, json.dumps(got, indent=1))
        return 0
    ref = json.loads(Path(args.file).read_text())
    bad = _diff(ref, got)
    for line in bad[:50]:
        print(line)
    print(f"{len(bad)} differences over {len(ref)} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
