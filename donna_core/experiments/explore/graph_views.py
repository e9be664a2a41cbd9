"""The explorer's graph-placement views: pure maths and tables of a solved graph problem (tested without a kernel).

A graph model (profile granularity ``graph``) is placed unit by unit (any unit on any device) by
:func:`donna_core.partition.graph_solve.solve_graph`; these functions turn its result into what the explorer
draws: a layered layout of the DAG, a colour per device, the per-device / per-link busy times, the Gantt bars of
a latency schedule and the summary rows (with the proven gap when the solve was not proven optimal).
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .. import scenarios as sc
from .views import ExploreError

GRAPH_GRANULARITY = "graph"
# (label, solver of solve_graph) as the explorer offers them
GRAPH_SOLVERS = (("exact MILP", "exact"), ("heuristic", "heuristic"), ("HEFT", "heft"))
GRAPH_OBJECTIVES = (("α-objective", "alpha"), ("latency", "latency"))
# Shades per role (dark to light), so devices of one role stay recognisably that role's hue; a role with more
# devices than shades cycles through them again.
ROLE_SHADES = {"cpu": ("#1f77b4", "#6baed6", "#08306b", "#9ecae1"),
               "gpu": ("#2ca02c", "#74c476", "#00441b", "#a1d99b"),
               "cim": ("#d62728", "#fb6a4a", "#67000d", "#fcbba1")}
OTHER_SHADES = ("#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
MESSAGE_COLOUR = "#999999"


def is_graph_model(name: str) -> bool:
    """Whether an explorer model name (``model`` or ``model/granularity``) is a graph-placement model."""
    return str(name).partition("/")[2] == GRAPH_GRANULARITY


def model_options(models: Sequence[str]) -> list[tuple[str, str]]:
    """(label, name) for the model picker: graph models are labelled as graph placement, chains by their name."""
    return [(f"{n.partition('/')[0]} — graph placement" if is_graph_model(n) else n, n) for n in models]


def longest_path_layers(n_units: int, edges: Sequence[Sequence]) -> np.ndarray:
    """Layer of every unit: 0 for units without a predecessor, else 1 + the largest layer of its predecessors
    (the longest path from an input, in edges). Units are in a topological order (``u < v`` on every edge)."""
    layer = np.zeros(int(n_units), dtype=int)
    for k, e in enumerate(sorted((int(e[1]), int(e[0])) for e in edges)):
        v, u = e
        if not 0 <= u < v < n_units:
            raise ExploreError(f"edges[{k}]: need 0 <= u < v < {n_units}, got ({u}, {v})")
        layer[v] = max(layer[v], layer[u] + 1)
    return layer


def layered_layout(n_units: int, edges: Sequence[Sequence]) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of every unit: x = its longest-path layer; within a layer the units are ordered by the mean y of
    their predecessors (barycentre, one sweep from the inputs; ties by unit index) and centred on y = 0, one unit
    apart. Deterministic: same graph, same picture."""
    layer = longest_path_layers(n_units, edges)
    preds: list[list[int]] = [[] for _ in range(int(n_units))]
    for u, v, *_ in edges:
        preds[int(v)].append(int(u))
    y = np.zeros(int(n_units))
    for x in range(int(layer.max(initial=-1)) + 1):
        members = np.nonzero(layer == x)[0]
        bary = [float(np.mean(y[preds[u]])) if preds[u] else 0.0 for u in members]
        order = sorted(range(len(members)), key=lambda i: (bary[i], int(members[i])))
        for rank, i in enumerate(order):
            y[members[i]] = rank - (len(members) - 1) / 2.0
    return layer.astype(float), y


def device_colours(device_names: Sequence[str], roles: Mapping[str, str]) -> dict[str, str]:
    """Device → colour: the k-th device of a role gets its role's k-th shade (``ROLE_SHADES``)."""
    seen: dict[str, int] = {}
    out = {}
    for name in device_names:
        role = roles.get(name, "")
        k = seen.get(role, 0)
        seen[role] = k + 1
        shades = ROLE_SHADES.get(role, OTHER_SHADES)
        out[name] = shades[k % len(shades)]
    return out


def busy_table(result, problem: Mapping) -> pd.DataFrame:
    """One row per device of the problem (units held, busy time per inference) then per used link (message
    time per inference); ``bottleneck`` marks the rows whose busy time equals the plan's bottleneck."""
    roles = sc.device_roles(problem)
    names = [d["name"] for d in problem["devices"]]
    counts = {n: 0 for n in names}
    for d in result.assignment:
        counts[d] += 1
    rows = [{"kind": "device", "name": n, "role": roles[n], "n_units": counts[n],
             "busy_s": float(result.device_busy_s.get(n, 0.0))} for n in names]
    rows += [{"kind": "link", "name": " ↔ ".join(_split_link(k, names)), "role": "link", "n_units": 0,
              "busy_s": float(v)}
             for k, v in sorted(result.link_busy_s.items(), key=lambda kv: _link_order(kv[0], names))]
    df = pd.DataFrame(rows, columns=["kind", "name", "role", "n_units", "busy_s"])
    df["bottleneck"] = np.isclose(df["busy_s"], float(result.bottleneck_s), rtol=1e-12, atol=0.0) & (df["busy_s"] > 0)
    return df


def _link_order(key: str, names: Sequence[str]) -> tuple[int, int]:
    a, b = _split_link(key, names)
    return names.index(a), names.index(b)


