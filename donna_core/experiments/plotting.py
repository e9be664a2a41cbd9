"""Matplotlib helpers for the paper's figures; every figure is saved as PNG and PDF, atomically.

Functions take the DataFrames built by :mod:`donna_core.experiments.scenarios` and return the Figure; they compute
nothing that is not already in the table (ratios are columns of the table, not recomputed here).
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg", force=False)  # headless by default; a notebook's inline backend still takes over
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..atomic import write_bytes_atomic  # noqa: E402

MEDIUM_LABELS = {"pcie5": "PCIe-5", "hb-wcc": "HB-WCC", "lb-wcc": "LB-WCC"}
CLUSTER_MARKERS = {"4cpu": "o", "2cpu+2gpu": "s", "2cpu+2cim": "^", "2cpu+1gpu+1cim": "D", "2cim": "v"}
FRONT_STYLES = {"4cpu": ":", "2cpu+2gpu": "--", "2cpu+2cim": "-.", "2cpu+1gpu+1cim": "-", "2cim": (0, (1, 3))}
ROLE_COLOURS = {"cpu": "tab:blue", "gpu": "tab:green", "cim": "tab:red"}
FIG_DPI = 150


def save_figure(fig, outdir: str | Path, name: str) -> list[Path]:
    """Save ``fig`` as ``<outdir>/<name>.png`` and ``.pdf`` (each written atomically); return both paths."""
    outdir = Path(outdir)
    paths = []
    for ext in ("png", "pdf"):
        buf = io.BytesIO()
        # PDF metadata carries a creation date; drop it so reruns give identical files.
        meta = {"CreationDate": None} if ext == "pdf" else {"Software": None}
        fig.savefig(buf, format=ext, dpi=FIG_DPI, bbox_inches="tight", metadata=meta)
        paths.append(write_bytes_atomic(outdir / f"{name}.{ext}", buf.getvalue()))
    return paths


def _marker(cluster: str) -> str:
    return CLUSTER_MARKERS.get(cluster, "P")


# ------------------------------------------------------------------------------------------ Fig. 2a-b
def plot_profiles(long: pd.DataFrame, metric: str = "time_s", log: bool = True, models: Sequence[str] | None = None):
    """Per-unit ``metric`` (time_s or energy_j) of each model on each device type; legend names the source."""
    if metric not in ("time_s", "energy_j"):
        raise ValueError(f"metric must be 'time_s' or 'energy_j', got {metric!r}")
    models = list(models or long["model"].unique())
    fig, axes = plt.subplots(1, len(models), figsize=(5.0 * len(models), 3.6), squeeze=False)
    for ax, model in zip(axes[0], models):
        sub = long[long["model"] == model]
        for role, g in sub.groupby("role", sort=False):
            ax.plot(g["unit_index"], g[metric], marker=".", ms=3, lw=1, color=ROLE_COLOURS.get(role),
                    label=g["label"].iloc[0])
        if log:
            ax.set_yscale("log")
        ax.set_title(model)
        ax.set_xlabel("layer (unit index)")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel({"time_s": "compute time per layer [s]", "energy_j": "compute energy per layer [J]"}[metric])
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, title="device (data source)", title_fontsize=7)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------ Fig. 2c-k
def plot_sweep_panel(ax, points: pd.DataFrame, front: pd.DataFrame | None = None, title: str = "",
                     norm=None, cmap: str = "viridis"):
    """One Fig. 2 panel: throughput (x) vs energy (y); marker = cluster, colour = α; DP-worse points ringed."""
    norm = norm or matplotlib.colors.Normalize(0.0, 1.0)
    sc = None
    for cluster, g in points.groupby("cluster", sort=False):
        sc = ax.scatter(g["throughput_ips"], g["energy_j"], c=g["alpha"], cmap=cmap, norm=norm,
                        marker=_marker(cluster), s=42, edgecolors="k", linewidths=0.4, zorder=3)
        if front is not None and not front.empty:
            f = front[front["cluster"] == cluster].sort_values("throughput_ips")
            if not f.empty:
                # steps-pre: for throughput in (x_i, x_i+1] the least attainable energy is that of point i+1
                ax.plot(f["throughput_ips"], f["energy_j"], lw=0.8, ls=FRONT_STYLES.get(cluster, "--"),
                        color="0.35", zorder=2, drawstyle="steps-pre")
    if "dp_worse" in points.columns:
        bad = points[points["dp_worse"].astype(bool)]
        if not bad.empty:
            ax.scatter(bad["throughput_ips"], bad["energy_j"], s=150, facecolors="none", edgecolors="red",
                       linewidths=1.4, zorder=4)
    ax.set_xscale("log")
    ax.set_yscale("log")
    # minor-tick labels of narrow log ranges collide; keep only the major ones
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    return sc


def plot_sweep(points: pd.DataFrame, fronts: pd.DataFrame | None, models: Sequence[str], media: Sequence[str],
               sources: str = ""):
    """Fig. 2c-k grid: rows = models, columns = media. ``points``: paper-solver rows with ``dp_worse``."""
    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(len(models), len(media), figsize=(4.3 * len(media), 3.5 * len(models)),
                             squeeze=False)
    norm = matplotlib.colors.Normalize(0.0, 1.0)
    sc = None
    letters = iter("cdefghijklmnopqrstuvwxyz")
    for i, model in enumerate(models):
        for j, medium in enumerate(media):
            ax = axes[i][j]
            pts = points[(points["model"] == model) & (points["medium"] == medium)]
            fr = None if fronts is None else fronts[(fronts["model"] == model) & (fronts["medium"] == medium)]
            s = plot_sweep_panel(ax, pts, fr, f"({next(letters)}) {model}, {MEDIUM_LABELS.get(medium, medium)}", norm)
            sc = s or sc
            if i == len(models) - 1:
                ax.set_xlabel("throughput [inferences/s]")
            if j == 0:
                ax.set_ylabel("energy per inference [J]")
    clusters = list(dict.fromkeys(points["cluster"]))
    handles = [Line2D([], [], marker=_marker(c), ls=FRONT_STYLES.get(c, "--"), color="0.35", mfc="0.6", mec="k",
                      label=f"D = {{{c}}} (line: its exact Pareto front)") for c in clusters]
    handles += [Line2D([], [], marker="o", ls="", mfc="none", mec="red", ms=10, label="paper DP worse than exact")]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 3), fontsize=8,
               title=f"points: paper's DP (Algorithm 1), colour = α; {sources}", title_fontsize=8,
               bbox_to_anchor=(0.5, 0.0))
    fig.subplots_adjust(bottom=1.4 / fig.get_figheight(), hspace=0.35, wspace=0.25, right=0.88)
    if sc is not None:
        cax = fig.add_axes((0.90, 0.35, 0.012, 0.45))
        fig.colorbar(sc, cax=cax, label="α")
    return fig


# ------------------------------------------------------------------------------------------ Fig. 3
def plot_single_gpu_comparison(df: pd.DataFrame, sources: str = ""):
    """Fig. 3: speedup, total energy and average per-device energy of each scenario, relative to one GPU."""
    panels = [("speedup", "throughput speedup vs 1 GPU [×]"),
              ("energy_ratio", "total energy / 1-GPU energy"),
              ("per_device_energy_ratio", "avg per-device energy / 1-GPU energy")]
    fig, axes = plt.subplots(1, 3, figsize=(15, 0.32 * len(df) + 1.8), sharey=True)
    y = np.arange(len(df))
    colours = [{"pcie5": "tab:blue", "hb-wcc": "tab:orange", "lb-wcc": "tab:purple"}.get(m, "0.5")
               for m in df["medium"]]
    for ax, (col, label) in zip(axes, panels):
        # bars grow from the 1-GPU baseline (1×), so better and worse than the baseline point opposite ways
        ax.barh(y, df[col] - 1.0, left=1.0, color=colours)
        ax.axvline(1.0, color="k", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3, axis="x", which="both")
    axes[0].set_yticks(y, df["label"], fontsize=7)
    axes[0].invert_yaxis()
    axes[0].set_ylabel("(x, available GPU/CIM/CPU, participating GPU/CIM/CPU, α, medium)", fontsize=8)
    from matplotlib.patches import Patch
    handles = [Patch(color=c, label=MEDIUM_LABELS[m]) for m, c in
               {"pcie5": "tab:blue", "hb-wcc": "tab:orange", "lb-wcc": "tab:purple"}.items() if m in set(df["medium"])]
    handles.append(matplotlib.lines.Line2D([], [], color="k", ls="--", label="single GPU baseline"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8,
               title=sources, title_fontsize=8, bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


# ------------------------------------------------------------------------------------------ Fig. 4
def plot_edge_vs_cloud(df: pd.DataFrame, sources: str = ""):
    """Fig. 4: (a) throughput speedup and (b) energy reduction of DONNA's plan over offloading to the cloud."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    x = np.arange(len(df))
    for ax, col, label in ((axes[0], "speedup", "(a) throughput speedup [×]"),
                           (axes[1], "energy_reduction", "(b) energy reduction [×]")):
        bars = ax.bar(x, df[col], color="tab:red", label="DONNA (edge CIM) vs offload all to cloud GPU")
        ax.bar_label(bars, labels=[f"{v:.3g}×" for v in df[col]], fontsize=8)
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.set_xticks(x, df["model"])
        ax.set_yscale("log")
        lo, hi = min(1.0, float(df[col].min())), max(1.0, float(df[col].max()))
        ax.set_ylim(lo / 1.5, hi * 2.0)  # headroom for the value labels
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, axis="y", which="both")
    n_edge = int(df["n_edge"].iloc[0]) if len(df) else 0
    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(matplotlib.lines.Line2D([], [], color="k", ls="--"))
    labels.append("offload baseline (raw input over LB-WCC, all layers on the cloud GPU)")
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=7,
               title=f"{n_edge} edge CIM devices linked by HB-WCC; {sources}", title_fontsize=7,
               bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return fig


