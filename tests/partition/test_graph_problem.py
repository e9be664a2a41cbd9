"""Graph problem files: validation of ``edges``, the chain written as a graph, and the command line."""
import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from problems import draw_media_extensions, draw_tiny, tiny
from donna_core.partition.costs import evaluate
from donna_core.partition.errors import ProblemError
from donna_core.partition.graph_costs import evaluate_graph
from donna_core.partition.graph_solve import solve_graph
from donna_core.partition.problem import problem_from_dict
from donna_core.partition.solve import solve

from cli_process import run_donna as run

REPO = Path(__file__).resolve().parents[2]


def graph(edges, L=4):
    d = tiny(L=L)
    d["edges"] = edges
    return d


@pytest.mark.parametrize("edges, field", [
    ([[0, 1, 10], [1, 1, 5]], "edges[1]"),                # self loop (u >= v)
    ([[0, 2, 10], [2, 1, 5]], "edges[1]"),                # backwards: a cycle needs one
    ([[0, 9, 10]], "edges[0][1]"),                        # unknown unit
    ([[-1, 2, 10]], "edges[0][0]"),
    ([[0, 1, -3]], "edges[0][2]"),                        # negative bytes
    ([[0, 1, float("nan")]], "edges[0][2]"),
    ([[0, 1, "8"]], "edges[0][2]"),
    ([[0, 1, 10], [0, 1, 20]], "edges[1]"),               # duplicate
    ([[0, 1]], "edges[0]"),
    ("0-1", "edges"),
    ([[0.5, 1, 10]], "edges[0][0]"),
])

def test_bad_edges_name_the_field(edges, field):
    with pytest.raises(ProblemError) as exc:
        problem_from_dict(graph(edges))
    assert str(exc.value).startswith(field + ":")


def test_edge_costs_beyond_comparison_are_refused():
    d = graph([[0, 1, 1e299], [1, 2, 1e299]])
    d["media"]["m1"]["bandwidth_Bps"] = 1e-12
    with pytest.raises(ProblemError, match=r'^media\["m1"\]'):
        problem_from_dict(d)


def test_out_bytes_optional_only_with_edges():
    d = graph([[0, 1, 10], [0, 2, 20], [1, 3, 5], [2, 3, 5]])
    for u in d["units"]:
        del u["out_bytes"]
    p = problem_from_dict(d)
    assert p.graph.E == 4 and list(p.graph.input_units) == [0]
    del d["edges"]
    with pytest.raises(ProblemError, match=r"units\[0\].*out_bytes"):
        problem_from_dict(d)


@st.composite
def chain_and_plan(draw):
    d, rng = draw_tiny(draw)
    draw_media_extensions(draw, d, rng)     # time curves, shared media, CPU costs: any mix, or none
    L, D = len(d["units"]), len(d["devices"])
    k = draw(st.integers(1, min(L, D)))
    cuts = sorted(rng.choice(np.arange(1, L), size=k - 1, replace=False).tolist()) if k > 1 else []
    devs = rng.permutation(D)[:k].tolist()
    bounds = [0, *cuts, L]
    plan = [(int(devs[i]), bounds[i], bounds[i + 1] - 1) for i in range(k)]
    return d, plan


@settings(max_examples=150, deadline=None)
@given(chain_and_plan(), st.sampled_from([0.0, 0.3, 1.0]))
def test_chain_written_as_edges_costs_what_the_chain_model_says(dp, alpha):
    d, plan = dp
    g = copy.deepcopy(d)
    g["edges"] = [[l, l + 1, d["units"][l]["out_bytes"]] for l in range(len(d["units"]) - 1)]
    pc, pg = problem_from_dict(d), problem_from_dict(g)
    rc = evaluate(pc, plan, alpha)
    assign = [dev for dev, first, last in plan for _ in range(first, last + 1)]
    rg = evaluate_graph(pg, assign, alpha)
    for x, y in [(rc.bottleneck_s, rg.bottleneck_s), (rc.energy_j, rg.energy_j), (rc.objective, rg.objective),
                 (rc.norm["time_s"], rg.norm["time_s"]), (rc.norm["energy_j"], rg.norm["energy_j"])]:
        assert abs(x - y) <= 1e-12 * max(abs(x), 1e-300)


@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from([0.0, 0.5, 1.0]))
def test_graph_optimum_never_worse_than_chain_optimum(data, alpha):
    d, rng = draw_tiny(data.draw)
    draw_media_extensions(data.draw, d, rng)
    g = copy.deepcopy(d)
    g["edges"] = [[l, l + 1, d["units"][l]["out_bytes"]] for l in range(len(d["units"]) - 1)]
    rc = solve(problem_from_dict(d), alpha, "exact")
    rg = solve_graph(problem_from_dict(g), alpha, "exact", time_limit_s=20)
    assert rg.objective <= rc.objective * (1 + 1e-6)


def test_cli_graph_solve_json_and_bad_edges(tmp_path):
    d = graph([[0, 1, 10], [0, 2, 20], [1, 3, 5], [2, 3, 5]])
    f = tmp_path / "g.json"
    f.write_text(json.dumps(d))
    r = run("solve", f, "--json", "--alpha", "0.5")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["assignment"]) == 4 and out["gap"] == 0.0
    assert {"bottleneck_s", "throughput_ips", "energy_j", "objective", "norm"} <= set(out)
    r = run("solve", f, "--json", "--objective", "latency")
    out = json.loads(r.stdout)
    assert r.returncode == 0 and out["latency_s"] > 0 and len(out["schedule"]["units"]) == 4
    assert max(u["finish_s"] for u in out["schedule"]["units"]) == out["latency_s"]
    r = run("pareto", f, "--json")
    assert r.returncode == 0 and len(json.loads(r.stdout)["front"]) >= 1
    d["edges"].append([3, 1, 5])
    f.write_text(json.dumps(d))
    r = run("solve", f)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "edges[4]" in r.stderr and "Traceback" not in r.stderr


def test_chain_solve_does_not_import_highspy(tmp_path):
    f = tmp_path / "p.json"
    f.write_text(json.dumps(tiny(L=4, counts=(2, 1))))
    probe = ("import contextlib, io, sys\nfrom donna_core.cli.main import main\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n    code = main(sys.argv[1:])\n"
             "print(code, 'highspy' in sys.modules)")
    for args in (["solve", f], ["solve", f, "--alpha", "0.5"], ["pareto", f]):
        r = subprocess.run([sys.executable, "-c", probe, *map(str, args)], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
        assert r.stdout.split() == ["0", "False"], r.stderr
    g = tmp_path / "g.json"     # the probe can see it: a graph solve does import it
    d = tiny(L=3)
    d["edges"] = [[0, 1, 1.0]]
    g.write_text(json.dumps(d))
    r = subprocess.run([sys.executable, "-c", probe, "solve", str(g)], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert r.stdout.split() == ["0", "True"], r.stderr


def test_latency_objective_needs_a_graph(tmp_path):
    f = tmp_path / "p.json"
    f.write_text(json.dumps(tiny(L=3)))
    r = run("solve", f, "--objective", "latency")
    assert r.returncode == 2 and "graph problem" in r.stderr
