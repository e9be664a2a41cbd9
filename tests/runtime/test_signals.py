"""Every signal that ends `donna run` ends its stage processes and removes its temporary directories.

Whole processes: `donna run` streams a long run through a slow emulated link; the test signals it mid-run and
checks the exit status, that no stage survives, and that no `donna-run-*` directory is left.
"""
from __future__ import annotations

import os
import signal
import time

import pytest

from donna_core.runtime.launch import remove_stale_run_dirs
from donna_core.runtime.worker import write_result

from .runs import TINY, alive, processes_mentioning, run_dirs, start_donna, tiny_problem, wait_for_stages, write_json

# 1 MB/s: each 16 KiB message of the tiny model's cut is held ~17 ms, so 100000 inputs take half an hour.
SLOW = {"slow": {"bandwidth_Bps": 1e6, "energy_J_per_bit": 0.0, "latency_s": 1e-3}}
PLAN = {"stages": [{"device": "cpu0", "first": 0, "last": 1}, {"device": "cpu1", "first": 2, "last": 3}]}
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


def _start_long_run(tmp_path):
    prob = write_json(tmp_path / "p.json", tiny_problem(model=None, medium="slow", media=SLOW))
    plan = write_json(tmp_path / "plan.json", PLAN)
    proc = start_donna(["run", str(prob), "--plan", str(plan), "--model", TINY, "--inputs", "100000",
                        "--warmup", "1", "--check", "2", "--emulate-links", "--timeout", "600",
                        "-o", str(tmp_path / "r.json")], tmp_path)
    stages = wait_for_stages(proc, 2)
    time.sleep(3)  # into the run (stages loading or streaming)
    return proc, stages


def _gone_within(pids, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_ends_the_whole_run_and_leaves_nothing(tmp_path, sig):
    proc, stages = _start_long_run(tmp_path)
    dirs = run_dirs(tmp_path)
    assert dirs, "the run has its temporary directories"
    os.kill(proc.pid, sig)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT[sig], err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert _gone_within(stages, 5) == []
    assert [p for d in dirs for p in processes_mentioning(str(d))] == []
    assert run_dirs(tmp_path) == []
    assert not (tmp_path / "r.json").exists()


def test_stages_die_with_a_sigkilled_parent_and_the_next_run_removes_its_directories(tmp_path):
    proc, stages = _start_long_run(tmp_path)
    dirs = run_dirs(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    t0 = time.monotonic()
    assert _gone_within(stages, 10) == []
    print(f"stages ended {time.monotonic() - t0:.2f} s after the parent's SIGKILL")
    assert run_dirs(tmp_path) == dirs            # nobody could clean up after a SIGKILL ...
    assert sorted(remove_stale_run_dirs(tmp_path)) == sorted(str(d) for d in dirs)   # ... the next run does
    assert run_dirs(tmp_path) == []


def test_a_live_runs_directory_is_not_stale(tmp_path):
    from donna_core.runtime.launch import run_dir

    with run_dir(tmp_path) as d:
        assert remove_stale_run_dirs(tmp_path) == [] and d.exists()
    assert not d.exists()


def test_a_stage_never_recreates_a_removed_run_directory(tmp_path):
    gone = tmp_path / "donna-run-removed"
    with pytest.raises(RuntimeError, match="does not exist"):
        write_result(str(gone / "raw.json"), {"x": 1})
    assert not gone.exists()