# ------------------------------------------------------------------------------------------ explorer
def plot_stage_bars(ax, stages: pd.DataFrame, title: str = ""):
    """Horizontal bars of each stage's compute time and outgoing transfer time; the bottleneck dashed."""
    ax.clear()
    y = np.arange(len(stages))
    ax.barh(y - 0.2, stages["compute_s"], height=0.4, color=[ROLE_COLOURS.get(r, "0.5") for r in stages["role"]],
            label="compute")
    ax.barh(y + 0.2, stages["comm_out_s"], height=0.4, color="0.6", label="transfer out")
    ax.set_yticks(y, [f"{d} [{f}-{l}]" for d, f, l in zip(stages["device"], stages["first"], stages["last"])])
    ax.invert_yaxis()
    if len(stages):
        ax.axvline(max(stages["compute_s"].max(), stages["comm_out_s"].max()), color="k", ls="--", lw=0.8)
    ax.set_xlabel("time per inference [s]")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)


def plot_front(ax, front: pd.DataFrame, current: Mapping | None = None, title: str = ""):
    """The exact Pareto front in throughput/energy space with the current plan marked."""
    ax.clear()
    ax.plot(front["throughput_ips"], front["energy_j"], "o--", ms=4, color="0.3", label="exact Pareto front")
    if current is not None:
        ax.plot([current["throughput_ips"]], [current["energy_j"]], "*", ms=14, color="tab:red",
                label="current plan")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("throughput [inferences/s]")
    ax.set_ylabel("energy per inference [J]")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
