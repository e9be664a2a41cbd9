"""Per-medium latency (``latency_s``) and per-unit device-type eligibility (``allowed``): format, cost model,
both solvers, against brute force and an independent reading of the cost model."""
import itertools
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bruteforce import all_plans, brute_best_objective, brute_front, reference_cost
from donna_core.partition.classes import device_classes
from donna_core.partition.costs import InfeasibleError, PlanError, evaluate, norm_constants
from donna_core.partition.problem import ProblemError, problem_from_dict
from donna_core.partition.solve import pareto_front, solve
from problems import draw_tiny, tiny

ALPHAS = [0.0, 0.2, 0.5, 0.8, 1.0]


def with_features(d, rng, latency=True, allowed=True):
    """Give the media of ``d`` random latencies (comparable to their transfer times) and the types random
    ``allowed`` masks (about one unit in four barred)."""
    if latency:
        for m in d["media"].values():
            m["latency_s"] = float(rng.choice([0.0, rng.uniform(0.05, 1.5)]))
    if allowed:
        L = len(d["units"])
        for spec in d["device_types"].values():
            if rng.random() < 0.7:
                spec["allowed"] = [bool(x) for x in rng.random(L) > 0.25]
    return d


@st.composite
def featured_problems(draw):
    d, rng = draw_tiny(draw, rng_offset=1)
    return d, problem_from_dict(with_features(d, rng, draw(st.booleans()), draw(st.booleans())))


def _feasible(p):
    return next(all_plans(p), None) is not None


# --- format ------------------------------------------------------------------------------------------------

def test_latency_and_allowed_parse_into_arrays():
    d = tiny(L=4, counts=(2, 1), links={"default": "m1", "pairs": [["a0", "b0", "m2"]]})
    d["media"]["m2"]["latency_s"] = 0.25
    d["device_types"]["b"]["allowed"] = [True, False, True, True]
    p = problem_from_dict(d)
    assert p.link_lat.shape == (3, 3) and p.link_lat[0, 2] == p.link_lat[2, 0] == 0.25
    assert p.link_lat[0, 1] == 0.0 and p.link_lat[1, 2] == 0.0 and not p.link_lat.diagonal().any()
    assert p.allowed.dtype == bool and p.allowed.shape == (2, 4)
    assert p.allowed[0].all() and p.allowed[1].tolist() == [True, False, True, True]


def test_presets_have_zero_latency_and_can_be_overridden_with_one():
    d = tiny()
    del d["media"]
    d["links"] = "hb-wcc"
    assert not problem_from_dict(d).link_lat.any()
    d["media"] = {"HB-WCC": {"bandwidth_Bps": 1e9, "energy_J_per_bit": 1e-7, "latency_s": 2e-3}}
    p = problem_from_dict(d)
    assert p.link_lat[0, 1] == 2e-3


@pytest.mark.parametrize("mutate, where", [
    (lambda d: d["media"]["m1"].__setitem__("latency_s", -1.0), 'media["m1"].latency_s'),
    (lambda d: d["media"]["m1"].__setitem__("latency_s", float("inf")), 'media["m1"].latency_s'),
    (lambda d: d["media"]["m1"].__setitem__("latency_s", "1ms"), 'media["m1"].latency_s'),
    (lambda d: d["media"]["m1"].__setitem__("latency", 1.0), "unknown key"),
    (lambda d: d["device_types"]["a"].__setitem__("allowed", [True, True]), 'device_types["a"].allowed'),
    (lambda d: d["device_types"]["a"].__setitem__("allowed", [True, 1, True]), 'device_types["a"].allowed[1]'),
    (lambda d: d["device_types"]["a"].__setitem__("allowed", [True, None, True]), 'device_types["a"].allowed[1]'),
    (lambda d: d["device_types"]["a"].__setitem__("allowed", True), 'device_types["a"].allowed'),
    (lambda d: d["device_types"]["a"].__setitem__("alowed", [True] * 3), "unknown key"),
])
def test_bad_latency_or_allowed_names_the_field(mutate, where):
    d = tiny()
    mutate(d)
    with pytest.raises(ProblemError) as exc:
        problem_from_dict(d)
    assert where in str(exc.value)


# --- cost model --------------------------------------------------------------------------------------------

