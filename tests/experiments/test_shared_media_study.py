"""The shared-media study: a plan costs the same energy with a shared channel and never less time; the exact
α = 1 optimum never gets faster; the independent world is the paper's sweep; the curve study's α = 1 plan is the
fastest under the curve. Costs are cross-checked against tests/bruteforce.py's direct reading of the problem."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from bruteforce import reference_cost
from donna_core.experiments import claims as cl
from donna_core.experiments import scenario_profiles as sp
from donna_core.experiments import scenarios as sc
from donna_core.experiments import shared_media_study as st
from donna_core.partition.media import curve_from
from .synthetic_profiles import write_synthetic_profiles

CLUSTERS = {"2cpu+2cim": {"cpu": 2, "cim": 2}, "2cpu+1gpu+1cim": {"cpu": 2, "gpu": 1, "cim": 1}}
ALPHAS = [0.0, 0.5, 1.0]
RTOL = 1e-12


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = write_synthetic_profiles(tmp_path_factory.mktemp("p"), models=("vgg8", "resnet152"), n_units=(5, 7),
                                    seed=3)
    profs = {m: sp.load_model_profiles(m, sp.device_files("paper"), profiles_dir=root) for m in ("vgg8", "resnet152")}
    study = st.run_worlds(profs, CLUSTERS, ALPHAS, fig3_alphas=[1.0], n_edge=2, progress=False)
    return profs, study, st.compare_worlds(study["sweep"], profs, CLUSTERS)


def _plan(s):
    return [(d, int(a), int(b)) for d, a, b in st._plan_tuples(s)]


def test_same_plan_same_energy_never_less_time(small):
    profs, _, cmp = small
    assert len(cmp) == 2 * 2 * len(CLUSTERS) * len(ALPHAS) * 2  # models x radio media x clusters x α x solvers
    for r in cmp.itertuples():
        assert math.isclose(r.indep_plan_shared_energy_j, r.energy_j_independent, rel_tol=RTOL)
        assert r.indep_plan_shared_bottleneck_s >= r.bottleneck_s_independent * (1 - RTOL)
        # the same numbers read straight from the problem dicts (no Tables, no prefix sums)
        counts = CLUSTERS[r.cluster]
        for medium, b, e in ((r.base_medium, r.bottleneck_s_independent, r.energy_j_independent),
                             (st.SHARED_VARIANTS[r.base_medium], r.indep_plan_shared_bottleneck_s,
                              r.indep_plan_shared_energy_j)):
            ref_b, ref_e = reference_cost(sc.make_problem(profs[r.model], counts, links=medium),
                                          _plan(r.plan_independent))
            assert math.isclose(b, ref_b, rel_tol=1e-9) and math.isclose(e, ref_e, rel_tol=1e-9)


def test_one_paper_scenario_where_the_channel_binds():
    """VGG8 on {2 CPU, 2 CIM} over HB-WCC at α = 1 (the paper's profiles): the independent-links optimum sends
    two messages whose summed airtime exceeds its slowest stage, so sharing slows that plan at equal energy and
    the exact solver re-plans."""
    profs = sp.load_paper_profiles(["vgg8"])
    cl2 = {"2cpu+2cim": CLUSTERS["2cpu+2cim"]}
    study = st.run_worlds(profs, cl2, [1.0], fig3_alphas=[1.0], n_edge=2, solvers=("exact",), progress=False)
    r = st.compare_worlds(study["sweep"], profs, cl2).set_index("base_medium").loc["hb-wcc"]
    assert r["indep_plan_shared_bottleneck_s"] > r["bottleneck_s_independent"] * (1 + 1e-6)
    assert math.isclose(r["indep_plan_shared_energy_j"], r["energy_j_independent"], rel_tol=RTOL)
    assert r["bottleneck_s_shared"] >= r["bottleneck_s_independent"] * (1 - RTOL)
    assert r["bottleneck_s_shared"] <= r["indep_plan_shared_bottleneck_s"] * (1 + RTOL)  # re-planning helps
    d = sc.make_problem(profs["vgg8"], cl2["2cpu+2cim"], links="hb-wcc-shared")
    assert math.isclose(reference_cost(d, _plan(r["plan_shared"]))[0], r["bottleneck_s_shared"], rel_tol=1e-9)


def test_exact_fastest_plan_never_faster_when_shared(small):
    _, _, cmp = small
    a1 = cmp[(cmp["solver"] == "exact") & (cmp["alpha"] == 1.0)]
    assert len(a1) and (a1["throughput_ratio"] <= 1 + RTOL).all()
    # re-planning for the channel never loses against keeping the independent plan at α = 1
    assert (a1["replan_gain"] >= 1 - RTOL).all()
    # energy is a function of the plan alone: an unchanged plan keeps its energy exactly
    same = cmp[~cmp["plan_changed"]]
    assert ((same["energy_j_shared"] / same["energy_j_independent"] - 1).abs() <= RTOL).all()


def test_independent_world_is_the_paper_sweep(small):
    profs, study, _ = small
    ind = st.world_tables(study, "independent")["sweep"]
    direct = sc.sweep(profs, sc.PAPER_MEDIA, CLUSTERS, ALPHAS, progress=False)
    cols = ["scenario", "model", "medium", "cluster", "alpha", "solver", "bottleneck_s", "energy_j", "plan"]
    pd.testing.assert_frame_equal(ind[cols], direct[cols], check_exact=True)
    shared = st.world_tables(study, "shared")["sweep"]
    assert set(shared["medium"]) == set(sc.PAPER_MEDIA)  # renamed to the Table I names the claims read
    assert set(study["sweep"].loc[study["sweep"]["world"] == "shared", "medium"]) == {
        "pcie5", "hb-wcc-shared", "lb-wcc-shared"}


def test_claims_shift_runs_every_check(small):
    profs, study, _ = small
    shift = st.claims_shift(study, sp.profile_long_table(profs))
    assert list(shift["key"]) == [c.key for c in cl.build_claims({})]
    # claims read from the profiles alone cannot move
    prof_only = shift[shift["key"].isin(["gpu_fastest", "cim_efficient", "cim_slowest"])]
    assert len(prof_only) == 3 and not prof_only["numbers_moved"].any()


def test_curve_vs_line_fastest_under_the_curve(small, tmp_path):
    profs, _, _ = small
    media, label = st.loopback_media(tmp_path / "missing.json")
    assert "ILLUSTRATIVE" in label
    cv = st.curve_vs_line(profs, media, CLUSTERS, ALPHAS, progress=False)
    assert len(cv) == 2 * len(CLUSTERS) * len(ALPHAS)
    a1 = cv[cv["alpha"] == 1.0]
    assert (a1["line_plan_loss"] >= 1 - RTOL).all()
    r = cv.iloc[-1]
    d = st._with_medium(sc.make_problem(profs[r.model], CLUSTERS[r.cluster], links="pcie5"), "c", media["curve"])
    b, e = reference_cost(d, _plan(r.plan_line))
    assert math.isclose(b, r.line_plan_curve_bottleneck_s, rel_tol=1e-9)
    assert math.isclose(e, r.line_plan_curve_energy_j, rel_tol=1e-9)


def test_loopback_media_from_the_calibration_file():
    if not st.CALIBRATION_FILE.is_file():
        pytest.skip("no data/validation/calibration.json in this checkout")
    media, label = st.loopback_media()
    assert label.startswith("measured")
    import json

    rec = json.loads(st.CALIBRATION_FILE.read_text())
    want = rec["medium"].get("time_curve") or curve_from(rec["samples"]["bytes"], rec["samples"]["median_one_way_s"])
    assert media["curve"]["time_curve"] == [[float(b), float(t)] for b, t in want]
    assert media["line"]["bandwidth_Bps"] == rec["medium"]["bandwidth_Bps"]


def test_report_section_only_with_the_tables(small, tmp_path):
    assert st.study_markdown(tmp_path) == ""
    profs, study, cmp = small
    st.write_study({**study, "compare": cmp, "claims": st.claims_shift(study, sp.profile_long_table(profs))}, tmp_path)
    md = st.study_markdown(tmp_path)
    assert md.startswith("## Beyond the paper: shared wireless channels")
    ex = cmp[cmp["solver"] == "exact"]
    assert f"| hb-wcc | vgg8 | {int((ex.base_medium == 'hb-wcc').sum() // 2)} |" in md
