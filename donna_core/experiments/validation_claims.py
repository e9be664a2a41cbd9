"""The claims report's "cost model vs measurement" section, from the cache of ``make validate``
(``data/validation/``; no runtime import)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .transfer_claims import transfer_bound_markdown

VALIDATION_TARGET_MEAN = 0.10  # targets: mean absolute throughput error, and no single plan worse than
VALIDATION_TARGET_MAX = 0.20


def validation_markdown(validation_dir: str | Path) -> str:
    """The "cost model vs measurement" section from ``data/validation/`` (empty string when there is no cache)."""
    vdir = Path(validation_dir)
    if not (vdir / "summary.csv").exists():
        return ""
    s = pd.read_csv(vdir / "summary.csv")
    ok = s[~s["oversubscribed"].astype(bool)].copy()
    ok["abs_err"] = ok["rel_error"].abs()
    lines = ["## Cost model vs measurement", "",
             f"Plans executed by `donna_core.runtime` (one process per stage, gloo, pinned cores, 1 thread) on this "
             f"project's shared 2-core VM by `make validate`; predictions from profiles measured on the same host just "
             f"before. **Measured**: {len(s)} runs, {s['date'].min()} – {s['date'].max()}, 1-min load average "
             f"{s['load1_before'].min():.2f}–{s['load1_before'].max():.2f} (other processes shared the cores). "
             f"Figures: `fig6a_pipeline_predicted_vs_measured`, `fig6b_pipeline_error_split`; data: "
             f"`data/{vdir.name}/summary.csv`, `stages.csv`, `transfers.csv`, `runs.json`.", "",
             "| links | runs | mean abs. throughput error | worst |", "|---|---|---|---|"]
    ok["link"] = ok["setting"].where(ok["stages"] > 1, "none (1 stage)")
    for link, g in ok.groupby("link"):
        lines.append(f"| {link} | {len(g)} | {g['abs_err'].mean():.1%} | {g['abs_err'].max():.1%} |")
    mean, worst = ok["abs_err"].mean(), ok["abs_err"].max()
    met = mean <= VALIDATION_TARGET_MEAN and worst <= VALIDATION_TARGET_MAX
    lines += [f"| all | {len(ok)} | {mean:.1%} | {worst:.1%} |", "",
              f"Target (mean ≤ {VALIDATION_TARGET_MEAN:.0%}, none worse than {VALIDATION_TARGET_MAX:.0%}): "
              f"**{'met' if met else 'not met'}**. Outputs equal to the single-process model in "
              f"{int(s['outputs_equal'].sum())} of {len(s)} runs."]
    miss = ok[ok["abs_err"] > VALIDATION_TARGET_MAX]
    if len(miss):
        lines += ["", "Runs worse than the target, and which assumption failed (the largest part of the period "
                  "error: compute work vs the profile, waiting for a core, or communication/overlap "
                  "= per-message cost or imperfect overlap):", ""]
        for r in miss.itertuples():
            parts = {"communication / overlap": r.comm_overlap_part_s}
            if "work_part_s" in s.columns and pd.notna(r.work_part_s):
                parts["compute work slower than profiled (shared caches / memory)" if r.work_part_s > 0 else
                      "compute work faster than profiled (profile taken under heavier load)"] = r.work_part_s
                parts["stage waiting for its core (other processes)"] = r.core_wait_part_s
            else:
                parts["compute (measured stage times vs profile)"] = r.compute_part_s
            part = max(parts, key=lambda k: abs(parts[k]))
            part += " (" + ", ".join(f"{k.split(' (')[0]} {v * 1e3:+.0f} ms" for k, v in parts.items()) + ")"
            lines.append(f"- {r.model}/{r.granularity}, {r.setting}, {r.plan}: {r.rel_error:+.1%} — {part}")
    runs = vdir / "runs.json"
    failed = json.loads(runs.read_text()).get("failed", []) if runs.exists() else []
    if failed:
        lines += ["", f"Runs that failed ({len(failed)}, not in the table): "
                  + "; ".join(f"{f['model']}/{f['granularity']} {f['setting']} {f['plan']}: {f['error']}"
                              for f in failed)]
    cal = vdir / "calibration.json"
    if cal.exists():
        c = json.loads(cal.read_text())
        m, smp = c["medium"], c["samples"]
        lines += ["", f"Communication model fitted from measured transfers (`donna calibrate-link`, loopback gloo): "
                      f"latency {m['latency_s'] * 1e6:.0f} µs, bandwidth {m['bandwidth_Bps'] / 1e9:.2f} GB/s; worst "
                      f"relative error over {min(smp['bytes']):.0e}–{max(smp['bytes']):.0e} B: "
                      f"{smp['max_abs_rel_error']:.0%} against the fitted statistic "
                      f"({smp.get('statistic', 'median')}), "
                      f"{max(abs(e) for e in smp['fit_rel_error_vs_median']):.0%} against the median "
                      f"(target 10 %). Energy per bit of this medium: assumed, not measured."]
    tr = vdir / "transfers.csv"
    if tr.exists():
        t = pd.read_csv(tr)
        if len(t):
            lines += ["", "The same fitted model against the pipeline's own transfers on unshaped links "
                          f"({len(t)} cuts, "
                          f"{t['bytes'].min():.0f}–{t['bytes'].max():.0f} B, median wire time per cut): median "
                          f"absolute error {t['rel_error'].abs().median():.0%}, "
                          f"worst {t['rel_error'].abs().max():.0%}."]
    lines += transfer_bound_markdown(vdir, VALIDATION_TARGET_MEAN, VALIDATION_TARGET_MAX)
    return "\n".join(lines) + "\n"
