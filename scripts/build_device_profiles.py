#!/usr/bin/env python
"""Build data/profiles/<model>/{layer,block}/{cim,gpu-rtx3070ti,cpu-xeon-w3323}.csv and reports/device_models.md.

    .venv/bin/python scripts/build_device_profiles.py [--models vgg8 vgg19 resnet152 vit_b_16]

Sources: neurosim_runs/ (CIM, simulated), the CIM estimator calibrated on it (vit_b_16, modelled), the
spec-sheet model (GPU/CPU, modelled) with the CPU efficiencies fitted on data/profiles/<m>/layer/cpu-host.csv
(measured on this machine by `donna profile`).  Deterministic: same inputs -> same files (except `date`).
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from donna_core import config
from donna_core.atomic import write_text_atomic  # noqa: E402
from donna_core.devices import (
    cim_estimator,
    cim_floorplan,
    cim_terms,
    cim_validation,
    neurosim,
    specmodel,  # noqa: E402
)
from donna_core.devices import device_profiles as dp
from donna_core.profiling.profiles import profile_path, read_profile, write_profile  # noqa: E402
from donna_core.profiling.units import derive_model_units, unit_table  # noqa: E402

ROOT = config.ROOT

# This machine, measured 2026-11-25 11:05 UTC with OMP/torch threads = 1 (numpy np.copyto of 256 MB, best of 7:
# 536.9 MB moved in 23.1 ms; torch 2048x2048 FP32 matmul, mean of 5: 58.6 GFLOP/s).  Shared 2-vCPU VM, so
# these are lower bounds of what an idle host does.
HOST_MEASURED = {"copy_bandwidth_Bps": 23.2e9, "sgemm_flops_1thread": 58.6e9,
                 "how": "numpy copyto 256 MB best of 7 (read+write bytes); torch.mm 2048^2 FP32 mean of 5; "
                        "1 thread; 2026-11-25 11:05 UTC"}
# The CPU those profiles and numbers were measured on (its /proc/cpuinfo then: AVX2+FMA, bogomips/2 = 2.4454 GHz),
# so that rebuilding on another machine does not calibrate the measured times against the wrong peak.
HOST_CPU = {"model": "AMD EPYC", "flop_per_cycle_core": 32, "clock_hz": 2.4454e9}


def derive(models):
    plans = {}
    for m in tqdm(models, desc="deriving units", unit="model"):
        _, _, pl = derive_model_units(m, "layer")
        _, _, pb = derive_model_units(m, "block")
        plans[m] = {"layer": unit_table(pl.units), "block": unit_table(pb.units),
                    "n_ops": dp.unit_op_counts(pl), "input_bytes": pl.input_bytes,
                    "embed_dims": dp.attention_embed_dims(pl)}
    return plans


def fmt_pct(x):
    return "—" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:+.1f} %"


def md_table(df: pd.DataFrame, floatfmt="{:.3g}") -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for r in df.itertuples(index=False):
        cells = []
        for v in r:
            cells.append(floatfmt.format(v) if isinstance(v, (float, np.floating)) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# NeuroSim V1.3 layer tables for the estimator's structural checks (synthetic: no NeuroSim run exists for them)
_SYN_COLS = ["ifm_h", "ifm_w", "ifm_c", "k_h", "k_w", "ofm_c", "stride", "pool"]
SYN_SMALL = pd.DataFrame([[32, 32, 3, 3, 3, 32, 1, 0], [32, 32, 32, 3, 3, 64, 1, 1], [16, 16, 64, 3, 3, 128, 1, 1],
                          [8, 8, 128, 3, 3, 128, 1, 1], [1, 1, 2048, 1, 1, 256, 1, 0]], columns=_SYN_COLS)
SYN_LARGE = pd.concat([SYN_SMALL, pd.DataFrame([[1, 1, 256, 1, 1, 16384, 1, 0], [1, 1, 16384, 1, 1, 4096, 1, 0]],
                                               columns=_SYN_COLS)], ignore_index=True)


def cim_estimator_section(user_runs: dict) -> tuple:
    """Fit the CIM estimator and write its validation (report section 3). Returns (estimator, markdown lines)."""
    ce = cim_estimator
    runs = ce.shipped_runs()
    if user_runs:
        d0 = ce.CimEstimator.fit(runs).default_density
        # a user's run comes without trace statistics: its layers get the shipped traces' default density
        user_runs = {m: df.assign(density=[d0["first"]] + [d0["hidden"]] * (len(df) - 1))
                     for m, df in user_runs.items()}
    est = ce.CimEstimator.fit({**runs, **user_runs})
    lay_loo, mod_loo = cim_validation.error_table(runs, leave_one_out=True)
    _, mod_all = cim_validation.error_table(runs, leave_one_out=False)
    cls = cim_validation.class_out_table(runs)
    clock = est.clock_s
    L = ["## 3. CIM estimator (modelled) vs NeuroSim (simulated)", "",
         "The estimator (`donna_core/devices/cim_estimator.py`) follows NeuroSim V1.3's own latency "
         "structure (Chip.cpp `ChipCalculatePerformance`, Tile.cpp `TileCalculatePerformance`, Buffer.cpp, "
         "HTree.cpp; read, not copied): each NeuroSim breakdown column (buffer, interconnect, ADC, accumulation, "
         "rest of 'other') is predicted from its own terms. **Exact** terms (coefficient 1, no fit): global-buffer "
         "cycles = (IFM+OFM bits)/128 ÷ min(#buffer cores, ceil(bus/128)) × ceil(total tiles / layer tiles); ADC "
         "cycles = vectors × 8 × 8 / duplication; chip ReLU cycles = ceil(vectors × O / ReLU units). **Fitted** "
         "constants (per-cycle / per-bit / per-length numbers from circuit models): tile buffers and tile H-tree "
         "(∝ vectors × rows or columns a tile holds, independent of network size), global H-tree (wire delay per "
         "tile side; the length in tile sides is exact from the chip's tile grid, ceil'd to cycles per read), "
         "adder trees, max pool, and all dynamic-energy constants. Dynamic energy takes the input 1-bit density "
         "per layer (fitted on the per-layer densities of `neurosim_runs/input_stats_*.txt`). Leakage = latency × "
         "per-tile leakage × tiles of the other layers (NeuroSim's rule). Errors are predicted/NeuroSim − 1.", ""]
    # -- checks of the exact structure on NeuroSim's own breakdown columns (no fit involved)
    chk = []
    for m, run in runs.items():
        f = cim_terms.features(run, density=run.density)
        fp = cim_floorplan.floorplan(run)
        adc = float(np.max(np.abs(run.adc_latency_s / clock / f.adc_cycles - 1)))
        tile = run.buffer_latency_s / clock - f.gbuf_cycles
        chk.append({"model": m, "chip tiles": fp.total_tiles, "H-tree length (tile sides)": fp.htree_length,
                    "buffer divisor": fp.buffer_parallelism,
                    "ADC cycles: max rel err": adc,
                    "global-buffer share of buffer latency": float((f.gbuf_cycles * clock).sum()
                                                                   / run.buffer_latency_s.sum()),
                    "min tile part (cycles)": float(tile.min())})
    rows = []
    for m, run in runs.items():
        f = cim_terms.features(run, density=run.density)
        fp = cim_floorplan.floorplan(run)
        rows.append(pd.DataFrame({"model": m, "novel": f.novel, "dup": fp.speedup,
                                  "rows": (f.tbuf_rows_nm + f.tbuf_rows_cm) / f.num_in_vectors,
                                  "cols": (f.tbuf_cols_nm + f.tbuf_cols_cm) / f.num_in_vectors,
                                  "v": (run.buffer_latency_s / clock - f.gbuf_cycles) / f.num_in_vectors}))
    g = pd.concat(rows).groupby(["novel", "rows", "cols", "dup"]).agg(
        models=("model", "nunique"), lo=("v", "min"), hi=("v", "max"))
    g = g[g.models > 1]
    L += ["### Structure checked on the runs' breakdown columns (simulated data, no fit)", "",
          md_table(pd.DataFrame(chk), "{:.4g}"), "",
          f"Tile-buffer part (NeuroSim buffer latency − exact global-buffer cycles) per input vector, for the "
          f"{len(g)} tile contents that occur in more than one run (47-, 363- and 524-tile chips): largest "
          f"spread {100 * float((g.hi / g.lo - 1).max()):.3f} % — it does not depend on the network's size, "
          "and it is never 0 (the issue-4 estimator fitted the conventional one to 0).", ""]
    # -- coefficients
    ct = est.coefficient_table()
    L += ["### Fitted constants (all three runs; used for vit_b_16)", "",
          md_table(ct[["quantity", "component", "term", "value", "meaning"]], "{:.4g}"), "",
          f"Clock {clock * 1e9:.5f} ns. Default input density (shipped traces): first layer "
          f"{est.default_density['first']:.3f} (mean over the runs; one U[-1,1) image), other layers "
          f"{est.default_density['hidden']:.3f} (median; ReLU outputs of random-init weights).", ""]
    show = ["model", "calibrated_on", "latency_total_err", "energy_total_err", "dynamic_total_err",
            "leakage_total_err", "latency_layer_median_abs_err", "energy_layer_median_abs_err",
            "latency_layer_max_abs_err", "energy_layer_max_abs_err"]
    L += ["### Leave-one-model-out (fit on the other two, predict this one; runs' own densities)", "",
          md_table(mod_loo[show], "{:+.3f}"), "",
          "Issue-11 targets: whole-model latency within 10 %, energy within 15 %, median per-layer latency "
          "error ≤ 15 %.", "", "### Fit on all three models", "", md_table(mod_all[show], "{:+.3f}"), ""]
    L += ["### Leave-one-layer-class-out (fit on every layer outside the class, predict the class)", "",
          "Classes: novel vs conventional mapping, conv vs FC. When a mapping kind is held out its constants "
          "cannot be learned from it: novel and conventional variants then share one constant and tile leakage "
          "scales with the tile's cells (9×512² vs 1024²). Per-layer and summed over the class's layers:", "",
          md_table(cls[["held_out", *show[:2], "layers", *show[2:]]], "{:+.3f}"), ""]
    for m in ("vgg8", "vgg19"):
        t = lay_loo[lay_loo.model == m][["layer", "latency_err", "dynamic_err", "energy_err"]]
        L += [f"Per-layer errors, leave-one-model-out, **{m}**", "", md_table(t, "{:+.3f}"), ""]
    r = lay_loo[lay_loo.model == "resnet152"]
    q = r[["latency_err", "energy_err"]].abs().quantile([0.5, 0.9, 1.0])
    L += [f"**resnet152** (156 layers, leave-one-model-out): |latency err| median {q.latency_err[0.5]:.3f}, 90th "
          f"pct {q.latency_err[0.9]:.3f}, max {q.latency_err[1.0]:.3f}; |energy err| median "
          f"{q.energy_err[0.5]:.3f}, 90th pct {q.energy_err[0.9]:.3f}, max {q.energy_err[1.0]:.3f}.", ""]
    # -- synthetic networks: structure, not fitted numbers
    syn = []
    for name, net in (("small (5 layers)", SYN_SMALL), ("large (same 5 + 2 FC)", SYN_LARGE)):
        pc = est.predict_components(net)
        fp = cim_floorplan.floorplan(net)
        for i in range(len(SYN_SMALL)):
            syn.append({"network": name, "chip tiles": fp.total_tiles, "layer": i + 1,
                        "layer tiles": int(fp.num_tiles[i]),
                        "ceil(total/layer)": int(math.ceil(fp.total_tiles / fp.num_tiles[i])),
                        "divisor": fp.buffer_parallelism, "global-buffer cycles": pc.gbuf_cycles[i],
                        "tile-buffer s": pc.buffer_latency_s[i] - pc.gbuf_cycles[i] * clock,
                        "latency s": sum(pc[f"{c}_latency_s"][i] for c in cim_terms.LATENCY_MODEL)})
    stem = runs["resnet152"]
    a, b = est.predict_components(stem.iloc[:21]), est.predict_components(stem)
    L += ["### Small and large synthetic networks (structure, no NeuroSim run exists for them)", "",
          "The same five layers alone (a few tiles) and followed by two wide FC layers (hundreds of tiles); tile "
          "and PE sizes are the same in both floor plans. The global-buffer term follows ceil(total/layer) and "
          "the divisor exactly; the tile-buffer, ADC and accumulation terms are identical (tests in "
          "`tests/devices/test_cim_estimator.py` check both against the formulas written out by hand):", "",
          md_table(pd.DataFrame(syn), "{:.4g}"), "",
          f"ResNet-152's 7×7 stem in the first 21 layers (25 tiles) vs in the whole network (363 tiles): "
          f"tile-buffer part {1e3 * (a.buffer_latency_s[0] - a.gbuf_cycles[0] * clock):.4f} vs "
          f"{1e3 * (b.buffer_latency_s[0] - b.gbuf_cycles[0] * clock):.4f} ms (identical); global-buffer part "
          f"{1e3 * a.gbuf_cycles[0] * clock:.4f} vs {1e3 * b.gbuf_cycles[0] * clock:.4f} ms; NeuroSim's tile part "
          f"in the 156-layer run: {1e3 * (stem.buffer_latency_s[0] - b.gbuf_cycles[0] * clock):.4f} ms.", ""]
    # -- the unseen CNN, through the NeuroSim totals its reported errors imply
    import json

    import torch
    import torchvision

    from donna_core.profiling.units import derive_units, unit_table
    ref = json.loads((ROOT / "data" / "cim_checks" / "resnet18_unseen.json").read_text())
    r18 = unit_table(derive_units(torchvision.models.resnet18(weights=None).eval(),
                                  (torch.randn(1, 3, 224, 224),), "layer").units)
    r18 = neurosim.read_network_csv(neurosim.network_csv(r18))
    chk18 = cim_validation.implied_reference_check(est, r18, ref)
    old18 = np.array(ref["previous_estimator_prediction"]["per_layer_latency_s"])
    rr = old18 / est.predict(r18).latency_s.to_numpy() - 1
    rep_err = ref["reported_error_previous_estimator_vs_neurosim"]
    L += ["### The issue's unseen CNN (ResNet-18, 41 tiles): against the NeuroSim totals its reported errors imply",
          "", f"{ref['what']} Source of the numbers: `data/cim_checks/resnet18_unseen.json` ({ref['kind']}). "
          "The interval comes from the rounding of the printed errors; ResNet-18's input density is the default "
          "(the reviewer's run used the same synthetic trace setup).", "",
          md_table(chk18, "{:.4g}"), "",
          f"Per layer, the issue-4 estimator against this estimator: |latency| median {np.median(np.abs(rr)):.2f}, "
          f"max {np.max(np.abs(rr)):.2f}, stem {rr[0]:+.2f}, 1×1 downsamples "
          f"{', '.join(f'{x:+.2f}' for x in rr[[7, 12, 17]])} — the issue reports, against NeuroSim, median "
          f"{rep_err['per_layer_latency_median_abs']:.2f}, max {rep_err['per_layer_latency_max_abs']:.2f}, stem "
          f"{rep_err['stem_latency']:+.2f}, downsamples {rep_err['downsample_latency_range'][0]:+.2f} … "
          f"{rep_err['downsample_latency_range'][1]:+.2f}: the rebuilt estimator stands where NeuroSim stood. "
          "This is an inference from reported numbers, not a run: the per-layer NeuroSim values themselves are "
          "not available.", ""]
    # -- density
    v = runs["vgg8"]
    e8 = ce.CimEstimator.fit({k: runs[k] for k in runs if k != "vgg8"})
    p1, p2 = e8.predict(v), e8.predict(v, density=v.density / 2)
    pdef = e8.predict(v.drop(columns="density"))
    drop = 1 - p2.dynamic_energy_j.sum() / p1.dynamic_energy_j.sum()
    L += ["### Input density", "",
          f"VGG8 with its input densities halved (estimator fitted on vgg19+resnet152): predicted dynamic energy "
          f"−{100 * drop:.1f} %, latency and leakage unchanged. The runs' README reports about −25 % from a real "
          "NeuroSim run with halved density (latency and leakage bit-identical): the per-layer fit captures about "
          f"{drop / 0.25:.0%} of that sensitivity, so on much sparser data the estimator overstates dynamic "
          f"energy by up to ~{100 * (0.25 - drop) / 0.75:.0f} %. VGG8 dynamic energy with the default density "
          f"instead of its own: {100 * (pdef.dynamic_energy_j.sum() / v.dynamic_energy_j.sum() - 1):+.1f} % "
          f"(with its own: {100 * (p1.dynamic_energy_j.sum() / v.dynamic_energy_j.sum() - 1):+.1f} %).", ""]
    L += ["### What is and is not validated", "",
          "- Validated against NeuroSim output: the floor plan (exact), the exact terms (ADC cycles to 4e-6, "
          "the ReLU term, the global-buffer term leaving a positive, size-independent tile part), and the fitted "
          "model by leave-one-model-out and leave-one-layer-class-out on the three runs.",
          "- Validated against NeuroSim's formulas only (no run): the small/large synthetic networks and the "
          "truncated ResNet above. A truncated or recombined network of shipped layers has no NeuroSim result "
          "here: its global H-tree cycles (a ceil'd wire delay for a different tile grid) and leakage are "
          "predictions, not checks.",
          "- Checked only indirectly: the issue's real NeuroSim run of an unseen CNN (ResNet-18), through the "
          "totals its reported errors imply (above). No NeuroSim run was made here: NeuroSim was not built (its "
          "source is only readable file by file through the search tool, ~70 C++ files and headers, beyond the "
          "time box). Floor plans with other tile/PE sizes than the runs' "
          "(1024/512 conventional, 9×512² novel) extrapolate the tile constants; `CimEstimator.extrapolation()` "
          "says so and the profile metadata records it. The clock period is the runs' (NeuroSim derives it from "
          "the same default circuits).", ""]
    return est, L


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(dp.MODELS))
    ap.add_argument("--out", default=str(ROOT / "data" / "profiles"))
    ap.add_argument("--report", default=str(ROOT / "reports" / "device_models.md"))
    ap.add_argument("--neurosim", nargs=3, action="append", default=[], metavar=("MODEL", "LOG", "NETWORK_CSV"),
                    help="use your own NeuroSim run of MODEL (its stdout and the NetWork_*.csv it was run on) "
                         "as that model's CIM source and add it to the estimator calibration; repeatable")
    args = ap.parse_args(argv)
    user_runs, user_src = {}, {}
    for model, log, net in args.neurosim:
        user_runs[model] = neurosim.layers_from_log(Path(log).read_text(errors="replace"), Path(net).read_text(),
                                                    source=log)
        user_src[model] = f"user run: log {log}, table {net}"
    date = dp.today()
    rep: list[str] = ["# Device models: CIM (NeuroSim + estimator), GPU and CPU (spec-sheet model)", "",
                      "Generated by `scripts/build_device_profiles.py`; every number below is computed by it. "
                      "Kinds: **simulated** = DNN+NeuroSim V1.3 output, **modelled** = this project's models, "
                      "**measured** = timed on this machine.", ""]

    # ---- NeuroSim parser and exporter checks ------------------------------------------------------------
    runs = {m: neurosim.load_run(m) for m in neurosim.RUNS}
    rep += ["## 1. NeuroSim runs, parser and `NetWork_*.csv` exporter", ""]
    rows = []
    for m, df in runs.items():
        parsed = neurosim.parse_log_file(neurosim.run_dir() / neurosim.RUNS[m][1])
        common = [c for c in parsed.columns if c in df.columns and c != "layer"]
        rel = max(float(np.max(np.abs(parsed[c].to_numpy(float) - df[c].to_numpy(float))
                               / np.maximum(np.abs(df[c].to_numpy(float)), 1e-30))) for c in common)
        shipped = (neurosim.run_dir() / neurosim.RUNS[m][2]).read_text().split()
        geom = df[neurosim.GEOMETRY_COLUMNS].rename(columns=dict(zip(neurosim.GEOMETRY_COLUMNS, neurosim._UNIT_GEOM)))
        mine = neurosim.network_csv(geom).split()
        ndiff = sum(a != b for a, b in zip(shipped, mine)) + abs(len(shipped) - len(mine))
        rows.append({"model": m, "layers": len(df), "latency_s": df.latency_s.sum(),
                     "dynamic_J": df.dynamic_energy_j.sum(), "leakage_J": df.leakage_energy_j.sum(),
                     "log vs csv max rel diff": rel, "columns compared": len(common),
                     "NetWork rows differing (geometry+inferred pool flags)": ndiff})
    rep += [md_table(pd.DataFrame(rows)), "",
            "(simulated) Source: `neurosim_runs/` (provenance in its README). The parser reads every "
            "'Estimation of Layer N' block of the raw logs and agrees with the shipped per-layer CSVs to the "
            "printed precision. The exporter applied to the runs' geometry, with pool flags inferred from the "
            "geometry, reproduces the shipped NetWork tables.", ""]

    # ---- units and geometry mapping ---------------------------------------------------------------------
    # the CPU calibration uses every model with a measured cpu-host layer profile, whatever --models says
    host_models = [m for m in dict.fromkeys([*dp.MODELS, *args.models])
                   if profile_path(args.out, m, "layer", "cpu-host").exists()]
    plans = derive(list(dict.fromkeys([*args.models, *host_models])))
    rep += ["## 2. NeuroSim rows vs the project's units (layer granularity)", ""]
    for m in args.models:
        if m in runs:
            diffs = neurosim.compare_geometry(runs[m], neurosim.unit_geometry(plans[m]["layer"]))
            exported = neurosim.network_csv(plans[m]["layer"]).split()
            shipped = (neurosim.run_dir() / neurosim.RUNS[m][2]).read_text().split()
            nd = sum(a != b for a, b in zip(shipped, exported)) + abs(len(shipped) - len(exported))
            rep.append(f"- {m}: {len(plans[m]['layer'])} layer units, {len(runs[m])} NeuroSim rows; geometry "
                       f"differences: {len(diffs)}; `network_csv(units)` vs shipped NetWork file: {nd} rows differ.")
    rep += ["", "Units with no conv/linear op get no NeuroSim row and are free on CIM (see the profile metadata).", ""]

    # ---- CIM estimator -----------------------------------------------------------------------------------
    est, cim_lines = cim_estimator_section(user_runs)
    rep += cim_lines

    # ---- CPU host calibration -----------------------------------------------------------------------------
    rep += ["## 4. Spec-sheet GPU/CPU model", ""]
    host = specmodel.host_spec_from_cpuinfo(threads=1, flop_per_cycle_core=HOST_CPU["flop_per_cycle_core"],
                                            clock_hz=HOST_CPU["clock_hz"],
                                            mem_bw_Bps=HOST_MEASURED["copy_bandwidth_Bps"])
    host.update(model=HOST_CPU["model"], source="measurement host's /proc/cpuinfo (flags, bogomips/2 as clock), "
                                                "recorded in scripts/build_device_profiles.py HOST_CPU")
    host_profiles, host_meta = {}, {}
    for m in host_models:
        p = profile_path(args.out, m, "layer", "cpu-host")
        if p.exists():
            prof = read_profile(p)
            host_profiles[m] = prof.df
            host_meta[m] = prof.meta
    other = sorted({str(mt.get("host", {}).get("cpu_model")) for mt in host_meta.values()} - {HOST_CPU["model"]})
    if other:
        raise SystemExit(f"cpu-host profiles measured on {other}, but HOST_CPU describes {HOST_CPU['model']!r}: "
                         "update HOST_CPU / HOST_MEASURED in scripts/build_device_profiles.py for that host")
    if not host_profiles:
        raise SystemExit("no data/profiles/<model>/layer/cpu-host.csv found: measure them first "
                         "(`donna profile --device cpu ...`) or pass calibration data")
    calib_plans = {m: (plans[m]["layer"], plans[m]["n_ops"], plans[m]["input_bytes"]) for m in host_profiles}
    rows = dp.calibration_rows(host_profiles, calib_plans)
    fit_rows = dp.shape_minima(rows)
    fit = specmodel.calibrate(fit_rows, fit_rows["measured_s"], host["peak_flops"], host["mem_bw_Bps"])
    threads = sorted({str(host_meta[m].get("threads")) for m in host_meta})
    calib_label = (f"fit on the fastest unit of each of {len(fit_rows)} distinct unit shapes among {len(rows)} "
                   f"measured units of {', '.join(host_profiles)} (cpu-host, threads="
                   f"{'/'.join(threads)}, {host['model']})")
    host_spec = specmodel.DeviceSpec(
        name="cpu-host", peak_flops=host["peak_flops"], mem_bw_Bps=host["mem_bw_Bps"], dispatch_s=fit["dispatch_s"],
        compute_eff=fit["compute_eff"] or 1.0, mem_eff=fit["mem_eff"] or 1.0,
        active_power_w=1.0)
    pred = specmodel.predict(host_spec, rows)
    rows["pred_s"] = pred["time_s"].to_numpy()
    rows["err"] = rows.pred_s / rows.measured_s - 1
    fpred = specmodel.predict(host_spec, fit_rows)
    fit_rows["pred_s"] = fpred["time_s"].to_numpy()
    fit_rows["err"] = fit_rows.pred_s / fit_rows.measured_s - 1
    per_model = rows.groupby("model").apply(lambda g: pd.Series({
        "units": len(g), "measured_total_s": g.measured_s.sum(), "modelled_total_s": g.pred_s.sum(),
        "whole_model_err": g.pred_s.sum() / g.measured_s.sum() - 1,
        "unit_median_abs_err": g.err.abs().median(), "unit_90pct_abs_err": g.err.abs().quantile(0.9),
        "unit_max_abs_err": g.err.abs().max()}), include_groups=False).reset_index()
    rep += ["### Calibration on this machine's measured CPU profiles (cpu-host, measured)", "",
            f"Host: {host['model']}, {host['threads']} thread, {host['flop_per_cycle_core']} FP32 FLOP/cycle "
            f"(AVX2+FMA, 2 FMA pipes) × {host['clock_hz'] / 1e9:.3f} GHz (bogomips/2) = "
            f"{host['peak_flops'] / 1e9:.1f} GFLOP/s peak; memory: measured copy bandwidth "
            f"{HOST_MEASURED['copy_bandwidth_Bps'] / 1e9:.1f} GB/s ({HOST_MEASURED['how']}); measured 1-thread "
            f"SGEMM {HOST_MEASURED['sgemm_flops_1thread'] / 1e9:.1f} GFLOP/s "
            f"= {HOST_MEASURED['sgemm_flops_1thread'] / host['peak_flops']:.0%} of peak.", "",
            f"Fitted: dispatch {fit['dispatch_s'] * 1e6:.2f} µs/op, compute efficiency "
            f"{fit['compute_eff'] if fit['compute_eff'] is None else round(fit['compute_eff'], 3)}, memory "
            f"efficiency {fit['mem_eff'] if fit['mem_eff'] is None else round(fit['mem_eff'], 3)} "
            f"({calib_label})."
            + (f" The unconstrained fit put the memory efficiency at {fit['mem_eff_unconstrained']:.2f} of the "
               f"measured DRAM copy bandwidth (batch-1 layer working sets sit in the 32 MiB L3); it is capped at 1 "
               f"so DRAM-bound layers (VGG FC) stay physical, and the other terms refitted."
               if "mem_eff_unconstrained" in fit else "")
            + (f" Unconstrained compute efficiency {fit['compute_eff_unconstrained']:.2f} capped at 1."
               if "compute_eff_unconstrained" in fit else "")
            + (" The compute efficiency exceeds the SGEMM fraction measured above: the VM's real clock is likely "
               "above the nominal bogomips/2 (EPYC boost), and that SGEMM ran while other profiling was running."
               if (fit["compute_eff"] or 0) > HOST_MEASURED["sgemm_flops_1thread"] / host["peak_flops"] else "")
            + (lambda t: f" The per-op cost is what the smallest units show: {t.unit} of {t.model} "
                         f"({int(t.n_ops)} op(s), {t.flops:.3g} FLOP) takes {t.measured_s * 1e6:.0f} µs measured.")(
                rows.loc[rows.flops.idxmin()]), "",
            "Why shape minima: the host is a shared 2-vCPU VM and contention only adds time; identical-shape "
            f"units (up to {int(rows.groupby('shape').size().max())} repeats of one shape) differ by up to "
            f"{float(rows.groupby('shape').measured_s.agg(lambda v: v.max() / v.min()).max()):.1f}x in measured "
            "median time in these profiles. Errors below are against **every** measured unit (first table) and "
            "against the shape minima the fit used (second table).", "",
            md_table(per_model, "{:.3g}"), "",
            md_table(pd.DataFrame([{"fit rows (shape minima)": len(fit_rows),
                                    "median abs err": fit_rows.err.abs().median(),
                                    "90th pct abs err": fit_rows.err.abs().quantile(0.9),
                                    "max abs err": fit_rows.err.abs().max()}]), "{:.3g}"), ""]
    worst = rows.reindex(rows.err.abs().sort_values(ascending=False).index).head(8)
    rep += ["Largest per-unit errors:", "", md_table(worst[["model", "unit", "n_ops", "flops", "bytes",
                                                            "measured_s", "pred_s", "err"]], "{:.3g}"), ""]

    xeon = specmodel.xeon_w3323(dispatch_s=fit["dispatch_s"], compute_eff=host_spec.compute_eff,
                                mem_eff=host_spec.mem_eff, calibration=calib_label)
    gpu = specmodel.rtx3070ti()
    rep += ["### Presets (numbers and sources)", ""]
    for spec in (gpu, xeon):
        rep += [f"**{spec.name}**: peak {spec.peak_flops / 1e12:.2f} TFLOP/s FP32, {spec.mem_bw_Bps / 1e9:.1f} GB/s, "
                f"dispatch {spec.dispatch_s * 1e6:.2f} µs/op, compute eff {spec.compute_eff:.3f}, mem eff "
                f"{spec.mem_eff:.3f}, active power {spec.active_power_w:.0f} W", ""]
        rep += [f"- {k}: {v}" for k, v in spec.sources.items()] + [""]

    # ---- build profiles -----------------------------------------------------------------------------------
    written = []
    summary = []
    cim_meta = {}
    for m in tqdm(args.models, desc="writing profiles", unit="model"):
        P = plans[m]
        layer_costs = {}
        c, meta = dp.cim_layer_profile(m, P["layer"], est, P["embed_dims"], run=user_runs.get(m),
                                       run_source=user_src.get(m))
        layer_costs["cim"] = (c, meta)
        cim_meta[m] = meta
        for spec in (gpu, xeon):
            c2, meta2 = dp.spec_layer_profile(spec, P["layer"], P["n_ops"], P["input_bytes"])
            if spec is xeon:
                meta2["host"] = "Intel Xeon W-3323 (modelled, not measured)"
                meta2["model_params"]["calibration"] = {"host": host, "host_measured": HOST_MEASURED,
                                                        "fit": fit, "label": calib_label}
            layer_costs[spec.name] = (c2, meta2)
        for dev, (costs, meta) in layer_costs.items():
            prof = dp.make_profile(m, dev, "layer", P["layer"], costs, meta, date)
            written.append(write_profile(prof, profile_path(args.out, m, "layer", dev)))
            bc = dp.sum_to_blocks(costs.assign(unit=P["layer"]["unit"].to_numpy()), P["block"])
            prof_b = dp.make_profile(m, dev, "block", P["block"], bc, meta, date)
            written.append(write_profile(prof_b, profile_path(args.out, m, "block", dev)))
            summary.append({"model": m, "device": dev, "kind": meta["source_kind"], "layers": len(costs),
                            "total_time_s": costs.time_s.sum(), "total_energy_j": costs.energy_j.sum()})
    S = pd.DataFrame(summary)
    rep += ["## 5. Shipped profiles (layer granularity totals per inference, batch 1)", "",
            md_table(S, "{:.4g}"), ""]
    for m, meta in cim_meta.items():
        if meta["source_kind"] == "modelled":
            notes = meta["model_params"].get("extrapolation") or ["none (tile/PE sizes as in a calibration run)"]
            rep += [f"{m} `cim` (modelled by the estimator): outside the calibrated range: " + "; ".join(notes), ""]
    # Host measured totals for comparison.
    hm = [{"model": m, "cpu-host measured total_s": float(host_profiles[m].time_s.sum())} for m in host_profiles]
    rep += [md_table(pd.DataFrame(hm), "{:.4g}"), ""]

    # GPU overhead-bound share.
    ob = []
    for m in args.models:
        t = plans[m]["layer"].copy()
        t["n_ops"] = plans[m]["n_ops"]
        pr = specmodel.predict(gpu, specmodel.unit_work(t, plans[m]["input_bytes"]))
        frac = pr.dispatch_s / pr.time_s
        ob.append({"model": m, "gpu layers": len(pr), "layers with dispatch > 50 % of time": int((frac > 0.5).sum()),
                   "dispatch share of total time": float(pr.dispatch_s.sum() / pr.time_s.sum())})
    rep += ["GPU at batch 1 (modelled): share of time that is per-op launch/dispatch overhead", "",
            md_table(pd.DataFrame(ob), "{:.3f}"), ""]

    # ---- paper facts ---------------------------------------------------------------------------------------
    rep += ["## 6. The paper's profile facts (Section IV-A) against these profiles", ""]
    for m in args.models:
        profs = {d: read_profile(profile_path(args.out, m, "layer", d)).df for d in dp.DEVICE_TYPES}
        f = dp.profile_facts(profs)
        rep += [f"**{m}**: {dp.describe_facts(f)}", ""]
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.report, "\n".join(rep) + "\n")
    print(f"wrote {len(written)} profiles and {args.report}")


if __name__ == "__main__":
    main()
