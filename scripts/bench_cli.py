"""Start-up cost of the ``donna`` command, timed as whole processes (run: make bench). Prints a markdown table.

Target: ``donna --help`` and ``donna solve`` on a small problem should take <= 0.3 s each as a process,
and import neither torch nor pandas (that is tested in tests/cli/test_startup.py; here it is only timed). The
interpreter's own start-up (``python -c pass``) is shown as the floor nothing in donna can remove. Timings are
`measured` on this host and depend on its load: the load average before and after is printed with them.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from donna_core import config

REPO = config.ROOT
SMALL_PROBLEM = REPO / "data" / "problems" / "vgg8_2cpu2cim_lb-wcc.json"
TARGET_S = 0.3


def donna_command() -> list[str]:
    """The installed console script next to this interpreter when there is one (what users run)."""
    script = Path(sys.executable).parent / "donna"
    if script.exists():
        return [str(script)]
    found = shutil.which("donna")
    return [found] if found else [sys.executable, "-m", "donna_core.cli"]


def time_process(argv: list[str], runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (user + system) seconds of each run. On a shared machine the wall time includes
    waiting for a core; the CPU time is what the process itself costs."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    wall, cpu = [], []
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
        wall.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    return wall, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=10, help="processes per command (median reported; default 10)")
    ap.add_argument("--problem", type=Path, default=SMALL_PROBLEM, help="problem for `donna solve`")
    args = ap.parse_args()
    donna = donna_command()
    cases = [
        ("python -c pass (interpreter floor)", [sys.executable, "-c", "pass"], None),
        ("donna --help", donna + ["--help"], TARGET_S),
        (f"donna solve {args.problem.name} --alpha 1", donna + ["solve", str(args.problem), "--alpha", "1"], TARGET_S),
        (f"donna solve {args.problem.name} --alpha 0.5", donna + ["solve", str(args.problem), "--alpha", "0.5"],
         TARGET_S),
    ]
    load0 = os.getloadavg()
    rows = []
    for name, argv, target in cases:
        time_process(argv, 1)                      # warm the file cache; not counted
        wall, cpu = time_process(argv, args.runs)
        rows.append((name, statistics.median(wall), min(wall), max(wall), statistics.median(cpu), target))
    load1 = os.getloadavg()
    print(f"measured: host {platform.node()} ({platform.machine()}, {os.cpu_count()} cores), python "
          f"{platform.python_version()}, command `{' '.join(donna)}`, {args.runs} processes per row; "
          f"load average {load0[0]:.2f} before, {load1[0]:.2f} after\n")
    print("| command | median wall s | min wall s | max wall s | median CPU s | target (wall) s | median within |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, med, lo, hi, cpu, target in rows:
        ok = "" if target is None else ("yes" if med <= target else "NO")
        print(f"| `{name}` | {med:.3f} | {lo:.3f} | {hi:.3f} | {cpu:.3f} | {'' if target is None else f'{target:.1f}'} "
              f"| {ok} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
