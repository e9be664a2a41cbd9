"""Notebook 08's library: the chain built from graph units, the chain latency DP, graph <= chain, determinism."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from donna_core.experiments import graph_study as gs
from donna_core.experiments import result_tables as rt
from donna_core.experiments import scenarios as sc
from donna_core.partition.graph_costs import evaluate_graph
from donna_core.partition.graph_solve import solve_graph
from donna_core.partition.problem import problem_from_dict
from donna_core.partition.solve import solve

SMALL = {"cpu": 1, "cim": 1}


@pytest.fixture(scope="module")
def randwire():
    return gs.load_graph_models(["randwire_n32_s0"])["randwire_n32_s0"]


def test_cut_bytes_counts_each_live_producer_once():
    # 0 -> 1 -> 2 -> 3 with a skip 0 -> 3 and a wider edge 1 -> 3 than 1 -> 2
    edges = [(0, 1, 10), (0, 3, 10), (1, 2, 5), (1, 3, 7), (2, 3, 3)]
    assert gs.cut_bytes(4, edges) == [10.0, 17.0, 20.0, 0.0]
    # with a source, a later input-reading unit makes the input cross the cuts before it
    assert gs.cut_bytes(3, [(0, 2, 4)], 100.0, [0, 1], with_source=True) == [104.0, 4.0, 0.0]


def _brute_chain_latency(p):
    """Every contiguous plan: split points x an ordered choice of distinct devices."""
    best = np.inf
    t = p.time_s[p.device_type]
    for k in range(1, min(p.D, p.L) + 1):
        for cuts in itertools.combinations(range(1, p.L), k - 1):
            bounds = [0, *cuts, p.L]
            for devs in itertools.permutations(range(p.D), k):
                lat = sum(t[d, bounds[i]:bounds[i + 1]].sum() for i, d in enumerate(devs))
                lat += sum(p.link_lat[devs[i], devs[i + 1]]
                           + p.out_bytes[bounds[i + 1] - 1] / p.link_bw[devs[i], devs[i + 1]]
                           for i in range(k - 1))
                best = min(best, lat)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_chain_latency_equals_brute_force(seed, randwire):
    rng = np.random.default_rng(seed)
    prof, edges = randwire
    g = gs.graph_problem_dict(prof, edges, {"cpu": 2, "gpu": 1} if seed % 2 else {"cpu": 1, "cim": 1, "gpu": 1},
                              ["pcie5", "hb-wcc", "lb-wcc"][seed % 3])
    L = 6
    g["units"] = g["units"][:L]
    for spec in g["device_types"].values():
        for key in ("time_s", "energy_j", "allowed"):
            if key in spec:
                spec[key] = spec[key][:L]
        spec["time_s"] = [float(v * rng.uniform(0.2, 5.0)) for v in spec["time_s"]]
    g["edges"] = [e for e in g["edges"] if e[1] < L]
    p = problem_from_dict(gs.chain_problem_dict(g))
    assert gs.chain_latency(p) == pytest.approx(_brute_chain_latency(p), rel=1e-12)


def test_graph_optimum_never_worse_than_chain_optimum(randwire):
    prof, edges = randwire
    g = gs.graph_problem_dict(prof, edges, SMALL, "hb-wcc")
    gp, cp = problem_from_dict(g), problem_from_dict(gs.chain_problem_dict(g))
    for alpha in (1.0, 0.0):
        chain = solve(cp, alpha, "exact")
        # the chain optimum as a graph plan costs no more than in the chain model (skip tensors go directly)
        as_graph = evaluate_graph(gp, gs.chain_assignment(chain.plan(), gp.L), alpha)
        assert as_graph.bottleneck_s <= chain.bottleneck_s * (1 + 1e-12)
        assert as_graph.energy_j <= chain.energy_j * (1 + 1e-12)
        r = solve_graph(gp, alpha, "exact", time_limit_s=60)
        assert r.stats["gap"] == 0.0, r.stats
        if alpha == 1.0:
            assert r.bottleneck_s <= chain.bottleneck_s * (1 + 1e-6)
        else:
            assert r.energy_j <= chain.energy_j * (1 + 1e-6)


def test_tracked_table_is_deterministic(randwire, tmp_path):
    models = {"randwire_n32_s0": randwire}
    clusters = {"2cpu+1gpu+1cim": sc.PAPER_CLUSTERS["2cpu+1gpu+1cim"]}
    a = gs.compare(models, clusters, ["hb-wcc"], progress=False)
    b = gs.compare(models, clusters, ["hb-wcc"], progress=False)
    pa = rt.write_table(a, tmp_path / "a.csv")
    pb = rt.write_table(b, tmp_path / "b.csv")
    assert pa.read_bytes() == pb.read_bytes()
    assert (a["throughput_gain"] >= 1.0).all() and (a["stopped"] == "local optimum").all()
    gs.write_study({"gains": a}, tmp_path)
    assert "graph placement" in gs.study_markdown(tmp_path)
