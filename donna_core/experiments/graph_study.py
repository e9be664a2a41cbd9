"""Notebook 08: graph placement against the chain optimum, graph solvers against each other, measured graph runs.

The chain side is apples to apples: the chain problem of a model is *the same graph units* as a chain, in their
topological (index) order, with ``out_bytes[l]`` = the bytes live across the cut after unit l (:func:`cut_bytes`).
Any contiguous plan therefore costs at least as much in the chain model as in the graph model (a chain forwards a
skip tensor through every stage in between, the graph sends it once, directly), so the graph optimum can never be
worse than the chain optimum.

Determinism: the tracked tables hold only numbers that do not depend on wall-clock time: the chain optimum (the
exact chain solver), the graph α = 0 optimum when the MILP proves it (rounded to :data:`PROVED_DIGITS`, HiGHS's
relative gap 1e-6), and the deterministic graph heuristic and HEFT (local search run to its local optimum; a
result the time cap stopped is marked ``stopped`` and left out of the gains). MILP results cut by a time limit
only appear in the timed table, which is not tracked.
"""
from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from donna_core.experiments import result_tables as rt
from donna_core.experiments import scenario_profiles as sp
from donna_core.experiments import scenarios as sc
from donna_core.partition.graph_costs import evaluate_graph
from donna_core.partition.graph_solve import solve_graph
from donna_core.partition.problem import Problem, problem_from_dict
from donna_core.partition.solve import solve

GRAPH_MODELS: tuple[str, ...] = ("googlenet", "inception_v3", "resnet50", "randwire_n32_s0", "randwire_n32_s1",
                                 "randwire_n64_s0", "randwire_n64_s1")
# The heuristic's wall-clock cap: far above its run time here (< 2 s), so it stops at its local optimum and is
# deterministic; a run the cap stops is marked and kept out of the gains.
HEURISTIC_CAP_S = 120.0
PROVED_DIGITS = 6
STUDY_FILES = {"gains": "graph_vs_chain.csv", "quality": "graph_solver_quality.csv", "runs": "graph_runs.csv"}


# ----------------------------------------------------------------------------------------------------- problems
def load_graph_models(models: Sequence[str] = GRAPH_MODELS, cpu: str = "paper", profiles_dir=None) -> dict:
    """Model -> (role -> TypeProfile of the graph units, (edges metadata, edge list))."""
    from donna_core.profiling.graph_profiles import read_edges
    root = Path(profiles_dir or sp.DEFAULT_PROFILES_DIR)
    files = sp.device_files(cpu)
    return {m: (sp.load_model_profiles(m, files, "graph", root), read_edges(root / m / "graph" / "edges.csv"))
            for m in models}


def graph_problem_dict(profiles, edges, counts: Mapping[str, int], medium: str) -> dict:
    """The graph problem of one model / cluster / medium (scenarios.make_problem on the graph profiles + edges)."""
    meta, edge_list = edges
    d = sc.make_problem(profiles, counts, medium)
    if [u["name"] for u in d["units"]] != list(meta["units"]):
        raise ValueError(f"edges of {meta.get('model')!r} do not list the profiles' units")
    for u in d["units"]:
        u.pop("out_bytes", None)
    d["edges"] = [[int(u), int(v), int(b)] for u, v, b in edge_list]
    d["name"] = d["name"].replace(" / ", " graph / ", 1)
    return d


def cut_bytes(L: int, edges: Iterable[Sequence], input_bytes: float = 0.0, input_units: Iterable[int] = (),
              with_source: bool = False) -> list[float]:
    """Bytes live across the cut after each unit l (0 <= l < L - 1; the last entry, after the output, is 0).

    Rule: each producer u <= l with an edge to some v > l sends its output across the cut once, as the graph
    model's message does: the largest ``bytes`` among u's edges that cross it; summed over such producers. With
    a source, the model input also crosses the cut when a unit after it reads the input.
    """
    out = np.zeros(L)
    crossing: dict[int, list[tuple[int, float]]] = {}
    for u, v, b in edges:
        crossing.setdefault(int(u), []).append((int(v), float(b)))
    for u, outs in crossing.items():
        for l in range(u, L - 1):
            live = [b for v, b in outs if v > l]
            if not live:
                break
            out[l] += max(live)
    if with_source:
        for v in input_units:
            out[:int(v)] += input_bytes
    out[L - 1] = 0.0
    return out.tolist()


