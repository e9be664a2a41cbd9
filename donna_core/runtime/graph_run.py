"""Graph plans on real processes: the run spec, the cost model's prediction for it, and the launcher hook.

A graph plan assigns every unit of a graph problem (``"edges"``) to a device.  :func:`build_graph_run_spec`
turns (problem, assignment) into a JSON-able spec for :mod:`.graph_worker` (one process per *used* device);
:func:`run_graph_plan` starts them with :func:`launch.launch`.

Prediction (:func:`predict_graph_plan`), the graph cost model for this plan, with this executor's order:

* throughput: :func:`partition.graph_costs.evaluate_graph` (the one home of the rule): bottleneck = max(device
  busy, link busy, shared media's busy), a device's busy time = its units' times + the CPU its core gives to the
  messages it sends and receives (a medium's calibrated ``cpu`` cost; 0 without a calibration), the input on
  every device (no input message);
* single-inference latency: :func:`partition.graph_schedule.schedule` (the one home of the rule: channels,
  time curves, shared media, message CPU) with each device's units in index order (a topological order: what
  the worker does); the input is on every device at t = 0 (runs with a ``source`` device are refused: the
  worker does not ship the input).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..partition.graph_costs import GraphTables, evaluate_graph
from ..partition.graph_problem import Graph
from ..partition.graph_schedule import schedule
from ..partition.problem import Problem, problem_from_dict


class GraphRunError(ValueError):
    """A graph plan the runtime cannot run or a malformed graph problem (one line)."""


def split_graph_problem(d: dict[str, Any]) -> tuple[Problem, list[tuple[int, int, int]]]:
    """(everything but the edges, parsed and validated as usual; the edges) of a graph problem dict.

    The non-edge fields are parsed by the chain parser (units get ``out_bytes`` 0, unused here), so device
    types, media, links and latencies have one reading.
    """
    if "edges" not in d:
        raise GraphRunError("problem has no 'edges': not a graph problem (run chain problems with donna run)")
    edges = d["edges"]
    n = len(d.get("units", []))
    if not isinstance(edges, list):
        raise GraphRunError("problem.edges must be a list of [u, v, bytes]")
    out, seen = [], set()
    for k, e in enumerate(edges):
        ok = isinstance(e, list) and len(e) == 3 and all(isinstance(x, int) and not isinstance(x, bool) for x in e[:2])
        if not ok or not (0 <= e[0] < e[1] < n) or not isinstance(e[2], (int, float)) or not e[2] > 0 \
                or (e[0], e[1]) in seen:
            raise GraphRunError(f"problem.edges[{k}]: need [u, v, bytes] with 0 <= u < v < {n}, bytes > 0, no "
                                f"duplicate, got {e!r}")
        seen.add((e[0], e[1]))
        out.append((int(e[0]), int(e[1]), int(e[2])))
    chain = {k: v for k, v in d.items() if k != "edges"}
    chain["units"] = [{**u, "out_bytes": 0} for u in d["units"]]
    return problem_from_dict(chain), sorted(out)


def messages(assignment: Sequence[str], edges: Sequence[tuple[int, int, int]]) -> list[tuple[int, str, int]]:
    """``(u, destination device, bytes)`` of every message of the plan, sorted by (u, device)."""
    size: dict[tuple[int, str], int] = {}
    for u, v, b in edges:
        d = assignment[v]
        if d != assignment[u]:
            size[(u, d)] = max(size.get((u, d), 0), b)
    return [(u, d, b) for (u, d), b in sorted(size.items())]


def _unit_times(problem: Problem, assignment: Sequence[str]) -> np.ndarray:
    return np.array([problem.time_s[problem.device_type[problem.device_index(dev)], i]
                     for i, dev in enumerate(assignment)], float)


def predict_graph_plan(problem: Problem, edges: Sequence[tuple[int, int, int]], assignment: Sequence[str]) -> dict:
    """Predicted bottleneck, throughput and single-inference latency (see module docstring): the partition side's
    graph cost model and list schedule, the one home of both rules."""
    gt = _run_tables(problem, edges)
    a = [problem.device_index(dev) for dev in assignment]
    r = evaluate_graph(gt.p, a, 1.0, gt=gt)
    t = _unit_times(problem, assignment)
    compute: dict[str, float] = {}
    for i, dev in enumerate(assignment):
        compute[dev] = compute.get(dev, 0.0) + float(t[i])
    msg_cpu = dict(r.device_message_cpu_s or {dev: 0.0 for dev in compute})
    msgs = messages(assignment, edges)
    # single inference: priorities = unit index order (what the worker does: each device's units in index order)
    latency = schedule(gt, a, np.arange(problem.L, dtype=float)).latency_s
    out = {"bottleneck_s": r.bottleneck_s, "throughput_ips": r.throughput_ips, "latency_s": latency,
           "device_busy_s": dict(r.device_busy_s), "device_compute_s": compute, "device_message_cpu_s": msg_cpu,
           "link_busy_s": dict(r.link_busy_s),
           "messages_per_inference": len(msgs), "message_bytes_per_inference": int(sum(b for _, _, b in msgs)),
           "how": "graph cost model (partition/graph_costs.py): bottleneck = max(device busy, link busy, shared "
                  "media's busy), a device's busy time = its units' compute + the CPU its core gives to its "
                  "messages (the media's 'cpu', 0 when not calibrated); latency = list schedule of this plan "
                  "(partition/graph_schedule.py) with each device in unit index order"}
    if r.shared_busy_s is not None:
        out["shared_busy_s"] = dict(r.shared_busy_s)
    return out


def _run_tables(problem: Problem, edges: Sequence[tuple[int, int, int]]) -> GraphTables:
    """The graph tables of a run: the problem with ``edges`` as its DAG and the input on every device at t = 0 (each
    device process reads the input itself, so no input message)."""
    from dataclasses import replace
    L = problem.L
    edges = sorted(edges)
    src = np.array([e[0] for e in edges], dtype=int)
    dst = np.array([e[1] for e in edges], dtype=int)
    has_in = np.zeros(L, dtype=bool)
    has_in[dst] = True
    g = Graph(src, dst, np.array([float(e[2]) for e in edges]), np.nonzero(~has_in)[0])
    return GraphTables(replace(problem, graph=g, source=None))


def build_graph_run_spec(problem: Problem, edges: Sequence[tuple[int, int, int]], assignment: Sequence[str],
                         model: str, unit_names: Sequence[str], *, inputs: int = 20, warmup: int = 3,
                         latency_inputs: int = 10, threads: int = 1, seed: int = 0, check_outputs: int = 4,
                         comm_timeout_s: float = 300.0, in_flight: int = 3) -> dict:
    from .spec import torch_device_for

    if len(assignment) != problem.L:
        raise GraphRunError(f"plan assigns {len(assignment)} units but the problem has {problem.L}")
    if tuple(unit_names) != tuple(problem.unit_names):
        raise GraphRunError(f"model {model} has units that differ from the problem's (wrong model?)")
    for i, dev in enumerate(assignment):
        if dev not in problem.device_names:
            raise GraphRunError(f"plan unit {i}: device {dev!r} is not in the problem")
    if problem.source is not None:
        raise GraphRunError("graph runs with a 'source' device are not supported (the worker does not ship the "
                            "input); rebuild the problem without --source")
    if inputs < warmup + 2 or latency_inputs < 1 or in_flight < 1:
        raise GraphRunError(f"need inputs >= warmup + 2, latency_inputs >= 1, in_flight >= 1; got {inputs}, "
                            f"{warmup}, {latency_inputs}, {in_flight}")
    used = list(dict.fromkeys(assignment))  # devices in order of their first unit
    stages, gpu_i = [], 0
    for dev in used:
        ty = problem.type_of(problem.device_index(dev))
        td = torch_device_for(ty, gpu_i, 0)
        gpu_i += td.startswith("cuda")
        stages.append({"device": dev, "type": ty, "torch_device": td})
    return {"problem_name": problem.name, "model": model, "unit_names": list(unit_names),
            "assignment": list(assignment), "edges": [list(e) for e in edges], "stages": stages,
            "predicted": predict_graph_plan(problem, edges, assignment), "inputs": int(inputs),
            "warmup": int(warmup), "latency_inputs": int(latency_inputs), "in_flight": int(in_flight),
            "threads": int(threads), "seed": int(seed),
            "check_outputs": int(check_outputs), "comm_timeout_s": float(comm_timeout_s)}


def run_graph_plan(spec: dict, timeout_s: float = 600.0) -> dict:
    """Start one :mod:`.graph_worker` process per used device (the launcher of chain runs) and return the result."""
    from .launch import launch

    return launch(spec, timeout_s=timeout_s, module="donna_core.runtime.graph_worker")


def format_graph_result(res: dict) -> str:
    """Plain-text summary: measured vs predicted throughput and single-inference latency."""
    m, p, r = res["measured"], res["predicted"], res["ratio"]
    busy = ", ".join(f"{d} {m['device_busy_s'][d] * 1e3:.2f} ms wall, {m['device_busy_cpu_s'][d] * 1e3:.2f} ms CPU "
                     f"(pred {p['device_busy_s'][d] * 1e3:.2f})"
                     for d in res["devices"])
    return "\n".join([
        f"{res['problem_name']}: {len(res['assignment'])} units on {', '.join(res['devices'])}",
        f"throughput: measured {m['throughput_ips']:.2f} inf/s, predicted {p['throughput_ips']:.2f} "
        f"(ratio {r['throughput']:.3f})",
        f"latency (one input at a time): measured {m['latency_s'] * 1e3:.2f} ms (median of {res['latency_inputs']}), "
        f"predicted {p['latency_s'] * 1e3:.2f} ms (ratio {r['latency']:.3f})",
        f"busy per input: {busy}",
        f"messages per inference: {m['messages_per_inference']} ({m['message_bytes_per_inference']} bytes; "
        f"cost model {p['messages_per_inference']}, {p['message_bytes_per_inference']} bytes)",
        f"outputs equal to the single-process model: {m['outputs_check']['exactly_equal']} "
        f"(inputs {m['outputs_check']['indices']}); load average {res['load_avg_before']}"])