def test_latency_is_paid_per_message_including_the_input_and_empty_tensors():
    d = tiny(L=3, counts=(1, 1), source="b0")
    d["media"]["m1"]["latency_s"] = 0.5
    d["units"][0]["out_bytes"] = 0.0
    p = problem_from_dict(d)
    r = evaluate(p, [("a0", 0, 0), ("b0", 1, 2)])
    assert r.input_s == 0.5 + 700.0 / 1000.0                     # source b0 -> a0
    assert r.stages[0].comm_out_s == 0.5 + 0.0                  # a zero-byte message still pays the latency
    assert r.input_j == 700.0 * 8 * 1e-4 and r.stages[0].comm_out_j == 0.0   # energy unchanged
    assert evaluate(p, [("b0", 0, 2)]).input_s == 0.0           # no message at all


def test_plan_on_a_barred_unit_is_a_plan_error_naming_unit_and_device():
    d = tiny(L=4, counts=(1, 1))
    d["device_types"]["a"]["allowed"] = [True, True, False, True]
    p = problem_from_dict(d)
    with pytest.raises(PlanError, match=r"unit 'u2' \(index 2\) may not run on 'a0'"):
        evaluate(p, [("b0", 0, 0), ("a0", 1, 3)])
    assert evaluate(p, [("a0", 0, 1), ("b0", 2, 3)]).bottleneck_s > 0


def test_norm_counts_latency_in_the_comm_term_and_skips_barred_units():
    d = tiny(L=3, counts=(1, 1), source="a0", links={"default": "m1", "pairs": []})
    d["media"]["m1"]["latency_s"] = 0.1
    d["device_types"]["b"]["allowed"] = [True, False, True]
    p = problem_from_dict(d)
    cut = d["units"][0]["out_bytes"] + d["units"][1]["out_bytes"]
    ta, tb_ = d["device_types"]["a"]["time_s"], d["device_types"]["b"]["time_s"]
    comp = max(sum(ta), tb_[0] + tb_[2])
    want = comp + (2 * 0.1 + cut / 1000.0) + (0.1 + 700.0 / 1000.0)
    assert norm_constants(p)["time_s"] == pytest.approx(want, rel=1e-15)


@settings(max_examples=60, deadline=None)
@given(featured_problems())
def test_evaluate_agrees_with_an_independent_reading_of_the_model(case):
    d, p = case
    names = p.device_names
    for n in range(1, min(p.D, p.L) + 1):
        for cuts in itertools.combinations(range(1, p.L), n - 1):
            b = (0,) + cuts + (p.L,)
            for devs in itertools.permutations(names, n):
                plan = [(devs[i], b[i], b[i + 1] - 1) for i in range(n)]
                want = reference_cost(d, plan)
                if want is None:
                    with pytest.raises(PlanError):
                        evaluate(p, plan)
                    continue
                r = evaluate(p, plan)
                assert (r.bottleneck_s, r.energy_j) == pytest.approx(want, rel=1e-12)


# --- solvers against brute force ---------------------------------------------------------------------------

@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(featured_problems())
def test_front_and_optima_equal_brute_force(case):
    _, p = case
    if not _feasible(p):
        for call in (lambda: pareto_front(p), lambda: solve(p, 0.5), lambda: solve(p, 1.0, "paper")):
            with pytest.raises(InfeasibleError):
                call()
        return
    got = [(r.bottleneck_s, r.energy_j) for r in pareto_front(p)]
    np.testing.assert_allclose(got, brute_front(p), rtol=1e-9)
    for alpha in ALPHAS:
        best = brute_best_objective(p, alpha)
        r = solve(p, alpha, "exact")
        assert r.objective == pytest.approx(best, rel=1e-9, abs=1e-15)
        paper = solve(p, alpha, "paper")
        if alpha in (0.0, 1.0):
            assert paper.objective == pytest.approx(best, rel=1e-9, abs=1e-15)
        else:
            assert paper.objective >= best * (1 - 1e-9)


def test_latency_changes_the_plan_as_expected():
    # two equal devices; splitting halves the stage time (2 s -> 1 s), but a message slower than 2 s undoes it
    d = tiny(L=2, types=("a",), counts=(2,))
    d["device_types"]["a"]["time_s"] = [1.0, 1.0]
    d["units"][0]["out_bytes"] = 0.0
    assert len(solve(problem_from_dict(d), 1.0).stages) == 2
    d["media"]["m1"]["latency_s"] = 1.5
    assert solve(problem_from_dict(d), 1.0).bottleneck_s == 1.5
    d["media"]["m1"]["latency_s"] = 2.5
    r = solve(problem_from_dict(d), 1.0)
    assert r.plan() == [("a0", 0, 1)] and r.bottleneck_s == 2.0


