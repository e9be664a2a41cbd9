"""Drawing of a graph-placement view (:func:`.graph_views.graph_view`): the DAG coloured by device, the per-device
and per-link busy times, the Gantt chart of a latency schedule, and their HTML (legend, summary, device table).

Figures are matplotlib ``Figure`` objects (no pyplot, no backend switch), rendered to PNG by
:func:`..plotting.png_bytes` like the explorer's other figures.
"""
from __future__ import annotations

import html

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .graph_views import MESSAGE_COLOUR
from .render import table_html


def _device_handles(view: dict) -> list:
    from matplotlib.patches import Patch

    counts = pd.Series(view["assignment"]).value_counts()
    return [Patch(color=view["colours"][d], label=f"{d} ({view['roles'][d]}, {int(counts.get(d, 0))} units)")
            for d in view["devices"]]


def draw_dag(ax, view: dict) -> None:
    """Units at their layered positions (x = longest-path layer), coloured by device; edges as grey lines, drawn
    darker when they cross devices (a message)."""
    from matplotlib.collections import LineCollection

    x, y, a = view["x"], view["y"], view["assignment"]
    same = [((x[u], y[u]), (x[v], y[v])) for u, v, *_ in view["edges"] if a[u] == a[v]]
    cross = [((x[u], y[u]), (x[v], y[v])) for u, v, *_ in view["edges"] if a[u] != a[v]]
    ax.add_collection(LineCollection(same, colors="0.8", linewidths=0.6, zorder=1))
    ax.add_collection(LineCollection(cross, colors="0.35", linewidths=0.9, zorder=1))
    size = float(np.clip(2400.0 / max(len(x), 1), 12.0, 90.0))
    ax.scatter(x, y, s=size, c=[view["colours"][d] for d in a], edgecolors="k", linewidths=0.4, zorder=2)
    ax.set_xlim(-0.8, float(x.max(initial=0)) + 0.8)
    ax.set_ylim(float(y.min(initial=0)) - 0.8, float(y.max(initial=0)) + 0.8)
    ax.set_yticks([])
    ax.set_xlabel("layer (longest path from the input); dark edges are messages between devices", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(handles=_device_handles(view), fontsize=7, loc="lower left", bbox_to_anchor=(0.0, 1.0),
              ncol=min(len(view["devices"]), 3), frameon=False, handlelength=1.2, columnspacing=0.8)


def graph_figure(view: dict) -> Figure:
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    draw_dag(ax, view)
    fig.suptitle(view["title"], fontsize=8)
    fig.subplots_adjust(left=0.03, right=0.98, top=0.78, bottom=0.12)
    return fig


def draw_busy(ax, view: dict) -> None:
    """Busy time per inference of every device and every used link (ms); the bottleneck dashed."""
    b = view["busy"]
    yy = np.arange(len(b))
    colours = [view["colours"].get(n, MESSAGE_COLOUR) if k == "device" else MESSAGE_COLOUR
               for k, n in zip(b["kind"], b["name"])]
    ax.barh(yy, b["busy_s"] * 1e3, color=colours, edgecolor="k", linewidth=0.4)
    ax.set_yticks(yy, list(b["name"]), fontsize=7)
    ax.invert_yaxis()
    if b["bottleneck"].any():
        ax.axvline(float(b["busy_s"].max()) * 1e3, color="k", ls="--", lw=0.8, label="bottleneck")
        ax.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_xlabel("busy time per inference [ms] (devices: compute; links: messages)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3, axis="x")


def draw_gantt(ax, view: dict) -> None:
    """The latency schedule: one row per device (units, coloured by device) and per link (messages, grey)."""
    labels, bars = view["gantt"]
    colours = [view["colours"][d] if isinstance(d, str) else MESSAGE_COLOUR for d in bars["device"]]
    ax.barh(bars["row"], (bars["finish_s"] - bars["start_s"]) * 1e3, left=bars["start_s"] * 1e3, height=0.7,
            color=colours, edgecolor="k", linewidth=0.3)
    ax.set_yticks(np.arange(len(labels)), labels, fontsize=7)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    latency = float(np.max(bars["finish_s"].to_numpy(dtype=float), initial=0.0)) * 1e3
    ax.axvline(latency, color="k", ls="--", lw=0.8)
    ax.set_xlabel(f"time in one inference [ms]; latency {latency:.4g} ms", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3, axis="x")


def busy_figure(view: dict) -> Figure:
    """Busy times (and, for the latency objective, the Gantt chart of the schedule below them)."""
    gantt = view["gantt"] is not None
    fig = Figure(figsize=(5.2, 4.2 if gantt else 3.0))
    if gantt:
        gs = fig.add_gridspec(2, 1, height_ratios=(2, 3), hspace=0.55)
        draw_busy(fig.add_subplot(gs[0]), view)
        draw_gantt(fig.add_subplot(gs[1]), view)
    else:
        draw_busy(fig.add_subplot(1, 1, 1), view)
    fig.subplots_adjust(left=0.24, right=0.97, top=0.96, bottom=0.1 if gantt else 0.16)
    return fig


def legend_html(view: dict) -> str:
    """The device legend as HTML (one swatch per device with its role and unit count): readable in the page."""
    counts = pd.Series(view["assignment"]).value_counts()
    items = "".join(
        f"<span class='donna-graph-device' style='margin-right:14px;white-space:nowrap'>"
        f"<span style='display:inline-block;width:12px;height:12px;background:{view['colours'][d]};"
        f"border:1px solid #333;vertical-align:middle;margin-right:4px'></span>"
        f"{html.escape(d)} ({html.escape(view['roles'][d])}, {int(counts.get(d, 0))} units)</span>"
        for d in view["devices"])
    return f"<div class='donna-graph-legend-items' style='font-size:13px'>devices: {items}</div>"


def graph_summary_html(view: dict, sources: str) -> str:
    s = view["summary"]
    rows = [("plan", s["how"]), ("optimality", s["optimality"]),
            ("throughput", f"{s['throughput_ips']:,.4f} inferences/s"),
            ("energy per inference", f"{s['energy_j']:,.6f} J"), ("bottleneck", s["bottleneck"])]
    if s["latency_s"] is not None:
        rows.append(("single-inference latency", f"{s['latency_s'] * 1e3:,.4f} ms (the objective)"))
    else:
        rows.append(("objective", f"{s['objective']:.6f} (normalised)"))
    rows += [("units per device", s["devices"]), ("messages per inference", str(s["n_messages"])),
             ("solve time", f"{s['solve_s']:.2f} s"), ("numbers", f"graph cost model over the profiles of: {sources}")]
    body = "".join(f"<tr><th style='text-align:left;padding:1px 10px 1px 0'>{html.escape(k)}</th>"
                   f"<td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table class='donna-summary donna-graph-summary' style='font-size:13px'>{body}</table>"


def devices_html(view: dict) -> str:
    b = view["busy"]
    df = pd.DataFrame({"device / link": b["name"], "role": b["role"], "units": b["n_units"],
                       "busy [ms]": b["busy_s"] * 1e3, "bottleneck": b["bottleneck"].map({True: "yes", False: ""})})
    return table_html(df, "donna-graph-devices")
