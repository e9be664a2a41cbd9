"""Decoder LLMs over edge clusters: exact fronts, the paper's DP points, and a generated summary.

For each LLM and phase (profiles ``data/profiles/<llm>/<phase>/``), each edge cluster and each of the paper's
media, with realistic memory limits (:data:`problem_builder.REALISTIC_MEMORY_BYTES`) and CIM restricted to
weight-stationary units (``allowed``): the exact Pareto front, the exact α-optimum and the paper's DP at each α.

Units of the results: one *inference* of the cost model is one forward of the phase.  Decode: one token, so
tokens/s = throughput and J/token = energy.  Prefill: one prompt of S tokens, so tokens/s = S x throughput and
J/token = energy / S.  Throughput is the pipeline's steady state over *independent* requests in flight (the
paper's model); one sequence's decode cannot overlap its own tokens, so its latency is the sum of the stages.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..partition.plan_format import plan_string
from ..partition.problem import problem_from_dict
from ..partition.solve import InfeasibleError, pareto_front, solve
from ..profiling.models import LLM_NAMES
from ..profiling.problem_builder import build_problem, parse_cluster
from ..profiling.profiles import load_profiles
from .scenario_profiles import DEFAULT_PROFILES_DIR

PHASES = ("prefill", "decode")
CLUSTERS: dict[str, str] = {"4 CPU": "4cpu", "2 CPU + 2 GPU": "2cpu+2gpu", "2 CPU + 2 CIM": "2cpu+2cim",
                            "2 CPU + 1 GPU + 1 CIM": "2cpu+1gpu+1cim"}
MEDIA = ("pcie5", "hb-wcc", "lb-wcc")
ALPHAS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
CPU_TYPES = {"paper": "cpu-xeon-w3323", "host": "cpu-host"}
# what the figure's title says about the CPU devices for each ``cpu`` choice
CPU_NOTES = {"paper": "CPU devices: the paper's Xeon W-3323 (modelled)",
             "host": "CPU devices: this host's CPU (measured)"}


def llm_problem(model: str, phase: str, cluster: str, medium: str, cpu: str = "paper",
                cpu_power_w: float | None = None, profiles_dir: str | Path | None = None) -> dict:
    """Problem dict of one LLM scenario with realistic memory limits (CIM ``allowed`` from the builder)."""
    profiles = load_profiles(profiles_dir or DEFAULT_PROFILES_DIR, model, phase)
    aliases = {"cpu": CPU_TYPES[cpu], "gpu": "gpu-rtx3070ti", "cim": "cim"}
    assume = {CPU_TYPES[cpu]: cpu_power_w} if cpu == "host" and cpu_power_w else None
    return build_problem(profiles, parse_cluster(cluster, aliases), medium, memory_bytes="realistic",
                         assume_power_w=assume)


def context_of(problem: Mapping) -> int:
    """Tokens per prefill forward (the context S in the profile metadata), 1 for decode."""
    meta = next(iter(problem["device_types"].values()))["meta"]
    return int(meta["context"]) if meta.get("phase", meta.get("granularity")) == "prefill" else 1


def _row(model, phase, cluster, medium, kind, alpha, r, tokens) -> dict:
    return {"model": model, "phase": phase, "cluster": cluster, "medium": medium, "kind": kind, "alpha": alpha,
            "feasible": True, "bottleneck_s": r.bottleneck_s, "energy_j": r.energy_j,
            # a front point has no α: its objective (computed at α = 1 by pareto_front) would mislead
            "objective": r.objective if kind != "front" else np.nan, "tokens_per_s": tokens / r.bottleneck_s,
            "j_per_token": r.energy_j / tokens,
            "stages": len(r.stages), "plan": plan_string(r.stages), "message": ""}


def llm_sweep(models: Sequence[str] = LLM_NAMES, phases: Sequence[str] = PHASES,
              clusters: Mapping[str, str] | None = None, media: Sequence[str] = MEDIA,
              alphas: Sequence[float] = ALPHAS, cpu: str = "paper", cpu_power_w: float | None = None,
              profiles_dir: str | Path | None = None, progress: bool = True) -> pd.DataFrame:
    """One row per front point (``kind`` front), exact α-optimum (exact) and paper DP point (paper); a scenario
    where nothing fits gives one row ``kind`` infeasible with the solver's message."""
    from tqdm.auto import tqdm

    clusters = dict(CLUSTERS if clusters is None else clusters)
    todo = [(m, ph, c, md) for m in models for ph in phases for c in clusters for md in media]
    rows = []
    for m, ph, c, md in tqdm(todo, desc="LLM scenarios", unit="scenario", disable=not progress):
        d = llm_problem(m, ph, clusters[c], md, cpu, cpu_power_w, profiles_dir)
        p = problem_from_dict(d)
        tokens = context_of(d)
        try:
            front = pareto_front(p)
        except InfeasibleError as exc:
            rows.append({"model": m, "phase": ph, "cluster": c, "medium": md, "kind": "infeasible",
                         "alpha": np.nan, "feasible": False, "message": str(exc)})
            continue
        rows += [_row(m, ph, c, md, "front", np.nan, r, tokens) for r in front]
        for a in alphas:
            rows.append(_row(m, ph, c, md, "exact", a, solve(p, a, "exact"), tokens))
            rows.append(_row(m, ph, c, md, "paper", a, solve(p, a, "paper"), tokens))
    return pd.DataFrame(rows)


