"""The windowed stage costs see exactly the stages (and the very costs) of the dense tables; the guard refuses
a front too large for the budget at once."""
import time

import numpy as np
import pytest

from donna_core.partition.costs import Tables
from donna_core.partition.guard import SolverSizeError, check
from donna_core.partition.problem import problem_from_dict
from donna_core.partition.stage_windows import dense_tables, end_hi, start_lo
from donna_core.partition.synthetic import random_problem


@pytest.mark.parametrize("seed", range(4))
def test_windows_match_the_dense_tables(seed):
    rng = np.random.default_rng(seed)
    d = random_problem(40, 4, seed)
    for u in d["units"]:
        u["weight_bytes"] = float(rng.integers(0, 100))
    d["device_types"]["gpu"]["memory_bytes"] = 600.0
    d["device_types"]["cim"]["allowed"] = [bool(x) for x in rng.random(40) > 0.2]
    tb = Tables(problem_from_dict(d))
    st, _ = dense_tables(tb)
    k = np.arange(41)
    for t in np.unique(tb.p.device_type):
        fin = np.isfinite(st[t])
        assert (end_hi(tb, t, k) - k == fin.sum(axis=1)).all()
        for thr in (np.inf, float(np.median(st[t][fin]))):
            lo = start_lo(tb, t, k, thr)
            want = np.isfinite(st[t]) & (st[t] <= thr)          # [j, k]
            got = (k[:, None] >= lo[None, :]) & (k[:, None] < k[None, :])
            assert (want == got).all()


def test_guard_refuses_a_ten_thousand_unit_front_at_once():
    d = random_problem(10_000, 2, 7)
    d["devices"] = [{"name": "cpu0", "type": "cpu"}, {"name": "gpu0", "type": "gpu"}]
    p = problem_from_dict(d)
    t0 = time.perf_counter()
    with pytest.raises(SolverSizeError, match="L=10000"):
        check(p, None, "exact", "8G")
    assert time.perf_counter() - t0 < 10
    check(p, 1.0, "exact", "8G")        # alpha = 1 holds no L x L table: well within the budget