def test_allowed_forces_units_onto_eligible_types():
    d = tiny(L=4, types=("a", "b"), counts=(1, 1))
    d["device_types"]["a"]["allowed"] = [True, True, False, False]
    d["device_types"]["b"]["allowed"] = [False, False, True, True]
    p = problem_from_dict(d)
    for alpha in ALPHAS:
        for solver in ("exact", "paper"):
            assert solve(p, alpha, solver).plan() == [("a0", 0, 1), ("b0", 2, 3)]
    assert [r.plan() for r in pareto_front(p)] == [[("a0", 0, 1), ("b0", 2, 3)]]


def test_unit_no_present_type_may_run_is_infeasible_naming_the_unit():
    d = tiny(L=3, types=("a", "b", "c"), counts=(1, 1, 0))
    d["devices"] = [x for x in d["devices"] if x["type"] != "c"]
    d["device_types"]["a"]["allowed"] = [True, False, True]
    d["device_types"]["b"]["allowed"] = [True, False, True]
    p = problem_from_dict(d)       # type c (absent) could run u1, but no device has it
    for call in (lambda: solve(p, 0.5), lambda: solve(p, 1.0, "paper"), lambda: pareto_front(p)):
        with pytest.raises(InfeasibleError, match=r"unit 'u1' \(index 1\).*\['a', 'b'\] have allowed\[1\] = false"):
            call()


def test_eligible_units_that_cannot_be_sequenced_are_infeasible():
    # u0 and u2 need type a, u1 needs b: a-b-a needs two a devices, there is one
    d = tiny(L=3, types=("a", "b"), counts=(1, 1))
    d["device_types"]["a"]["allowed"] = [True, False, True]
    d["device_types"]["b"]["allowed"] = [False, True, False]
    p = problem_from_dict(d)
    for call in (lambda: solve(p, 0.5), lambda: solve(p, 0.0, "paper"), lambda: pareto_front(p)):
        with pytest.raises(InfeasibleError, match="allowed units"):
            call()


def test_zero_latency_and_all_allowed_are_bit_identical_to_leaving_them_out():
    d = tiny(L=6, types=("a", "b"), counts=(2, 2), seed=11, source="b1",
             links={"default": "m1", "pairs": [["a0", "b1", "m2"]]})
    e = json.loads(json.dumps(d))
    for m in e["media"].values():
        m["latency_s"] = 0.0
    for spec in e["device_types"].values():
        spec["allowed"] = [True] * 6
    p, q = problem_from_dict(d), problem_from_dict(e)
    assert norm_constants(p) == norm_constants(q)
    for alpha in ALPHAS:
        for solver in ("exact", "paper"):
            r, s = solve(p, alpha, solver), solve(q, alpha, solver)
            assert (r.plan(), r.bottleneck_s, r.energy_j, r.objective) == (s.plan(), s.bottleneck_s, s.energy_j,
                                                                            s.objective)


def test_classes_never_merge_devices_whose_link_latencies_differ():
    d = tiny(L=3, types=("a", "b"), counts=(2, 1), links={"default": "m1", "pairs": [["a1", "b0", "slow"]]})
    d["media"]["slow"] = dict(d["media"]["m1"], latency_s=0.3)   # same bandwidth and energy, more latency
    p = problem_from_dict(d)
    assert device_classes(p).members == ((0,), (1,), (2,))
    d["media"]["slow"]["latency_s"] = 0.0
    assert device_classes(problem_from_dict(d)).members == ((0,), (1,), (2,))   # names still differ: kept apart


def test_unit_too_heavy_for_every_eligible_type_is_named():
    d = tiny(L=3, types=("a", "b"), counts=(1, 1))
    d["units"][2]["weight_bytes"] = 500.0
    d["device_types"]["a"]["memory_bytes"] = 1000.0
    d["device_types"]["b"]["memory_bytes"] = 400.0
    d["device_types"]["a"]["allowed"] = [True, True, False]
    with pytest.raises(InfeasibleError, match=r"unit 'u2' \(index 2\).*weight_bytes 500 exceed the memory of every "
                                              r"type allowed to run it \(\['b'\]\)"):
        solve(problem_from_dict(d), 1.0)
