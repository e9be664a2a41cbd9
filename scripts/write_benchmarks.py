"""Run the benchmark scripts and write their tables to docs/benchmarks.md (``make bench``).

The file is generated, never hand-edited: each section is the verbatim standard output of one benchmark script,
under a header that says when, on which host, with which library versions and under what load it ran (wall-clock
times on a shared machine depend on the load; the numbers are measurements of this run only). ``--quick`` runs
every script with fewer repeats and shorter solver limits (a smoke run, a few minutes; the file says so).
Written atomically, so an interrupted run leaves the previous file.
"""
from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata

from tqdm import tqdm

from donna_core import config
from donna_core.atomic import write_text_atomic
from donna_core.host import cpu_model

# the libraries whose versions move the numbers (solvers, arrays, the browser stack of the explorer bench)
LIBRARIES = ("numpy", "highspy", "torch", "pandas", "matplotlib", "voila", "playwright")
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass(frozen=True)
class Bench:
    title: str
    script: str
    full: tuple[str, ...]     # arguments of the full run
    quick: tuple[str, ...]    # arguments of --quick
    markdown: bool            # the script prints markdown tables; otherwise its text goes in a code block


# Full-run limits keep `make bench` within about 15 minutes on a 2-core machine.
BENCHES = (
    Bench("Solvers (chain): exact, paper DP, MILP peer, bounded", "bench_solvers.py",
          ("--milp-time-limit", "10", "--bounded-time-limit", "10"),
          ("--repeats", "1", "--milp-time-limit", "2", "--bounded-time-limit", "2"), True),
    Bench("Start-up of the `donna` command", "bench_cli.py", ("--runs", "10"), ("--runs", "3"), True),
    Bench("Graph placement: MILP, heuristic, HEFT", "bench_graph.py", ("--seeds", "2"), ("--quick",), False),
    Bench("Explorer interaction latency (Voilà app in headless Chromium)", "bench_explorer.py",
          ("--repeats", "6"), ("--repeats", "2"), False),
)


def versions() -> str:
    out = []
    for name in LIBRARIES:
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(f"{name} (not installed)")
    return ", ".join(out)


def loadavg() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def _end_with_parent() -> None:
    # a benchmark (and the browser it starts) must not outlive `make bench`, however that ends
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: Ctrl-C still reaches the child (same process group)
        pass


def run_bench(bench: Bench, args: tuple[str, ...], bar: tqdm) -> tuple[int, str, str, float]:
    """Run one script, showing its latest output line on the progress bar: (exit code, stdout, stderr, seconds)."""
    lines = []
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, str(config.ROOT / "scripts" / bench.script), *args],
                                stdout=subprocess.PIPE, stderr=err, text=True, cwd=config.ROOT,
                                preexec_fn=_end_with_parent)
        try:
            for line in proc.stdout:
                lines.append(line)
                if line.strip():
                    bar.set_postfix_str(line.strip()[:60])
            code = proc.wait()
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait()
        err.seek(0)
        stderr = err.read()
    return code, "".join(lines), stderr, time.perf_counter() - t0


def section(bench: Bench, args: tuple[str, ...], code: int, out: str, stderr: str, took: float,
            before: str, after: str) -> list[str]:
    cmd = " ".join(["scripts/" + bench.script, *args])
    body = out.rstrip() if bench.markdown else f"```\n{out.rstrip()}\n```"
    parts = [f"## {bench.title}", "",
             f"`{cmd}`: {took:.0f} s, exit {code}; load average (1/5/15 min) before {before}, after {after}.",
             "", body, ""]
    if code != 0:
        parts += [f"**This benchmark failed (exit {code}); its last error lines:**", "", "```",
                  stderr.strip()[-1500:], "```", ""]
    return parts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(config.ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--quick", action="store_true", help="fewer repeats, shorter limits: a smoke run of every script")
    ap.add_argument("--only", action="append", choices=[b.script for b in BENCHES], help="run only these scripts")
    args = ap.parse_args(argv)
    chosen = [b for b in BENCHES if not args.only or b.script in args.only]
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load0 = loadavg()
    body = []
    with tqdm(chosen, desc="benchmarks", unit="script") as bar:
        for bench in bar:
            bar.set_description(bench.script)
            bench_args = bench.quick if args.quick else bench.full
            before = loadavg()
            code, out, stderr, took = run_bench(bench, bench_args, bar)
            if code != 0:
                tqdm.write(f"{bench.script} failed (exit {code}):\n{stderr.strip()[-2000:]}", file=sys.stderr)
            body += section(bench, bench_args, code, out, stderr, took, before, loadavg())
    mode = ("**quick run** (`--quick`: fewer repeats, shorter solver limits; a smoke run, not the full benchmark)"
            if args.quick else "full run")
    head = ["<!-- GENERATED by `make bench` (scripts/write_benchmarks.py). Do not edit by hand: rerun it. -->",
            "# Benchmarks", "",
            f"**Generated** by `make bench` (`scripts/write_benchmarks.py`), {mode}"
            + (f", scripts {', '.join(b.script for b in chosen)}" if args.only else "") + ". Not hand-edited.",
            "",
            f"- date: {started}",
            f"- host: {platform.node()}, {cpu_model() or 'unknown CPU'}, {os.cpu_count()} CPUs, "
            f"{platform.system()} {platform.release()}",
            f"- load average (1/5/15 min): {load0} at the start, {loadavg()} at the end",
            f"- Python {platform.python_version()}; {versions()}",
            "",
            "Every number below is **measured** on this host in this run (wall-clock, `time.perf_counter` or the "
            "page clock) on problems whose costs are modelled or simulated (seeded synthetic instances, the bundled "
            "profiles and example problems). On a shared machine the times vary with the load shown per section.",
            ""]
    write_text_atomic(args.out, "\n".join(head + body))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
