"""The claims report: each check on hand-made tables (both outcomes), and the report on a real sweep."""
from __future__ import annotations

import pandas as pd

from donna_core.experiments import claims as cl
from donna_core.experiments import claims_report as cr
from donna_core.experiments import result_tables as rt
from donna_core.experiments import scenario_profiles as sp
from donna_core.experiments import scenarios as sc


def _sweep_rows(model, medium, cluster, points, solver="paper"):
    """points: {alpha: (bottleneck_s, energy_j, plan, n_stages, used)}"""
    rows = []
    for sid, (a, (b, e, plan, n, used)) in enumerate(points.items()):
        rows.append({"scenario": hash((model, medium, cluster, a)) % 10**9, "model": model, "medium": medium,
                     "cluster": cluster, "alpha": a, "solver": solver, "bottleneck_s": b, "throughput_ips": 1 / b,
                     "energy_j": e, "objective": a * b + (1 - a) * e, "plan": plan, "n_stages": n,
                     "used_cpu": used.get("cpu", 0), "used_gpu": used.get("gpu", 0), "used_cim": used.get("cim", 0)})
    return rows


def test_resnet_4cpu_claim_both_ways():
    good = pd.DataFrame(_sweep_rows("resnet152", "hb-wcc", "4cpu", {
        1.0: (1.000, 10.0, "a", 4, {"cpu": 4}), 0.8: (1.002, 9.24, "b", 3, {"cpu": 3})}))
    c = cl.check_resnet_hb_4cpu({"sweep": good})
    assert c.verdict == cl.HOLDS and "-7.60%" in c.ours
    small = pd.DataFrame(_sweep_rows("resnet152", "hb-wcc", "4cpu", {
        1.0: (1.000, 10.0, "a", 4, {"cpu": 4}), 0.8: (1.001, 9.9, "b", 3, {"cpu": 3})}))
    assert cl.check_resnet_hb_4cpu({"sweep": small}).verdict == cl.QUALITATIVE
    slow = pd.DataFrame(_sweep_rows("resnet152", "hb-wcc", "4cpu", {
        1.0: (1.000, 10.0, "a", 4, {"cpu": 4}), 0.8: (1.02, 9.24, "b", 3, {"cpu": 3})}))
    c = cl.check_resnet_hb_4cpu({"sweep": slow})
    assert c.verdict == cl.FAILS and c.why
    only1 = pd.DataFrame(_sweep_rows("resnet152", "hb-wcc", "4cpu", {1.0: (1.0, 10.0, "a", 4, {"cpu": 4})}))
    assert cl.check_resnet_hb_4cpu({"sweep": only1}).verdict == cl.MISSING


def test_scenario_count_claim():
    rows = []
    for m in ("a", "b", "c"):
        for med in sc.PAPER_MEDIA:
            for c in sc.PAPER_CLUSTERS:
                rows += _sweep_rows(m, med, c, {a: (1.0, 1.0, "p", 1, {"cpu": 1}) for a in sc.STATED_ALPHAS})
    df = pd.DataFrame(rows)
    c = cl.check_scenario_count({"sweep": df})
    assert c.ours.startswith("216 ") and c.verdict == cl.FAILS and "252" in c.why


def test_alpha0_claim_detects_split():
    prof = pd.DataFrame({"model": "m", "role": ["cpu", "cpu", "cim", "cim"], "unit_index": [0, 1, 0, 1],
                         "time_s": 1.0, "energy_j": [5.0, 5.0, 1.0, 1.0]})
    one = pd.DataFrame(_sweep_rows("m", "pcie5", "2cpu+2cim", {0.0: (2.0, 2.0, "cim0:0-1", 1, {"cim": 1})}))
    assert cl.check_alpha0_single_device({"sweep": one, "profiles": prof}).verdict == cl.HOLDS
    split = pd.DataFrame(_sweep_rows("m", "pcie5", "2cpu+2cim", {0.0: (1.0, 2.0, "cim0:0-0|cim1:1-1", 2, {"cim": 2})}))
    c = cl.check_alpha0_single_device({"sweep": split, "profiles": prof})
    assert c.verdict == cl.FAILS and "cim0:0-0|cim1:1-1" in c.ours


def test_profile_claims():
    prof = pd.DataFrame({"model": "m", "role": ["gpu"] * 3 + ["cpu"] * 3 + ["cim"] * 3,
                         "unit_index": [0, 1, 2] * 3,
                         "time_s": [1, 1, 1, 2, 2, 2, 9, 9, 0.5],
                         "energy_j": [3, 3, 3, 9, 9, 9, 1, 1, 1]})
    t = {"profiles": prof}
    assert cl.check_gpu_fastest(t).verdict == cl.HOLDS
    assert cl.check_cim_most_efficient(t).verdict == cl.HOLDS
    assert cl.check_cim_slowest(t).verdict == cl.HOLDS
    prof2 = prof.copy()
    prof2.loc[(prof2.role == "cim") & (prof2.unit_index == 0), "time_s"] = 0.1  # CIM fast on the first layer
    assert cl.check_cim_slowest({"profiles": prof2}).verdict == cl.FAILS


def test_fig3_and_fig4_claims():
    fig3 = pd.DataFrame([
        {"model": "resnet152", "medium": "hb-wcc", "cluster": "2cpu+2gpu", "alpha": 1.0, "speedup": 4.0,
         "per_device_energy_ratio": 1 / 3.5, "energy_ratio": 1.1, "participating": "2cpu+2gpu", "plan": "p",
         "bottleneck_s": 0.25, "baseline_bottleneck_s": 1.0, "used_cim": 0, "used_gpu": 2, "used_cpu": 2},
        {"model": "resnet152", "medium": "lb-wcc", "cluster": "2cpu+2gpu", "alpha": 1.0, "speedup": 1.0,
         "per_device_energy_ratio": 1.0, "energy_ratio": 1.0, "participating": "1gpu", "plan": "gpu0:0-9",
         "bottleneck_s": 1.0, "baseline_bottleneck_s": 1.0, "used_cim": 0, "used_gpu": 1, "used_cpu": 0},
        {"model": "resnet152", "medium": "hb-wcc", "cluster": "2cim", "alpha": 1.0, "speedup": 0.3,
         "per_device_energy_ratio": 0.01, "energy_ratio": 0.02, "participating": "2cim", "plan": "q",
         "bottleneck_s": 3.0, "baseline_bottleneck_s": 1.0, "used_cim": 2, "used_gpu": 0, "used_cpu": 0}])
    t = {"fig3": fig3}
    assert cl.check_fig3_speedup(t).verdict == cl.HOLDS
    assert cl.check_lb_no_speedup(t).verdict == cl.HOLDS
    assert cl.check_cim_half_gpu(t).verdict == cl.HOLDS
    other = {"fig3": fig3.assign(model="vgg8")}
    assert cl.check_fig3_speedup(other).verdict == cl.MISSING  # Fig. 3 is about ResNet-152 only
    fig4 = pd.DataFrame({"model": ["vgg8", "vgg19", "resnet152"], "speedup": [0.8, 2.0, 3.0],
                         "energy_reduction": [5.0, 50.0, 250.0], "all_on_edge": [True, True, True],
                         "donna_plan": ["a", "b", "c"]})
    t = {"fig4": fig4}
    assert cl.check_edge_keeps_all(t).verdict == cl.HOLDS
    assert cl.check_edge_energy(t).verdict == cl.HOLDS
    assert cl.check_edge_larger_more(t).verdict == cl.HOLDS
    t = {"fig4": fig4.assign(energy_reduction=[5.0, 50.0, 20.0], all_on_edge=[True, False, True])}
    assert cl.check_edge_keeps_all(t).verdict == cl.FAILS
    assert cl.check_edge_energy(t).verdict == cl.QUALITATIVE
    assert cl.check_edge_larger_more(t).verdict == cl.QUALITATIVE


def test_report_from_real_sweep(tmp_path):
    """End to end on synthetic profiles: every claim gets a verdict, the report names them all."""
    from .synthetic_profiles import SYNTH_FILES, write_synthetic_profiles

    root = write_synthetic_profiles(tmp_path)
    profs = {m: sp.load_model_profiles(m, SYNTH_FILES, profiles_dir=root) for m in ("toya", "toyb")}
    sweep = sc.sweep(profs, alphas=(0.0, 0.5, 1.0), progress=False)
    tables = {"sweep": sweep, "fronts": sc.pareto_fronts(profs, progress=False),
              "profiles": sp.profile_long_table(profs), "sources": sp.sources_table(profs)}
    claims = cl.build_claims(tables)
    assert len(claims) == len(cl.CHECKS)
    assert {c.verdict for c in claims} <= {cl.HOLDS, cl.QUALITATIVE, cl.FAILS, cl.MISSING}
    assert all(c.why for c in claims if c.verdict in (cl.FAILS, cl.QUALITATIVE, cl.MISSING))
    md = cr.render_markdown(claims, tables)
    assert md.count("\n| ") >= len(claims) + 3  # header rows + one per claim (+ sources)
    g = cr.dp_gap_summary(sweep)
    marked = sc.mark_dp_worse(sweep)
    assert g["n_worse"] == int(marked["dp_worse"].sum()) and g["n"] == sweep["scenario"].nunique()
    assert f"in {g['n_worse']} of {g['n']} scenarios" in md
    for c in claims:
        assert c.claim.replace("|", "\\|") in md
    # the report is rebuilt identically from the CSVs the notebooks would write
    for key, df in tables.items():
        rt.write_table(df, tmp_path / "data" / cl.RESULT_FILES[key])
    back = cl.load_results(tmp_path / "data")
    assert cr.render_markdown(cl.build_claims(back), back) == md
