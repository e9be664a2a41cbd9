"""The exact solver's parts keep their contracts: the tables it allocates have the shapes the size guard counts
(one list, ``exact_sizes.exact_arrays``), a label has the fields the guard prices, the DPs take their weights as
arguments (the shared context is left as it was), and every bound the search is given is a ``LabelBound``."""
from dataclasses import fields

import numpy as np
import pytest

from donna_core.partition import guard
from donna_core.partition.costs import Tables, evaluate, norm_constants
from donna_core.partition.exact import exact_front, exact_optimum
from donna_core.partition.exact_bounds import LabelBound, front_bound, objective_bound
from donna_core.partition.exact_context import SolverContext
from donna_core.partition.exact_dp import dense_dp, weighted_plan
from donna_core.partition.exact_labels import Labels
from donna_core.partition.exact_sizes import ITEM, exact_arrays
from donna_core.partition.problem import problem_from_dict
from donna_core.partition.synthetic import random_problem


@pytest.fixture(scope="module")
def ctx():
    return SolverContext(Tables(problem_from_dict(random_problem(12, 4, 3, distinct_links=True))))


def test_allocated_tables_have_the_shapes_the_guard_counts(ctx):
    cl, p = ctx.cl, ctx.p
    listed = exact_arrays(cl.M, cl.K, p.time_s.shape[0], p.L, 0.5)
    P, S, code, pj, pa = dense_dp(ctx, "energy_b")
    assert {a.shape for a in (P, S, code, pj, pa)} == {listed["dp tables"][1]}
    assert listed["dp tables"][0] == 5
    assert ctx.b_rest.shape == ctx.e_rest_r.shape == listed["completion tables"][1]
    assert ctx.e_rest_rb.shape == listed["completion by class"][1]
    n, (M, L1) = listed["joint bound tables"]
    assert ctx.energy_under(np.linspace(0.1, 1.0, n)).shape == (n, M, L1)


def test_a_label_costs_what_the_guard_prices():
    assert guard.LABEL_BYTES == len(fields(Labels)) * ITEM
    lab = Labels(*(np.arange(3) for _ in fields(Labels)))
    assert len(lab.take(np.array([True, False, True]))) == 2
    assert len(Labels.concat([lab, lab.take([0])])) == 4


def test_weighted_plan_leaves_the_context_unchanged(ctx):
    norm = norm_constants(ctx.p)
    before = dict(vars(ctx))
    a = weighted_plan(ctx.tb, ctx, 0.3, norm)
    b = weighted_plan(ctx.tb, ctx, 0.7, norm)
    assert vars(ctx).keys() == before.keys()
    assert all(vars(ctx)[k] is v for k, v in before.items() if not k.startswith("_"))
    assert a and b


def test_bounds_are_label_bounds_and_the_interface_agrees_with_itself(ctx):
    norm = norm_constants(ctx.p)
    assert isinstance(front_bound(1.0, 1.0), LabelBound)
    assert isinstance(objective_bound(0.5, norm, 1.0), LabelBound)
    front = exact_front(ctx.tb, norm)
    for alpha, point in ((1.0, front[0]), (0.0, front[-1])):     # the front's two ends are the two optima
        plan, stats = exact_optimum(ctx.tb, alpha, norm)
        assert stats == {"gap": 0.0}
        r = evaluate(ctx.p, plan, alpha, tables=ctx.tb, norm=norm)
        assert (r.bottleneck_s, r.energy_j) == pytest.approx(point[:2], rel=1e-12)
    plan, stats = exact_optimum(ctx.tb, 0.5, norm)
    assert stats["front_size"] >= 1 and stats["labels"] >= 1
