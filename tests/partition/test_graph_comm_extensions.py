"""Graph problems with time curves, shared media and message CPU costs (alpha-objective): the cost model, the
exact MILP, the heuristic and its bounds, and the front against a brute force that reads the problem dict."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bruteforce import reference_graph_cost, reference_graph_plans
from cli_process import run_donna as run
from problems import CURVE, draw_media_extensions
from .graphs import graph_dict, graph_problems
from donna_core.partition.graph_bound import message_bound
from donna_core.partition.graph_costs import (GraphTables, all_assignments, evaluate_graph, evaluate_many,
                                              graph_norm)
from donna_core.partition.graph_milp import alpha_milp
from donna_core.partition.graph_solve import graph_pareto, solve_graph
from donna_core.partition.problem import problem_from_dict

RTOL = 1e-6     # HiGHS proves optimality to a relative gap of 1e-6
# at most 4 devices and 6 units: 4^6 = 4096 assignments for the brute force
COUNTS = ((1, 1, 1), (2, 1, 0), (2, 1, 1), (1, 1, 0), (2, 2, 0))
MILP_ATOL = 1e-5
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def extended_graphs(draw, max_units=6):
    d = draw(graph_problems(max_units=max_units, counts=COUNTS))
    return draw_media_extensions(draw, d, np.random.default_rng(draw(st.integers(0, 10_000))))


def brute(d, p, alpha):
    """(optimal objective, every feasible (bottleneck, energy)) from the reference reading of the dict."""
    norm = graph_norm(p)
    pts = [be for _, be in reference_graph_plans(d)]
    obj = [alpha * b / norm["time_s"] + (1 - alpha) * e / norm["energy_j"] for b, e in pts]
    return min(obj, default=math.inf), pts


@settings(max_examples=80, deadline=None)
@given(extended_graphs())
def test_costs_match_the_reference(d):
    p = problem_from_dict(d)
    gt = GraphTables(p)
    A = all_assignments(gt.L, gt.D)[:300]
    b, e = evaluate_many(gt, A)
    for row, bi, ei in zip(A, b, e):
        want = reference_graph_cost(d, [p.device_names[x] for x in row])
        if want is None:
            assert not math.isfinite(bi)
            continue
        r = evaluate_graph(p, row)
        for got in ((r.bottleneck_s, r.energy_j), (bi, ei)):
            assert got[0] == pytest.approx(want[0], rel=1e-9, abs=1e-15)
            assert got[1] == pytest.approx(want[1], rel=1e-9, abs=1e-15)
        out = r.to_dict()
        assert ("shared_busy_s" in out) == p.has_shared
        assert ("device_message_cpu_s" in out) == p.has_cpu_cost
        if p.has_shared:
            assert max(out["shared_busy_s"].values()) <= r.bottleneck_s


@SLOW
@given(extended_graphs(), st.sampled_from([0.0, 0.5, 1.0]))
def test_exact_equals_brute_force_and_heuristic_is_bracketed(d, alpha):
    p = problem_from_dict(d)
    opt, _ = brute(d, p, alpha)
    if not math.isfinite(opt):
        return
    gt, norm = GraphTables(p), graph_norm(p)
    # the MILP's own objective is the plan's true cost (not only the plan re-evaluated afterwards), up to
    # HiGHS's integrality tolerance (1e-6 per indicator, times O(1) coefficients)
    a, out = alpha_milp(gt, alpha, norm, 20)
    assert out.proved and abs(out.objective - opt) <= MILP_ATOL
    assert out.bound <= opt * (1 + RTOL) + 1e-9
    r = solve_graph(p, alpha, "exact", time_limit_s=20)
    assert r.stats["gap"] == 0.0
    assert abs(r.objective - opt) <= RTOL * max(opt, 1e-12)
    h = solve_graph(p, alpha, "heuristic", time_limit_s=5)
    assert h.stats["lower_bound"] <= opt * (1 + 1e-12) + 1e-15
    assert h.objective >= opt * (1 - 1e-12)
    assert message_bound(gt, alpha, norm, h.objective, 5.0) <= opt * (1 + 1e-12) + 1e-15


@pytest.mark.parametrize("counts", [(2, 1, 0), (2, 2, 0), (1, 1, 1)])
def test_exact_on_busy_shared_media(counts):
    """Every link on one of two shared media and messages as long as the units' compute: the media's sums set
    the optimum often (counted, so the test cannot pass without exercising them)."""
    binding = 0
    for seed in range(12):
        d = graph_dict(5, counts, seed, source_pick=seed, p_edge=0.5, links_pair=True)
        d["edges"] = [[u, v, 4 * b] for u, v, b in d["edges"]]
        for m in ("m1", "m2"):
            d["media"][m]["shared"] = True
        d["media"]["m2"]["time_curve"] = CURVE
        p = problem_from_dict(d)
        gt, norm = GraphTables(p), graph_norm(p)
        for alpha in (0.5, 1.0):
            opt, _ = brute(d, p, alpha)
            a, out = alpha_milp(gt, alpha, norm, 20)
            assert out.proved and abs(out.objective - opt) <= MILP_ATOL
            r = evaluate_graph(p, a, alpha)
            assert abs(r.objective - opt) <= RTOL * opt
            binding += max(r.shared_busy_s.values()) >= max(r.device_busy_s.values())
            h = solve_graph(p, alpha, "heuristic", time_limit_s=5)
            assert h.stats["lower_bound"] <= opt * (1 + 1e-12) <= h.objective * (1 + 1e-12)
    assert binding >= 1


@settings(max_examples=25, deadline=None)
@given(extended_graphs(), st.sampled_from([0.0, 0.5, 1.0]), st.sampled_from([1e-4, 1e-3, 0.02]))
def test_bounds_hold_when_the_time_limit_cuts_the_search_short(d, alpha, limit):
    p = problem_from_dict(d)
    opt, _ = brute(d, p, alpha)
    if not math.isfinite(opt):
        return
    gt, norm = GraphTables(p), graph_norm(p)
    a, out = alpha_milp(gt, alpha, norm, limit)
    assert out.bound <= opt * (1 + RTOL) + 1e-9
    if a is not None:
        assert evaluate_graph(p, a, alpha).objective >= opt * (1 - 1e-12)
    for solver in ("exact", "heuristic"):
        r = solve_graph(p, alpha, solver, time_limit_s=limit)
        assert r.stats["lower_bound"] <= opt * (1 + RTOL) + 1e-15 <= r.objective * (1 + RTOL) + 2e-15


@settings(max_examples=30, deadline=None)
@given(extended_graphs(max_units=5))
def test_front_is_the_brute_force_front(d):
    p = problem_from_dict(d)
    _, pts = brute(d, p, 1.0)
    if not pts:
        return
    want, best = [], math.inf
    for b, e in sorted(pts):
        if e < best * (1 - 1e-12):
            want.append((b, e))
            best = e
    got = [(r.bottleneck_s, r.energy_j) for r in graph_pareto(p)]
    assert len(got) == len(want)
    for (b, e), (wb, we) in zip(got, want):
        assert b == pytest.approx(wb, rel=1e-9, abs=1e-15) and e == pytest.approx(we, rel=1e-9, abs=1e-15)


def test_norm_with_a_curve_sums_each_medium_over_the_edges():
    from donna_core.partition.media import message_time
    d = graph_dict(4, (2, 1, 0), 3, source_pick=1, p_edge=0.7, links_pair=True)   # a0-b0 on m2, source a0
    d["media"]["m2"]["time_curve"] = CURVE
    p = problem_from_dict(d)
    nb = np.array([e[2] for e in d["edges"]])
    assert len(nb) and p.link_medium[0][2] == "m2" and p.link_medium[0][1] == "m1"
    comm = max(float(np.sum(nb / 1000.0)), float(np.sum(message_time(p.media["m2"], nb))))
    comm += max(700 / 1000.0, float(message_time(p.media["m2"], 700.0)))
    comp_t = max(sum(t["time_s"]) for t in d["device_types"].values())
    assert graph_norm(p)["time_s"] == pytest.approx(comp_t + comm, rel=1e-12)
    # sharing and CPU costs leave the constants alone
    d2 = json.loads(json.dumps(d))
    d2["media"]["m1"]["shared"] = True
    d2["media"]["m1"]["cpu"] = {"a": {"send_s": 1.0}}
    assert graph_norm(problem_from_dict(d2)) == graph_norm(p)


def _cli_problem():
    d = graph_dict(5, (2, 1, 0), 11, source_pick=1, p_edge=0.6, links_pair=True)
    d["media"]["m1"].update(shared=True, cpu={"a": {"send_s": 0.05, "recv_s_per_byte": 1e-4}})
    d["media"]["m2"].update(time_curve=CURVE, cpu={"b": {"recv_s": 0.1}})
    return d


def test_cli_solve_and_pareto_on_a_problem_with_every_extension(tmp_path):
    d = _cli_problem()
    f = tmp_path / "g.json"
    f.write_text(json.dumps(d))
    p = problem_from_dict(d)
    for alpha in ("0", "0.5", "1"):
        opt, _ = brute(d, p, float(alpha))
        for solver in ("exact", "heuristic"):
            r = run("solve", f, "--json", "--alpha", alpha, "--solver", solver)
            assert r.returncode == 0, r.stderr
            out = json.loads(r.stdout)
            want = reference_graph_cost(d, out["assignment"])
            assert out["bottleneck_s"] == pytest.approx(want[0], rel=1e-12)
            assert out["energy_j"] == pytest.approx(want[1], rel=1e-12)
            assert set(out["shared_busy_s"]) == {"m1"} and set(out["device_message_cpu_s"]) <= {"a0", "a1", "b0"}
            if solver == "exact":
                assert out["gap"] == 0.0 and out["objective"] == pytest.approx(opt, rel=RTOL)
            else:
                assert out["objective"] >= opt * (1 - 1e-12)
    r = run("solve", f, "--alpha", "0.5")
    assert r.returncode == 0 and "shared medium m1: busy" in r.stdout and "message CPU (in busy):" in r.stdout
    r = run("pareto", f, "--json")
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["front"]) == len(graph_pareto(p))
    # the same file under the latency objective and a latency cap (their rule: tests/partition/brute_comm.py)
    r = run("solve", f, "--objective", "latency", "--json")
    assert r.returncode == 0, r.stderr
    lat = json.loads(r.stdout)["latency_s"]
    r = run("solve", f, "--alpha", "0.5", "--max-latency", repr(lat * 1.5), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["latency_s"] <= lat * 1.5 * (1 + 1e-6)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(extended_graphs(), st.sampled_from([0.0, 0.5, 1.0]), st.integers(0, 10_000))
def test_message_relaxation_is_below_every_plan(d, alpha, seed):
    """The message-aware relaxation is a relaxation under curves, sharing and CPU costs: with x fixed to any
    plan its value is at most the plan's objective (read from the dict), so its optimum and the weak-duality value
    of any multipliers are at most the brute-force optimum."""
    from donna_core.partition.graph_bound import dual_value, message_lp
    p = problem_from_dict(d)
    opt, _ = brute(d, p, alpha)
    if not math.isfinite(opt) or p.D < 2:
        return
    gt, norm = GraphTables(p), graph_norm(p)
    m, X, _ = message_lp(gt, alpha, norm, opt)
    out = m.solve(20)
    assert out.status == "Optimal" and out.objective <= opt * (1 + 1e-7) + 1e-9
    rng = np.random.default_rng(seed)
    pi = rng.normal(0, 1.0, len(m.rlo))
    assert dual_value(m, pi, X, np.arange(gt.L)) <= opt * (1 + 1e-12) + 1e-15
    _relaxation_below_plans(d, p, alpha, rng, 15)


def _relaxation_below_plans(d, p, alpha, rng, n):
    """With x fixed to each of ``n`` random plans, the relaxation's value is at most the plan's objective."""
    from donna_core.partition.graph_bound import message_lp
    gt, norm = GraphTables(p), graph_norm(p)
    m, X, _ = message_lp(gt, alpha, norm, 1.0)
    plans = list(reference_graph_plans(d))
    lb0, ub0 = list(m.lb), list(m.ub)
    for i in rng.permutation(len(plans))[:n]:
        assign, (b, e) = plans[i]
        m.lb, m.ub = list(lb0), list(ub0)
        if alpha > 0:   # B (the column after x) is capped at 1 / alpha; this plan's B may be above it
            m.ub[X.size] = max(ub0[X.size], b / norm["time_s"])
        for u, name in enumerate(assign):
            for dev in range(gt.D):
                m.lb[X[u, dev]] = m.ub[X[u, dev]] = float(dev == p.device_index(name))
        want = alpha * b / norm["time_s"] + (1 - alpha) * e / norm["energy_j"]
        got = m.solve(20)
        assert got.status == "Optimal" and got.objective <= want * (1 + 1e-7) + 1e-9


@pytest.mark.parametrize("counts", [(2, 1, 0), (1, 1, 1)])
def test_message_relaxation_with_dear_receives_and_shared_media(counts):
    """Every link shared (one medium with a curve), receive CPU dear: the relaxation's terms for them bind (it is
    above the relaxation of the same problem with independent, free-receiving media in most cases) and it stays
    below every plan."""
    from donna_core.partition.graph_bound import message_lp
    tighter = 0
    for seed in range(8):
        d = graph_dict(5, counts, seed, source_pick=seed, p_edge=0.6, links_pair=True)
        d["edges"] = [[u, v, 4 * b] for u, v, b in d["edges"]]
        plain = json.loads(json.dumps(d))
        d["media"]["m1"].update(shared=True, cpu={"a": {"recv_s": 0.4}, "b": {"recv_s": 0.4}})
        d["media"]["m2"].update(shared=True, time_curve=CURVE)
        p = problem_from_dict(d)
        gt, norm = GraphTables(p), graph_norm(p)
        for alpha in (0.5, 1.0):
            opt, _ = brute(d, p, alpha)
            lp = message_lp(gt, alpha, norm, opt)[0].solve(20).objective
            assert lp <= opt * (1 + 1e-7)
            lp0 = message_lp(GraphTables(problem_from_dict(plain)), alpha, norm, opt)[0].solve(20).objective
            tighter += lp > lp0 * (1 + 1e-6)
            _relaxation_below_plans(d, p, alpha, np.random.default_rng(seed), 40)
    assert tighter >= 8


@settings(max_examples=40, deadline=None)
@given(extended_graphs(), st.sampled_from([0.0, 0.5, 1.0]), st.integers(0, 10_000))
def test_incremental_moves_cost_what_the_model_says(d, alpha, seed):
    """The heuristic's move-by-move bookkeeping equals the cost model recomputed from scratch."""
    from donna_core.partition.graph_heuristic import AlphaState
    p = problem_from_dict(d)
    gt, norm = GraphTables(p), graph_norm(p)
    b, _ = evaluate_many(gt, all_assignments(gt.L, gt.D))
    feas = np.nonzero(np.isfinite(b))[0]
    if not len(feas):
        return
    rng = np.random.default_rng(seed)
    state = AlphaState(gt, all_assignments(gt.L, gt.D, int(feas[0]), int(feas[0]) + 1)[0], alpha, norm)
    for _ in range(10):
        r = state.try_move([int(rng.integers(gt.L))], int(rng.integers(gt.D)))
        if r is None:
            continue
        state.apply(*r)
        want = evaluate_graph(p, state.a, alpha)
        assert state.obj == pytest.approx(want.objective, rel=1e-9, abs=1e-12)


