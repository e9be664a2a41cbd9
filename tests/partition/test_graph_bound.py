"""The message-aware lower bound against brute force over every assignment of small random DAGs."""
import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .brute import best_alpha
from .graphs import graph_dict, graph_problems
from donna_core.partition.graph_bound import _balance, _row_duals, dual_value, message_bound, message_lp
from donna_core.partition.graph_costs import GraphTables, all_assignments, evaluate_many, graph_norm
from donna_core.partition.graph_heuristic import lp_alpha_bound
from donna_core.partition.graph_solve import solve_graph
from donna_core.partition.problem import problem_from_dict

SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _setup(d, alpha):
    p = problem_from_dict(d)
    gt, norm = GraphTables(p), graph_norm(p)
    b, _ = evaluate_many(gt, all_assignments(gt.L, gt.D))
    if not np.isfinite(b).any():
        return None
    return p, gt, norm, best_alpha(gt, alpha, norm)


@SLOW
@given(graph_problems(max_units=7), st.sampled_from([0.0, 0.5, 1.0]), st.sampled_from([1e-4, 0.05, 5.0]))
def test_message_bound_never_exceeds_the_optimum(d, alpha, limit):
    s = _setup(d, alpha)
    if s is None:
        return
    p, gt, norm, opt = s
    # the cap may be any plan's objective; the optimum's is the tightest the bound may use
    bound = message_bound(gt, alpha, norm, opt, limit)
    assert bound <= opt * (1 + 1e-12) + 1e-15


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph_problems(max_units=6), st.sampled_from([0.0, 0.5, 1.0]), st.integers(0, 10_000))
def test_any_multipliers_give_a_valid_bound(d, alpha, seed):
    """Weak duality: the certificate does not depend on how well the LP was solved."""
    s = _setup(d, alpha)
    if s is None:
        return
    p, gt, norm, opt = s
    m, X, _ = message_lp(gt, alpha, norm, opt)
    rng = np.random.default_rng(seed)
    pi = rng.normal(0, rng.choice([0.01, 1.0, 100.0]), len(m.rlo))
    assert dual_value(m, pi) <= opt * (1 + 1e-12) + 1e-15
    assert dual_value(m, pi, X, np.arange(gt.L)) <= opt * (1 + 1e-12) + 1e-15


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph_problems(max_units=7), st.sampled_from([0.0, 0.5, 1.0]), st.sampled_from([1e-6, 1e-3, 0.02]))
def test_multipliers_of_an_lp_solve_cut_short_give_a_valid_bound(d, alpha, limit):
    """The LP solver stopped by its time limit (message_bound itself skips so short a solve)."""
    s = _setup(d, alpha)
    if s is None:
        return
    p, gt, norm, opt = s
    m, X, aux = message_lp(gt, alpha, norm, opt)
    pi = _row_duals(m, limit, alpha)  # alpha picks the LP solver: both are cut short here
    if pi is not None:
        assert dual_value(m, _balance(m, aux, pi), X, np.arange(gt.L)) <= opt * (1 + 1e-12) + 1e-15


def test_the_message_bound_is_tighter_than_the_message_free_bound_when_messages_dominate():
    """Two units joined by a huge edge; a cheap device that can hold only the first: the message-free bound puts
    it there, the message-aware bound sees that this sends the edge, so both units on the dear device is optimal."""
    d = graph_dict(2, (1, 1, 0), seed=3, source_pick=0)
    d["edges"] = [[0, 1, 1e9]]
    d["units"][0]["weight_bytes"], d["units"][1]["weight_bytes"] = 1.0, 100.0
    d["device_types"]["a"].update(time_s=[1.0, 1.0], energy_j=[10.0, 10.0])
    d["device_types"]["b"].update(time_s=[1.0, 1.0], energy_j=[1.0, 1.0], memory_bytes=10.0)
    p = problem_from_dict(d)
    gt, norm = GraphTables(p), graph_norm(p)
    opt = best_alpha(gt, 0.0, norm)
    free = lp_alpha_bound(gt, 0.0, norm, 5.0)
    aware = message_bound(gt, 0.0, norm, opt, 5.0)
    assert opt == 20.0 / norm["energy_j"]
    assert free < 0.6 * opt
    assert 0.99 * opt <= aware <= opt * (1 + 1e-12)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph_problems(max_units=7, counts=((2, 1, 1), (2, 2, 0))), st.sampled_from([0.0, 0.5, 1.0]))
def test_heuristic_gap_is_certified_with_the_message_bound(d, alpha):
    s = _setup(d, alpha)
    if s is None:
        return
    p, gt, norm, opt = s
    h = solve_graph(p, alpha, "heuristic", time_limit_s=2.0)
    assert h.stats["lower_bound"] <= opt * (1 + 1e-12) + 1e-15
    assert h.objective >= opt * (1 - 1e-6)
    assert math.isclose(h.stats["gap"], max(0.0, (h.objective - h.stats["lower_bound"]) / h.objective),
                        rel_tol=1e-9, abs_tol=1e-15) or h.objective == 0
