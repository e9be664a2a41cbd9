"""Latency as a constraint on the alpha-objective (``max_latency_s``) against brute force over every assignment
and every order of units and messages."""
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .brute import best_alpha_capped, best_latency
from .graphs import graph_dict, graph_problems
from donna_core.partition.errors import InfeasibleError
from donna_core.partition.graph_costs import GraphTables, evaluate_graph, graph_norm
from donna_core.partition.graph_latency_cap import CAP_RTOL, serial_latency
from donna_core.partition.graph_solve import graph_pareto, solve_graph
from donna_core.partition.problem import problem_from_dict

RTOL = 1e-6     # HiGHS proves optimality to a relative gap of 1e-6
SMALL = ((1, 1, 1), (2, 1, 0), (1, 1, 0), (1, 0, 0))
# cap = factor x the least latency of any plan: below it (infeasible), at it (the boundary), above
FACTORS = (0.7, 1.0, 1.08, 1.3, 2.0, 1e9)


def _case(d, factor):
    p = problem_from_dict(d)
    gt = GraphTables(p)
    lmin = best_latency(gt)
    return p, gt, lmin, lmin * factor


def _check_plan(p, gt, r, alpha, cap, lo, hi):
    """lo = brute-force optimum at cap (1 + CAP_RTOL), hi = at cap: the MILP may use the tolerance, never more."""
    assert r.latency_s <= cap * (1 + CAP_RTOL)
    assert evaluate_graph(p, r.assignment, alpha).objective == r.objective
    assert r.objective >= lo * (1 - RTOL) - 1e-15
    assert r.stats["lower_bound"] <= hi * (1 + 1e-9) + 1e-15
    # the reported latency is that of a real schedule of the plan
    assert math.isclose(r.latency_s, max(u["finish_s"] for u in r.schedule["units"]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph_problems(max_units=6, counts=SMALL), st.sampled_from([0.0, 0.5, 1.0]), st.sampled_from(FACTORS))
def test_capped_exact_equals_brute_force(d, alpha, factor):
    p, gt, lmin, cap = _case(d, factor)
    if not math.isfinite(lmin):
        return
    norm = graph_norm(p)
    hi = best_alpha_capped(gt, alpha, norm, cap)
    lo = best_alpha_capped(gt, alpha, norm, cap * (1 + CAP_RTOL))
    if not math.isfinite(lo):
        with pytest.raises(InfeasibleError, match=r"--max-latency .* \(proved\)"):
            solve_graph(p, alpha, "exact", time_limit_s=30, max_latency_s=cap)
        return
    r = solve_graph(p, alpha, "exact", time_limit_s=30, max_latency_s=cap)
    assert r.stats["gap"] == 0.0
    _check_plan(p, gt, r, alpha, cap, lo, hi)
    assert r.objective <= hi * (1 + RTOL) + 1e-15
    # the heuristic: a plan within the cap, bracketed by its bound and the optimum
    try:
        h = solve_graph(p, alpha, "heuristic", time_limit_s=5, max_latency_s=cap)
    except InfeasibleError as exc:
        assert "--max-latency" in str(exc)
        return
    _check_plan(p, gt, h, alpha, cap, lo, hi)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph_problems(max_units=6, counts=((2, 1, 1), (1, 1, 1))), st.sampled_from([0.0, 0.5, 1.0]),
       st.sampled_from(FACTORS[:5]))
def test_capped_bound_holds_when_the_time_limit_cuts_it_short(d, alpha, factor):
    p, gt, lmin, cap = _case(d, factor)
    if not math.isfinite(lmin):
        return
    norm = graph_norm(p)
    hi = best_alpha_capped(gt, alpha, norm, cap)
    lo = best_alpha_capped(gt, alpha, norm, cap * (1 + CAP_RTOL))
    try:
        r = solve_graph(p, alpha, "exact", time_limit_s=0.06, max_latency_s=cap)
    except InfeasibleError as exc:
        # proved infeasible only when it is; otherwise the message says it was not proved
        assert "proved" in str(exc)
        if "(proved)" in str(exc):
            assert not math.isfinite(lo)
        return
    _check_plan(p, gt, r, alpha, cap, lo, hi)
    if r.stats["gap"] == 0.0:
        assert r.objective <= hi * (1 + RTOL) + 1e-15


def test_vacuous_cap_is_the_unconstrained_optimum_and_a_tight_one_binds():
    for seed in range(6):
        p = problem_from_dict(graph_dict(5, (1, 1, 1), seed, source_pick=seed, p_edge=0.5))
        gt = GraphTables(p)
        free = solve_graph(p, 0.5, "exact", time_limit_s=30)
        big = solve_graph(p, 0.5, "exact", time_limit_s=30, max_latency_s=2 * serial_latency(gt))
        assert big.objective == free.objective and big.latency_s is not None
        lmin = best_latency(gt)
        tight = solve_graph(p, 0.5, "exact", time_limit_s=30, max_latency_s=lmin)
        assert tight.latency_s <= lmin * (1 + CAP_RTOL) and tight.objective >= free.objective * (1 - RTOL)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph_problems(max_units=5, counts=SMALL), st.sampled_from(FACTORS[:5]))
def test_capped_front_is_the_brute_force_front_of_the_plans_within_the_cap(d, factor):
    import numpy as np
    from donna_core.partition.graph_costs import all_assignments, evaluate_many
    from .brute import fits_cap
    p, gt, lmin, cap = _case(d, factor)
    if not math.isfinite(lmin):
        return
    A = all_assignments(gt.L, gt.D)
    b, e = evaluate_many(gt, A)
    pts = [(x, y) for a, x, y in zip(A, b, e) if np.isfinite(x) and fits_cap(gt, a, cap)]
    pts_tol = [(x, y) for a, x, y in zip(A, b, e) if np.isfinite(x) and fits_cap(gt, a, cap * (1 + CAP_RTOL))]
    if not pts_tol:
        with pytest.raises(InfeasibleError, match="--max-latency"):
            graph_pareto(p, max_latency_s=cap)
        return
    nondom = lambda P: sorted({q for q in P if not any(o[0] <= q[0] and o[1] <= q[1] and o != q for o in P)})  # noqa
    got = [(r.bottleneck_s, r.energy_j) for r in graph_pareto(p, max_latency_s=cap)]
    assert got in (nondom(pts), nondom(pts_tol))


def test_refusals():
    p = problem_from_dict(graph_dict(4, (1, 1, 0), 1))
    with pytest.raises(ValueError, match="--max-latency"):
        solve_graph(p, 0.5, "heft", max_latency_s=1.0)
    with pytest.raises(ValueError, match="--max-latency"):
        solve_graph(p, 0.5, "exact", objective="latency", max_latency_s=1.0)
    with pytest.raises(ValueError, match="--max-latency"):
        solve_graph(p, 0.5, "exact", max_latency_s=-1.0)
