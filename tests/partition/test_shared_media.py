"""Size-dependent message times (time curves), shared media and the CPU cost of messages: the cost model
against an independent reading of the problem dict, and the exact solver against brute force."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from bruteforce import all_plans, reference_best_objective, reference_cost, reference_front
from problems import CURVE, draw_media_extensions, draw_tiny
from donna_core.partition.costs import evaluate
from donna_core.partition.errors import ProblemError
from donna_core.partition.media import Medium, message_time
from donna_core.partition.problem import problem_from_dict
from donna_core.partition.solve import pareto_front, solve

@st.composite
def extended_problem(draw, shared=True, cpu=True, curve=True):
    """A tiny problem whose media may be shared, carry a time curve and CPU costs per device type."""
    d, rng = draw_tiny(draw, rng_offset=7)
    return draw_media_extensions(draw, d, rng, shared, cpu, curve)


def test_time_curve_points_ends_and_continuity():
    m = Medium(1000.0, 0.0, time_curve=tuple(map(tuple, CURVE)))
    assert message_time(m, 100.0) == 0.05 and message_time(m, 5000.0) == 0.4
    # log-log interpolation: the geometric mean of the sizes gets the geometric mean of the times
    assert message_time(m, math.sqrt(100 * 1000)) == pytest.approx(math.sqrt(0.05 * 0.2), rel=1e-12)
    # beyond the ends: the line's slope (1 / bandwidth) anchored at the end points, so continuous
    assert message_time(m, 6000.0) == pytest.approx(0.4 + 1000 / 1000.0)
    assert message_time(m, 50.0) == pytest.approx(0.05 - 50 / 1000.0)
    assert message_time(m, 0.0) == 0.0
    eps = 1e-6
    for b in (100.0, 5000.0):
        assert abs(message_time(m, b + eps) - message_time(m, b - eps)) < 1e-6
    xs = np.geomspace(1, 1e5, 500)
    assert np.all(np.diff(message_time(m, xs)) >= 0)
    # without a curve the line, exactly as before
    line = Medium(1000.0, 0.0, latency_s=0.01)
    assert message_time(line, 300.0) == 0.01 + 300.0 / 1000.0


@pytest.mark.parametrize("curve, field", [
    ([[1, 1]], 'media["x"].time_curve: must be a list of at least 2'),
    ([[1, 1], [1, 2]], 'media["x"].time_curve[1][0]: bytes must be strictly increasing'),
    ([[1, 2], [2, 1]], 'media["x"].time_curve[1][1]: seconds must be non-decreasing'),
    ([[0, 1], [2, 1]], 'media["x"].time_curve[0][0]: bytes must be a finite number > 0'),
    ([[1, 1], [2, 1e400]], 'media["x"].time_curve[1][1]: seconds must be a finite number > 0'),
    ([[1, 1], [2]], 'media["x"].time_curve[1]: must be [bytes, seconds]'),
])
def test_time_curve_validation(curve, field):
    from problems import tiny
    d = tiny()
    d["media"]["x"] = {"bandwidth_Bps": 1.0, "energy_J_per_bit": 0.0, "time_curve": curve}
    with pytest.raises(ProblemError) as e:
        problem_from_dict(d)
    assert str(e.value).startswith(field) and "\n" not in str(e.value)


def test_bad_shared_and_cpu_fields():
    from problems import tiny
    d = tiny()
    d["media"]["m1"]["shared"] = 1
    with pytest.raises(ProblemError, match=r'media\["m1"\].shared: must be true or false'):
        problem_from_dict(d)
    d = tiny()
    d["media"]["m1"]["cpu"] = {"zz": {"send_s": 1.0}}
    with pytest.raises(ProblemError, match=r'media\["m1"\].cpu\["zz"\]: unknown device type'):
        problem_from_dict(d)
    d = tiny()
    d["media"]["m1"]["cpu"] = {"a": {"send_s": -1.0}}
    with pytest.raises(ProblemError, match=r'media\["m1"\].cpu\["a"\].send_s: must be >= 0'):
        problem_from_dict(d)


def test_shared_presets_keep_table_one():
    p = problem_from_dict({**__import__("problems").tiny(), "links": "hb-wcc"})
    assert not p.extended
    q = problem_from_dict({**__import__("problems").tiny(), "links": "hb-wcc-shared"})
    assert q.has_shared and q.media["hb-wcc-shared"].bandwidth_Bps == p.media["hb-wcc"].bandwidth_Bps


@settings(max_examples=60, deadline=None)
@given(extended_problem())
def test_evaluate_matches_reference(d):
    p = problem_from_dict(d)
    for plan, r in list(all_plans(p))[:40]:
        want = reference_cost(d, [(p.device_names[x], f, l) for x, f, l in plan])
        assert r.bottleneck_s == pytest.approx(want[0], rel=1e-9, abs=1e-15)
        assert r.energy_j == pytest.approx(want[1], rel=1e-9, abs=1e-15)


@settings(max_examples=80, deadline=None)
@given(extended_problem(), st.sampled_from([0.0, 0.25, 0.6, 1.0]))
def test_exact_equals_brute_force(d, alpha):
    p = problem_from_dict(d)
    r = solve(p, alpha, "exact")
    best = reference_best_objective(d, p, alpha)
    assert r.objective == pytest.approx(best, rel=1e-9, abs=1e-12)
    assert r.stats["gap"] == 0.0


@settings(max_examples=50, deadline=None)
@given(extended_problem())
def test_front_equals_brute_force(d):
    p = problem_from_dict(d)
    got = [(r.bottleneck_s, r.energy_j) for r in pareto_front(p)]
    want = reference_front(d, p)
    assert len(got) == len(want)
    for (b, e), (wb, we) in zip(got, want):
        assert b == pytest.approx(wb, rel=1e-9) and e == pytest.approx(we, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(extended_problem(shared=False, cpu=False))
def test_curves_through_independent_solvers(d):
    """Curves alone keep the independent-link model: the ordinary exact solver and the bounded one use them."""
    p = problem_from_dict(d)
    assert not p.extended
    for alpha in (0.0, 0.5, 1.0):
        best = reference_best_objective(d, p, alpha)
        assert solve(p, alpha, "exact").objective == pytest.approx(best, rel=1e-9, abs=1e-12)
        rb = solve(p, alpha, "bounded", time_limit_s=20)
        assert rb.stats["lower_bound"] <= best * (1 + 1e-9) + 1e-12 <= rb.objective * (1 + 2e-9) + 2e-12


@settings(max_examples=40, deadline=None)
@given(extended_problem(), st.sampled_from([0.0, 0.5, 1.0]))
def test_paper_is_evaluated_under_the_true_model(d, alpha):
    p = problem_from_dict(d)
    r = solve(p, alpha, "paper")
    assert r.objective >= reference_best_objective(d, p, alpha) * (1 - 1e-9) - 1e-12
    again = evaluate(p, r.plan(), alpha)
    assert again.objective == r.objective
    if alpha == 1.0 and p.extended:
        assert r.stats["gap"] is None


@settings(max_examples=60, deadline=None)
@given(extended_problem(), st.sampled_from([0.0, 0.5, 1.0]))
def test_bounded_with_shared_media_and_cpu_costs_brackets_the_brute_force_optimum(d, alpha):
    """The bounded solver runs on the independent-link twin; its bound must hold for the true model and its plan
    is costed under it."""
    p = problem_from_dict(d)
    r = solve(p, alpha, "bounded", time_limit_s=20)
    best = reference_best_objective(d, p, alpha)
    assert r.stats["lower_bound"] <= best * (1 + 1e-9) + 1e-12
    assert r.objective >= best * (1 - 1e-9) - 1e-12
    assert r.objective == evaluate(p, r.plan(), alpha).objective
    assert r.stats["gap"] == pytest.approx(max(0.0, (r.objective - r.stats["lower_bound"]) / r.objective)
                                           if r.objective > 0 else 0.0)
    if p.extended:
        assert "independent-link twin" in r.stats["stopped"]


def test_bounded_on_a_shared_medium_reports_the_twins_bound_and_the_true_cost():
    from problems import tiny
    d = {**tiny(), "links": "hb-wcc-shared"}
    p = problem_from_dict(d)
    r = solve(p, 0.5, "bounded")
    best = reference_best_objective(d, p, 0.5)
    assert r.stats["lower_bound"] <= best * (1 + 1e-9) <= r.objective * (1 + 1e-9)
    assert r.objective == evaluate(p, r.plan(), 0.5).objective


def test_sharing_changes_the_bottleneck():
    """Two cuts of 1 GB each over HB-WCC: 1 s each when independent, 2 s on one shared channel."""
    from problems import tiny
    d = tiny(L=3, counts=(2, 1), links="hb-wcc")
    for u in d["units"]:
        u["out_bytes"] = 1e9
    plan = [("a0", 0, 0), ("a1", 1, 1), ("b0", 2, 2)]
    ind = evaluate(problem_from_dict(d), plan)
    sh = evaluate(problem_from_dict({**d, "links": "hb-wcc-shared"}), plan)
    assert max(s.comm_out_s for s in ind.stages) == 1.0 and ind.bottleneck_s == max(
        1.0, max(s.compute_s for s in ind.stages))
    assert sh.bottleneck_s == 2.0 and sh.energy_j == ind.energy_j
    assert sh.to_dict()["shared_busy_s"] == {"hb-wcc-shared": 2.0}
    assert "shared_busy_s" not in ind.to_dict()
