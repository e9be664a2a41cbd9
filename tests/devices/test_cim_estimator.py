"""CIM estimator (issues 4, 11): NeuroSim floor plan reproduction, NeuroSim's own latency structure (checked on
the runs' breakdown columns and on synthetic networks of a few and of hundreds of tiles), input-density
dependence, leave-one-model-out and leave-one-layer-class-out errors."""
import math

import numpy as np
import pandas as pd
import pytest

from donna_core.devices import cim_estimator as ce
from donna_core.devices import cim_floorplan, cim_terms, cim_validation
from donna_core.devices import neurosim as ns

RUNS = ce.shipped_runs()


@pytest.mark.parametrize("model", sorted(RUNS))
def test_floorplan_reproduces_neurosim_exactly(model):
    run = RUNS[model]
    fp = cim_floorplan.floorplan(run)
    assert fp.num_tiles.tolist() == run.num_tiles.astype(int).tolist()
    assert fp.speedup.tolist() == run.speedup.astype(int).tolist()
    np.testing.assert_allclose(fp.utilization, run.utilization, rtol=1e-5)
    # NeuroSim's printed floor plan for all three runs: novel-mapped PEs of 9x512x512, conventional tile 1024, PE 512
    assert (fp.num_pe_nm, fp.pe_size_nm, fp.tile_size_cm, fp.pe_size_cm) == (9, 512, 1024, 512)
    f = cim_terms.features(run, fp)
    assert f.num_in_vectors.astype(int).tolist() == run.num_in_vectors.astype(int).tolist()


def test_leakage_follows_neurosims_rule_on_the_runs():
    # NeuroSim: leakage energy = latency x (per-tile leakage of this layer's tile) x tiles of all OTHER layers.
    for run in RUNS.values():
        fp = cim_floorplan.floorplan(run)
        tile_leak = run.leakage_power_w / run.num_tiles
        np.testing.assert_allclose(run.leakage_energy_j,
                                   run.latency_s * tile_leak * (fp.total_tiles - fp.num_tiles), rtol=2e-4)


# ---- exact terms against NeuroSim's own breakdown columns (no fitting involved) ------------------------------
CLOCK_S = 2.03892e-9   # the runs' clock period (totals.csv)


@pytest.mark.parametrize("model", sorted(RUNS))
def test_exact_terms_match_neurosim_breakdown(model):
    run = RUNS[model]
    f = cim_terms.features(run, density=run.density)
    # ADC: one sense per muxed column per input bit, / duplication
    np.testing.assert_allclose(run.adc_latency_s / CLOCK_S, f.adc_cycles, rtol=2e-5)
    # the global-buffer term never exceeds NeuroSim's buffer latency; what is left is the tile part, >= 0
    tile_part = run.buffer_latency_s / CLOCK_S - f.gbuf_cycles
    assert (tile_part > 0).all()
    # rest of "other" (other - buffer - ic) is the chip ReLU plus a small max-pool term; a difference of
    # numbers printed to 6 digits, hence 1 %
    rest = (run.other_latency_s - run.buffer_latency_s - run.ic_latency_s) / CLOCK_S
    no_pool = run["pool"].to_numpy() == 0
    np.testing.assert_allclose(rest[no_pool], f.relu_cycles[no_pool], rtol=1e-2)


def test_tile_buffer_part_does_not_depend_on_network_size_in_the_runs():
    # NeuroSim buffer latency - exact global-buffer cycles, per input vector, for layers with the same tile
    # content in chips of 47 (vgg8), 363 (resnet152) and 524 (vgg19) tiles: the same number
    rows = []
    for m, run in RUNS.items():
        f = cim_terms.features(run, density=run.density)
        fp = cim_floorplan.floorplan(run)
        rt = (f.tbuf_rows_nm + f.tbuf_rows_cm) / f.num_in_vectors
        ct = (f.tbuf_cols_nm + f.tbuf_cols_cm) / f.num_in_vectors
        per_vec = (run.buffer_latency_s / CLOCK_S - f.gbuf_cycles) / f.num_in_vectors
        rows.append(pd.DataFrame({"model": m, "novel": f.novel, "rt": rt, "ct": ct, "dup": fp.speedup,
                                  "per_vec": per_vec}))
    d = pd.concat(rows)
    g = d.groupby(["novel", "rt", "ct", "dup"]).agg(models=("model", "nunique"), lo=("per_vec", "min"),
                                                    hi=("per_vec", "max"))
    shared = g[g.models > 1]
    assert len(shared) >= 4 and shared.models.max() == 3
    assert (shared.hi / shared.lo - 1).max() < 2e-3


