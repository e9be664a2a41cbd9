"""The completion bounds the exact search prunes with are lower bounds of every real completion (checked
against every plan of small instances), so pruning with them can never drop an optimal plan."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bruteforce import all_plans
from donna_core.partition.costs import Tables
from donna_core.partition.exact_context import SolverContext
from donna_core.partition.problem import problem_from_dict
from problems import tiny


@st.composite
def small(draw):
    L = draw(st.integers(1, 5))
    counts = draw(st.sampled_from([(1, 1, 1), (2, 1, 0), (2, 2, 0), (3, 1, 0), (2, 1, 1)]))
    types = [t for t, c in zip("abc", counts) if c]
    counts = [c for c in counts if c]
    seed = draw(st.integers(0, 10_000))
    mem = {types[0]: float(draw(st.integers(50, 400)))} if draw(st.booleans()) else None
    return problem_from_dict(tiny(L=L, types=types, counts=counts, seed=seed, memory=mem))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small())
def test_energy_completion_bounds_never_exceed_a_real_completion(p):
    ctx = SolverContext(Tables(p))
    cls_of = {d: c for c, mem in enumerate(ctx.cl.members) for d in mem}
    H = ctx.e_rest_r
    thetas = np.array([0.3, 0.8, 1.5, 4.0])
    Ht = ctx.energy_under(thetas)
    n_checked = 0
    for plan, _ in all_plans(p):
        for n in range(len(plan)):       # the completion made of stages n.. of this plan
            rest = plan[n:]
            r = sum(int(ctx.cl.strides[cls_of[d]]) for d, _, _ in rest)
            j = rest[0][1]
            t = [p.device_type[d] for d, _, _ in rest]
            e = sum(float(ctx.tb.stage_energy(ti, f, l + 1)) for ti, (_, f, l) in zip(t, rest))
            b = max(float(ctx.tb.stage_time(ti, f, l + 1)) for ti, (_, f, l) in zip(t, rest))
            assert H[r, j] <= e * (1 + 1e-12)
            for i, th in enumerate(thetas):
                if b <= th:
                    assert Ht[i, r, j] <= e * (1 + 1e-12)
            n_checked += 1
    # per-vector tables: the bound with more devices left is never larger
    full = ctx.cl.M - 1
    assert np.all(H[full] <= H.min(axis=0) + 0.0) and n_checked > 0
