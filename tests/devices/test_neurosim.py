"""NeuroSim log parser, layer loader, NetWork exporter and the NeuroSim-row -> unit mapping."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from donna_core.devices import neurosim as ns

RUN_DIR = ns.run_dir()


@pytest.mark.parametrize("model", sorted(ns.RUNS))
def test_parser_agrees_with_shipped_layer_csv(model):
    parsed = ns.parse_log_file(RUN_DIR / ns.RUNS[model][1])
    shipped = ns.load_run(model)
    assert list(parsed["layer"]) == list(shipped["layer"])
    common = [c for c in parsed.columns if c in shipped.columns and c != "layer"]
    # every numeric column the log carries, incl. the floor-plan tables
    for c in ["latency_s", "dynamic_energy_j", "leakage_energy_j", "leakage_power_w", "buffer_latency_s",
              "ic_dynamic_energy_j", "adc_dynamic_energy_j", "num_tiles", "speedup", "utilization"]:
        assert c in common, c
    for c in common:
        a, b = parsed[c].to_numpy(float), shipped[c].to_numpy(float)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=0, err_msg=f"{model}: column {c}")


@pytest.mark.parametrize("model", sorted(ns.RUNS))
def test_parser_summary_matches_totals(model):
    parsed = ns.parse_log_file(RUN_DIR / ns.RUNS[model][1])
    tot = pd.read_csv(RUN_DIR / "totals.csv").set_index("model").loc[model]
    s = parsed.attrs["summary"]
    assert s["total_latency_s"] == pytest.approx(tot.total_latency_ns * 1e-9, rel=1e-5)
    assert s["total_dynamic_energy_j"] == pytest.approx(tot.total_dynamic_energy_pJ * 1e-12, rel=1e-5)
    assert s["total_leakage_energy_j"] == pytest.approx(tot.total_leakage_energy_pJ * 1e-12, rel=1e-5)
    # per-layer values add up to the chip totals (to the log's 6 printed digits)
    assert parsed.latency_s.sum() == pytest.approx(s["total_latency_s"], rel=1e-4)
    assert parsed.dynamic_energy_j.sum() == pytest.approx(s["total_dynamic_energy_j"], rel=1e-4)
    assert parsed.leakage_energy_j.sum() == pytest.approx(s["total_leakage_energy_j"], rel=1e-4)


def _block(n, lat="1000ns", leak="5pJ"):
    return (f"-------------------- Estimation of Layer {n} ----------------------\n"
            f"layer{n}'s readLatency is: {lat}\nlayer{n}'s readDynamicEnergy is: 2e+03pJ\n"
            f"layer{n}'s leakagePower is: 1uW\nlayer{n}'s leakageEnergy is: {leak}\n")


def test_parser_units_and_minimal_log():
    df = ns.parse_log(_block(1) + _block(2, lat="2us", leak="1nJ"))
    assert df.latency_s.tolist() == pytest.approx([1e-6, 2e-6])
    assert df.dynamic_energy_j.tolist() == pytest.approx([2e-9, 2e-9])
    assert df.leakage_energy_j.tolist() == pytest.approx([5e-12, 1e-9])


@pytest.mark.parametrize("text, msg", [
    ("hello\nworld\n", "no 'Estimation of Layer N' block"),
    (_block(1) + _block(1), "appears twice"),
    (_block(1) + _block(3), "not numbered 1..N"),
    (_block(1, lat="3furlongs"), "unknown unit 'furlongs'"),
    (_block(1).replace("layer1's leakageEnergy is: 5pJ\n", ""), "layer 1 has no leakage_energy_j"),
])
def test_parser_rejects_bad_logs(text, msg):
    with pytest.raises(ns.NeuroSimError, match=msg):
        ns.parse_log(text, source="x.log")


def test_load_layers_rejects_bad_tables(tmp_path):
    good = ns.load_run("vgg8")
    p = tmp_path / "t.csv"
    good.drop(columns=["leakage_energy_j"]).to_csv(p, index=False)
    with pytest.raises(ns.NeuroSimError, match="missing column"):
        ns.load_layers(p)
    bad = good.copy()
    bad.loc[3, "latency_s"] = -1.0
    bad.to_csv(p, index=False)
    with pytest.raises(ns.NeuroSimError, match="latency_s.*layer 4"):
        ns.load_layers(p)
    with pytest.raises(ns.NeuroSimError, match="no NeuroSim run"):
        ns.load_run("alexnet")


def test_read_network_csv_names_bad_line():
    with pytest.raises(ns.NeuroSimError, match=":2: expected 8 values"):
        ns.read_network_csv("32,32,3,3,3,128,0,1\n32,32,128,3,3\n")


@pytest.mark.parametrize("model", sorted(ns.RUNS))
def test_exporter_reproduces_shipped_network_tables_from_run_geometry(model):
    shipped = (RUN_DIR / ns.RUNS[model][2]).read_text()
    table = ns.read_network_csv(shipped)
    geom = ns.load_run(model)[ns.GEOMETRY_COLUMNS].rename(columns=dict(zip(ns.GEOMETRY_COLUMNS, ns._UNIT_GEOM)))
    # column order of NetWork files: H, W, C, KH, KW, O, pool, stride (checked against the run's own columns)
    run = ns.load_run(model)
    assert (table[["ifm_h", "ifm_w", "ifm_c", "k_h", "k_w", "ofm_c", "stride", "pool"]].to_numpy()
            == run[["ifm_h", "ifm_w", "ifm_c", "k_h", "k_w", "ofm_c", "stride", "pool"]].to_numpy()).all()
    assert ns.network_csv(geom).split() == shipped.split()


def test_exporter_explicit_pool_flags_and_errors():
    g = [dict(in_h=8, in_w=8, in_c=4, k_h=3, k_w=3, out_c=8, stride=1), dict(name="relu")]
    assert ns.network_csv(g, pool=[1]) == "8,8,4,3,3,8,1,1\n"
    with pytest.raises(ns.NeuroSimError, match="1 pool flags for 2"):
        ns.network_csv(g + [dict(in_h=4, in_w=4, in_c=8, k_h=1, k_w=1, out_c=2, stride=1)], pool=[1])
    with pytest.raises(ns.NeuroSimError, match="incomplete geometry"):
        ns.network_csv([dict(name="c", in_h=8, in_w=8, in_c=4, k_h=3, k_w=None, out_c=8, stride=1)])
    with pytest.raises(ns.NeuroSimError, match="none of the units"):
        ns.network_csv([dict(name="relu")])


def test_cim_layer_costs_maps_rows_and_sums_energy():
    run = ns.load_run("vgg8")
    units = [dict(name=f"u{i}", in_h=r.ifm_h, in_w=r.ifm_w, in_c=r.ifm_c, k_h=r.k_h, k_w=r.k_w, out_c=r.ofm_c,
                  stride=r.stride) for i, r in enumerate(run.itertuples())]
    units.insert(3, dict(name="add"))  # a unit with no conv/linear: free on CIM
    out = ns.cim_layer_costs(run, units)
    assert len(out) == 9
    assert out.loc[3, "time_s"] == 0 and out.loc[3, "energy_j"] == 0
    np.testing.assert_allclose(out.drop(index=3).time_s, run.latency_s)
    np.testing.assert_allclose(out.drop(index=3).energy_j, run.dynamic_energy_j + run.leakage_energy_j)
    units[5]["in_c"] = 999
    with pytest.raises(ns.NeuroSimError, match="row 5 .*in_c=999"):
        ns.cim_layer_costs(run, units)
    with pytest.raises(ns.NeuroSimError, match="8 NeuroSim layers vs 7"):
        ns.cim_layer_costs(run, units[:-1] if False else [u for u in units if u.get("name") != "u7"])


@pytest.fixture(scope="module")
def layer_units():
    from donna_core.profiling.units import derive_model_units, unit_table
    return {m: unit_table(derive_model_units(m, "layer")[2].units) for m in sorted(ns.RUNS)}


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(ns.RUNS))
def test_units_geometry_agrees_with_neurosim_row_by_row(layer_units, model):
    units = layer_units[model]
    run = ns.load_run(model)
    assert ns.compare_geometry(run, ns.unit_geometry(units)) == []
    assert len(units) == len(run)  # one conv/linear per layer unit (ResNet-152: 156)
    shipped = (RUN_DIR / ns.RUNS[model][2]).read_text()
    assert ns.network_csv(units).split() == shipped.split()


def test_block_profiles_sum_their_layers():
    root = Path(__file__).resolve().parents[2] / "data" / "profiles"
    from donna_core.profiling.profiles import read_profile
    for model in sorted(ns.RUNS):
        lay = read_profile(root / model / "layer" / "cim.csv").df
        blk = read_profile(root / model / "block" / "cim.csv").df
        for r in blk.itertuples():
            sl = lay.iloc[int(r.layer_first):int(r.layer_last) + 1]
            assert r.time_s == pytest.approx(sl.time_s.sum(), rel=1e-9)
            assert r.energy_j == pytest.approx(sl.energy_j.sum(), rel=1e-9)
        assert blk.time_s.sum() == pytest.approx(ns.load_run(model).latency_s.sum(), rel=1e-6)


@pytest.mark.parametrize("model", sorted(ns.RUNS))
def test_layers_from_log_rebuilds_the_shipped_table(model):
    log = (RUN_DIR / ns.RUNS[model][1]).read_text()
    net = (RUN_DIR / ns.RUNS[model][2]).read_text()
    got = ns.layers_from_log(log, net, source=model)
    shipped = ns.load_run(model)
    assert set(shipped.columns) <= set(got.columns)
    for c in shipped.columns:
        np.testing.assert_allclose(got[c].to_numpy(float), shipped[c].to_numpy(float), rtol=1e-5, err_msg=c)
    with pytest.raises(ns.NeuroSimError, match="8 layers but the NetWork table has 7"):
        ns.layers_from_log((RUN_DIR / "vgg8_summary.txt").read_text(),
                           "\n".join((RUN_DIR / "NetWork_VGG8.csv").read_text().splitlines()[:7]))


def test_linear_over_tokens_is_exported_with_token_rows():
    units = [dict(name="mlp", kind="linear", macs=197 * 768 * 3072, in_h=1, in_w=1, in_c=768, k_h=1, k_w=1,
                  out_c=3072, stride=1),
             dict(name="attn", kind="attention", macs=5),
             dict(name="head", kind="linear", macs=768 * 1000, in_h=1, in_w=1, in_c=768, k_h=1, k_w=1,
                  out_c=1000, stride=1)]
    assert ns.network_csv(units).split() == ["197,1,768,1,1,3072,0,1", "1,1,768,1,1,1000,0,1"]


def test_pool_flag_inference_on_a_patch_embedding():
    units = [dict(name="patch", kind="conv", in_h=224, in_w=224, in_c=3, k_h=16, k_w=16, out_c=768, stride=16),
             dict(name="mlp", kind="linear", macs=197 * 768 * 768, in_h=1, in_w=1, in_c=768, k_h=1, k_w=1,
                  out_c=768, stride=1)]
    assert ns.network_csv(units).split()[0].endswith(",0,16")  # tokens follow, not pooling
