"""One α tie rule on the exact front: ``solve(..., "exact")`` and ``select_on_front(pareto_front(...))`` agree."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from donna_core.partition.costs import norm_constants
from donna_core.partition.front_select import select_on_front
from donna_core.partition.plan_format import plan_string
from donna_core.partition.problem import problem_from_dict
from donna_core.partition.solve import pareto_front, solve
from problems import draw_tiny

# chain problems only: graph problems (with "edges") have their own solvers and tie rule
PROBLEMS = sorted(p for p in (Path(__file__).resolve().parents[2] / "data" / "problems").glob("*.json")
                  if "edges" not in json.loads(p.read_text()))


def _kinks(front, norm) -> list[float]:
    """The α values where neighbouring front points tie (where the tie rule decides)."""
    t = np.array([f.bottleneck_s for f in front]) / norm["time_s"]
    e = np.array([f.energy_j for f in front]) / norm["energy_j"]
    out = []
    for i in range(len(front) - 1):
        d = (t[i] - e[i]) - (t[i + 1] - e[i + 1])
        if d != 0:
            a = (e[i + 1] - e[i]) / d
            if 0.0 <= a <= 1.0:
                out.append(float(a))
    return out


def _check_agrees(p, alphas) -> None:
    front = pareto_front(p)
    norm = norm_constants(p)
    for a in list(alphas) + _kinks(front, norm):
        r = solve(p, a, "exact")
        picked = front[select_on_front(front, a, norm, p.device_index)]
        assert picked.plan() == r.plan(), f"alpha={a}: solve {r.plan()} vs front {picked.plan()}"


@pytest.mark.parametrize("path", PROBLEMS, ids=[p.stem for p in PROBLEMS])
def test_solve_picks_the_same_plan_as_select_on_front_on_bundled_problems(path):
    _check_agrees(problem_from_dict(json.loads(path.read_text())), np.linspace(0.0, 1.0, 41))


@st.composite
def _tiny(draw):
    return draw_tiny(draw)[0]


@settings(max_examples=120, deadline=None)
@given(_tiny(), st.lists(st.floats(0.0, 1.0), min_size=1, max_size=5))
def test_solve_picks_the_same_plan_as_select_on_front_on_random_problems(d, alphas):
    _check_agrees(problem_from_dict(d), alphas + [0.0, 0.5, 1.0])


def _cpu_gpu_cim_tie() -> dict:
    """Devices built cpu, gpu, cim (index order) — name order puts cim0 first. One unit; the cpu and cim plans
    tie exactly at α = 0.5 (cpu: B 2, E 1; cim: B 1, E 2; norms 10 and 10 from the slow gpu)."""
    return {"units": [{"name": "u0", "out_bytes": 10.0, "weight_bytes": 1.0}], "input_bytes": 0.0,
            "device_types": {"cpu": {"time_s": [2.0], "energy_j": [1.0]},
                             "gpu": {"time_s": [10.0], "energy_j": [10.0]},
                             "cim": {"time_s": [1.0], "energy_j": [2.0]}},
            "devices": [{"name": "cpu0", "type": "cpu"}, {"name": "gpu0", "type": "gpu"},
                        {"name": "cim0", "type": "cim"}],
            "media": {"m": {"bandwidth_Bps": 1e3, "energy_J_per_bit": 1e-3}}, "links": "m"}


def test_ties_go_to_the_lower_device_index_not_the_name():
    p = problem_from_dict(_cpu_gpu_cim_tie())
    front = pareto_front(p)
    assert sorted(f.devices[0] for f in front) == ["cim0", "cpu0"]
    norm = norm_constants(p)
    assert solve(p, 0.5).devices == ["cpu0"]
    assert front[select_on_front(front, 0.5, norm, p.device_index)].devices == ["cpu0"]
    # away from the tie the objective decides
    assert front[select_on_front(front, 0.9, norm, p.device_index)].devices == ["cim0"]
    assert front[select_on_front(front, 0.1, norm, p.device_index)].devices == ["cpu0"]
    _check_agrees(p, np.linspace(0, 1, 21))


def test_select_on_front_takes_index_triples_and_refuses_an_empty_front():
    norm = {"time_s": 1.0, "energy_j": 1.0}
    front = [(1.0, 2.0, [(2, 0, 0)]), (2.0, 1.0, [(0, 0, 0)])]
    assert select_on_front(front, 0.5, norm) == 1          # tie: device index 0 before 2
    assert select_on_front(front, 0.9, norm) == 0
    with pytest.raises(ValueError, match="empty"):
        select_on_front([], 0.5, norm)


def test_plan_string_one_format_for_stages_and_triples():
    p = problem_from_dict(_cpu_gpu_cim_tie())
    r = solve(p, 1.0)
    assert plan_string(r.stages) == plan_string(r.plan()) == "cim0:0-0"
    assert plan_string([("cpu0", 0, 40), ("gpu0", 41, 155)]) == "cpu0:0-40|gpu0:41-155"