def memory_table(models: Sequence[str] = LLM_NAMES, phases: Sequence[str] = PHASES,
                 profiles_dir: str | Path | None = None) -> pd.DataFrame:
    """Per model and phase: resident bytes (weights + KV), largest unit, and what one device of each type holds."""
    from ..profiling.problem_builder import REALISTIC_MEMORY_BYTES, weight_stationary_units

    rows = []
    for m in models:
        for ph in phases:
            prof = load_profiles(profiles_dir or DEFAULT_PROFILES_DIR, m, ph)["cim"]
            df = prof.df
            resident = (df["weight_bytes"].astype(float) + df["kv_bytes"].astype(float)).to_numpy()
            ok = weight_stationary_units(df)
            rows.append({"model": m, "phase": ph, "units": len(df), "weights_gb": float(df.weight_bytes.sum()) / 1e9,
                         "kv_mb": float(df.kv_bytes.sum()) / 1e6, "resident_gb": float(resident.sum()) / 1e9,
                         "largest_unit_mb": float(resident.max()) / 1e6,
                         "fits_one_8gb_device": bool(resident.sum() <= REALISTIC_MEMORY_BYTES["gpu-rtx3070ti"]),
                         "cim_capacity_mb": REALISTIC_MEMORY_BYTES["cim"] / 1e6,
                         "cim_allowed_units": ", ".join(u for u, a in zip(df["unit"], ok) if a),
                         "cut_bytes": int(df.out_bytes.iloc[0]), "context": int(prof.meta["context"])})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------- summary
def _uses(plan: str, role: str) -> bool:
    return any(part.strip().startswith(role) for part in str(plan).split("|"))


