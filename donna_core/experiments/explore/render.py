"""The explorer's HTML: fixed-point tables, the plan summary and the status line."""
from __future__ import annotations

import html

import numpy as np
import pandas as pd


def _fixed(v, digits: int = 4) -> str:
    """Fixed-point text (never scientific notation): the tables stay readable across orders of magnitude."""
    if isinstance(v, (float, np.floating)):
        return "" if np.isnan(v) else f"{v:,.{digits}f}"
    if isinstance(v, (int, np.integer)):
        return f"{v:,d}"
    return html.escape(str(v))


def table_html(df: pd.DataFrame, css_class: str = "donna-table") -> str:
    head = "".join(f"<th style='padding:2px 8px;text-align:right;white-space:nowrap'>{html.escape(str(c))}</th>"
                   for c in df.columns)
    rows = "".join("<tr>" + "".join(f"<td style='padding:1px 8px;text-align:right;white-space:nowrap'>{_fixed(v)}</td>"
                                    for v in row)
                   + "</tr>" for row in df.itertuples(index=False))
    return (f"<table class='{css_class}' style='border-collapse:collapse;font-size:12px;font-family:monospace'>"
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")


def stages_html(stages: pd.DataFrame) -> str:
    """The plan's stages in ms and mJ, fixed point."""
    df = pd.DataFrame({"device": stages["device"],
                       "units": [f"{f}-{l}" for f, l in zip(stages["first"], stages["last"])],
                       "first unit": stages["first_unit"], "last unit": stages["last_unit"],
                       "n units": stages["n_units"], "compute [ms]": stages["compute_s"] * 1e3,
                       "compute [mJ]": stages["compute_j"] * 1e3, "transfer out [ms]": stages["comm_out_s"] * 1e3,
                       "transfer out [mJ]": stages["comm_out_j"] * 1e3})
    return table_html(df, "donna-stages")


def summary_html(view: dict, alpha: float, sources: str) -> str:
    s = view["summary"]
    n = len(view["front"])
    point = "—" if view["index"] is None else f"{n - view['index']} of {n} (1 = most frugal)"
    rows = [("plan", s["how"]), ("throughput", f"{s['throughput_ips']:,.4f} inferences/s"),
            ("energy per inference", f"{s['energy_j']:,.6f} J"), ("bottleneck", s["bottleneck"]),
            (f"objective at α = {alpha:.2f}", f"{s['objective']:.6f} (normalised)"),
            ("α interval", s["alpha_interval"]), ("front point", point),
            ("stages", f"{s['n_stages']} ({s['participating']}): {s['plan']}"),
            ("numbers", f"cost model over the profiles of: {sources}")]
    body = "".join(f"<tr><th style='text-align:left;padding:1px 10px 1px 0'>{html.escape(k)}</th>"
                   f"<td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table class='donna-summary' style='font-size:13px'>{body}</table>"


def provenance_html(entries) -> str:
    """One line per chosen device type: role, type, where its numbers come from (measured / modelled / simulated)
    and the profile's own one-line source description."""
    rows = "".join(f"<tr><th style='text-align:left;padding:0 8px 0 0'>{html.escape(e.role)}</th>"
                   f"<td style='padding:0 8px 0 0'>{html.escape(e.label())}</td>"
                   f"<td style='color:#555'>{html.escape(e.source[:160])}</td></tr>" for e in entries)
    return f"<table class='donna-provenance' style='font-size:12px'>{rows}</table>"


def status_html(kind: str, text: str) -> str:
    colour = {"busy": "#fff3cd", "error": "#f8d7da", "warn": "#ffe8cc", "ok": "#e7f5e9"}[kind]
    icon = {"busy": "⏳", "error": "⛔", "warn": "⚠", "ok": "✓"}[kind]
    return (f"<div class='donna-status donna-status-{kind}' style='background:{colour};padding:3px 8px;"
            f"border-radius:4px;font-size:13px'>{icon} {html.escape(text)}</div>")

