"""Figures of notebook 06: predicted vs measured throughput (y = x), and where the error comes from.

They only draw columns of ``data/validation/summary.csv`` (see :mod:`donna_core.runtime.validation`); they never switch
matplotlib's backend, so
they show inline in a notebook and save headless under papermill.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from .plotting import save_figure

__all__ = ["plot_predicted_vs_measured", "plot_error_split", "plot_old_new_plans", "plot_old_new_transfers",
           "save_figure"]

SETTING_STYLE = {"none": ("black", "1 stage (no link)"), "loopback": ("tab:blue", "unshaped (loopback)"),
                 "pcie5": ("tab:green", "emulated PCIe-5"), "hb-wcc": ("tab:orange", "emulated HB-WCC"),
                 "lb-wcc": ("tab:red", "emulated LB-WCC")}
MARKERS = {("resnet152", "block"): "o", ("resnet152", "layer"): "s", ("vgg19", "block"): "^",
           ("vgg19", "layer"): "D"}


def plot_predicted_vs_measured(summary: pd.DataFrame, title: str = ""):
    fig, ax = plt.subplots(figsize=(5.6, 5.0))
    lo = min(summary["pred_ips"].min(), summary["meas_ips"].min()) * 0.8
    hi = max(summary["pred_ips"].max(), summary["meas_ips"].max()) * 1.2
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8, label="y = x")
    ax.fill_between([lo, hi], [lo * 0.9, hi * 0.9], [lo * 1.1, hi * 1.1], color="0.85", label="±10 %")
    seen = set()
    for r in summary.itertuples():
        colour, label = SETTING_STYLE.get(r.setting, ("tab:gray", r.setting))
        mk = MARKERS.get((r.model, r.granularity), "x")
        ax.scatter(r.pred_ips, r.meas_ips, color=colour, marker=mk, s=36, edgecolor="k", linewidth=0.4,
                   label=label if label not in seen else None, zorder=3)
        seen.add(label)
    for (m, g), mk in MARKERS.items():
        if ((summary["model"] == m) & (summary["granularity"] == g)).any():
            ax.scatter([], [], color="white", edgecolor="k", marker=mk, label=f"{m} / {g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("predicted throughput (inferences/s, cost model)")
    ax.set_ylabel("measured throughput (inferences/s)")
    ax.set_title(title or "Cost model vs measured pipeline (2 stages max, 2 cores)")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def plot_error_split(summary: pd.DataFrame):
    """Per run: period error split into compute work vs the profile, waiting for a core, and communication /
    overlap (ms), stacked from 0 outwards by sign."""
    df = summary.reset_index(drop=True)
    labels = [f"{r.model}/{r.granularity}/{r.setting} ({r.stages} st)" for r in df.itertuples()]
    fig, ax = plt.subplots(figsize=(7.0, 0.28 * len(df) + 1.6))
    parts = [("work_part_s", "tab:purple", "compute work vs profile (CPU time)"),
             ("core_wait_part_s", "tab:pink", "waiting for a core (other processes)"),
             ("comm_overlap_part_s", "tab:cyan", "communication / overlap")]
    pos = pd.Series(0.0, index=df.index)
    neg = pd.Series(0.0, index=df.index)
    for col, colour, label in parts:
        v = (df[col] if col in df else pd.Series(0.0, index=df.index)).fillna(0.0) * 1e3
        left = pos.where(v >= 0, neg)
        ax.barh(range(len(df)), v, left=left, color=colour, label=label)
        pos, neg = pos + v.clip(lower=0), neg + v.clip(upper=0)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(list(range(len(df))), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("measured - predicted period (ms)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.08 - 0.6 / (0.28 * len(df) + 1.6)),
              ncol=3, frameon=False)
    fig.tight_layout()
    return fig


def _case_label(r) -> str:
    return f"{r.model} {r.setting} ({r.stages} st, {r.plan.split(' | ')[0].split(':')[1]})"


def plot_old_new_plans(comm: pd.DataFrame):
    """Transfer-bound plans (``comm_summary.csv``): throughput error of the paper's model and of the extended one
    per run, side by side (bars), with the ±10 % / ±20 % targets."""
    df = comm.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(7.0, 0.42 * len(df) + 1.4))
    y = range(len(df))
    ax.barh([i + 0.2 for i in y], 100 * df["rel_error_old"], height=0.38, color="0.6", label="old: paper model")
    ax.barh([i - 0.2 for i in y], 100 * df["rel_error_new"], height=0.38, color="tab:blue",
            label="new: curve + CPU cost + shared channel")
    for x in (-20, -10, 10, 20):
        ax.axvline(x, color="k", lw=0.5, ls=":" if abs(x) == 10 else "--")
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(list(y))
    ax.set_yticklabels([_case_label(r) + (" *" if r.bound_new == "transfer" else "") for r in df.itertuples()],
                       fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("measured / predicted throughput − 1 (%)   (* = transfer-bound under the new model)")
    ax.set_title("Transfer-bound plans: throughput error, old vs new communication model")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def plot_old_new_transfers(transfers: pd.DataFrame):
    """Per message stream (``comm_transfers.csv``): predicted in-flight time against measured, old and new model,
    log-log with y = x."""
    fig, ax = plt.subplots(figsize=(5.6, 5.0))
    t = transfers
    lo = min(t[["pred_old_s", "pred_new_s", "meas_s"]].min()) * 0.5
    hi = max(t[["pred_old_s", "pred_new_s", "meas_s"]].max()) * 2
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8, label="y = x")
    ax.fill_between([lo, hi], [lo * 0.8, hi * 0.8], [lo * 1.2, hi * 1.2], color="0.88", label="±20 %")
    for r in t.itertuples():
        colour = SETTING_STYLE.get(r.setting.replace("-shared", ""), ("tab:gray", ""))[0]
        ax.plot([r.pred_old_s, r.pred_new_s], [r.meas_s, r.meas_s], color=colour, lw=0.6, zorder=2)
        ax.scatter(r.pred_old_s, r.meas_s, facecolor="white", edgecolor=colour, s=30, zorder=3)
        ax.scatter(r.pred_new_s, r.meas_s, color=colour, edgecolor="k", linewidth=0.4, s=30, zorder=3)
    for setting in dict.fromkeys(t["setting"]):
        colour = SETTING_STYLE.get(setting.replace("-shared", ""), ("tab:gray", ""))[0]
        ax.scatter([], [], color=colour, label=setting)
    ax.scatter([], [], facecolor="white", edgecolor="k", label="old model (open)")
    ax.scatter([], [], color="k", label="new model (filled)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("predicted in-flight time per message (s)")
    ax.set_ylabel("measured in-flight time (hold + wire, median, s)")
    ax.set_title("Transfers: old vs new communication model")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig
