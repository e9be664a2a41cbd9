"""The solvers against brute force, the paper DP's known flaw, tie rules, invariances."""
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bruteforce import all_plans, brute_best_objective, brute_front
from donna_core.partition.classes import device_classes
from donna_core.partition.costs import evaluate, norm_constants
from donna_core.partition.errors import InfeasibleError
from donna_core.partition.problem import problem_from_dict
from donna_core.partition.solve import pareto_front, solve
from problems import draw_tiny, tiny

ALPHAS = [0.0, 0.2, 0.5, 0.8, 1.0]


@st.composite
def small_problems(draw):
    """Random instances with up to 3 device classes, per-pair links and an optional source."""
    d, _ = draw_tiny(draw)
    return problem_from_dict(d)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems())
def test_exact_front_equals_brute_force(p):
    want = brute_front(p)
    got = [(r.bottleneck_s, r.energy_j) for r in pareto_front(p)]
    assert len(got) == len(want)
    np.testing.assert_allclose(got, want, rtol=1e-9)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems())
def test_exact_optimum_equals_brute_force_and_paper_exact_at_extremes(p):
    for alpha in ALPHAS:
        best = brute_best_objective(p, alpha)
        r = solve(p, alpha, "exact")
        assert r.objective == pytest.approx(best, rel=1e-9, abs=1e-15)
        if alpha in (0.0, 1.0):
            assert solve(p, alpha, "paper").objective == pytest.approx(best, rel=1e-9, abs=1e-15)
        else:
            assert solve(p, alpha, "paper").objective >= best * (1 - 1e-9)


@settings(max_examples=80, deadline=None)
@given(small_problems())
def test_tie_rules_at_the_extremes(p):
    plans = [(plan, r) for plan, r in all_plans(p)]
    fast = solve(p, 1.0)
    bmin = min(r.bottleneck_s for _, r in plans)
    emin_fast = min(r.energy_j for _, r in plans if r.bottleneck_s <= bmin * (1 + 1e-12))
    assert fast.bottleneck_s == pytest.approx(bmin, rel=1e-12)
    assert fast.energy_j == pytest.approx(emin_fast, rel=1e-9)
    frugal = solve(p, 0.0)
    emin = min(r.energy_j for _, r in plans)
    bmin_frugal = min(r.bottleneck_s for _, r in plans if r.energy_j <= emin * (1 + 1e-12))
    assert frugal.energy_j == pytest.approx(emin, rel=1e-12)
    assert frugal.bottleneck_s == pytest.approx(bmin_frugal, rel=1e-9)


def test_paper_dp_is_worse_than_exact_on_kept_instance():
    d = json.loads((Path(__file__).parents[1] / "data" / "paper_suboptimal.json").read_text())
    p = problem_from_dict(d)
    exact, paper = solve(p, 0.5, "exact"), solve(p, 0.5, "paper")
    assert paper.objective > exact.objective * (1 + 1e-6)
    assert exact.objective == pytest.approx(brute_best_objective(p, 0.5), rel=1e-12)
    # the paper's plan is valid, just not optimal: the two plans differ
    assert evaluate(p, paper.plan(), 0.5).objective == paper.objective
    assert paper.plan() != exact.plan()
    for alpha in (0.0, 1.0):
        assert solve(p, alpha, "paper").objective == pytest.approx(solve(p, alpha).objective, rel=1e-12)


def test_tie_rule_prefers_fewer_stages_then_lower_device_index():
    # identical devices, free links, zero-cost input: one device and two devices tie on (B, E) only when
    # nothing is gained by splitting; with equal unit times the split halves B so it must win at alpha=1
    d = tiny(L=2, types=("a",), counts=(3,))
    d["device_types"]["a"]["time_s"] = [1.0, 1.0]
    d["device_types"]["a"]["energy_j"] = [1.0, 1.0]
    d["media"]["free"] = {"bandwidth_Bps": 1e30, "energy_J_per_bit": 0.0}
    d["links"] = "free"
    p = problem_from_dict(d)
    r1 = solve(p, 1.0)
    assert r1.plan() == [("a0", 0, 0), ("a1", 1, 1)]
    r0 = solve(p, 0.0)   # energy ties everywhere (2 J); fastest among them is again the split
    assert r0.plan() == [("a0", 0, 0), ("a1", 1, 1)]
    # with a slow link the split is slower than one device and costs energy: one stage, device a0
    d["links"] = "m2"
    p = problem_from_dict(d)
    assert solve(p, 0.0).plan() == [("a0", 0, 1)]


def test_changing_units_never_changes_the_plan():
    d = tiny(L=5, types=("a", "b"), counts=(2, 2), seed=7, links={"default": "m1", "pairs": [["a0", "b1", "m2"]]})
    p = problem_from_dict(d)
    d_ms = json.loads(json.dumps(d))
    for t in d_ms["device_types"].values():
        t["time_s"] = [x * 1000 for x in t["time_s"]]           # s -> ms
        t["energy_j"] = [x * 1000 for x in t["energy_j"]]       # J -> mJ
    for m in d_ms["media"].values():
        m["bandwidth_Bps"] /= 1000                              # bytes per ms
        m["energy_J_per_bit"] *= 1000                           # mJ per bit
    q = problem_from_dict(d_ms)
    for alpha in ALPHAS:
        for solver in ("exact", "paper"):
            assert solve(p, alpha, solver).plan() == solve(q, alpha, solver).plan()
    assert norm_constants(q)["time_s"] == pytest.approx(1000 * norm_constants(p)["time_s"])


def test_same_inputs_same_plan():
    p = problem_from_dict(tiny(L=6, types=("a", "b"), counts=(3, 2), seed=3))
    plans = {tuple(solve(p, a).plan()) for a in [0.5] * 5}
    assert len(plans) == 1