def llm_summary(sweep: pd.DataFrame, memory: pd.DataFrame | None = None,
                cnn_sweep: pd.DataFrame | None = None) -> list[str]:
    """Short generated statements: what changes for LLMs relative to the CNNs (all numbers from the tables;
    ``cnn_sweep`` = the paper sweep's ``sweep.csv``, for the CNN side of the comparison)."""
    out = []
    if memory is not None and not memory.empty:
        for r in memory.sort_values("phase").drop_duplicates("model").itertuples():  # decode sorts first
            out.append(f"{r.model}: {r.resident_gb:.2f} GB resident (FP32 weights + {r.kv_mb:.1f} MB KV cache at the "
                       f"profiled context), largest unit {r.largest_unit_mb:.0f} MB; "
                       + ("fits one 8 GB CPU or GPU" if r.fits_one_8gb_device else "needs several 8 GB devices")
                       + f"; a CIM chip ({r.cim_capacity_mb:.0f} MB FP32-equivalent) may run only: "
                       f"{r.cim_allowed_units or 'nothing'} (attention and embeddings are not weight-stationary).")
            kv_tok = r.kv_mb * 1e6 / r.context
            room = 8e9 - r.resident_gb * 1e9 + r.kv_mb * 1e6
            out.append(f"{r.model}: KV cache {kv_tok / 1e3:.1f} kB per token of context, so the 8 GB limit of a CPU "
                       f"or GPU binds only beyond {room / kv_tok:,.0f} tokens; at FP32 the memory limits bind on CIM.")
        cuts = memory.pivot_table(index="model", columns="phase", values="cut_bytes", aggfunc="first")
        for m, r in cuts.iterrows():
            if not {"prefill", "decode"} <= set(r.dropna().index):
                continue
            out.append(f"{m}: a cut carries {int(r['prefill']):,} B in prefill and {int(r['decode']):,} B in decode "
                       f"(one token's hidden state): decode transfers are {r['prefill'] / r['decode']:.0f}x smaller.")
    feas = sweep[sweep.kind != "infeasible"]
    inf = sweep[sweep.kind == "infeasible"]
    if not inf.empty:
        out.append(f"{len(inf)} scenario(s) have no feasible plan (memory or eligibility), e.g. "
                   f"{inf.iloc[0].model}/{inf.iloc[0].phase}/{inf.iloc[0].cluster}/{inf.iloc[0].medium}: "
                   f"{inf.iloc[0].message}")
    cim = feas[(feas.kind == "front") & feas.cluster.str.contains("CIM")]
    if not cim.empty:
        share = cim.plan.map(lambda p: _uses(p, "cim")).mean()
        cim_stages = [part for p in cim.plan for part in str(p).split("|") if part.startswith("cim")]
        units_on_cim = sorted({part.split(":")[1] for part in cim_stages})
        text = (f"CIM appears in {share:.0%} of the {len(cim)} exact-front plans of clusters with CIM, running unit "
                f"range(s) {', '.join(units_on_cim) or 'none'} (the LM head is the only unit it may run)")
        if cnn_sweep is not None and {"cluster", "alpha", "solver", "used_cim", "plan"} <= set(cnn_sweep.columns):
            c0 = cnn_sweep[cnn_sweep.cluster.str.contains("cim") & (cnn_sweep.alpha == 0)
                           & (cnn_sweep.solver == "exact")]
            if not c0.empty:
                frac = (c0.used_cim > 0).mean()
                whole = c0.plan.map(lambda p: all(x.startswith("cim") for x in str(p).split("|"))).mean()
                text += (f"; in the paper's CNN sweep {frac:.0%} of the α = 0 plans of CIM clusters use CIM and "
                         f"{whole:.0%} run the whole CNN on CIM")
        out.append(text + ".")
    for ph in PHASES:
        a1 = feas[(feas.kind == "exact") & (feas.alpha == 1.0) & (feas.phase == ph)]
        if a1.empty:
            continue
        by = a1.groupby("medium").stages.mean()
        out.append(f"{ph}, α = 1: mean stages per plan " + ", ".join(f"{md} {by[md]:.1f}" for md in MEDIA if md in by)
                   + "; best " + "; ".join(
                       f"{m} {g.tokens_per_s.max():.3g} tokens/s ({g.loc[g.tokens_per_s.idxmax(), 'cluster']}, "
                       f"{g.loc[g.tokens_per_s.idxmax(), 'medium']})" for m, g in a1.groupby("model")) + ".")
        a0 = feas[(feas.kind == "exact") & (feas.alpha == 0.0) & (feas.phase == ph)]
        out.append(f"{ph}, α = 0: least J/token " + "; ".join(
            f"{m} {g.j_per_token.min():.3g} J ({g.loc[g.j_per_token.idxmin(), 'plan']})"
            for m, g in a0.groupby("model"))
            + ".")
    pe = feas[feas.kind.isin(["paper", "exact"])].pivot_table(
        index=["model", "phase", "cluster", "medium", "alpha"], columns="kind", values="objective")
    if not pe.empty:
        gap = pe["paper"] / pe["exact"] - 1
        worse = gap > 1e-12
        out.append(f"The paper's DP is worse than the exact α-optimum in {int(worse.sum())} of {len(pe)} LLM "
                   f"(scenario, α) pairs" + (f", by up to {gap.max():.2%} in objective." if worse.any() else "."))
    out.append("Throughput is the pipeline's steady state over independent requests; a single sequence's decode "
               "cannot pipeline its own tokens (its per-token latency is the sum of the stage times).")
    return out


