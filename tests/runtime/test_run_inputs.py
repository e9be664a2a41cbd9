"""Hostile inputs to `donna run` and `donna calibrate-link`: one line on stderr, a documented exit status, checked
before anything is measured, and nothing lost."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from .runs import TINY, donna, env_for, run_dirs, tiny_problem, write_json

NESTED = "[" * 100000 + "]" * 100000


def _one_line(r, code: int, *words: str) -> None:
    assert r.returncode == code, (r.returncode, r.stderr)
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


@pytest.mark.parametrize("args, says", [
    (["--timeout", "-1"], "--timeout"),
    (["--timeout", "nan"], "--timeout"),
    (["--sizes", "1000", "1e12"], "--sizes"),
    (["--sizes", "inf"], "--sizes"),
    (["--sizes", "1000", "1000"], "two different sizes"),
    (["--sizes", "10.5", "100"], "whole number"),
])
def test_calibrate_link_bad_arguments_are_refused_before_measuring(tmp_path, args, says):
    t0 = time.monotonic()
    r = donna(["calibrate-link", "-o", str(tmp_path / "c.json")] + args, tmp_path, timeout=60)
    _one_line(r, 2, says)
    assert time.monotonic() - t0 < 30 and run_dirs(tmp_path) == [] and not (tmp_path / "c.json").exists()


@pytest.mark.parametrize("content, says", [("[]", "must be an object"), (None, "media"), (NESTED, "nested too deeply")])
def test_calibrate_link_bad_problem_is_refused_before_measuring(tmp_path, content, says):
    if content is None:
        d = tiny_problem(model="vgg8")
        d["media"] = ["loopback"]
        content = json.dumps(d)
    (tmp_path / "p.json").write_text(content)
    r = donna(["calibrate-link", "-o", str(tmp_path / "c.json"), "--problem", str(tmp_path / "p.json")], tmp_path,
              timeout=60)
    _one_line(r, 2, "p.json", says)
    assert run_dirs(tmp_path) == []


@pytest.mark.parametrize("command", ["run", "calibrate-link"])
@pytest.mark.parametrize("where", ["dir", "under-file", "unwritable"])
def test_output_path_is_checked_before_measuring_and_named_as_given(tmp_path, command, where):
    import os

    if where == "dir":
        out = tmp_path / "out.json"
        out.mkdir()
    elif where == "under-file":
        (tmp_path / "f").write_text("")
        out = tmp_path / "f" / "out.json"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only directories")
        (tmp_path / "ro").mkdir(mode=0o500)
        out = tmp_path / "ro" / "out.json"
    prob = write_json(tmp_path / "p.json", tiny_problem(model=None))
    args = (["run", str(prob), "--model", TINY, "--inputs", "4", "--warmup", "1"] if command == "run"
            else ["calibrate-link"]) + ["-o", str(out)]
    t0 = time.monotonic()
    r = donna(args, tmp_path, timeout=60)
    _one_line(r, 2, str(out))
    assert "donna-run-" not in r.stderr and ".tmp" not in r.stderr
    assert time.monotonic() - t0 < 30 and run_dirs(tmp_path) == []


def test_deeply_nested_plan_is_one_line(tmp_path):
    prob = write_json(tmp_path / "p.json", tiny_problem(model=None))
    (tmp_path / "plan.json").write_text(NESTED)
    r = donna(["run", str(prob), "--plan", str(tmp_path / "plan.json"), "--model", TINY], tmp_path, timeout=60)
    _one_line(r, 2, "plan.json", "nested too deeply")


def test_calibrate_link_stage_timeout_is_one_line(tmp_path):
    r = donna(["calibrate-link", "-o", str(tmp_path / "c.json"), "--timeout", "0.5"], tmp_path, timeout=120)
    _one_line(r, 1, "timeout after 0.5 s")
    assert run_dirs(tmp_path) == [] and not (tmp_path / "c.json").exists()


def test_zero_cost_problem_keeps_its_result_as_strict_json(tmp_path):
    """Every time 0: the predicted throughput is infinite, written as null (as `solve --json` does)."""
    prob = write_json(tmp_path / "p.json", tiny_problem(model=None, time_s=0.0))
    plan = write_json(tmp_path / "plan.json", {"stages": [{"device": "cpu0", "first": 0, "last": 3}]})
    out = tmp_path / "r.json"
    r = donna(["run", str(prob), "--plan", str(plan), "--model", TINY, "--inputs", "4", "--warmup", "1", "-o",
               str(out)], tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert res["predicted"]["throughput_ips"] is None and res["predicted"]["bottleneck_s"] == 0.0
    assert res["measured"]["outputs_check"]["exactly_equal"] and "throughput: predicted n/a/s" in r.stdout


def test_a_plan_needing_cuda_is_refused_at_once_without_torch(tmp_path):
    """On a host without CUDA, refused before torch is imported (that alone takes about a second)."""
    from donna_core.runtime.spec import host_cuda_count

    if host_cuda_count() > 0:
        pytest.skip("this host has CUDA")
    prob = write_json(tmp_path / "p.json", tiny_problem(model="vgg8", types=("gpu", "cpu")))
    plan = write_json(tmp_path / "plan.json", {"stages": [{"device": "gpu0", "first": 0, "last": 3}]})
    code = ("import sys, time; t0 = time.perf_counter(); from donna_core.cli.main import main; "
            f"rc = main(['run', {str(prob)!r}, '--plan', {str(plan)!r}]); "
            "print(rc, 'torch' in sys.modules, round(time.perf_counter() - t0, 3))")
    r = subprocess.run([sys.executable, "-P", "-c", code], env=env_for(tmp_path), capture_output=True, text=True,
                       timeout=60)
    rc, torch_loaded, seconds = r.stdout.split()
    print(f"CUDA refusal took {seconds} s in-process")
    assert rc == "2" and torch_loaded == "False", r.stdout + r.stderr
    assert "CUDA" in r.stderr and r.stderr.count("\n") == 1
    assert float(seconds) < 1.0