def chain_problem_dict(graph: Mapping) -> dict:
    """The same units as a chain (topological order = index order), ``out_bytes`` = :func:`cut_bytes`."""
    d = copy.deepcopy(dict(graph))
    edges = d.pop("edges")
    L = len(d["units"])
    has_in = {int(v) for _, v, _ in edges}
    ob = cut_bytes(L, edges, float(d.get("input_bytes", 0.0)), [u for u in range(L) if u not in has_in],
                   d.get("source") is not None)
    for u, b in zip(d["units"], ob):
        u["out_bytes"] = b
    d["name"] = d["name"].replace(" graph / ", " chain / ", 1)
    return d


def chain_latency(p: Problem) -> float:
    """Least single-inference latency over contiguous plans (each device used at most once): stages run one
    after another, so latency = input message + sum of stage times + sum of cut messages. Exact DP over
    (last unit of a stage, its device, set of used devices)."""
    L, D = p.L, p.D
    t = p.time_s[p.device_type]                                    # (D, L)
    ok = p.allowed[p.device_type]
    cum = np.concatenate([np.zeros((D, 1)), np.cumsum(t, axis=1)], axis=1)
    wcum = np.concatenate([[0.0], np.cumsum(p.weight_bytes)])
    bad = np.concatenate([np.zeros((D, 1)), np.cumsum(~ok, axis=1)], axis=1)
    mem = p.memory_bytes[p.device_type]
    inf = math.inf
    best = np.full((L, D, 1 << D), inf)                           # best[e, d, mask]: units 0..e done, last on d

    def stage(d: int, s: int, e: int) -> float:
        if bad[d, e + 1] - bad[d, s] > 0 or wcum[e + 1] - wcum[s] > mem[d]:
            return inf
        return cum[d, e + 1] - cum[d, s]

    for e in range(L):
        for d in range(D):
            st = stage(d, 0, e)
            if st < inf:
                inp = 0.0
                if p.source is not None and p.source != d:
                    inp = p.link_lat[p.source, d] + p.input_bytes / p.link_bw[p.source, d]
                best[e, d, 1 << d] = min(best[e, d, 1 << d], inp + st)
            for s in range(1, e + 1):
                st = stage(d, s, e)
                if st == inf:
                    continue
                for c in range(D):
                    if c == d:
                        continue
                    msg = p.link_lat[c, d] + p.out_bytes[s - 1] / p.link_bw[c, d]
                    prev = best[s - 1, c]
                    for mask in np.nonzero(prev < inf)[0]:
                        if mask >> d & 1:
                            continue
                        v = prev[mask] + msg + st
                        if v < best[e, d, mask | 1 << d]:
                            best[e, d, mask | 1 << d] = v
    return float(best[L - 1].min())


# ------------------------------------------------------------------------------------------------- the comparison
def _round(x: float, digits: int = PROVED_DIGITS) -> float:
    return float(f"{x:.{digits}g}") if math.isfinite(x) else x


def compare_one(graph: Mapping) -> dict:
    """One row: chain optimum vs the graph (heuristic, deterministic; proved MILP at α = 0) for one problem."""
    cd = chain_problem_dict(graph)
    cp, gp = problem_from_dict(cd), problem_from_dict(dict(graph))
    c1, c0 = solve(cp, 1.0, "exact"), solve(cp, 0.0, "exact")
    h1 = solve_graph(gp, 1.0, "heuristic", time_limit_s=HEURISTIC_CAP_S)
    e0 = solve_graph(gp, 0.0, "exact", time_limit_s=HEURISTIC_CAP_S)
    hl = solve_graph(gp, 1.0, "heuristic", objective="latency", time_limit_s=HEURISTIC_CAP_S)
    fl = solve_graph(gp, 1.0, "heft", objective="latency")
    c_lat = chain_latency(cp)
    # the chain optimum is also a graph plan: the graph optimum is at most its graph cost (<= its chain cost)
    as_graph = evaluate_graph(gp, chain_assignment(c1.plan(), gp.L), 1.0)
    best_b = min(h1.bottleneck_s, as_graph.bottleneck_s)
    lb_b = h1.stats["lower_bound"] * h1.norm["time_s"]
    stopped = [n for n, r in (("alpha1", h1), ("latency", hl)) if r.stats.get("stopped") == "time limit"]
    proved0 = e0.stats.get("stopped") == "proved"
    return {
        "chain_throughput_ips": c1.throughput_ips, "chain_energy_j": c0.energy_j, "chain_latency_s": c_lat,
        "chain_plan": " ".join(f"{d}:{a}-{b}" for d, a, b in c1.plan()),
        "chain_plan_as_graph_ips": as_graph.throughput_ips, "heuristic_throughput_ips": h1.throughput_ips,
        "graph_throughput_ips": 1.0 / best_b, "graph_throughput_gap": max(0.0, 1.0 - lb_b / best_b),
        "graph_energy_j": _round(e0.energy_j) if proved0 else math.nan,
        "graph_latency_s": hl.latency_s, "graph_latency_gap": hl.stats["gap"], "heft_latency_s": fl.latency_s,
        "graph_devices_used": len(set(h1.assignment)),
        "stopped": ",".join(stopped) if stopped else "local optimum",
    }


