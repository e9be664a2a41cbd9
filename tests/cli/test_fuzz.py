"""Fuzz every sub-command over mutated inputs of every format it reads (mutators: tests/fuzz_inputs.py).

Each batch of cases runs in one driver subprocess (``python tests/cli/test_fuzz.py DRIVE batch.json``) that calls
the CLI's ``main`` per case, as ``python -m donna_core.cli`` does, so the ~2 s torch import is paid once per
batch; every few cases also run as a real ``donna`` subprocess. Asserted for every case: no traceback, an exit
code in the documented set {0, 1, 2, 3}, no hang; for every batch: no process left behind (found by an
environment tag every child inherits) and no temporary litter (``donna-run-*``, ``*.tmp``) in its TMPDIR or
case folders.

Short by default (a fixed seed and case count: deterministic, ~1 min on 2 cores); long when asked:
``DONNA_FUZZ_SECONDS=600 make fuzz`` (then ``DONNA_FUZZ_SEED`` picks the seed, default random).
A failing case is copied with its command line to ``DONNA_FUZZ_FINDINGS`` (default: pytest's tmp dir).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import traceback
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXIT_CODES = {0, 1, 2, 3}
CASE_TIMEOUT_S = 30
CI_CASES = 120
BATCH = 40
REAL_EVERY = 12     # every n-th case also runs as a real `donna` subprocess


# ---- driver (runs in the subprocess) -------------------------------------------------------------------------

class _Hang(BaseException):
    pass


def _alarm(signum, frame):
    raise _Hang()


def drive(batch_path: str, out_path: str) -> None:
    from donna_core.cli.main import main

    signal.signal(signal.SIGALRM, _alarm)
    cases = json.loads(Path(batch_path).read_text())
    results = []
    for case in cases:
        os.chdir(case["dir"])
        out, err = io.StringIO(), io.StringIO()
        res = {"code": None, "exc": None}
        signal.alarm(CASE_TIMEOUT_S)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                res["code"] = main(case["argv"])
        except _Hang:
            res["exc"] = f"no answer within {CASE_TIMEOUT_S} s"
        except SystemExit as exc:
            res["code"] = exc.code
        except BaseException:   # what `python -m donna_core.cli` would print as a traceback
            res["exc"] = traceback.format_exc()
        finally:
            signal.alarm(0)
        res["stderr"] = err.getvalue()[-2000:]
        results.append(res)
    Path(out_path).write_text(json.dumps(results))


# ---- test side -----------------------------------------------------------------------------------------------

def _seeds(tmp: Path) -> dict:
    """Valid inputs of every format, built here from the repository's own data."""
    from donna_core.partition.problem import problem_from_dict
    from donna_core.partition.solve import solve
    from donna_core.profiling.problem_builder import build_problem
    from donna_core.profiling.profiles import load_profiles

    problem = build_problem(load_profiles(ROOT / "data" / "profiles", "vgg8", "layer"), {"cpu-xeon-w3323": 2},
                            "pcie5")
    plan = solve(problem_from_dict(problem), 0.5, "exact").to_dict()
    small = json.loads((ROOT / "tests" / "data" / "paper_suboptimal.json").read_text())
    prof_dir = ROOT / "tests" / "data" / "hostile" / "profiles" / "weight_disagree" / "toy" / "layer"
    cpu = (prof_dir / "cpu-a.csv").read_text()
    gpu = cpu.replace('"device_type": "cpu-a"', '"device_type": "gpu-b"')
    s = {"problem_obj": problem, "plan_obj": plan, "small_obj": small, "profile_cpu-a": cpu, "profile_gpu-b": gpu}
    for k in ("problem", "plan", "small"):
        s[k] = json.dumps(s[k + "_obj"], indent=1)
    return s


def _tagged_processes(tag: str) -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if f"DONNA_FUZZ_TAG={tag}".encode() in (p / "environ").read_bytes():
                    pids.append(int(p.name))
            except OSError:
                pass
    return pids


def _litter(*dirs: Path) -> list[str]:
    found = []
    for d in dirs:
        for p in d.rglob("*"):
            if p.name.startswith("donna-run-") or p.name.endswith(".tmp"):
                found.append(str(p))
    return found


