"""The explorer's graph placement: the layered layout against brute-force longest paths, the tables against the
graph cost model and the schedule, the optimality text, and the app at kernel level (a graph model picked: DAG,
device legend, busy times, Gantt for latency; back to a chain model)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from donna_core.experiments import explore as ex
from donna_core.experiments.explore import graph_views as gv
from donna_core.partition.graph_costs import GraphTables, evaluate_graph
from donna_core.partition.graph_schedule import schedule
from donna_core.partition.graph_solve import solve_graph

SETTING = ("randwire_n32_s0/graph", "hb-wcc", (("cpu", 2), ("gpu", 1), ("cim", 1)))


@st.composite
def dags(draw, max_n: int = 9):
    n = draw(st.integers(1, max_n))
    pairs = [(u, v) for u in range(n) for v in range(u + 1, n)]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs))) if pairs else []
    return n, [(u, v, 1) for u, v in sorted(chosen)]


def _longest_path_brute(n: int, edges) -> list[int]:
    """Longest path (in edges) from any unit to each unit, by enumerating every path."""
    succ = {u: [v for a, v, _ in edges if a == u] for u in range(n)}
    best = [0] * n

    def walk(u: int, length: int) -> None:
        best[u] = max(best[u], length)
        for v in succ[u]:
            walk(v, length + 1)

    for s in range(n):
        walk(s, 0)
    return best


@settings(max_examples=150, deadline=None)
@given(dags())
def test_layers_are_longest_paths(g):
    n, edges = g
    assert gv.longest_path_layers(n, edges).tolist() == _longest_path_brute(n, edges)


@settings(max_examples=150, deadline=None)
@given(dags())
def test_layout_is_layered_distinct_centred_and_deterministic(g):
    n, edges = g
    x, y = gv.layered_layout(n, edges)
    x2, y2 = gv.layered_layout(n, list(reversed(edges)))   # edge order does not matter
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert all(x[u] < x[v] for u, v, _ in edges)          # every edge points to a later layer
    assert len({(float(a), float(b)) for a, b in zip(x, y)}) == n
    for layer in np.unique(x):
        ys = np.sort(y[x == layer])
        assert np.isclose(ys.mean(), 0.0)
        assert np.allclose(np.diff(ys), 1.0)


def test_layout_orders_a_layer_by_its_predecessors():
    # layer 1 = {1, 2}; layer 2 = {3 (child of 2), 4 (child of 1)}: 4 sits on 1's side, 3 on 2's
    x, y = gv.layered_layout(5, [(0, 1, 1), (0, 2, 1), (2, 3, 1), (1, 4, 1)])
    assert x.tolist() == [0, 1, 1, 2, 2]
    assert y[1] < y[2] and y[4] < y[3]


@pytest.mark.parametrize("bad", [[(1, 1, 1)], [(2, 1, 1)], [(0, 5, 1)], [(-1, 2, 1)]])
def test_layout_refuses_edges_out_of_order(bad):
    with pytest.raises(ex.ExploreError, match="edges"):
        gv.longest_path_layers(3, bad)


def test_device_colours_follow_roles_and_differ():
    names = ["cpu0", "cpu1", "cpu2", "cpu3", "gpu0", "gpu1", "cim0"]
    roles = {n: n[:3] for n in names}
    c = gv.device_colours(names, roles)
    assert len(set(c.values())) == len(names)
    assert all(c[n] in gv.ROLE_SHADES[roles[n]] for n in names)
    assert gv.device_colours(["x0"], {"x0": "npu"})["x0"] in gv.OTHER_SHADES


def test_model_options_label_graph_models():
    opts = gv.model_options(["googlenet/graph", "resnet152", "gpt2/prefill"])
    assert opts == [("googlenet — graph placement", "googlenet/graph"), ("resnet152", "resnet152"),
                    ("gpt2/prefill", "gpt2/prefill")]
    assert [gv.is_graph_model(v) for _, v in opts] == [True, False, False]


@pytest.fixture(scope="module")
def problem():
    return ex.cached_graph_problem(*SETTING)


def _split_assignment(p):
    """Units alternately on gpu0 and cim0 where the CIM may run them: many messages, one link."""
    gt = GraphTables(p)
    gpu, cim = p.device_index("gpu0"), p.device_index("cim0")
    return gt, [cim if (u % 2 and gt.ok[cim, u]) else gpu for u in range(p.L)]


def test_busy_table_and_bottleneck_agree_with_the_cost_model(problem):
    d, p = problem
    gt, a = _split_assignment(p)
    r = evaluate_graph(p, a, 1.0, gt=gt)
    b = gv.busy_table(r, d)
    dev = b[b["kind"] == "device"].set_index("name")
    assert list(dev.index) == [x["name"] for x in d["devices"]]
    assert dev["n_units"].sum() == p.L
    for name in dev.index:
        i = p.device_index(name)
        assert np.isclose(dev.loc[name, "busy_s"], gt.time[i, np.asarray(a) == i].sum(), rtol=1e-12)
    links = b[b["kind"] == "link"]
    assert np.isclose(links["busy_s"].sum(), sum(r.link_busy_s.values()), rtol=1e-12) and len(links) == 1
    top = b[b["bottleneck"]]
    assert len(top) >= 1 and np.allclose(top["busy_s"], r.bottleneck_s, rtol=1e-12)
    text = gv.bottleneck_text(r, d)
    want = top.iloc[0]
    assert want["name"] in text and (("compute" in text) == (want["kind"] == "device"))


def test_gantt_bars_are_the_schedule(problem):
    d, p = problem
    gt, a = _split_assignment(p)
    sch = schedule(gt, a, np.arange(p.L, dtype=float))
    sd = sch.to_dict(p, a)
    labels, bars = gv.gantt_bars(sd, p.device_names)
    assert labels == ["gpu0", "cim0", "gpu0 ↔ cim0"]
    units = bars[bars["device"].notna()]
    assert len(units) == p.L and len(bars) == p.L + len(sd["messages"])
    assert all(labels[r] == dev for r, dev in zip(units["row"], units["device"]))
    assert (bars[bars["device"].isna()]["row"] == 2).all()
    assert np.isclose(bars["finish_s"].max(), sch.latency_s, rtol=1e-12)
    assert (bars["finish_s"] >= bars["start_s"]).all()


def _fake(stopped, gap, lb=0.5):
    return SimpleNamespace(stats={"stopped": stopped, "gap": gap, "lower_bound": lb})


def test_optimality_text_says_proved_only_when_proved():
    assert gv.optimality_text(_fake("proved", 0.0), "exact", 5) == "proved optimal (gap 0)"
    t = gv.optimality_text(_fake("HiGHS: Time limit reached", 0.0312), "exact", 5)
    assert t.startswith("not proven optimal within the 5 s time limit") and "3.12%" in t
    t = gv.optimality_text(_fake("local optimum", 0.0, 0.002), "heuristic", 5, "latency")
    assert not t.startswith("proved") and "0.00%" in t and "2 ms" in t
    assert "HEFT" in gv.optimality_text(_fake("x", 0.2), "heft", 5)


@pytest.mark.parametrize("objective,solver", [("alpha", "heft"), ("latency", "heuristic")])
def test_graph_plan_view_matches_the_solver(problem, objective, solver):
    d, p = problem
    v = ex.graph_plan_view(SETTING[0], SETTING[1], 2, 1, 1, 0.5, objective, solver, 5.0)
    r = solve_graph(p, 0.5, solver, objective=objective, time_limit_s=5.0)
    assert v["assignment"] == r.assignment
    s = v["summary"]
    assert np.isclose(s["energy_j"], evaluate_graph(p, r.assignment, 0.5).energy_j, rtol=1e-12)
    assert np.isclose(s["throughput_ips"], r.throughput_ips, rtol=1e-12)
    assert (v["gantt"] is not None) == (objective == "latency")
    assert (s["latency_s"] is not None) == (objective == "latency")
    assert set(v["colours"]) == set(p.device_names)


def test_graph_plan_view_refuses_chain_models_and_bad_settings():
    with pytest.raises(ex.ExploreError, match="not a graph model"):
        ex.graph_plan_view("vgg8", "hb-wcc", 2, 1, 1, 0.5)
    with pytest.raises(ex.ExploreError, match="objective"):
        ex.graph_plan_view(SETTING[0], "hb-wcc", 2, 1, 1, 0.5, objective="energy")
    with pytest.raises(ex.ExploreError, match="graph solver"):
        ex.graph_plan_view(SETTING[0], "hb-wcc", 2, 1, 1, 0.5, solver="paper")


def test_exact_view_reports_proof_or_gap(problem):
    """α = 0.5 on RandWire-32 is proved within a second here; with a time limit too short to prove it the view
    says so and gives the gap, never "optimal"."""
    v = ex.graph_plan_view(SETTING[0], SETTING[1], 2, 1, 1, 0.5, "alpha", "exact", 30.0)
    assert v["summary"]["optimality"] == "proved optimal (gap 0)"
    cut = ex.graph_plan_view(SETTING[0], SETTING[1], 2, 1, 1, 0.5, "alpha", "exact", 0.05)
    r_gap = cut["summary"]["optimality"]
    if not r_gap.startswith("proved"):
        assert r_gap.startswith("not proven optimal within the 0.05 s time limit") and "certified gap" in r_gap
    assert cut["summary"]["objective"] >= v["summary"]["objective"] * (1 - 1e-9)


def test_app_shows_a_graph_model_with_a_device_legend():
    ui = ex.build_ui(inline=True, model="vgg8")
    graph_only, chain_only = ui.graph.widgets(), ui._chain_only
    assert all(w.layout.display == "none" for w in graph_only)
    labels = dict((v, k) for k, v in ui.model.options)
    assert labels[SETTING[0]] == "randwire_n32_s0 — graph placement"
    ui.graph.solver.value = "heft"
    ui.model.value = SETTING[0]
    assert all(w.layout.display == "none" for w in chain_only)
    assert all(w.layout.display == "" for w in graph_only)
    assert ui.graph.graph_img.value[:8] == b"\x89PNG\r\n\x1a\n" and ui.graph.busy_img.value[:4] == b"\x89PNG"
    legend = ui.graph.legend.value
    for name in ("cpu0", "cpu1", "gpu0", "cim0"):
        assert f"{name} (" in legend
    assert "graph placement" in ui.status.value and "HEFT: certified gap" in ui.status.value
    assert "donna-graph-summary" in ui.summary.value and "units per device" in ui.summary.value
    busy_alpha = ui.graph.busy_img.value
    ui.graph.objective.value = "latency"
    assert "single-inference latency" in ui.summary.value
    assert ui.graph.busy_img.value != busy_alpha          # the Gantt chart is added
    assert ui.alpha.disabled                               # α does not enter the latency objective
    ui.graph.solver.value = "exact"
    ui.graph.objective.value = "alpha"
    assert not ui.alpha.disabled
    ui.alpha.value = 0.5
    assert "proved optimal (gap 0)" in ui.status.value
    ui.model.value = "vgg8"
    assert all(w.layout.display == "" for w in chain_only)
    assert all(w.layout.display == "none" for w in graph_only)
    assert "exact front of" in ui.status.value and ui.plan_img.value[:4] == b"\x89PNG"
    ui.graph.objective.value = "latency"                   # a graph control: no effect on a chain model's α
    assert not ui.alpha.disabled


def test_layers_of_the_bundled_graphs_respect_every_edge():
    for model in ("googlenet/graph", "inception_v3/graph", "resnet50/graph"):
        d, _ = ex.cached_graph_problem(model, "hb-wcc", (("gpu", 1),))
        x, y = ex.layered_layout(len(d["units"]), d["edges"])
        assert all(x[u] < x[v] for u, v, _ in d["edges"])
        assert len(set(zip(x.tolist(), y.tolist()))) == len(d["units"])



def test_a_graph_model_without_its_edges_file_is_one_line(tmp_path):
    """A user's graph profiles without ``edges.csv``: the app shows one error line naming the file, no figures."""
    import shutil

    from donna_core.config import profiles_root

    src = profiles_root() / "randwire_n32_s0" / "graph"
    dst = tmp_path / "mygraph" / "graph"
    dst.mkdir(parents=True)
    for f in src.glob("*.csv"):
        if f.name != "edges.csv":
            shutil.copy(f, dst / f.name)
    ui = ex.build_ui(profiles_dir=str(tmp_path), inline=True, model="mygraph/graph")
    assert "donna-status-error" in ui.status.value and "edges.csv" in ui.status.value
    assert ui.graph.graph_img.value == b"" and ui.graph.legend.value == ""
