"""Solver edge cases: subnormal costs, the size guard at 1,024 classes, address-space limits and MemoryError."""
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bruteforce import brute_best_objective, brute_front
from donna_core.partition import guard
from donna_core.partition import solve as solve_mod
from donna_core.partition.guard import SolverSizeError, estimate
from donna_core.partition.problem import problem_from_dict
from donna_core.partition.solve import pareto_front, solve
from donna_core.partition.synthetic import random_problem
from problems import tiny

ROOT = Path(__file__).resolve().parents[2]


def _subnormal(seed, scale):
    d = tiny(L=4, counts=(2, 1), seed=seed)
    d["units"] = [{**u, "out_bytes": 0.0} for u in d["units"]]
    d["input_bytes"] = 0.0
    for t in d["device_types"].values():
        t["time_s"] = [x * scale for x in t["time_s"]]
    return problem_from_dict(d)


@pytest.mark.parametrize("scale", [1e-310, 1e-320])
@pytest.mark.parametrize("seed", range(6))
def test_subnormal_times_are_solved_not_refused(seed, scale):
    p = _subnormal(seed, scale)
    assert p.time_s.max() < 2.2250738585072014e-308
    for alpha in (0.0, 0.3, 0.5, 1.0):
        opt = brute_best_objective(p, alpha)
        r = solve(p, alpha, "exact")
        assert r.objective == pytest.approx(opt, rel=1e-9)
        b = solve(p, alpha, "bounded", time_limit_s=5)
        assert b.objective >= opt * (1 - 1e-9) and b.stats["lower_bound"] <= opt * (1 + 1e-9)
    got = [x for r in pareto_front(p) for x in (r.bottleneck_s, r.energy_j)]
    assert got == pytest.approx([x for pt in brute_front(p) for x in pt], rel=1e-9)


def test_guard_at_1024_classes_is_one_line_in_every_solver():
    rng = np.random.default_rng(0)
    L, D = 3, 1024
    d = {"name": "1024 classes", "units": [{"name": f"u{i}", "out_bytes": 1000.0} for i in range(L)],
         "device_types": {f"t{i}": {"time_s": rng.uniform(0.1, 1, L).tolist(),
                                    "energy_j": rng.uniform(0.1, 1, L).tolist()} for i in range(D)},
         "devices": [{"name": f"d{i}", "type": f"t{i}"} for i in range(D)], "links": "hb-wcc"}
    p = problem_from_dict(d)
    for solver in ("exact", "paper"):
        est = estimate(p, 0.5, solver, budget="8G")
        assert not est.feasible_in_budget and "\n" not in est.message and "e+3" in est.message
        with pytest.raises(SolverSizeError):
            solve(p, 0.5, solver, memory_budget="8G")
    with pytest.raises(SolverSizeError):
        pareto_front(p, memory_budget="8G")
    r = solve(p, 0.5, "auto", time_limit_s=2, memory_budget="8G")
    assert r.solver == "bounded" and "exact refused" in r.stats["fallback"]
    assert r.stats["lower_bound"] <= r.objective


def test_auto_falls_back_to_bounded_on_memory_error(monkeypatch):
    p = problem_from_dict(tiny(L=4, counts=(2, 1)))

    def broke(*a, **k):
        raise MemoryError("Unable to allocate 4 GiB")
    monkeypatch.setattr(solve_mod, "_exact", broke)
    r = solve(p, 0.5, "auto", time_limit_s=3)
    assert r.solver == "bounded" and "MemoryError" in r.stats["fallback"]
    with pytest.raises(MemoryError, match="--solver bounded"):
        solve(p, 0.5, "exact")


def test_default_budget_respects_the_address_space_limit(monkeypatch):
    monkeypatch.delenv(guard.ENV, raising=False)
    monkeypatch.setattr(guard, "address_space_room", lambda: 10**8)
    assert guard.memory_budget() <= 5 * 10**7
    monkeypatch.setattr(guard, "address_space_room", lambda: None)
    assert guard.memory_budget() > 5 * 10**7 or guard.available_bytes() is None


def test_cli_auto_under_ulimit_v_no_traceback(tmp_path):
    """Under an address-space limit the default budget shrinks, exact is refused and auto uses bounded."""
    f = tmp_path / "p.json"
    f.write_text(json.dumps(random_problem(2500, 2, seed=1)))
    env = {k: v for k, v in os.environ.items() if k != guard.ENV}
    env["PYTHONPATH"] = str(ROOT)

    def limit():
        with open("/proc/self/status") as s:
            vm = next(int(x.split()[1]) * 1024 for x in s if x.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (vm + 700 * 2**20, resource.RLIM_INFINITY))
    cmd = [sys.executable, "-m", "donna_core.cli", "solve", str(f), "--alpha", "0.5", "--time-limit", "3"]
    r = subprocess.run(cmd + ["--solver", "auto"], capture_output=True, text=True, timeout=120, env=env,
                       preexec_fn=limit)
    assert r.returncode == 0, r.stderr
    assert "used bounded" in r.stdout and "Traceback" not in r.stderr
    r = subprocess.run(cmd + ["--solver", "exact"], capture_output=True, text=True, timeout=120, env=env,
                       preexec_fn=limit)
    assert r.returncode in (1, 2) and "Traceback" not in r.stderr and r.stderr.count("\n") == 1