def _save(case: dict, why: str, findings: Path, n: int) -> str:
    dest = findings / f"finding-{n:03d}-{case['kind']}"
    shutil.copytree(case["dir"], dest, dirs_exist_ok=True, symlinks=True)
    (dest / "command.json").write_text(json.dumps({"argv": ["donna", *case["argv"]], "why": why[-3000:]},
                                                  indent=1))
    return f"{dest}: donna {' '.join(case['argv'])[:160]} -> {why.strip().splitlines()[-1][:200]}"


def _run_batch(cases: list[dict], work: Path, env: dict) -> tuple[list[dict], list[str]]:
    batch, out = work / "batch.json", work / "results.json"
    batch.write_text(json.dumps(cases))
    subprocess.run([sys.executable, __file__, "DRIVE", str(batch), str(out)], env=env, cwd=work,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                   timeout=CASE_TIMEOUT_S * len(cases) + 60, check=True)
    return json.loads(out.read_text()), []


def _real(case: dict, env: dict) -> str | None:
    """The same case as a real `donna` process: exit code and stderr as a user sees them."""
    try:
        r = subprocess.run([sys.executable, "-m", "donna_core.cli", *case["argv"]], env=env, cwd=case["dir"],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=CASE_TIMEOUT_S * 2,
                           errors="replace")
    except subprocess.TimeoutExpired:
        return "real process: no answer in time"
    if "Traceback" in r.stderr:
        return "real process: traceback\n" + r.stderr
    if r.returncode not in EXIT_CODES:
        return f"real process: exit {r.returncode}\n{r.stderr}"
    return None


def test_fuzz_every_command(tmp_path):
    from fuzz_inputs import make_case

    seconds = float(os.environ.get("DONNA_FUZZ_SECONDS", "0"))
    seed = int(os.environ.get("DONNA_FUZZ_SEED", random.randrange(2**32) if seconds else 0))
    findings = Path(os.environ.get("DONNA_FUZZ_FINDINGS", tmp_path / "findings"))
    findings.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    seeds = _seeds(tmp_path)
    tag = uuid.uuid4().hex
    scratch = tmp_path / "scratch"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DONNA_FUZZ_TAG": tag, "TMPDIR": str(scratch / "tmp"),
           "PYTHONDONTWRITEBYTECODE": "1"}
    start, n, problems, kinds = time.monotonic(), 0, [], {}
    while (time.monotonic() - start < seconds) if seconds else n < CI_CASES:
        shutil.rmtree(scratch, ignore_errors=True)
        (scratch / "tmp").mkdir(parents=True)
        cases = [make_case(rng, seeds, scratch / f"c{n + i}") for i in range(BATCH)]
        results, _ = _run_batch(cases, scratch, env)
        for i, (case, res) in enumerate(zip(cases, results)):
            kinds[case["kind"]] = kinds.get(case["kind"], 0) + 1
            why = None
            if res["exc"]:
                why = res["exc"]
            elif "Traceback" in res["stderr"]:
                why = res["stderr"]
            elif res["code"] not in EXIT_CODES:
                why = f"exit code {res['code']!r}\n{res['stderr']}"
            elif (n + i) % REAL_EVERY == 0:
                why = _real(case, env)
            if why:
                problems.append(_save(case, why, findings, len(problems)))
        n += len(cases)
        orphans = _tagged_processes(tag)
        for pid in orphans:     # ours by the tag; ended so the next batch starts clean
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if orphans:
            problems.append(f"batch ending at case {n}: {len(orphans)} process(es) left running")
        litter = _litter(scratch)
        if litter:
            problems.append(f"batch ending at case {n}: temporary litter {litter[:5]}")
    summary = (f"fuzz: seed {seed}, {n} cases in {time.monotonic() - start:.0f} s ({kinds}); "
               f"{len(problems)} finding(s)")
    print(summary)
    assert not problems, summary + "\n" + "\n".join(problems)


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "DRIVE":
    drive(sys.argv[2], sys.argv[3])