def _split_link(key: str, names: Sequence[str]) -> tuple[str, str]:
    """``"cpu0-gpu0"`` → (cpu0, gpu0); device names may themselves hold ``-``, so match against the names."""
    for a in names:
        if key.startswith(a + "-") and key[len(a) + 1:] in names:
            return a, key[len(a) + 1:]
    raise ExploreError(f"link {key!r} does not join two devices of the problem")


def bottleneck_text(result, problem: Mapping) -> str:
    """What sets the bottleneck: a device's compute, a link's messages, or the input transfer. Ties go to the
    first device in the problem's order, then the first link."""
    df = busy_table(result, problem)
    hit = df[df["bottleneck"]]
    if hit.empty:
        return "input transfer from the source"
    row = hit.iloc[0]
    if row["kind"] == "device":
        return f"compute on {row['name']} ({row['n_units']} units)"
    return f"messages on link {row['name']}"


def gantt_bars(schedule: Mapping, device_names: Sequence[str]) -> tuple[list[str], pd.DataFrame]:
    """(row labels, bars) of a latency schedule: one row per device that runs a unit (problem order), then one
    per link that carries a message (ordered by its devices); bars have ``row``, ``start_s``, ``finish_s``,
    ``device`` (the colour: the unit's device, or None for a message) and ``label``."""
    used = {u["device"] for u in schedule["units"]}
    rows = [d for d in device_names if d in used]
    links = sorted({tuple(sorted((m["from"], m["to"]), key=device_names.index)) for m in schedule["messages"]},
                   key=lambda ab: (device_names.index(ab[0]), device_names.index(ab[1])))
    labels = rows + [f"{a} ↔ {b}" for a, b in links]
    index = {d: i for i, d in enumerate(rows)}
    index.update({ab: len(rows) + i for i, ab in enumerate(links)})
    bars = [{"row": index[u["device"]], "start_s": float(u["start_s"]), "finish_s": float(u["finish_s"]),
             "device": u["device"], "label": u["unit"]} for u in schedule["units"]]
    bars += [{"row": index[tuple(sorted((m["from"], m["to"]), key=device_names.index))],
              "start_s": float(m["start_s"]), "finish_s": float(m["finish_s"]), "device": None,
              "label": f"{m['from_unit'] or 'input'} → {m['to']}"} for m in schedule["messages"]]
    return labels, pd.DataFrame(bars, columns=["row", "start_s", "finish_s", "device", "label"])


def optimality_text(result, solver: str, time_limit_s: float, objective: str = "alpha") -> str:
    """How good the plan is known to be: proved optimal (the exact MILP closed its gap), or the certified gap to
    the solver's lower bound (of the normalised objective, or of the latency)."""
    gap = float(result.stats.get("gap", math.nan))
    lb = result.stats.get("lower_bound")
    bound = ("" if lb is None else f", lower bound {float(lb) * 1e3:.4g} ms" if objective == "latency"
             else f", lower bound of the objective {float(lb):.6g}")
    if solver == "exact" and result.stats.get("stopped") == "proved" and gap == 0.0:
        return "proved optimal (gap 0)"
    if solver == "exact":
        return (f"not proven optimal within the {time_limit_s:g} s time limit: best plan found, certified gap "
                f"≤ {gap:.2%}{bound}")
    name = dict((v, k) for k, v in GRAPH_SOLVERS)[solver]
    return f"{name}: certified gap ≤ {gap:.2%}{bound} (a proof of optimality only when 0)"


def graph_view(problem: Mapping, result, alpha: float, objective: str, solver: str, time_limit_s: float,
               label: str = "") -> dict:
    """Everything the explorer shows for one solved graph setting (pure: the result is passed in)."""
    if objective not in dict(GRAPH_OBJECTIVES).values():
        raise ExploreError(f"objective must be one of {[v for _, v in GRAPH_OBJECTIVES]}, got {objective!r}")
    names = [d["name"] for d in problem["devices"]]
    roles = sc.device_roles(problem)
    edges = [tuple(e) for e in problem["edges"]]
    x, y = layered_layout(len(problem["units"]), edges)
    busy = busy_table(result, problem)
    used = busy[(busy["kind"] == "device") & (busy["n_units"] > 0)]
    solver_name = dict((v, k) for k, v in GRAPH_SOLVERS)[solver]
    goal = (f"α = {float(alpha):.2f} (throughput vs energy)" if objective == "alpha"
            else "single-inference latency")
    summary = {"how": f"graph placement, {solver_name}, minimising {goal}",
               "optimality": optimality_text(result, solver, time_limit_s, objective),
               "throughput_ips": float(result.throughput_ips), "energy_j": float(result.energy_j),
               "bottleneck": bottleneck_text(result, problem),
               "objective": float(result.objective), "latency_s": result.latency_s,
               "devices": ", ".join(f"{r['name']}: {r['n_units']} units" for _, r in used.iterrows()),
               "n_messages": len(result.messages), "solve_s": float(result.stats.get("solve_s", math.nan))}
    gantt = gantt_bars(result.schedule, names) if result.schedule is not None else None
    title = (f"{label}: {summary['throughput_ips']:.4g} inf/s, {summary['energy_j']:.4g} J per inference"
             + (f", latency {result.latency_s * 1e3:.4g} ms" if result.latency_s is not None else ""))
    return {"summary": summary, "assignment": list(result.assignment), "x": x, "y": y, "edges": edges,
            "unit_names": [u["name"] for u in problem["units"]], "devices": names, "roles": roles,
            "colours": device_colours(names, roles), "busy": busy, "gantt": gantt, "objective": objective,
            "title": title}