def chain_assignment(plan, L: int) -> list[str]:
    """Device name per unit of a chain plan [(device, first, last), ...]."""
    out = [""] * L
    for d, a, b in plan:
        out[a:b + 1] = [d] * (b - a + 1)
    return out


def compare(models: Mapping, clusters: Mapping[str, Mapping[str, int]], media: Sequence[str],
            progress: bool = True) -> pd.DataFrame:
    """Chain vs graph for every model x cluster x medium. Gains: throughput graph / chain at α = 1 (from the
    heuristic, a plan found, so a lower bound on the true gain; its certified gap in ``graph_throughput_gap``),
    energy chain / graph at α = 0 (proved), latency chain / graph (heuristic's schedule, gap in
    ``graph_latency_gap``)."""
    from tqdm.auto import tqdm
    cases = [(m, c, med) for m in models for c in clusters for med in media]
    rows = []
    for m, c, med in tqdm(cases, desc="chain vs graph", disable=not progress):
        prof, edges = models[m]
        g = graph_problem_dict(prof, edges, clusters[c], med)
        rows.append({"model": m, "cluster": c, "medium": med, "units": len(g["units"]), "edges": len(g["edges"]),
                     **compare_one(g)})
    df = pd.DataFrame(rows)
    ok = df["stopped"] == "local optimum"
    df["throughput_gain"] = np.where(ok, df["graph_throughput_ips"] / df["chain_throughput_ips"], np.nan)
    # the MILP proves the α = 0 optimum to a relative gap of 1e-6: ratios closer to 1 than that are noise
    df["energy_gain"] = (df["chain_energy_j"] / df["graph_energy_j"]).map(lambda x: _round(x, 5))
    df["latency_gain"] = np.where(ok, df["chain_latency_s"] / df["graph_latency_s"], np.nan)
    return df


