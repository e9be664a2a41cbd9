"""Matplotlib helpers for the paper's figures; every figure is saved as PNG and PDF, atomically.

Functions take the DataFrames built by :mod:`donna_core.experiments.scenarios` and return the Figure; they compute
nothing that is not already in the table (ratios are columns of the table, not recomputed here).

This module never selects a matplotlib backend: a library that calls ``matplotlib.use`` replaces an interactive
kernel's inline backend, after which ``display(fig)`` prints ``<Figure ...>`` text instead of the figure. Headless
runs need no backend choice either (matplotlib falls back to Agg without a display). The paper figures go through
pyplot (a notebook shows them inline); the explorer's figures are plain :class:`matplotlib.figure.Figure` objects
rendered to PNG bytes by :func:`png_bytes`, so they look the same in every front end and never touch pyplot.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib
import matplotlib.colors
import matplotlib.lines
import matplotlib.ticker
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..atomic import write_bytes_atomic

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
        # no volatile metadata (dates, the library version in PNGs), so reruns give identical files
        meta = {"CreationDate": None, "ModDate": None} if ext == "pdf" else {"Software": None}
        fig.savefig(buf, format=ext, dpi=FIG_DPI, bbox_inches="tight", metadata=meta)
        paths.append(write_bytes_atomic(outdir / f"{name}.{ext}", buf.getvalue()))
    return paths


def _plain(v: float) -> str:
    """Tick text without scientific notation for the ranges these figures span (1e-4 .. 1e6): "3000", "0.02"."""
    return f"{v:.6g}" if 1e-4 <= abs(v) < 1e6 else f"{v:.0e}"


def readable_log_axis(axis, log: bool = True) -> None:
    """Log ``axis`` with plain tick labels that never overlap: decades labelled; when the view spans less than
    ~1.5 decades (one or no decade tick in sight) the minor ticks at 2× and 5× are labelled too."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    axis.set_major_formatter(FuncFormatter(lambda v, _: _plain(v)))
    axis.set_minor_locator(LogLocator(base=10.0, subs=(2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0)))

    def minor(v, _):
        lo, hi = sorted(abs(x) for x in axis.get_view_interval())
        narrow = lo > 0 and hi / lo < 10 ** 1.5
        mant = v / 10 ** np.floor(np.log10(v) + 1e-9)
        return _plain(v) if narrow and round(mant) in (2, 5) and abs(mant - round(mant)) < 1e-6 else ""

    axis.set_minor_formatter(FuncFormatter(minor))


