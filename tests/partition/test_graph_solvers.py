"""Graph solvers against brute force over every assignment (and, for latency, every task order)."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .brute import best_alpha, best_latency
from .graphs import graph_dict, graph_problems
from donna_core.partition.errors import InfeasibleError
from donna_core.partition.graph_costs import GraphTables, all_assignments, evaluate_graph, evaluate_many, graph_norm
from donna_core.partition.graph_front import graph_front
from donna_core.partition.graph_solve import graph_pareto, solve_graph
from donna_core.partition.problem import problem_from_dict

RTOL = 1e-6     # HiGHS proves optimality to a relative gap of 1e-6
SLOW = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _feasible(p):
    gt = GraphTables(p)
    b, _ = evaluate_many(gt, all_assignments(gt.L, gt.D))
    return gt, bool(np.isfinite(b).any())


@SLOW
@given(graph_problems(), st.sampled_from([0.0, 0.5, 1.0]))
def test_exact_equals_brute_force_and_heuristic_is_bracketed(d, alpha):
    p = problem_from_dict(d)
    gt, feasible = _feasible(p)
    if not feasible:
        with pytest.raises(InfeasibleError):
            solve_graph(p, alpha, "exact", time_limit_s=20)
        return
    opt = best_alpha(gt, alpha, graph_norm(p))
    r = solve_graph(p, alpha, "exact", time_limit_s=20)
    assert r.stats["gap"] == 0.0
    assert abs(r.objective - opt) <= RTOL * max(opt, 1e-12)
    assert evaluate_graph(p, r.assignment, alpha).objective == r.objective
    h = solve_graph(p, alpha, "heuristic", time_limit_s=5)
    assert h.stats["lower_bound"] <= opt * (1 + 1e-12) + 1e-15
    assert h.objective >= opt * (1 - RTOL)


@settings(max_examples=15, deadline=None)
@given(graph_problems(max_units=8, counts=((2, 1, 1), (2, 2, 0))), st.sampled_from([0.0, 0.5, 1.0]))
def test_heuristic_bound_holds_when_the_time_limit_cuts_it_short(d, alpha):
    p = problem_from_dict(d)
    gt, feasible = _feasible(p)
    if not feasible:
        return
    opt = best_alpha(gt, alpha, graph_norm(p))
    h = solve_graph(p, alpha, "heuristic", time_limit_s=1e-4)
    assert h.stats["lower_bound"] <= opt * (1 + 1e-12) + 1e-15 <= h.objective * (1 + RTOL) + 1e-15


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph_problems(max_units=6, counts=((1, 1, 1), (2, 1, 0), (1, 1, 0), (1, 0, 0))))
def test_latency_exact_equals_brute_force_over_orders_and_heft_is_never_better(d):
    p = problem_from_dict(d)
    gt, feasible = _feasible(p)
    if not feasible:
        return
    opt = best_latency(gt)
    r = solve_graph(p, 1.0, "exact", objective="latency", time_limit_s=30)
    assert r.stats["gap"] == 0.0
    assert abs(r.latency_s - opt) <= RTOL * max(opt, 1e-12)
    h = solve_graph(p, 1.0, "heuristic", objective="latency")
    assert h.stats["lower_bound"] <= opt * (1 + 1e-12) <= h.latency_s * (1 + 1e-12)
    try:
        heft = solve_graph(p, 1.0, "heft", objective="latency")
    except InfeasibleError:     # HEFT's greedy can fill a device's memory; only memory-limited files do that
        assert any(math.isfinite(m) for m in p.memory_bytes)
        return
    assert heft.latency_s >= opt * (1 - 1e-12)
    assert h.latency_s <= heft.latency_s
    # the reported schedule obeys the stated semantics
    _check_schedule(p, r)


@pytest.mark.parametrize("seed", range(4))
def test_latency_on_six_units_including_orders(seed):
    p = problem_from_dict(graph_dict(6, (1, 1, 0), seed, source_pick=seed, p_edge=0.4))
    gt = GraphTables(p)
    opt = best_latency(gt)
    r = solve_graph(p, 1.0, "exact", objective="latency", time_limit_s=30)
    assert r.stats["gap"] == 0.0 and abs(r.latency_s - opt) <= RTOL * opt


def _check_schedule(p, r):
    eps = 1e-9 * max(r.latency_s, 1e-12)
    units = r.schedule["units"]
    idx = {u: i for i, u in enumerate(p.unit_names)}
    for i, u in enumerate(units):
        t = p.device_type[p.device_index(u["device"])]
        assert math.isclose(u["finish_s"] - u["start_s"], p.time_s[t, i], rel_tol=1e-9, abs_tol=1e-12)
    for dev in p.device_names:      # one unit at a time per device
        iv = sorted((u["start_s"], u["finish_s"]) for u in units if u["device"] == dev)
        assert all(a[1] <= b[0] + eps for a, b in zip(iv, iv[1:]))
    links = {}
    for m in r.schedule["messages"]:
        links.setdefault(frozenset((m["from"], m["to"])), []).append((m["start_s"], m["finish_s"]))
        if m["from_unit"] is not None:
            assert m["start_s"] >= units[idx[m["from_unit"]]]["finish_s"] - eps
    for iv in links.values():      # one message at a time per link
        iv.sort()
        assert all(a[1] <= b[0] + eps for a, b in zip(iv, iv[1:]))
    assert math.isclose(r.latency_s, max(u["finish_s"] for u in units))


@settings(max_examples=25, deadline=None)
@given(graph_problems(max_units=6))
def test_front_is_the_brute_force_front(d):
    p = problem_from_dict(d)
    gt, feasible = _feasible(p)
    if not feasible:
        return
    b, e = evaluate_many(gt, all_assignments(gt.L, gt.D))
    pts = [(x, y) for x, y in zip(b, e) if math.isfinite(x)]
    nondom = sorted({(x, y) for x, y in pts if not any(x2 <= x and y2 <= y and (x2, y2) != (x, y) for x2, y2 in pts)})
    front = graph_front(gt)
    got = [tuple(evaluate_many(gt, a[None, :])[k][0] for k in (0, 1)) for a in front]
    assert got == nondom
    assert len(graph_pareto(p)) == len(nondom)


def test_barrier_decomposition_equals_brute_force():
    from donna_core.partition.graph_latency_dp import applicable, barrier_units, solve_segments
    from donna_core.partition.graph_schedule import schedule
    checked = 0
    for seed in range(30):
        L, counts = ((6, (1, 1, 0)), (5, (2, 1, 0)), (5, (1, 1, 1)))[seed % 3]
        d = graph_dict(L, counts, seed, source_pick=seed, p_edge=0.7)
        gt = GraphTables(problem_from_dict(d))
        if not applicable(gt) or len(barrier_units(gt)[0]) == gt.L:
            continue
        opt = best_latency(gt)
        a, uk, mk, value, lower, proved = solve_segments(gt, 60)
        assert proved
        assert lower <= opt * (1 + 1e-9)
        assert abs(schedule(gt, a, uk, mk).latency_s - opt) <= RTOL * opt
        assert abs(value - opt) <= RTOL * opt
        checked += 1
    assert checked >= 8