def gain_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per model: the throughput and latency gains over clusters x media (min, median, max)."""
    g = df.groupby("model", sort=False)
    return pd.DataFrame({
        "scenarios": g.size(),
        "throughput_gain_min": g["throughput_gain"].min(), "throughput_gain_median": g["throughput_gain"].median(),
        "throughput_gain_max": g["throughput_gain"].max(),
        "latency_gain_min": g["latency_gain"].min(), "latency_gain_median": g["latency_gain"].median(),
        "latency_gain_max": g["latency_gain"].max(),
        "energy_gain_max": g["energy_gain"].max()}).reset_index()


# ------------------------------------------------------------------------------------------------- solver quality
def bundled_graph_problems(problems_dir=None) -> dict[str, dict]:
    """The bundled graph problems (data/problems/*_graph_*.json), by model name."""
    root = Path(problems_dir or sp.REPO_ROOT / "data" / "problems")
    return {f.name.split("_graph_")[0]: json.loads(f.read_text()) for f in sorted(root.glob("*_graph_*.json"))}


def solver_quality(problems: Mapping[str, Mapping], objectives: Sequence[str] = ("alpha", "latency"),
                   solvers: Sequence[str] = ("heuristic", "heft"), time_limit_s: float = HEURISTIC_CAP_S,
                   timed: bool = False, progress: bool = True) -> pd.DataFrame:
    """Objective value and certified gap of each solver (α = 1 or latency) on each problem. With ``timed``,
    also the wall time per solve (varies run to run: keep such a table out of the tracked files). The MILP
    (``exact``) belongs in a timed table only: where its time limit cuts it, its result depends on the clock."""
    from tqdm.auto import tqdm
    if not timed and "exact" in solvers:
        raise ValueError("the exact solver's result depends on the clock; use timed=True (untracked table)")
    rows = []
    cases = [(n, o, s) for n in problems for o in objectives for s in solvers]
    for name, obj, solver in tqdm(cases, desc="graph solvers", disable=not progress):
        p = problem_from_dict(dict(problems[name]))
        t0 = time.perf_counter()
        r = solve_graph(p, 1.0, solver, objective=obj, time_limit_s=time_limit_s)
        row = {"model": name, "objective": "throughput (alpha=1)" if obj == "alpha" else "latency",
               "solver": solver,
               "value": r.throughput_ips if obj == "alpha" else r.latency_s,
               "unit": "inferences/s" if obj == "alpha" else "s",
               "gap": r.stats.get("gap"), "stopped": r.stats.get("stopped", "done")}
        if timed:
            row["time_s"] = time.perf_counter() - t0
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------- measured runs
def _message_cpu_share(pred: dict) -> float:
    busy = pred["device_busy_s"]
    dev = max(sorted(busy), key=lambda d: busy[d])
    return float(pred.get("device_message_cpu_s", {}).get(dev, 0.0) / busy[dev]) if busy[dev] > 0 else 0.0


def measured_runs(path=None) -> tuple[pd.DataFrame, dict]:
    """Measured vs predicted graph runs (data/validation/graph_runs.json): one row per run, and the header
    (date, how, the load average recorded at the start)."""
    path = Path(path or sp.REPO_ROOT / "data" / "validation" / "graph_runs.json")
    d = json.loads(path.read_text())
    rows = [{"model": r["model"], "problem": r["problem_name"], "devices": len(r["devices"]),
             "messages": r["predicted"]["messages_per_inference"],
             "predicted_throughput_ips": r["predicted"]["throughput_ips"],
             "measured_throughput_ips": r["measured"]["throughput_ips"],
             "throughput_ratio": r["ratio"]["throughput"],
             "predicted_latency_s": r["predicted"]["latency_s"], "measured_latency_s": r["measured"]["latency_s"],
             "latency_ratio": r["ratio"]["latency"],
             # the share of the busiest device's predicted time that is its messages' CPU (0: not calibrated)
             "message_cpu_share": _message_cpu_share(r["predicted"]),
             "outputs_equal": bool(r["measured"].get("outputs_check", {}).get("exactly_equal", False))}
            for r in d["runs"]]
    head = {"date": d.get("date"), "how": d.get("how"), "load_avg": d.get("host_load_avg_at_start")}
    return pd.DataFrame(rows), head


# ----------------------------------------------------------------------------------------------------- files
def write_study(tables: Mapping[str, pd.DataFrame], datadir) -> list[Path]:
    return [rt.write_table(df, Path(datadir) / STUDY_FILES[k]) for k, df in tables.items() if k in STUDY_FILES]


def load_study(datadir) -> dict[str, pd.DataFrame]:
    datadir = Path(datadir)
    return {k: pd.read_csv(datadir / f) for k, f in STUDY_FILES.items() if (datadir / f).is_file()}


def _r(x) -> str:
    return f"{x:.3g}" if isinstance(x, (int, float)) and math.isfinite(x) else "—"


def study_markdown(datadir) -> str:
    """The report section "graph placement" from the tables notebook 08 wrote ("" when they are absent)."""
    t = load_study(datadir)
    if "gains" not in t:
        return ""
    df = t["gains"]
    lines = ["## Beyond the paper: graph placement (any unit on any device)", "",
             "From notebook 08 (`figures/fig08a_graph_gain`, `fig08b_graph_solvers`, `fig08c_graph_runs`). The "
             "chain problem of each model is the same graph units as a chain in topological order, each cut "
             "carrying every tensor live across it; the graph plan may put any unit on any device. Throughput at "
             "α = 1: the better of the graph heuristic's plan and the chain optimum costed as a graph plan; latency: "
             "the graph heuristic's schedule (both found plans, so the gains are lower bounds; certified gaps in "
             "the table), energy at α = 0 from the proved MILP. Modelled, like everything above.", "",
             "| model | scenarios | throughput gain min / median / max | latency gain min / median / max |"
             " energy gain max |", "|---|---|---|---|---|"]
    for r in gain_summary(df).itertuples():
        lines.append(f"| {r.model} | {r.scenarios} | {_r(r.throughput_gain_min)} / {_r(r.throughput_gain_median)} / "
                     f"{_r(r.throughput_gain_max)} | {_r(r.latency_gain_min)} / {_r(r.latency_gain_median)} / "
                     f"{_r(r.latency_gain_max)} | {_r(r.energy_gain_max)} |")
    lost = int((df["stopped"] != "local optimum").sum())
    lines += ["", f"Gains are graph / chain (throughput) and chain / graph (latency, energy); ≥ 1 means the graph "
              f"plan is better. Scenarios left out (heuristic stopped by its time cap): {lost}. Largest certified "
              f"gap of the α = 1 heuristic {_r(df['graph_throughput_gap'].max())}, of the latency heuristic "
              f"{_r(df['graph_latency_gap'].max())}."]
    if "runs" in t and not t["runs"].empty:
        ru = t["runs"]
        lines += ["", f"Measured graph runs (2 cpu-host processes over loopback, {len(ru)} plans): measured / "
                  f"predicted throughput {_r(ru['throughput_ratio'].min())}–{_r(ru['throughput_ratio'].max())}, "
                  f"latency {_r(ru['latency_ratio'].min())}–{_r(ru['latency_ratio'].max())}; the messages' CPU "
                  f"is {_r(100 * ru['message_cpu_share'].min())}–{_r(100 * ru['message_cpu_share'].max())} % of "
                  "the busiest device's predicted time (notebook 08 has the load average of the runs)."]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------------- figures
def plot_gains(df: pd.DataFrame, media: Sequence[str] = sc.PAPER_MEDIA):
    """Throughput gain (α = 1) and latency gain of graph over chain, one bar per model x cluster, per medium."""
    import matplotlib.pyplot as plt
    media = [m for m in media if m in set(df["medium"])]
    fig, axes = plt.subplots(2, len(media), figsize=(4.2 * len(media), 6.5), sharey="row", squeeze=False)
    models = list(dict.fromkeys(df["model"]))
    clusters = list(dict.fromkeys(df["cluster"]))
    w = 0.8 / max(1, len(clusters))
    for j, med in enumerate(media):
        sub = df[df["medium"] == med].set_index(["model", "cluster"])
        for i, (col, label) in enumerate((("throughput_gain", "throughput gain (α = 1)"),
                                          ("latency_gain", "latency gain (1 inference)"))):
            ax = axes[i, j]
            for k, c in enumerate(clusters):
                vals = [sub[col].get((m, c), np.nan) for m in models]
                ax.bar(np.arange(len(models)) + (k - (len(clusters) - 1) / 2) * w, vals, w, label=c)
            ax.axhline(1.0, color="k", lw=0.8)
            ax.set_xticks(np.arange(len(models)), models if i == 1 else [""] * len(models), rotation=45, ha="right")
            ax.set_title(f"{sc.MEDIUM_LABELS.get(med, med)}" if i == 0 else "")
            if j == 0:
                ax.set_ylabel(f"{label}\ngraph vs chain (×)")
    axes[0, -1].legend(fontsize=7, title="cluster", title_fontsize=7)
    fig.tight_layout()
    return fig


def plot_quality(q: pd.DataFrame):
    """Heuristic vs HEFT per model: throughput at α = 1 and latency, with the heuristic's certified gap."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, obj in zip(axes, ("throughput (alpha=1)", "latency")):
        sub = q[q["objective"] == obj].pivot(index="model", columns="solver", values="value")
        ref = sub["heft"]
        ratio = (sub.div(ref, axis=0) if obj.startswith("throughput") else 1.0 / sub.div(ref, axis=0))
        ratio.plot.bar(ax=ax, rot=45)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_ylabel(f"{obj}: better than HEFT (×)")
        ax.set_xlabel("")
    fig.tight_layout()
    return fig


def plot_runs(runs: pd.DataFrame):
    """Measured against predicted throughput and latency of the measured graph plans."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    for ax, (p, m, label) in zip(axes, (("predicted_throughput_ips", "measured_throughput_ips", "throughput (1/s)"),
                                        ("predicted_latency_s", "measured_latency_s", "latency (s)"))):
        ax.scatter(runs[p], runs[m])
        lo, hi = min(runs[p].min(), runs[m].min()) * 0.8, max(runs[p].max(), runs[m].max()) * 1.25
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="measured = predicted")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"predicted {label}")
        ax.set_ylabel(f"measured {label}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