def cluster_marker(cluster: str) -> str:
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
                        marker=cluster_marker(cluster), s=42, edgecolors="k", linewidths=0.4, zorder=3)
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
    readable_log_axis(ax.xaxis)
    readable_log_axis(ax.yaxis)
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
    handles = [Line2D([], [], marker=cluster_marker(c), ls=FRONT_STYLES.get(c, "--"), color="0.35", mfc="0.6", mec="k",
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
        # bars grow from the 1-GPU baseline (1×), so better and worse than the baseline point opposite ways; a
        # marker at every value keeps ratios of exactly 1 (zero-length bars) visible as data
        ax.barh(y, df[col] - 1.0, left=1.0, color=colours)
        ax.scatter(df[col], y, marker="o", s=22, c=colours, edgecolors="k", linewidths=0.7, zorder=3)
        ax.set_axisbelow(True)  # grid lines behind the bars
        ax.axvline(1.0, color="k", lw=0.8, ls="--")
        ax.set_xscale("log")
        readable_log_axis(ax.xaxis)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3, axis="x", which="both")
    axes[0].set_yticks(y, df["label"], fontsize=7)
    axes[0].invert_yaxis()
    axes[0].set_ylabel("scenario: devices available → devices the plan uses; α, medium", fontsize=8)
    from matplotlib.patches import Patch
    handles = [Patch(color=c, label=MEDIUM_LABELS[m]) for m, c in
               {"pcie5": "tab:blue", "hb-wcc": "tab:orange", "lb-wcc": "tab:purple"}.items() if m in set(df["medium"])]
    handles.append(matplotlib.lines.Line2D([], [], color="k", ls="--", label="single GPU baseline (1×)"))
    handles.append(matplotlib.lines.Line2D([], [], marker="o", ls="", ms=5, mfc="0.6", mec="k", mew=0.7,
                                           label="the value (a dot on the baseline: exactly 1×)"))
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
# The explorer's figures are built without pyplot (see the module docstring) and shown as PNG bytes.
EXPLORER_DPI = 90
TRANSFER_COLOUR = "0.6"


def png_bytes(fig: Figure, dpi: int = EXPLORER_DPI) -> bytes:
    """Render ``fig`` to PNG bytes with the Agg canvas, whatever backend the process has selected."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buf = io.BytesIO()
    FigureCanvasAgg(fig)  # attaches an Agg canvas to this figure only; pyplot's backend is untouched
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def _role_handles(roles: Sequence[str], transfer: bool = True) -> list:
    from matplotlib.patches import Patch

    handles = [Patch(color=ROLE_COLOURS.get(r, "0.5"), label=f"{r} compute") for r in dict.fromkeys(roles)]
    if transfer:
        handles.append(Patch(color=TRANSFER_COLOUR, label="transfer out"))
    return handles


def draw_plan_map(ax, stages: pd.DataFrame, n_units: int) -> None:
    """Which units each stage runs: one coloured span per stage over the unit axis.

    A span is at least ``min_w`` units wide so a single-unit stage stays visible next to a 150-unit one.
    """
    min_w = max(0.8, 0.012 * n_units)
    for _, s in stages.iterrows():
        width = s["last"] - s["first"] + 1
        left = s["first"] - 0.5
        if width < min_w:
            left -= (min_w - width) / 2
            width = min_w
        ax.barh(0, width, left=left, height=0.8, color=ROLE_COLOURS.get(s["role"], "0.5"), edgecolor="k", lw=0.6)
        ax.text(left + width / 2, 0, s["device"], ha="center", va="center", fontsize=7, clip_on=True)
    ax.set_xlim(-0.5 - 0.01 * n_units, n_units - 0.5 + 0.01 * n_units)
    ax.set_ylim(-0.5, 0.5)
    ax.set_yticks([])
    ax.set_xlabel("unit index (0-based); one span per stage", fontsize=8)
    ax.tick_params(labelsize=7)


def draw_stage_bars(ax, stages: pd.DataFrame) -> None:
    """Compute and outgoing-transfer time of each stage (log scale, so short stages stay visible).

    The bottleneck (largest bar) is marked by a dashed line; zero transfers (the last stage) are not drawn.
    """
    y = np.arange(len(stages))
    ax.barh(y - 0.2, stages["compute_s"], height=0.4, color=[ROLE_COLOURS.get(r, "0.5") for r in stages["role"]])
    comm = stages["comm_out_s"].to_numpy(dtype=float)
    pos = comm > 0
    ax.barh(y[pos] + 0.2, comm[pos], height=0.4, color=TRANSFER_COLOUR)
    ax.set_xscale("log")
    ax.set_yticks(y, [f"{d} [{f}-{l}]" for d, f, l in zip(stages["device"], stages["first"], stages["last"])],
                  fontsize=7)
    ax.invert_yaxis()
    if len(stages):
        ax.axvline(max(stages["compute_s"].max(), comm.max(initial=0.0)), color="k", ls="--", lw=0.8,
                   label="bottleneck")
    ax.set_xlabel("time per inference [s] (log)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3, axis="x", which="major")
    handles = _role_handles(list(stages["role"]), transfer=bool(pos.any()))
    handles.append(matplotlib.lines.Line2D([], [], color="k", ls="--", lw=0.8, label="bottleneck"))
    ax.legend(handles=handles, fontsize=7, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=len(handles),
              frameon=False, handlelength=1.2, columnspacing=0.8)


def draw_front(ax, front: pd.DataFrame, current: Mapping | None = None) -> None:
    """The exact Pareto front (throughput vs energy); filled points are α-optimal for some α, hollow ones for none."""
    ax.plot(front["throughput_ips"], front["energy_j"], "-", lw=0.8, color="0.6", zorder=1)
    reach = front["alpha_lo"].notna() if "alpha_lo" in front.columns else pd.Series(True, index=front.index)
    ax.plot(front.loc[reach, "throughput_ips"], front.loc[reach, "energy_j"], "o", ms=4, color="0.2", zorder=2,
            label="front: optimal for some α")
    if (~reach).any():
        ax.plot(front.loc[~reach, "throughput_ips"], front.loc[~reach, "energy_j"], "o", ms=4, mfc="white",
                mec="0.3", zorder=2, label="front: no α selects it (pick it directly)")
    star = dict(marker="*", ms=15, color="tab:red", mec="k", mew=0.5, ls="", zorder=3, label="chosen plan")
    if current is not None:
        ax.plot([current["throughput_ips"]], [current["energy_j"]], **star)
    else:  # the marker is drawn later (FrontImage); its legend entry belongs to the static part
        ax.plot([], [], **star)
    ax.set_xscale("log")
    ax.set_yscale("log")
    readable_log_axis(ax.xaxis)
    readable_log_axis(ax.yaxis)
    ax.set_xlabel("throughput [inferences/s]", fontsize=8)
    ax.set_ylabel("energy per inference [J]", fontsize=8)
    ax.tick_params(labelsize=7, which="both")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)


def plan_figure(stages: pd.DataFrame, n_units: int, title: str = "") -> Figure:
    """The planner's plan figure: which units each stage runs (top) and its stage times (bottom)."""
    fig = Figure(figsize=(6.4, 4.2))
    gs = fig.add_gridspec(2, 1, height_ratios=(1, 4), hspace=0.75)
    draw_plan_map(fig.add_subplot(gs[0]), stages, n_units)
    draw_stage_bars(fig.add_subplot(gs[1]), stages)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.subplots_adjust(left=0.2, right=0.98, top=0.9 if title else 0.96, bottom=0.12)
    return fig


def front_figure(front: pd.DataFrame, current: Mapping | None = None, title: str = "") -> Figure:
    fig = Figure(figsize=(5.2, 4.2))
    draw_front(fig.add_subplot(1, 1, 1), front, current)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.subplots_adjust(left=0.16, right=0.97, top=0.9 if title else 0.96, bottom=0.12)
    return fig


class FrontImage:
    """The front figure drawn once; :meth:`png` adds only the chosen-plan marker (Agg blitting).

    Why: redrawing two log axes for every α step costs ~0.2-0.5 s on a loaded 2-core machine; restoring the
    saved pixels and drawing one marker costs a few ms, which keeps α and front picks within ~0.3 s.
    """

    def __init__(self, front: pd.DataFrame, title: str = "", dpi: int = EXPLORER_DPI):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        self.fig = front_figure(front, None, title)
        self.fig.set_dpi(dpi)
        self.canvas = FigureCanvasAgg(self.fig)
        self.ax = self.fig.axes[0]
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)
        self.marker = self.ax.plot([], [], marker="*", ms=15, color="tab:red", mec="k", mew=0.5, ls="",
                                   zorder=3, animated=True)[0]

    def pixels(self, throughput_ips, energy_j) -> np.ndarray:
        """Image pixel positions (x right, y down from the top-left corner) of data points, for click picking."""
        xy = self.ax.transData.transform(np.column_stack([throughput_ips, energy_j]).astype(float))
        _, h = self.canvas.get_width_height()
        return np.column_stack([xy[:, 0], h - xy[:, 1]])

    def png(self, current: Mapping | None) -> bytes:
        from PIL import Image

        self.canvas.restore_region(self.background)
        if current is not None:
            self.marker.set_data([current["throughput_ips"]], [current["energy_j"]])
            self.ax.draw_artist(self.marker)
        buf = io.BytesIO()
        w, h = self.canvas.get_width_height()
        Image.frombuffer("RGBA", (w, h), bytes(self.canvas.buffer_rgba()), "raw", "RGBA", 0, 1).save(
            buf, format="png", compress_level=1)
        return buf.getvalue()