def test_chain_as_graph_charges_the_input_as_the_chain_does():
    """A dear send and receive CPU on every type: the source pays nothing for the input, the first stage pays its
    receive; a contiguous plan costs what the chain model says, item by item."""
    import copy
    from problems import tiny
    from donna_core.partition.costs import evaluate
    d = tiny(L=4, types=("a", "b"), counts=(2, 1), links="m1", source="a0", seed=5)
    d["media"]["m1"].update(time_curve=CURVE, shared=True, cpu={t: {"send_s": 3.0, "recv_s": 0.7,
                                                                    "send_s_per_byte": 1e-3} for t in "ab"})
    g = copy.deepcopy(d)
    g["edges"] = [[l, l + 1, d["units"][l]["out_bytes"]] for l in range(3)]
    pc, pg = problem_from_dict(d), problem_from_dict(g)
    for plan in ([(1, 0, 1), (2, 2, 3)], [(0, 0, 0), (2, 1, 3)], [(2, 0, 3)], [(1, 0, 3)]):
        rc = evaluate(pc, plan, 0.5)
        rg = evaluate_graph(pg, [dev for dev, f, last in plan for _ in range(f, last + 1)], 0.5)
        assert rg.bottleneck_s == pytest.approx(rc.bottleneck_s, rel=1e-12)
        assert rg.objective == pytest.approx(rc.objective, rel=1e-12)
        assert rg.shared_busy_s == pytest.approx(rc.to_dict()["shared_busy_s"], rel=1e-12)
        want = reference_graph_cost(g, rg.assignment)
        assert (rg.bottleneck_s, rg.energy_j) == pytest.approx(want, rel=1e-12)
