"""Scenario construction and sweeps (donna_core.experiments.scenarios) on small synthetic profiles.

The synthetic profiles are random but seeded; every expected value below is recomputed by hand from those
profiles with the cost model of the issue text (eq. 4-5, bottleneck = max, energy = sum), never typed in.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from donna_core.experiments import result_tables as rt
from donna_core.experiments import scenario_profiles as sp
from donna_core.experiments import scenarios as sc
from donna_core.partition.media import MEDIA_PRESETS
from donna_core.partition.plan_format import plan_string
from donna_core.partition.problem import problem_from_dict
from donna_core.partition.solve import pareto_front, solve

from .synthetic_profiles import SYNTH_FILES, write_synthetic_profiles


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = write_synthetic_profiles(tmp_path_factory.mktemp("profiles"))
    return root, {m: sp.load_model_profiles(m, SYNTH_FILES, profiles_dir=root) for m in ("toya", "toyb")}


# ------------------------------------------------------------------------------------------ parsing
def test_cluster_names_round_trip():
    for name, counts in sc.PAPER_CLUSTERS.items():
        assert sc.parse_cluster(name) == counts
        assert sc.cluster_name(counts) == name
    assert sc.cluster_name({"cim": 2, "cpu": 0}) == "2cim"


@pytest.mark.parametrize("bad", ["2 cpus+", "cpu", "2cpu++1gpu", ""])
def test_bad_cluster_is_named(bad):
    with pytest.raises(sc.ScenarioError, match="cluster"):
        sc.parse_cluster(bad)


def test_paper_grid_counts():
    n = len(sc.PAPER_MODELS) * len(sc.PAPER_MEDIA) * len(sc.PAPER_CLUSTERS)
    assert n * len(sc.STATED_ALPHAS) == 216  # the text's grid; the paper's "252" needs 7 α values
    assert sc.STATED_ALPHAS == (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def test_device_files_choice():
    assert sp.device_files("paper")["cpu"] == "cpu-xeon-w3323"
    assert sp.device_files("host")["cpu"] == "cpu-host"
    with pytest.raises(sc.ScenarioError, match="cpu must be"):
        sp.device_files("xeon")


def test_profile_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="nope.csv"):
        sp.read_type_profile(tmp_path / "nope.csv", "cpu")
    bad = tmp_path / "bad.csv"
    bad.write_text("unit,time_s\nu0,1\n")
    with pytest.raises(ValueError, match="bad.csv"):
        sp.read_type_profile(bad, "cpu")
    meta = {"format": 1, "model": "m", "device_type": "cpu-host", "granularity": "layer", "n_units": 1,
            "source_kind": "measured", "source": "test", "energy_source": "unavailable", "date": "2026-01-01"}
    cols = "unit,kind,time_s,time_spread_s,energy_j,out_bytes,weight_bytes,macs,in_h,in_w,in_c,k_h,k_w,out_c,stride"
    noenergy = tmp_path / "noenergy.csv"
    noenergy.write_text("# donna-profile " + json.dumps(meta) + "\n" + cols + "\nu0,conv,1,,,4,4,4,,,,,,,\n")
    with pytest.raises(sc.ScenarioError, match="energy_j is empty"):
        sp.read_type_profile(noenergy, "cpu")


def test_mismatched_units_rejected(synth):
    _, profs = synth
    mixed = {"cpu": profs["toya"]["cpu"], "gpu": profs["toyb"]["gpu"]}
    with pytest.raises(sc.ScenarioError, match="units"):
        sp.check_same_units(mixed)


# ------------------------------------------------------------------------------------------ problems
def test_make_problem_is_valid_and_faithful(synth):
    _, profs = synth
    d = sc.make_problem(profs["toya"], {"cpu": 2, "gpu": 1, "cim": 1}, links="hb-wcc")
    p = problem_from_dict(d)
    assert [x["name"] for x in d["devices"]] == ["cpu0", "cpu1", "gpu0", "cim0"]
    assert p.L == 7 and p.D == 4
    assert d["input_bytes"] == 8 * 8 * 3 * 4
    assert d["device_types"]["cim"]["meta"]["source_kind"] == "simulated"
    assert d["meta"]["roles"] == {"cpu-xeon-w3323": "cpu", "gpu-rtx3070ti": "gpu", "cim": "cim"}
    assert sc.device_roles(d) == {"cpu0": "cpu", "cpu1": "cpu", "gpu0": "gpu", "cim0": "cim"}
    np.testing.assert_array_equal(d["device_types"]["gpu-rtx3070ti"]["time_s"], profs["toya"]["gpu"].table["time_s"])
    with pytest.raises(sc.ScenarioError, match="no profile"):
        sc.make_problem({"cpu": profs["toya"]["cpu"]}, {"gpu": 1})
    with pytest.raises(sc.ScenarioError, match="no devices"):
        sc.make_problem(profs["toya"], {"cpu": 0})


def test_single_gpu_baseline_by_hand(synth):
    _, profs = synth
    base = sc.single_gpu_baseline(profs["toya"])
    g = profs["toya"]["gpu"].table
    assert base["bottleneck_s"] == pytest.approx(g["time_s"].sum(), rel=1e-12)
    assert base["energy_j"] == pytest.approx(g["energy_j"].sum(), rel=1e-12)
    assert base["plan"] == "gpu0:0-6"


def test_edge_cloud_problem_links_and_offload_baseline(synth):
    _, profs = synth
    d = sc.edge_cloud_problem(profs["toya"], 3)
    assert d["source"] == "cim0"
    pairs = {(a, b): m for a, b, m in d["links"]["pairs"]}
    assert pairs[("cim2", "gpu0")] == "lb-wcc" and pairs[("gpu0", "cpu0")] == "pcie5"
    assert d["links"]["default"] == "hb-wcc"
    df = sc.edge_vs_cloud({"toya": profs["toya"]}, n_edge=3, solver="exact")
    r = df.iloc[0]
    g = profs["toya"]["gpu"].table
    lb = MEDIA_PRESETS["lb-wcc"]
    inp = d["input_bytes"]
    assert r["offload_bottleneck_s"] == pytest.approx(max(inp / lb.bandwidth_Bps, g["time_s"].sum()), rel=1e-12)
    assert r["offload_energy_j"] == pytest.approx(g["energy_j"].sum() + 8 * inp * lb.energy_J_per_bit, rel=1e-12)
    # the exact α=1 plan can never be slower than the offload plan, which is one of its candidates
    assert r["donna_bottleneck_s"] <= r["offload_bottleneck_s"] * (1 + 1e-12)
    assert r["speedup"] == pytest.approx(r["offload_bottleneck_s"] / r["donna_bottleneck_s"])
    on_edge = all(st.split(":")[0].startswith("cim") for st in r["donna_plan"].split("|"))
    assert bool(r["all_on_edge"]) == on_edge
    with pytest.raises(sc.ScenarioError, match="n_edge"):
        sc.edge_cloud_problem(profs["toya"], 0)


# ------------------------------------------------------------------------------------------ sweeps
@pytest.fixture(scope="module")
def small_sweep(synth):
    _, profs = synth
    return sc.sweep(profs, alphas=(0.0, 0.5, 1.0), progress=False)


def test_sweep_shape_and_solver_relations(small_sweep, synth):
    df = small_sweep
    assert len(df) == 2 * 3 * 4 * 3 * 2
    assert df["scenario"].nunique() == 2 * 3 * 4 * 3
    piv = df.pivot(index="scenario", columns="solver", values="objective")
    assert (piv["exact"] <= piv["paper"] * (1 + 1e-12)).all()          # exact is never worse
    at1 = df[df.alpha == 1.0].pivot(index="scenario", columns="solver", values="bottleneck_s")
    np.testing.assert_allclose(at1["exact"], at1["paper"], rtol=1e-12)  # paper is exact at α = 1
    # one row recomputed straight from donna_core
    _, profs = synth
    row = df[(df.model == "toyb") & (df.medium == "lb-wcc") & (df.cluster == "2cpu+2cim") & (df.alpha == 0.5)
             & (df.solver == "paper")].iloc[0]
    r = solve(problem_from_dict(sc.make_problem(profs["toyb"], {"cpu": 2, "cim": 2}, "lb-wcc")), 0.5, "paper")
    assert row["energy_j"] == r.energy_j and row["bottleneck_s"] == r.bottleneck_s
    assert row["plan"] == plan_string(r.stages)
    assert "cim=cim (simulated)" in row["provenance"]


def test_alpha_grid_validated(synth):
    _, profs = synth
    with pytest.raises(sc.ScenarioError, match="α"):
        sc.sweep(profs, alphas=(0.0, 1.5), progress=False)
    with pytest.raises(sc.ScenarioError, match="empty"):
        sc.sweep(profs, alphas=(), progress=False)


def test_mark_dp_worse_tolerance():
    df = pd.DataFrame({"scenario": [0, 0, 1, 1, 2, 2], "solver": ["paper", "exact"] * 3,
                       "objective": [1.0 + 1e-13, 1.0, 1.0 + 1e-9, 1.0, 0.5, 0.5]})
    m = sc.mark_dp_worse(df)
    assert m["dp_worse"].tolist() == [False, True, False]
    with pytest.raises(sc.ScenarioError, match="both"):
        sc.mark_dp_worse(df[df.solver == "paper"])


def test_fronts_agree_with_sweep(small_sweep, synth):
    _, profs = synth
    fr = sc.pareto_fronts(profs, progress=False)
    for (m, med, c), g in fr.groupby(["model", "medium", "cluster"]):
        assert g["bottleneck_s"].is_monotonic_increasing and g["energy_j"].is_monotonic_decreasing
        s = small_sweep[(small_sweep.model == m) & (small_sweep.medium == med) & (small_sweep.cluster == c)
                        & (small_sweep.solver == "exact")]
        # the α=1 optimum is the front's fastest point, the α=0 optimum its least-energy point
        assert s[s.alpha == 1.0]["throughput_ips"].iloc[0] == pytest.approx(g["throughput_ips"].max(), rel=1e-12)
        assert s[s.alpha == 0.0]["energy_j"].iloc[0] == pytest.approx(g["energy_j"].min(), rel=1e-12)
    d = sc.make_problem(profs["toya"], sc.PAPER_CLUSTERS["2cpu+1gpu+1cim"], "pcie5")
    n = len(pareto_front(problem_from_dict(d)))
    assert len(fr[(fr.model == "toya") & (fr.medium == "pcie5") & (fr.cluster == "2cpu+1gpu+1cim")]) == n


def test_single_gpu_comparison_columns(synth):
    _, profs = synth
    df = sc.single_gpu_comparison(profs["toya"], media=("hb-wcc",), alphas=(1.0,), solver="exact")
    base = df.attrs["baseline"]
    assert df["scenario"].tolist() == list(range(1, len(sc.FIG3_CLUSTERS) + 1))
    np.testing.assert_allclose(df["speedup"], base["bottleneck_s"] / df["bottleneck_s"])
    np.testing.assert_allclose(df["per_device_energy_ratio"], df["energy_j"] / df["n_stages"] / base["energy_j"])
    gpu_clusters = df[df.cluster.isin(["2cpu+2gpu", "2cpu+1gpu+1cim"])]
    assert (gpu_clusters["speedup"] >= 1 - 1e-12).all()  # a single GPU is one of their plans
    r = df[df.cluster == "2cpu+2gpu"].iloc[0]
    assert r["label"].startswith(f"{r['scenario']}: 2 GPU + 2 CPU → uses ")


def test_profile_tables(synth):
    _, profs = synth
    long = sp.profile_long_table(profs)
    assert len(long) == 3 * (7 + 4)
    assert set(long["source_kind"]) == {"modelled", "simulated"}
    src = sp.sources_table(profs)
    assert len(src) == 6 and set(src["role"]) == {"cpu", "gpu", "cim"}


def test_write_table_rounds_and_rewrites_byte_identically(tmp_path, small_sweep):
    path = rt.write_table(small_sweep, tmp_path / "s.csv")
    back = pd.read_csv(path)
    want = [float(f"{x:.{rt.TABLE_DIGITS}g}") for x in small_sweep["energy_j"]]
    np.testing.assert_array_equal(back["energy_j"].to_numpy(), want)
    np.testing.assert_allclose(back["energy_j"], small_sweep["energy_j"], rtol=5 * 10.0 ** -rt.TABLE_DIGITS)
    assert back["plan"].tolist() == small_sweep["plan"].tolist()
    # what was read back is written as the same bytes, and last-bit noise (another machine) changes nothing
    again = rt.write_table(back, tmp_path / "again.csv")
    noisy = small_sweep.assign(energy_j=small_sweep["energy_j"] * (1 + 3e-16), bottleneck_s=small_sweep["bottleneck_s"]
                               * (1 - 2e-16))
    assert again.read_bytes() == path.read_bytes() == rt.write_table(noisy, tmp_path / "n.csv").read_bytes()
    assert b"\r" not in path.read_bytes()


@pytest.mark.parametrize("model", sc.PAPER_MODELS)
def test_shipped_paper_profiles(model):
    """The repository's paper profiles load for every role, carry their provenance, and the input size taken
    from the first unit's geometry equals the model zoo's input tensor."""
    from donna_core.profiling.models import input_bytes

    profs = sp.load_model_profiles(model)
    assert {r: p.device_type for r, p in profs.items()} == sp.PAPER_DEVICE_FILES
    assert profs["cim"].source_kind == "simulated"
    assert profs["gpu"].source_kind == "modelled" and profs["cpu"].source_kind == "modelled"
    assert sp.input_bytes_of(profs["cpu"]) == input_bytes(model)
    d = sc.make_problem(profs, sc.PAPER_CLUSTERS["2cpu+1gpu+1cim"], "hb-wcc")
    assert problem_from_dict(d).L == len(profs["cim"].table)


def test_host_cpu_without_energy_needs_an_assumed_power(tmp_path):
    """cpu="host": a measured CPU profile without energy is refused, or modelled as power x time on request."""
    root = write_synthetic_profiles(tmp_path, models=("toya",), n_units=(7,))
    src = sp.profile_path("toya", "cpu-xeon-w3323", "layer", root).read_text().split("\n", 1)
    meta = json.loads(src[0][len("# donna-profile "):])
    meta.update(device_type="cpu-host", source_kind="measured", energy_source="unavailable")
    table = pd.read_csv(__import__("io").StringIO(src[1]))
    table["energy_j"] = np.nan
    table["time_spread_s"] = 1e-6
    sp.profile_path("toya", "cpu-host", "layer", root).write_text(
        "# donna-profile " + json.dumps(meta) + "\n" + table.to_csv(index=False))
    with pytest.raises(sc.ScenarioError, match="cpu_power_w"):
        sp.load_paper_profiles(["toya"], cpu="host", profiles_dir=root)
    with pytest.raises(sc.ScenarioError, match="positive"):
        sp.load_paper_profiles(["toya"], cpu="host", profiles_dir=root, cpu_power_w=-5)
    profs = sp.load_paper_profiles(["toya"], cpu="host", profiles_dir=root, cpu_power_w=65.0)["toya"]
    np.testing.assert_allclose(profs["cpu"].table["energy_j"], 65.0 * table["time_s"], rtol=1e-15)
    assert "65 W" in profs["cpu"].label and "measured" in profs["cpu"].label
    d = sc.make_problem(profs, {"cpu": 1}, "pcie5")
    assert d["device_types"]["cpu-host"]["meta"]["energy_source"] == "model"
    src_tab = sp.sources_table({"toya": profs})
    assert "65 W" in src_tab.set_index("role").loc["cpu", "source"]
