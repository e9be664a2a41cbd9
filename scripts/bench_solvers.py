"""Solver benchmark (run: make bench). Prints markdown tables with the issue's targets beside the measured times.

Not a test: timings depend on the machine and its load (the load average is printed with every table).
Instances are seeded (``donna_core.partition.synthetic``) or built from the bundled ResNet-152 profiles, so reruns
solve the same problems. Sections:

1. ``exact`` speed targets;
2. the MILP peer (HiGHS, stage-slot formulation, :mod:`donna_core.partition.milp`) beside ``exact`` and
   ``paper`` at alpha in {1, 0.8, 0.5} (item 6); where HiGHS proves optimality its objective must equal
   ``exact``'s (asserted);
3. the bounded solver on problems too large for ``exact`` (item 2): time, certified gap;
4. (``--only random``) the earlier random-instance table;
5. (``--only pipeedge``, and only when ``PIPEEDGE_SCHED`` names a built binary) whole-process ``donna solve
   --alpha 1`` beside the C++ scheduler of PipeEdge (Hu et al., usc-isi/PipeEdge, ``sched-pipeline``) on the
   same problem: L = 150 units, 8 devices with distinct per-device times and bandwidths, each device its own
   type. PipeEdge minimises the bottleneck (alpha = 1) with a link bandwidth of min(bw_u, bw_v); the problem is
   written for both (its YAML files: ``models.yml``, ``device_types.yml``, ``devices.yml``), with memory
   limits that never bind and no input transfer (PipeEdge has none). Both programs run interleaved, ``--runs``
   times each after one untimed run (which writes donna's bytecode cache, as an installed package has it);
   medians of wall-clock and of CPU time (user + system, from ``getrusage`` of the children); the bottleneck of
   PipeEdge's schedule evaluated by donna's cost model must equal donna's (asserted). To build the binary
   (yaml-cpp and cmake needed; PipeEdge's code is not part of this repository)::

       apt-get install -y libyaml-cpp-dev cmake g++
       git clone https://github.com/usc-isi/PipeEdge && cd PipeEdge/src-native
       cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build
       PIPEEDGE_SCHED=$PWD/build/sched-pipeline python scripts/bench_solvers.py --only pipeedge

The "was" figures beside the targets are the measurements of the code before the speed work (the code before this work,
on this project's 2-core VM), not rerun here.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from importlib import metadata

import numpy as np

from donna_core import config
from donna_core.partition.costs import Tables, evaluate, norm_constants
from donna_core.partition.guard import estimate
from donna_core.partition.problem import problem_from_dict
from donna_core.partition.solve import pareto_front, solve
from donna_core.partition.synthetic import random_problem, transformer_like

ROOT = config.ROOT


def timed(fn, repeats: int):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def resnet152(granularity: str) -> dict:
    from donna_core.profiling.problem_builder import build_problem
    from donna_core.profiling.profiles import load_profiles
    prof = load_profiles(ROOT / "data" / "profiles", "resnet152", granularity)
    return build_problem(prof, {"cpu-xeon-w3323": 4, "gpu-rtx3070ti": 2, "cim": 2}, "hb-wcc",
                         name=f"resnet152 {granularity} 4cpu+2gpu+2cim hb-wcc")


def versions() -> str:
    out = []
    for pkg in ("numpy", "highspy"):
        try:
            out.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            out.append(f"{pkg} missing")
    return ", ".join(out)


def section_speed(repeats: int) -> None:
    print(f"\n### exact: speed targets (best of {repeats}; load {load()})\n")
    print("| case | what | seconds | target | result |")
    print("|---|---|---|---|---|")
    rows = []
    for L in (150, 156):
        p = problem_from_dict(random_problem(L, 8, seed=L * 100 + 8))
        for alpha in (0.8, 0.5):
            rows.append((f"random L={L} D=8 (3 types)", p, alpha, "≤ 0.3 s (was 1.0 s)" if alpha == 0.8 else "≤ 0.3 s"))
    rl = problem_from_dict(resnet152("layer"))
    rows += [("ResNet-152 layers (156) x 8 dev", rl, 0.8, "≤ 0.3 s (was 0.82 s)"),
             ("ResNet-152 layers (156) x 8 dev", rl, 0.5, "≤ 0.3 s (was 3.7 s)")]
    for name, p, alpha, target in rows:
        s, r = timed(lambda: solve(p, alpha), repeats)
        print(f"| {name} | exact α={alpha} | {s:.3f} | {target} | {len(r.stages)} stages, B={r.bottleneck_s:.4g} s, "
              f"E={r.energy_j:.4g} J |")
    p = problem_from_dict(random_problem(150, 8, seed=150 * 100 + 8))
    s, front = timed(lambda: pareto_front(p), repeats)
    print(f"| random L=150 D=8 (3 types) | exact front | {s:.3f} | ≤ 2 s (was 12.6 s) | {len(front)} points |")
    s, front = timed(lambda: pareto_front(rl), repeats)
    print(f"| ResNet-152 layers (156) x 8 dev | exact front | {s:.3f} | - | {len(front)} points |")


def section_milp(milp_limit: float) -> None:
    from donna_core.partition.milp import milp_solve

    if importlib.util.find_spec("highspy") is None:   # milp imports highspy only when it solves
        print("\n(highspy missing: install the bench extra, `pip install -e '.[bench]'`, for the MILP peer)")
        return
    print(f"\n### MILP peer (HiGHS, stage-slot formulation, 1 thread, limit {milp_limit:g} s) vs exact and paper "
          f"(exact best of 3, paper and MILP one run; load {load()})\n")
    print("| problem | α | exact s | exact objective | paper s | paper vs exact | MILP s | MILP objective | "
          "MILP bound | MILP status |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    from donna_core.partition.problem import load_problem
    cases = [("bundled vgg8_2cpu2cim_lb-wcc (8 units, 4 dev)",
              load_problem(ROOT / "data/problems/vgg8_2cpu2cim_lb-wcc.json")),
             ("bundled vgg19_2cpu1gpu1cim_pcie5 (19 units, 4 dev)",
              load_problem(ROOT / "data/problems/vgg19_2cpu1gpu1cim_pcie5.json")),
             ("ResNet-152 blocks (52) x 8 dev", problem_from_dict(resnet152("block"))),
             ("ResNet-152 layers (156) x 8 dev", problem_from_dict(resnet152("layer"))),
             ("random L=53 D=8 (3 types)", problem_from_dict(random_problem(53, 8, seed=53 * 100 + 8)))]
    for name, p in cases:
        tb, norm = Tables(p), norm_constants(p)
        for alpha in (1.0, 0.8, 0.5):
            se, ex = timed(lambda: solve(p, alpha), 3)      # best of 3: exact is quick, a load spike is not
            sp, pa = timed(lambda: solve(p, alpha, "paper"), 1)
            m = milp_solve(tb, alpha, norm, time_limit_s=milp_limit)
            if m.plan is not None:
                ev = evaluate(p, m.plan, alpha, tables=tb, norm=norm).objective
                assert ev >= ex.objective * (1 - 1e-9), "MILP plan beats exact: a bug in one of them"
                if m.proved:
                    assert abs(ev - ex.objective) <= 1e-6 * ex.objective, (name, alpha, ev, ex.objective)
                mo = f"{ev:.6g} ({100 * (ev / ex.objective - 1):+.2f} %)"
            else:
                mo = "no plan"
            print(f"| {name} | {alpha} | {se:.3f} | {ex.objective:.6g} | {sp:.2f} | "
                  f"{100 * (pa.objective / ex.objective - 1):+.2f} % | {m.seconds:.1f} | {mo} | {m.bound:.4g} | "
                  f"{m.status} |")
            sys.stdout.flush()


def section_bounded(limit: float) -> None:
    print(f"\n### bounded solver on problems too large for exact (time limit {limit:g} s; load {load()})\n")
    print("| problem | exact needs | α | seconds | objective | certified gap | stopped |")
    print("|---|---|---|---|---|---|---|")
    cases = [(f"random L=53, {D} devices, all links distinct", random_problem(53, D, seed=D, distinct_links=True))
             for D in (20, 40, 64)]
    cases.append(("transformer-like L=80, 64 devices in 8 classes of 8", transformer_like(80, 8, 8, seed=0)))
    for name, d in cases:
        p = problem_from_dict(d)
        for alpha in (1.0, 0.5):
            need = estimate(p, alpha)
            r = solve(p, alpha, "bounded", time_limit_s=limit)
            print(f"| {name} | {need.bytes / 1e9:.3g} GB | {alpha} | {r.stats['solve_s']:.2f} | {r.objective:.6g} | "
                  f"{100 * r.stats['gap']:.3g} % | {r.stats['stopped']} |")
            sys.stdout.flush()


def section_random(repeats: int) -> None:
    print(f"\n### random instances, 3 device types, HB-WCC (best of {repeats}; load {load()})\n")
    print("| case | solver | alpha | seconds | result |")
    print("|---|---|---|---|---|")
    for L, D in [(53, 4), (53, 8), (53, 12), (150, 8), (150, 10)]:
        p = problem_from_dict(random_problem(L, D, seed=L * 100 + D))
        for solver, alpha in [("exact", 1.0), ("exact", 0.0), ("exact", 0.8), ("paper", 0.8)]:
            if solver == "paper" and D > 8:
                continue  # 2^D subsets x D^2: the paper's DP is only practical for small D
            s, r = timed(lambda: solve(p, alpha, solver), repeats)
            print(f"| L={L} D={D} | {solver} | {alpha} | {s:.3f} | {len(r.stages)} stages, "
                  f"B={r.bottleneck_s:.4g} s, E={r.energy_j:.4g} J |")


PIPEEDGE_ENV = "PIPEEDGE_SCHED"
PIPEEDGE_MODEL = "donna/bench"


def pipeedge_problem(L: int, D: int, seed: int) -> dict:
    """A donna problem PipeEdge can express: every device its own type (distinct per-unit times), a bandwidth
    per device (a pair's link runs at the smaller one, as in PipeEdge), float32 activations of batch 8, no
    input transfer, memory that never binds. Costs are modelled placeholders (seeded), not measurements."""
    rng = np.random.default_rng(seed)
    base = rng.lognormal(-6, 1, L)
    params = rng.integers(10_000, 500_000, L)                   # output elements per sample
    bw_mbps = rng.integers(1_000, 40_000, D)                    # per device, Mbit/s (PipeEdge: 2^20 bit)
    speed, power = rng.uniform(0.2, 3.0, D), rng.uniform(1.0, 200.0, D)
    dt, devices = {}, []
    for d in range(D):
        t = base * speed[d] * rng.uniform(0.8, 1.2, L)
        dt[f"t{d}"] = {"time_s": t.tolist(), "energy_j": (t * power[d]).tolist()}
        devices.append({"name": f"dev{d}", "type": f"t{d}"})
    media, pairs = {}, []
    for u in range(D):
        for v in range(u + 1, D):
            bw = int(min(bw_mbps[u], bw_mbps[v]))
            media.setdefault(f"bw{bw}", {"bandwidth_Bps": bw * 1024 * 1024 / 8, "energy_J_per_bit": 1e-9})
            pairs.append([f"dev{u}", f"dev{v}", f"bw{bw}"])
    return {"name": f"pipeedge-comparable L={L} D={D} seed={seed}",
            "units": [{"name": f"u{i}", "out_bytes": float(4 * 8 * params[i]), "weight_bytes": 1.0e6}
                      for i in range(L)],
            "input_bytes": 0.0, "device_types": dt, "devices": devices, "media": media, "links": {"pairs": pairs},
            "meta": {"pipeedge": {"parameters_out": params.tolist(), "bw_Mbps": bw_mbps.tolist()}}}


def pipeedge_files(d: dict, out: Path) -> list[str]:
    """Write PipeEdge's three YAML inputs for ``d`` (from :func:`pipeedge_problem`) into ``out``; returns the
    scheduler's arguments. JSON is a subset of YAML, so the files are written with ``json``."""
    meta, L = d["meta"]["pipeedge"], len(d["units"])
    models = {PIPEEDGE_MODEL: {"layers": L, "mem_MB": [u["weight_bytes"] / 2**20 for u in d["units"]],
                               "parameters_in": 0, "parameters_out": meta["parameters_out"]}}
    types = {dev["type"]: {"bw_Mbps": meta["bw_Mbps"][i], "mem_MB": 10**9,
                           "model_profiles": {PIPEEDGE_MODEL: [{"batch_size": 8, "dtype": "torch.float32",
                                                                 "time_s": d["device_types"][dev["type"]]["time_s"]}]}}
             for i, dev in enumerate(d["devices"])}
    hosts = {dev["type"]: [dev["name"]] for dev in d["devices"]}
    for name, obj in (("models.yml", models), ("device_types.yml", types), ("devices.yml", hosts)):
        (out / name).write_text(json.dumps(obj))
    return ["-m", PIPEEDGE_MODEL, "-M", str(out / "models.yml"), "-T", str(out / "device_types.yml"),
            "-D", str(out / "devices.yml")]


def _pipeedge_plan(text: str, L: int) -> list[tuple[str, int, int]]:
    """PipeEdge's schedule (YAML: ``- host: [first, last]``, 1-based) as a donna plan."""
    plan = []
    for line in text.splitlines():
        if line.startswith("- "):
            host, rng = line[2:].split(":", 1)
            first, last = (int(x) for x in rng.strip().strip("[]").split(","))
            plan.append((host.strip(), first - 1, last - 1))
    assert plan and plan[-1][2] == L - 1, f"PipeEdge printed no complete schedule: {text!r}"
    return plan


def section_pipeedge(runs: int) -> None:
    binary = os.environ.get(PIPEEDGE_ENV)
    if not binary or not os.access(binary, os.X_OK):
        print(f"\n(PipeEdge comparison skipped: set {PIPEEDGE_ENV} to a built sched-pipeline; see this script's "
              "docstring)")
        return
    donna = Path(sys.executable).with_name("donna")
    donna_cmd = [str(donna)] if donna.exists() else [sys.executable, "-m", "donna_core.cli"]
    L, D = 150, 8
    d = pipeedge_problem(L, D, seed=L * 100 + D)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "problem.json"
        path.write_text(json.dumps(d))
        cmds = {"donna": donna_cmd + ["solve", str(path), "--alpha", "1", "--json"],
                "PipeEdge": [binary] + pipeedge_files(d, Path(tmp))}
        # bytecode is cached as in an installed package (pip compiles it): one untimed run of each writes it
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        times, cpu = {k: [] for k in cmds}, {k: [] for k in cmds}
        loads = [os.getloadavg()[0]]
        outs = {}
        for i in range(runs + 1):              # interleaved, so both see the same background load
            for k, cmd in cmds.items():
                c0, t0 = _child_cpu(), time.perf_counter()
                outs[k] = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
                if i:
                    times[k].append(time.perf_counter() - t0)
                    cpu[k].append(_child_cpu() - c0)
            loads.append(os.getloadavg()[0])
    p = problem_from_dict(d)
    b_donna = json.loads(outs["donna"])["bottleneck_s"]
    b_pe = evaluate(p, _pipeedge_plan(outs["PipeEdge"], L), 1.0).bottleneck_s
    assert abs(b_donna - b_pe) <= 1e-9 * b_pe, f"donna's bottleneck {b_donna} differs from PipeEdge's {b_pe}"
    md, mp = statistics.median(times["donna"]), statistics.median(times["PipeEdge"])
    cd, cp = statistics.median(cpu["donna"]), statistics.median(cpu["PipeEdge"])
    print(f"\n### whole process at alpha = 1 vs PipeEdge's C++ scheduler (median of {runs} interleaved runs; "
          f"1-min load {min(loads):.1f}-{max(loads):.1f})\n")
    print("| problem | donna solve: wall s | CPU s | PipeEdge sched-pipeline: wall s | CPU s | ratio wall | "
          "ratio CPU | target | same bottleneck |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| L={L}, {D} distinct devices | {md:.3f} | {cd:.3f} | {mp:.3f} | {cp:.3f} | {md / mp:.2f} | "
          f"{cd / cp:.2f} | ≤ 0.5 | {b_donna:.6g} s |")


def _child_cpu() -> float:
    """User + system seconds of all waited-for child processes so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="best of N runs for the exact timings")
    ap.add_argument("--milp-time-limit", type=float, default=20.0, help="seconds per MILP solve")
    ap.add_argument("--bounded-time-limit", type=float, default=20.0, help="seconds per bounded solve")
    ap.add_argument("--runs", type=int, default=11, help="interleaved whole-process runs of the PipeEdge comparison")
    ap.add_argument("--only", choices=["speed", "milp", "bounded", "random", "pipeedge"], action="append",
                    help="run only these sections (repeatable)")
    args = ap.parse_args()
    only = set(args.only or ["speed", "milp", "bounded", "pipeedge"])
    print(f"host: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cpus, python "
          f"{platform.python_version()}, {versions()}; measured wall-clock times (time.perf_counter)")
    if "speed" in only:
        section_speed(args.repeats)
    if "milp" in only:
        section_milp(args.milp_time_limit)
    if "bounded" in only:
        section_bounded(args.bounded_time_limit)
    if "random" in only:
        section_random(args.repeats)
    if "pipeedge" in only:
        section_pipeedge(args.runs)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
