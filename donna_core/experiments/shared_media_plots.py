"""Figures of notebook 10: what shared wireless channels and a measured transport curve change.

They only draw columns of the tables built by :mod:`.shared_media_study`; like :mod:`.plotting` they never select
a matplotlib backend, so they show inline in a notebook and save headless under papermill.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from .plotting import CLUSTER_MARKERS, MEDIUM_LABELS, save_figure

__all__ = ["plot_throughput_ratio", "plot_world_fronts", "plot_curve_vs_line", "save_figure"]

MODEL_COLOURS = {"resnet152": "tab:blue", "vgg19": "tab:orange", "vgg8": "tab:green"}
CLUSTER_COLOURS = {"4cpu": "tab:blue", "2cpu+2gpu": "tab:green", "2cpu+2cim": "tab:red",
                   "2cpu+1gpu+1cim": "tab:purple"}


def plot_throughput_ratio(compare: pd.DataFrame, solver: str = "exact", sources: str = ""):
    """Per radio medium: throughput with a shared channel over throughput with independent links, per scenario
    (x = α, offset per model; marker = cluster; filled = the plan changed, hollow = same plan)."""
    df = compare[compare["solver"] == solver]
    media = [m for m in ("hb-wcc", "lb-wcc") if m in set(df["base_medium"])]
    fig, axes = plt.subplots(1, len(media), figsize=(5.2 * len(media), 3.8), squeeze=False, sharey=True)
    models = list(dict.fromkeys(df["model"]))
    for ax, medium in zip(axes[0], media):
        g = df[df["base_medium"] == medium]
        for k, model in enumerate(models):
            off = (k - (len(models) - 1) / 2) * 0.03
            for cluster, h in g[g["model"] == model].groupby("cluster", sort=False):
                colour = MODEL_COLOURS.get(model, "tab:gray")
                face = [colour if c else "none" for c in h["plan_changed"]]
                ax.scatter(h["alpha"] + off, h["throughput_ratio"], marker=CLUSTER_MARKERS.get(cluster, "P"),
                           facecolors=face, edgecolors=colour, s=34, linewidths=1.0, zorder=3)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_title(f"{MEDIUM_LABELS.get(medium, medium)}: shared channel vs independent links", fontsize=9)
        ax.set_xlabel("α")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("throughput ratio shared / independent")
    handles = [plt.Line2D([], [], ls="", marker="o", color=c, label=m) for m, c in MODEL_COLOURS.items()
               if m in models]
    handles += [plt.Line2D([], [], ls="", marker=mk, mfc="none", mec="k", label=c) for c, mk in CLUSTER_MARKERS.items()
                if c in set(df["cluster"])]
    handles += [plt.Line2D([], [], ls="", marker="o", mfc="0.4", mec="0.4", label="plan changed"),
                plt.Line2D([], [], ls="", marker="o", mfc="none", mec="0.4", label="same plan")]
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=7, frameon=False, bbox_to_anchor=(0.5, -0.1))
    fig.suptitle(f"{solver} solver; " + sources, fontsize=8)
    fig.tight_layout()
    return fig


def plot_world_fronts(fronts: pd.DataFrame, models: Sequence[str], media: Sequence[str] = ("hb-wcc", "lb-wcc"),
                      sources: str = ""):
    """Exact Pareto fronts, rows = models, columns = radio media; per cluster the independent-links front
    (dashed) and the shared-channel front (solid, markers)."""
    fig, axes = plt.subplots(len(models), len(media), figsize=(4.6 * len(media), 3.4 * len(models)), squeeze=False)
    for i, model in enumerate(models):
        for j, medium in enumerate(media):
            ax = axes[i][j]
            g = fronts[(fronts["model"] == model) & (fronts["base_medium"] == medium)]
            for (cluster, world), f in g.groupby(["cluster", "world"], sort=False):
                f = f.sort_values("throughput_ips")
                shared = world == "shared"
                ax.plot(f["throughput_ips"], f["energy_j"], drawstyle="steps-pre", lw=1.2 if shared else 0.9,
                        ls="-" if shared else "--", color=CLUSTER_COLOURS.get(cluster, "0.4"),
                        marker=CLUSTER_MARKERS.get(cluster, "P") if shared else None, ms=3)
            ax.set_xscale("log")
            ax.set_yscale("log")
            # minor-tick labels of narrow log ranges collide; keep only the major ones
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_title(f"{model}, {MEDIUM_LABELS.get(medium, medium)}", fontsize=9)
            ax.grid(alpha=0.3, which="both")
            if i == len(models) - 1:
                ax.set_xlabel("throughput [inferences/s]")
            if j == 0:
                ax.set_ylabel("energy per inference [J]")
    handles = [plt.Line2D([], [], color=c, marker=CLUSTER_MARKERS.get(k, "P"), ms=4, label=k)
               for k, c in CLUSTER_COLOURS.items() if k in set(fronts["cluster"])]
    handles += [plt.Line2D([], [], color="k", ls="--", label="independent links (paper)"),
                plt.Line2D([], [], color="k", ls="-", label="shared channel")]
    fig.legend(handles=handles, loc="lower center", ncol=6, fontsize=7, frameon=False, bbox_to_anchor=(0.5, -0.03))
    fig.suptitle("exact Pareto fronts; " + sources, fontsize=8)
    fig.tight_layout()
    return fig


def plot_curve_vs_line(media: Mapping[str, Mapping], cuts: pd.DataFrame, curve: pd.DataFrame, label: str = ""):
    """Left: time per message of the measured curve and of its fitted line over the message sizes, with the
    sizes of every possible cut of each model as ticks. Right: per scenario, throughput with the curve's plan
    over the line's plan (each under its own model) and the line's plan re-costed under the curve."""
    from donna_core.partition.media import Medium, message_time

    c, li = media["curve"], media["line"]
    mc = Medium(c["bandwidth_Bps"], c["energy_J_per_bit"], time_curve=tuple(map(tuple, c["time_curve"])))
    ml = Medium(li["bandwidth_Bps"], li["energy_J_per_bit"], latency_s=li.get("latency_s", 0.0))
    lo = min(cuts["out_bytes"].min(), c["time_curve"][0][0]) / 2
    hi = max(cuts["out_bytes"].max(), c["time_curve"][-1][0]) * 2
    b = np.geomspace(lo, hi, 300)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10.5, 3.9))
    ax.plot(b, message_time(mc, b), color="tab:blue", label="time_curve (log-log interpolation)")
    ax.plot(b, message_time(ml, b), color="tab:orange", ls="--", label="fitted line latency + bytes/bandwidth")
    pts = np.asarray(c["time_curve"], dtype=float)
    ax.scatter(pts[:, 0], pts[:, 1], color="tab:blue", s=18, zorder=3, label="curve points")
    ymin = float(message_time(mc, lo))
    for k, (model, g) in enumerate(cuts.groupby("model", sort=False)):
        ax.scatter(g["out_bytes"], np.full(len(g), ymin * 0.6 / (1.6 ** k)), marker="|", s=40,
                   color=MODEL_COLOURS.get(model, "0.4"), label=f"{model} cut sizes")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("message size [bytes]")
    ax.set_ylabel("time per message [s]")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=6.5)
    ax.set_title(label, fontsize=7)
    for k, (model, g) in enumerate(curve.groupby("model", sort=False)):
        colour = MODEL_COLOURS.get(model, "0.4")
        off = (k - 1) * 0.03
        ax2.scatter(g["alpha"] + off, g["throughput_ratio"], color=colour, s=22,
                    label=f"{model}: curve plan / line plan")
        ax2.scatter(g["alpha"] + off, g["line_plan_loss"], facecolors="none", edgecolors=colour, s=40, marker="s",
                    label=f"{model}: line plan slowed by the curve")
    ax2.axhline(1.0, color="k", lw=0.8)
    ax2.set_xlabel("α")
    ax2.set_ylabel("ratio (1 = no change)")
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=6.5)
    ax2.set_title(f"{int(curve['plan_changed'].sum())} of {len(curve)} plans change", fontsize=9)
    fig.tight_layout()
    return fig