def unit_profile_figure(long: pd.DataFrame, metric: str = "time_s", log: bool = True,
                        max_labels: int = 60) -> Figure:
    """Per-unit ``metric`` of one model on each device role, layer names as tick labels.

    With more than ``max_labels`` units every k-th name is shown (the table beside the plot lists them all).
    """
    if metric not in ("time_s", "energy_j"):
        raise ValueError(f"metric must be 'time_s' or 'energy_j', got {metric!r}")
    units = long.drop_duplicates("unit_index").sort_values("unit_index")
    fig = Figure(figsize=(6.6, 4.6))
    ax = fig.add_subplot(1, 1, 1)
    barred = pd.Series(False, index=long.index) if "may_run" not in long.columns else ~long["may_run"].astype(bool)
    for role, g in long.groupby("role", sort=False):
        # units the role may not run: off the line (their costs are placeholders), marked on their own
        ax.plot(g["unit_index"], g[metric].where(~barred[g.index]), marker=".", ms=4, lw=1,
                color=ROLE_COLOURS.get(role), label=g["label"].iloc[0])
    if barred.any():
        b = long[barred]
        ax.plot(b["unit_index"], b[metric], ls="", marker="x", ms=5, color="0.55",
                label=f"{'/'.join(dict.fromkeys(b['role']))} may not run this unit (placeholder cost)")
    if log:
        ax.set_yscale("log")
    step = max(1, int(np.ceil(len(units) / max_labels)))
    shown = units.iloc[::step]
    ax.set_xticks(shown["unit_index"], [f"{i} {n}" for i, n in zip(shown["unit_index"], shown["unit"])],
                  rotation=90, fontsize=6)
    ax.set_xlabel("unit (index name)" + (f", 1 name in {step} shown; the table lists all" if step > 1 else ""),
                  fontsize=8)
    ax.set_ylabel({"time_s": "compute time per unit [s]", "energy_j": "compute energy per unit [J]"}[metric],
                  fontsize=8)
    ax.grid(alpha=0.3, which="both")
    # above the axes: inside, it covers a curve
    ax.legend(fontsize=7, title="device (data source)", title_fontsize=7, loc="lower left",
              bbox_to_anchor=(0.0, 1.01), ncol=2, frameon=False)
    fig.subplots_adjust(left=0.12, right=0.99, top=0.80, bottom=0.33)
    return fig