# ---------------------------------------------------------------------------------------------- figure
def _groups(fronts: dict) -> list[list[str]]:
    """Clusters grouped by identical fronts (insertion order kept)."""
    out: dict = {}
    for c, key in fronts.items():
        out.setdefault(key, []).append(c)
    return list(out.values())


def plot_llm_fronts(sweep: pd.DataFrame, title_note: str = ""):
    """Rows = (model, phase), columns = media; per cluster the exact front (tokens/s vs J/token) and the
    paper's DP points."""
    import matplotlib.pyplot as plt

    from .plotting import cluster_marker, readable_log_axis

    keys = list(dict.fromkeys(zip(sweep.model, sweep.phase)))
    media = [m for m in MEDIA if m in set(sweep.medium)]
    fig, axes = plt.subplots(len(keys), len(media), figsize=(4.2 * len(media), 3.2 * len(keys)), squeeze=False)
    colors = dict(zip(CLUSTERS, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for i, (m, ph) in enumerate(keys):
        for j, md in enumerate(media):
            ax = axes[i][j]
            g = sweep[(sweep.model == m) & (sweep.phase == ph) & (sweep.medium == md)]
            fronts = {}
            for k, c in enumerate(dict.fromkeys(g.cluster)):
                gc = g[g.cluster == c]
                col = colors.get(c)
                f = gc[gc.kind == "front"].sort_values("tokens_per_s")
                if not f.empty:
                    ax.step(f.tokens_per_s, f.j_per_token, where="post", color=col, lw=1.2, label=c)
                    # hollow markers, smaller for each later cluster: fronts that coincide show as nested rings
                    ax.plot(f.tokens_per_s, f.j_per_token, ls="", marker=cluster_marker(CLUSTERS.get(c, c)),
                            mfc="none", mec=col, ms=max(3.0, 10.0 - 2.2 * k), mew=1.0)
                    fronts[c] = tuple(np.round(np.log10(f[["tokens_per_s", "j_per_token"]].to_numpy()), 9).ravel())
                dp = gc[gc.kind == "paper"]
                if not dp.empty:
                    ax.plot(dp.tokens_per_s, dp.j_per_token, "x", color=col, ms=6)
                if (gc.kind == "infeasible").any():
                    ax.text(0.02, 0.02, f"{c}: no plan fits", transform=ax.transAxes, fontsize=7, color=col)
            same = [cs for cs in _groups(fronts) if len(cs) > 1]
            if same:
                ax.text(0.98, 0.98, "\n".join("same front: " + " = ".join(cs) for cs in same), ha="right", va="top",
                        transform=ax.transAxes, fontsize=6.5, bbox=dict(fc="white", ec="0.7", lw=0.5, alpha=0.9))
            ax.set_xscale("log")
            ax.set_yscale("log")
            readable_log_axis(ax.xaxis)
            readable_log_axis(ax.yaxis)
            ax.set_title(f"{m} {ph} / {md}", fontsize=9)
            if i == len(keys) - 1:
                ax.set_xlabel("tokens/s")
            if j == 0:
                ax.set_ylabel("J/token")
            ax.grid(True, which="both", lw=0.3, alpha=0.5)
    axes[0][0].legend(fontsize=7, title="line + rings: exact front; x: paper DP", title_fontsize=7,
                      loc="lower left")
    fig.suptitle("Decoder LLMs: exact Pareto fronts and the paper's DP points (units measured on this host's CPU, "
                 "device costs modelled)" + (f"; {title_note}" if title_note else ""), fontsize=10)
    fig.tight_layout()
    return fig