def test_device_classes_group_interchangeable_devices():
    d = tiny(types=("a", "b"), counts=(3, 2), links={"default": "m1", "pairs": [["a2", "b0", "m2"]]},
             source="b1")
    cl = device_classes(problem_from_dict(d))
    # a2 has a different link to b0 -> own class; b1 is the source -> own class
    assert cl.members == ((0, 1), (2,), (3,), (4,))
    assert cl.M == 3 * 2 * 2 * 2


def test_memory_limits_respected_and_infeasible_reported():
    d = tiny(L=4, types=("a", "b"), counts=(1, 1), seed=2)
    for u in d["units"]:
        u["weight_bytes"] = 10.0
    d["device_types"]["a"]["memory_bytes"] = 20.0
    d["device_types"]["b"]["memory_bytes"] = 20.0
    p = problem_from_dict(d)
    for alpha in ALPHAS:
        for solver in ("exact", "paper"):
            r = solve(p, alpha, solver)
            assert all(s.last - s.first + 1 <= 2 for s in r.stages)
    d["device_types"]["a"]["memory_bytes"] = 15.0
    p = problem_from_dict(d)
    for solver in ("exact", "paper"):
        with pytest.raises(InfeasibleError):
            solve(p, 0.5, solver)
    with pytest.raises(InfeasibleError):
        pareto_front(p)


def test_solution_costs_match_evaluate_and_source_input_is_charged():
    d = tiny(L=4, types=("a", "b"), counts=(1, 1), source="b0", links={"default": "m1", "pairs": []})
    p = problem_from_dict(d)
    r = evaluate(p, [("a0", 0, 3)])
    assert r.input_s == pytest.approx(700.0 / 1000.0)
    assert r.input_j == pytest.approx(700.0 * 8 * 1e-4)
    assert r.bottleneck_s == pytest.approx(max(r.input_s, sum(d["device_types"]["a"]["time_s"])))
    assert evaluate(p, [("b0", 0, 3)]).input_s == 0.0


def test_front_merges_energies_equal_up_to_rounding():
    # regression (found by hypothesis): two plans whose energies are equal in exact arithmetic but differ in
    # the last bits once summed in another order must not both appear on the front
    d = tiny(L=5, types=("a", "b"), counts=(2, 1), seed=1024)
    d["units"] = [{"name": f"u{i}", "out_bytes": b, "weight_bytes": 1.0}
                  for i, b in enumerate([559.0, 878.0, 90.0, 749.0, 382.0])]
    d["device_types"] = {"a": {"time_s": [2.0, 1.0, 3.0, 1.0, 1.0], "energy_j": [2.0, 3.0, 3.0, 2.0, 2.0]},
                         "b": {"time_s": [2.0, 1.0, 3.0, 3.0, 2.0], "energy_j": [3.0, 2.0, 3.0, 2.0, 1.0]}}
    p = problem_from_dict(d)
    got = [(r.bottleneck_s, r.energy_j) for r in pareto_front(p)]
    np.testing.assert_allclose(got, brute_front(p), rtol=1e-12)
    assert [b for b, _ in got] == [3.0, 4.0, 6.0, 9.0]


def test_paper_dp_refuses_hopeless_sizes_clearly():
    p = problem_from_dict(tiny(L=3, types=("a",), counts=(22,)))
    with pytest.raises(ValueError, match="use the exact solver"):
        solve(p, 0.5, "paper")
    assert len(solve(p, 0.5, "exact").stages) >= 1    # 22 identical devices are one class for `exact`


@st.composite
def tie_heavy_problems(draw):
    """Integer unit costs and free transfers: many plans tie exactly, so the tie rule decides."""
    L = draw(st.integers(1, 5))
    counts = draw(st.sampled_from([(2, 1), (3, 0), (1, 2), (2, 2)]))
    types = [t for t, c in zip("ab", counts) if c]
    counts = [c for c in counts if c]
    rng = np.random.default_rng(draw(st.integers(0, 10_000)))
    d = tiny(L=L, types=types, counts=counts)
    for u in d["units"]:
        u["out_bytes"] = 0.0
    d["input_bytes"] = 0.0
    for t in types:
        d["device_types"][t]["time_s"] = rng.integers(1, 3, L).astype(float).tolist()
        d["device_types"][t]["energy_j"] = rng.integers(1, 3, L).astype(float).tolist()
    return problem_from_dict(d)


def _rule_key(p, alpha, plan, r):
    devs = tuple(p.device_index(d) if isinstance(d, str) else d for d, _, _ in plan)
    cuts_from_last = tuple(last for _, _, last in plan[::-1])
    if alpha == 1.0:
        head = (r.bottleneck_s, r.energy_j)
    elif alpha == 0.0:
        head = (r.energy_j, r.bottleneck_s)
    else:
        head = (round(r.objective, 12),)
    return head + (len(plan), devs, cuts_from_last)


@settings(max_examples=120, deadline=None)
@given(tie_heavy_problems())
def test_documented_tie_rule_picks_the_brute_force_winner(p):
    for alpha in (0.0, 0.5, 1.0):
        norm = norm_constants(p)
        plans = [(plan, evaluate(p, plan, alpha, norm=norm)) for plan, _ in all_plans(p)]
        want = min(plans, key=lambda x: _rule_key(p, alpha, x[0], x[1]))
        got = solve(p, alpha)
        got_devs = [p.device_index(d) for d in got.devices]
        want_devs = [d for d, _, _ in want[0]]
        assert (len(got.stages), got_devs) == (len(want[0]), want_devs), (alpha, got.plan(), want[0])
        assert _rule_key(p, alpha, got.plan(), got)[:-1] == _rule_key(p, alpha, want[0], want[1])[:-1]
