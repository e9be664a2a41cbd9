"""Graph plans: the prediction against an independent reference of the graph cost model, chain consistency,
and a real run on 2 processes whose outputs equal the single-process model."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from donna_core.partition.costs import evaluate
from donna_core.partition.problem import problem_from_dict
from donna_core.runtime.graph_run import (GraphRunError, build_graph_run_spec, messages, predict_graph_plan,
                                          run_graph_plan, split_graph_problem)

ROOT = Path(__file__).resolve().parents[2]


def reference_bottleneck(times, assignment, edges, bw, lat):
    """The issue's throughput cost model, written out independently: device busy = sum of its unit times; one
    message per (u, destination device) of the largest edge bytes; a link (unordered pair) carries them all."""
    busy = {}
    for i, d in enumerate(assignment):
        busy[d] = busy.get(d, 0.0) + times[i]
    msg = {}
    for u, v, b in edges:
        if assignment[u] != assignment[v]:
            msg[(u, assignment[v])] = max(msg.get((u, assignment[v]), 0), b)
    link = {}
    for (u, d), b in msg.items():
        key = frozenset((assignment[u], d))
        link[key] = link.get(key, 0.0) + lat + b / bw
    return max(list(busy.values()) + list(link.values()))


def graph_problem(names, times, edges, weight_bytes=None, medium="pcie5"):
    return {"name": "test graph", "units": [{"name": n, "weight_bytes": w}
                                            for n, w in zip(names, weight_bytes or [0] * len(names))],
            "input_bytes": 1000.0, "device_types": {"cpu-host": {"time_s": list(times), "energy_j": list(times)}},
            "devices": [{"name": "cpu0", "type": "cpu-host"}, {"name": "cpu1", "type": "cpu-host"}],
            "links": medium, "edges": [list(e) for e in edges]}


def test_prediction_matches_the_reference_cost_model():
    edges = [(0, 1, 400), (0, 2, 300), (1, 3, 100), (2, 3, 900), (0, 3, 50), (3, 4, 10)]
    times = [1e-3, 2e-3, 3e-3, 0.5e-3, 0.1e-3]
    p, e = split_graph_problem(graph_problem([f"u{i}" for i in range(5)], times, edges, medium="hb-wcc"))
    for assignment in (["cpu0", "cpu1", "cpu0", "cpu1", "cpu1"], ["cpu0"] * 5,
                       ["cpu1", "cpu0", "cpu1", "cpu0", "cpu0"]):
        pred = predict_graph_plan(p, e, assignment)
        assert pred["bottleneck_s"] == pytest.approx(reference_bottleneck(times, assignment, e, 1e9, 0.0), rel=1e-12)
    # unit 0's two edges into cpu1 (to units 1 and 3) are one message of the larger size (400 bytes)
    assert messages(["cpu0", "cpu1", "cpu0", "cpu1", "cpu1"], e) == [(0, "cpu1", 400), (2, "cpu1", 900)]
    # latency: unit 0 (1 ms) -> its message to cpu1 (400 ns) -> unit 1 (2 ms) on cpu1; unit 2 (3 ms) on cpu0
    # ends at 4 ms, its message (900 ns) arrives after the link is free -> unit 3, then unit 4
    pred = predict_graph_plan(p, e, ["cpu0", "cpu1", "cpu0", "cpu1", "cpu1"])
    assert pred["latency_s"] == pytest.approx(1e-3 + 3e-3 + 900e-9 + 0.5e-3 + 0.1e-3, rel=1e-9)


def test_a_calibrated_cpu_cost_is_charged_to_both_ends_of_every_message():
    edges = [(0, 1, 400), (0, 2, 300), (1, 3, 100), (2, 3, 900), (0, 3, 50), (3, 4, 10)]
    times = [1e-3, 2e-3, 3e-3, 0.5e-3, 0.1e-3]
    d = graph_problem([f"u{i}" for i in range(5)], times, edges, medium="cal")
    cpu = {"send_s": 1e-4, "send_s_per_byte": 1e-9, "recv_s": 2e-4, "recv_s_per_byte": 2e-9}
    d["media"] = {"cal": {"bandwidth_Bps": 1e9, "energy_J_per_bit": 1e-12, "latency_s": 1e-5,
                          "cpu": {"cpu-host": cpu}}}
    p, e = split_graph_problem(d)
    plain = predict_graph_plan(*split_graph_problem({**d, "media": {"cal": {
        k: v for k, v in d["media"]["cal"].items() if k != "cpu"}}}), ["cpu0", "cpu1", "cpu0", "cpu1", "cpu1"])
    pred = predict_graph_plan(p, e, ["cpu0", "cpu1", "cpu0", "cpu1", "cpu1"])
    # messages: unit 0 -> cpu1 (400 B) and unit 2 -> cpu1 (900 B), both sent by cpu0, received by cpu1
    send = 2 * 1e-4 + 1300 * 1e-9
    recv = 2 * 2e-4 + 1300 * 2e-9
    assert pred["device_message_cpu_s"] == pytest.approx({"cpu0": send, "cpu1": recv}, rel=1e-12)
    assert pred["device_busy_s"]["cpu0"] == pytest.approx(4e-3 + send, rel=1e-12)
    assert pred["device_busy_s"]["cpu1"] == pytest.approx(2.6e-3 + recv, rel=1e-12)
    assert plain["device_busy_s"] == pytest.approx(pred["device_compute_s"], rel=1e-12)
    # latency: cpu0 runs u0, sends (its core busy 100.4 us), runs u2 (3 ms), sends; cpu1 receives u0's message
    # before u1, u2's before u3
    t_u1_start = 1e-3 + 1e-5 + 400e-9 + 2e-4 + 400 * 2e-9
    t_u2_end = 1e-3 + 1e-4 + 400e-9 + 3e-3
    t_u3_start = max(t_u1_start + 2e-3, t_u2_end + 1e-5 + 900e-9) + 2e-4 + 900 * 2e-9
    assert pred["latency_s"] == pytest.approx(t_u3_start + 0.5e-3 + 0.1e-3, rel=1e-9)
    assert pred["latency_s"] > plain["latency_s"]


def test_a_chain_as_a_graph_costs_what_the_chain_model_says():
    d = json.loads((ROOT / "data" / "problems" / "vgg8_2cpu2cim_lb-wcc.json").read_text())
    chain = problem_from_dict(d)
    out = [u["out_bytes"] for u in d["units"]]
    g = {**d, "units": [{k: v for k, v in u.items() if k != "out_bytes"} for u in d["units"]],
         "edges": [[i, i + 1, out[i]] for i in range(len(out) - 1)]}
    p, e = split_graph_problem(g)
    for plan in ([("cpu0", 0, 3), ("cim0", 4, 7)], [("cim0", 0, 1), ("cpu1", 2, 5), ("cim1", 6, 7)],
                 [("cpu0", 0, 7)]):
        assignment = [dev for dev, a, b in plan for _ in range(a, b + 1)]
        assert predict_graph_plan(p, e, assignment)["bottleneck_s"] == pytest.approx(
            evaluate(chain, plan, alpha=1.0).bottleneck_s, rel=1e-12)


def test_bad_graphs_are_refused_with_the_field_named():
    base = graph_problem(["a", "b"], [1e-3, 1e-3], [(0, 1, 10)])
    for bad in ([[1, 0, 10]], [[0, 1, -5]], [[0, 1, 10], [0, 1, 20]], [[0, 2, 10]]):
        with pytest.raises(GraphRunError, match=r"problem\.edges\["):
            split_graph_problem({**base, "edges": bad})


def test_graph_plan_runs_on_two_processes_with_exact_outputs():
    from donna_core.profiling.graph_models import build_graph_model
    from donna_core.profiling.graph_units import derive_graph_units

    model, x = build_graph_model("randwire_tiny")
    plan = derive_graph_units(model, x)
    names = [u.name for u in plan.units]
    times = [1e-5 + u.macs * 1e-10 for u in plan.units]  # any positive times: this test checks execution
    p, e = split_graph_problem(graph_problem(names, times, plan.edges))
    # units alternate between the devices (stem and head on cpu0): messages in both directions
    assignment = ["cpu0" if i in (0, len(names) - 1) or i % 2 else "cpu1" for i in range(len(names))]
    spec = build_graph_run_spec(p, e, assignment, "randwire_tiny", names, inputs=6, warmup=1, latency_inputs=3,
                                check_outputs=3, comm_timeout_s=120)
    res = run_graph_plan(spec, timeout_s=300)
    m = res["measured"]
    assert m["outputs_check"]["exactly_equal"] and len(m["outputs_check"]["indices"]) >= 3
    assert m["messages_per_inference"] == len(messages(assignment, e)) > 2
    assert res["devices"] == ["cpu0", "cpu1"]
    assert m["throughput_ips"] > 0 and m["latency_s"] > 0 and len(m["latency_each_s"]) == 3
    assert set(m["device_busy_s"]) == {"cpu0", "cpu1"}


def test_donna_run_executes_a_graph_plan(tmp_path):
    import subprocess
    import sys

    from donna_core.profiling.graph_units import derive_graph_model_units

    _, _, plan = derive_graph_model_units("randwire_tiny")
    names = [u.name for u in plan.units]
    d = graph_problem(names, [1e-4] * len(names), plan.edges)
    d["meta"] = {"model": "randwire_tiny", "granularity": "graph"}
    (tmp_path / "p.json").write_text(json.dumps(d))
    assignment = ["cpu0"] * 3 + ["cpu1"] * (len(names) - 3)
    (tmp_path / "plan.json").write_text(json.dumps({"assignment": assignment}))
    r = subprocess.run([sys.executable, "-m", "donna_core.cli", "run", str(tmp_path / "p.json"), "--plan",
                        str(tmp_path / "plan.json"), "--inputs", "5", "--warmup", "1", "-o", str(tmp_path / "r.json")],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "outputs equal to the single-process model: True" in r.stdout
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["assignment"] == assignment and res["measured"]["outputs_check"]["exactly_equal"]
    # a graph problem without a plan: one line, exit 2
    r = subprocess.run([sys.executable, "-m", "donna_core.cli", "run", str(tmp_path / "p.json")],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 2 and "--plan" in r.stderr and "Traceback" not in r.stderr