# ---- structural formulas on synthetic networks (few tiles and hundreds of tiles) ----------------------------
def _net(rows):
    return pd.DataFrame(rows, columns=["ifm_h", "ifm_w", "ifm_c", "k_h", "k_w", "ofm_c", "stride", "pool"])


SMALL = _net([[32, 32, 3, 3, 3, 32, 1, 0], [32, 32, 32, 3, 3, 64, 1, 1], [16, 16, 64, 3, 3, 128, 1, 1],
              [8, 8, 128, 3, 3, 128, 1, 1], [1, 1, 2048, 1, 1, 256, 1, 0]])
# the same five layers followed by wide FC layers: hundreds of tiles, same tile/PE sizes
LARGE = pd.concat([SMALL, _net([[1, 1, 10, 1, 1, 16384, 1, 0], [1, 1, 16384, 1, 1, 4096, 1, 0]])],
                  ignore_index=True)


def _gbuf_by_hand(r, fp, i):
    """Chip.cpp ChipCalculatePerformance, written out for layer i."""
    niv = ((r.ifm_h - r.k_h + 1) // r.stride) * ((r.ifm_w - r.k_w + 1) // r.stride)
    rows = r.ifm_c * r.k_h * r.k_w
    out_bits = (rows / r.k_h if fp.novel[i] else rows) * 8 * niv
    in_bits = r.ofm_c * 8 * niv / (4 if r.pool else 1)
    divisor = min(fp.num_buffer_cores, math.ceil(fp.global_bus_width / 128))
    return (out_bits + in_bits) / 128 / divisor * math.ceil(fp.total_tiles / fp.num_tiles[i])


def test_small_and_large_synthetic_networks_follow_the_structural_formulas():
    est = ce.CimEstimator.fit(RUNS)
    fs, fl = cim_floorplan.floorplan(SMALL), cim_floorplan.floorplan(LARGE)
    assert fs.total_tiles < 10 and fl.total_tiles > 200
    assert (fs.tile_size_cm, fs.pe_size_cm, fs.pe_size_nm, fs.num_pe_nm) == \
        (fl.tile_size_cm, fl.pe_size_cm, fl.pe_size_nm, fl.num_pe_nm)
    small, large = est.predict_components(SMALL), est.predict_components(LARGE).iloc[:5]
    for i in range(5):
        assert small.gbuf_cycles[i] == pytest.approx(_gbuf_by_hand(SMALL.iloc[i], fs, i), rel=1e-12)
        assert large.gbuf_cycles[i] == pytest.approx(_gbuf_by_hand(LARGE.iloc[i], fl, i), rel=1e-12)
    # the global-buffer term scales with ceil(total / layer tiles) and the divisor, nothing else
    ratio = (np.ceil(fl.total_tiles / fl.num_tiles[:5]) / fl.buffer_parallelism) / \
        (np.ceil(fs.total_tiles / fs.num_tiles) / fs.buffer_parallelism)
    np.testing.assert_allclose(large.gbuf_cycles / small.gbuf_cycles, ratio, rtol=1e-12)
    # tile-level terms (tile buffers, ADC, accumulation, ReLU) are the same layer for layer
    tile_buf_s = small.buffer_latency_s - small.gbuf_cycles * est.clock_s
    tile_buf_l = large.buffer_latency_s - large.gbuf_cycles * est.clock_s
    np.testing.assert_allclose(tile_buf_l, tile_buf_s, rtol=1e-9)
    assert est.extrapolation(SMALL) == [] and est.extrapolation(LARGE) == []
    for c in ("adc_latency_s", "accum_latency_s", "adc_dynamic_energy_j"):
        np.testing.assert_allclose(large[c], small[c], rtol=1e-12)
    # on the small chip the size-independent tile part is most of the buffer latency (the blind spot)
    assert (tile_buf_s / small.buffer_latency_s > 0.5).all()
    assert (tile_buf_l[:4] / large.buffer_latency_s[:4] < 0.5).all()


def test_floor_plans_outside_the_calibration_are_flagged():
    # a network whose widest conventional layer has <= 128 outputs gets 512-wide tiles: the tile constants were
    # only ever fitted on 1024-wide conventional tiles and 9x512x512 novel tiles
    tiny = _net([[32, 32, 3, 3, 3, 32, 1, 0], [32, 32, 32, 3, 3, 64, 1, 1], [1, 1, 4096, 1, 1, 10, 1, 0]])
    est = ce.CimEstimator.fit(RUNS)
    notes = est.extrapolation(tiny)
    assert len(notes) == 1 and "conventional tile 512" in notes[0]


def test_resnet_stem_in_a_21_and_a_156_layer_network():
    est = ce.CimEstimator.fit(RUNS)
    full = RUNS["resnet152"]
    a, b = est.predict_components(full.iloc[:21]), est.predict_components(full)
    fa, fb = cim_floorplan.floorplan(full.iloc[:21]), cim_floorplan.floorplan(full)
    assert (fa.total_tiles, fb.total_tiles) == (25, 363)
    tile_a = a.buffer_latency_s[0] - a.gbuf_cycles[0] * est.clock_s
    tile_b = b.buffer_latency_s[0] - b.gbuf_cycles[0] * est.clock_s
    assert tile_a == pytest.approx(tile_b, rel=1e-12)
    assert b.gbuf_cycles[0] / a.gbuf_cycles[0] == pytest.approx(
        (363 / fb.buffer_parallelism) / (25 / fa.buffer_parallelism), rel=1e-12)
    # and the tile part the estimator gives the stem is NeuroSim's (resnet152 run, all-models fit)
    assert tile_b == pytest.approx(full.buffer_latency_s[0] - b.gbuf_cycles[0] * CLOCK_S, rel=0.02)


def test_global_htree_length_follows_neurosims_grid():
    # HTree.cpp: 2*(2^s - 1) + min(cols - x_c, x_c); ChipFloorPlan: rows = ceil(sqrt(T)), cols = ceil(T / rows)
    assert (cim_floorplan.floorplan(RUNS["vgg8"]).grid_rows, cim_floorplan.floorplan(RUNS["vgg8"]).grid_cols) == (7, 7)
    assert cim_floorplan.floorplan(RUNS["vgg8"]).htree_length == 2 * 7 + 2
    assert cim_floorplan.floorplan(RUNS["resnet152"]).htree_length == 2 * 31 + 4
    assert cim_floorplan.floorplan(RUNS["vgg19"]).htree_length == 2 * 31 + 4
    one = _net([[4, 4, 8, 1, 1, 8, 1, 0]])
    assert cim_floorplan.floorplan(one).total_tiles == 1 and cim_floorplan.floorplan(one).htree_length == 0


def test_prediction_depends_on_the_whole_network():
    est = ce.CimEstimator.fit(RUNS)
    vgg8 = RUNS["vgg8"]
    alone = est.predict(vgg8)
    # the same 8 layers on a chip that also holds VGG19's big FC layer (400 tiles): more tiles -> slower buffer
    # phases (ceil(total tiles / layer tiles)) and more leakage from the other tiles
    bigger = pd.concat([vgg8, RUNS["vgg19"].iloc[[16]]], ignore_index=True)
    inside = est.predict(bigger).iloc[:8]
    assert (inside.latency_s.to_numpy() > alone.latency_s.to_numpy()).all()
    assert (inside.leakage_energy_j.to_numpy() > 2 * alone.leakage_energy_j.to_numpy()).all()
    f = cim_terms.features(vgg8)
    np.testing.assert_allclose(alone.leakage_energy_j, alone.latency_s * est.tile_leakage(f) * f.other_tiles,
                               rtol=1e-12)
    # per-tile leakage as the runs have it (three levels per mapping kind, by sub-array rows used)
    for run in RUNS.values():
        fr = cim_terms.features(run, density=run.density)
        np.testing.assert_allclose(est.tile_leakage(fr), run.leakage_power_w / fr.num_tiles, rtol=1e-3)


# ---- input density ---------------------------------------------------------------------------------------
def test_density_changes_dynamic_energy_only():
    est = ce.CimEstimator.fit(RUNS)
    v = RUNS["vgg8"]
    a, b = est.predict(v), est.predict(v, density=v.density / 2)
    np.testing.assert_array_equal(a.latency_s, b.latency_s)
    np.testing.assert_array_equal(a.leakage_energy_j, b.leakage_energy_j)
    drop = 1 - b.dynamic_energy_j.sum() / a.dynamic_energy_j.sum()
    # the runs' README: halving VGG8's input density cut dynamic energy by ~25 %; the per-layer fit gives less
    assert 0.10 < drop < 0.30
    # default density = the shipped traces': first layer (U[-1,1) image) ~0.49, later layers (ReLU) ~0.27
    assert 0.45 < est.default_density["first"] < 0.55 and 0.2 < est.default_density["hidden"] < 0.35
    np.testing.assert_allclose(est.predict(v.drop(columns="density")).density,
                               [est.default_density["first"]] + [est.default_density["hidden"]] * 7)


def test_input_stats_parser():
    text = (ns.run_dir() / "input_stats_vgg8.txt").read_text()
    d = ce.parse_input_stats(text)
    assert len(d) == 8 and d[0] == pytest.approx(0.483) and d[3] == pytest.approx(0.164)
    with pytest.raises(cim_floorplan.CimEstimatorError, match="line 1"):
        ce.parse_input_stats("garbage\n", "x.txt")
    with pytest.raises(cim_floorplan.CimEstimatorError, match="without gaps"):
        ce.parse_input_stats("1 a bit-density 0.3\n3 b bit-density 0.2\n", "x.txt")


# ---- calibration errors (the estimator's accuracy targets) -----------------------------------------------------------
def test_all_models_fit_errors():
    _, per_model = cim_validation.error_table(RUNS, leave_one_out=False)
    assert per_model.latency_total_err.abs().max() < 0.02
    assert per_model.energy_total_err.abs().max() < 0.08
    assert per_model.latency_layer_median_abs_err.max() < 0.02


def test_leave_one_model_out_errors():
    per_layer, per_model = cim_validation.error_table(RUNS, leave_one_out=True)
    pm = per_model.set_index("model")
    assert {m: set(c.split("+")) for m, c in pm.calibrated_on.items()} == {
        "vgg8": {"vgg19", "resnet152"}, "vgg19": {"vgg8", "resnet152"}, "resnet152": {"vgg8", "vgg19"}}
    # targets: whole-model latency within 10 %, energy within 15 %, median per-layer latency <= 15 %
    assert pm.latency_total_err.abs().max() < 0.10
    assert pm.energy_total_err.abs().max() < 0.15
    assert pm.latency_layer_median_abs_err.max() <= 0.15
    assert len(per_layer) == sum(len(r) for r in RUNS.values())


def test_leave_one_layer_class_out_runs_and_is_bounded():
    t = cim_validation.class_out_table(RUNS)
    assert set(t.held_out) == {"novel", "conventional", "fc", "conv"}
    assert t.layers.sum() == 2 * sum(len(r) for r in RUNS.values())
    # a class predicted from constants fitted on the other classes only: bounded, not exact (report has values)
    assert np.isfinite(t.latency_total_err).all() and t.latency_total_err.abs().max() < 1.0
    fc = t[t.held_out == "fc"]
    assert fc.latency_total_err.abs().max() < 0.05


def test_fit_is_deterministic_and_non_negative():
    a, b = ce.CimEstimator.fit(RUNS), ce.CimEstimator.fit(RUNS)
    assert a.params() == b.params()
    assert all(v >= 0 for d in a.lat_coef.values() for v in d.values())
    assert all(v >= 0 for d in a.dyn_coef.values() for v in d.values())
    table = a.coefficient_table()
    assert table.meaning.str.len().min() > 10 and len(table) == len(set(zip(table.component, table.term)))


def test_bad_input_is_rejected():
    bad = RUNS["vgg8"].copy()
    bad.loc[2, "ifm_c"] = 0
    with pytest.raises(cim_floorplan.CimEstimatorError, match="layer 3: column 'ifm_c'"):
        cim_floorplan.floorplan(bad)
    with pytest.raises(cim_floorplan.CimEstimatorError, match="lacks column"):
        cim_terms.features(RUNS["vgg8"].drop(columns=["pool"]))
    bad = RUNS["vgg8"].copy()
    bad.loc[0, "k_h"] = 64
    with pytest.raises(cim_floorplan.CimEstimatorError, match="layer 1: kernel larger"):
        cim_floorplan.floorplan(bad)
    with pytest.raises(cim_floorplan.CimEstimatorError, match="not calibrated"):
        ce.CimEstimator().predict(RUNS["vgg8"])
    with pytest.raises(cim_floorplan.CimEstimatorError, match="at least one"):
        ce.CimEstimator.fit({})
    est = ce.CimEstimator.fit(RUNS)
    with pytest.raises(cim_floorplan.CimEstimatorError, match="layer 2 has 1.5"):
        est.predict(RUNS["vgg8"], density=[0.3, 1.5] + [0.3] * 6)
    with pytest.raises(cim_floorplan.CimEstimatorError, match="8 per-layer values"):
        est.predict(RUNS["vgg8"], density=[0.3, 0.3])
    with pytest.raises(cim_floorplan.CimEstimatorError, match="run 'mine': column 'density'"):
        ce.CimEstimator.fit({"mine": RUNS["vgg8"].drop(columns="density")})
    # a shipped run passed without densities (the issue-4 call) gets its own trace statistics
    plain = ce.CimEstimator.fit({m: ns.load_run(m) for m in ns.RUNS})
    assert plain.params() == ce.CimEstimator.fit({m: RUNS[m] for m in ns.RUNS}).params()


def _table_from_run(run):
    return pd.DataFrame({"unit": [f"l{i}" for i in range(len(run))], "kind": "conv",
                         "in_h": run.ifm_h, "in_w": run.ifm_w, "in_c": run.ifm_c, "k_h": run.k_h, "k_w": run.k_w,
                         "out_c": run.ofm_c, "stride": run.stride,
                         "macs": run.macs_neurosim, "weight_bytes": 0, "out_bytes": 0})


def test_cim_profile_from_a_user_run_and_from_the_estimator():
    from donna_core.devices import device_profiles as dp
    run = ns.layers_from_log((ns.run_dir() / "vgg8_summary.txt").read_text(),
                             (ns.run_dir() / "NetWork_VGG8.csv").read_text())
    table = _table_from_run(run)
    costs, meta = dp.cim_layer_profile("my-vgg8", table, run=run, run_source="my log")
    assert meta["source_kind"] == "simulated" and "my log" in meta["source"]
    np.testing.assert_allclose(costs.time_s, run.latency_s)
    # the same table without a run goes through the estimator, calibrated on the other two models
    est = ce.CimEstimator.fit({m: RUNS[m] for m in ("vgg19", "resnet152")})
    costs2, meta2 = dp.cim_layer_profile("my-vgg8", table, estimator=est)
    assert meta2["source_kind"] == "modelled" and "vgg19, resnet152" in meta2["source"]
    assert costs2.time_s.sum() == pytest.approx(run.latency_s.sum(), rel=0.05)
    assert meta2["input_density"]["source"] == "default"
    # with the run's own input density the energy is closer than with the default
    costs3, meta3 = dp.cim_layer_profile("my-vgg8", table, estimator=est, density=RUNS["vgg8"].density.to_numpy())
    assert meta3["input_density"]["source"] == "given"
    e_true = (run.dynamic_energy_j + run.leakage_energy_j).sum()
    assert abs(costs3.energy_j.sum() / e_true - 1) < 0.05
    with pytest.raises(ValueError, match="calibrated CimEstimator is needed"):
        dp.cim_layer_profile("my-vgg8", table)


def test_transformer_units_become_neurosim_rows():
    from donna_core.devices import device_profiles as dp
    E, T = 768, 197
    assert dp.attention_tokens(T * 4 * E * E + 2 * T * T * E, E) == T
    with pytest.raises(ValueError, match="integer T"):
        dp.attention_tokens(12345, E)
    table = pd.DataFrame([
        dict(unit="attn", kind="attention", macs=T * 4 * E * E + 2 * T * T * E, weight_bytes=1, out_bytes=1,
             in_h=pd.NA, in_w=pd.NA, in_c=pd.NA, k_h=pd.NA, k_w=pd.NA, out_c=pd.NA, stride=pd.NA),
        dict(unit="mlp", kind="linear", macs=T * E * 3072, weight_bytes=1, out_bytes=1,
             in_h=1, in_w=1, in_c=E, k_h=1, k_w=1, out_c=3072, stride=1)])
    rows, owner, scale = dp.neurosim_layer_table(table, {0: E})
    # attention -> in_proj (E->3E) and out_proj (E->E) over T tokens; linear over T tokens -> 1x1 conv on a Tx1 map
    assert rows[["ifm_h", "ifm_c", "ofm_c"]].values.tolist() == [[T, E, 3 * E], [T, E, E], [T, E, 3072]]
    assert owner == [0, 0, 1]
    assert scale[0] == pytest.approx(1 + 2 * T * T * E / (T * 4 * E * E)) and scale[1] == 1.0
    with pytest.raises(ValueError, match="needs its embed dim"):
        dp.neurosim_layer_table(table)


def _resnet18_table():
    import json

    import torch
    import torchvision

    from donna_core.profiling.units import derive_units, unit_table
    model = torchvision.models.resnet18(weights=None).eval()
    units = unit_table(derive_units(model, (torch.randn(1, 3, 224, 224),), "layer").units)
    table = ns.read_network_csv(ns.network_csv(units))
    ref = json.loads((ns.run_dir().parent / "data" / "cim_checks" / "resnet18_unseen.json").read_text())
    return table, ref


def test_unseen_resnet18_against_the_implied_neurosim_totals():
    table, ref = _resnet18_table()
    fp = cim_floorplan.floorplan(table)
    assert len(table) == 21 and fp.total_tiles == 41          # the unseen CNN: 21 layers, 41 tiles
    est = ce.CimEstimator.fit(RUNS)
    assert est.extrapolation(table) == []
    t = cim_validation.implied_reference_check(est, table, ref).set_index("quantity")
    # issue-11 targets on an unseen CNN: latency within 10 %, energy within 15 % (here: default density)
    assert t.loc["latency", ["err_lo", "err_hi"]].abs().max() < 0.10
    assert t.loc["energy", ["err_lo", "err_hi"]].abs().max() < 0.15
    # the issue-4 estimator's per-layer errors against NeuroSim (stem -54 %, 1x1 downsamples -37..-54 %) are
    # what it shows against this estimator too
    old = np.array(ref["previous_estimator_prediction"]["per_layer_latency_s"])
    r = old / est.predict(table).latency_s.to_numpy() - 1
    assert r[0] == pytest.approx(ref["reported_error_previous_estimator_vs_neurosim"]["stem_latency"], abs=0.01)
    lo, hi = ref["reported_error_previous_estimator_vs_neurosim"]["downsample_latency_range"]
    assert all(lo - 0.01 <= x <= hi + 0.01 for x in r[[7, 12, 17]])
