"""LLM problems: memory = weights + KV, CIM eligibility, realistic memory, solvers, CLI, notebook 07."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bruteforce import brute_best_objective, brute_front
from donna_core.devices import llm_costs, specmodel
from donna_core.partition.costs import InfeasibleError
from donna_core.partition.problem import load_problem, problem_from_dict
from donna_core.partition.solve import pareto_front, solve
from donna_core.profiling import llm
from donna_core.profiling.problem_builder import (REALISTIC_MEMORY_BYTES, build_problem, parse_cluster,
                                                  weight_stationary_units)
from donna_core.profiling.profiles import load_profiles

REPO = Path(__file__).resolve().parents[2]
PROFILES = REPO / "data" / "profiles"


def _problem(model, phase, cluster, medium="hb-wcc", memory="realistic"):
    return build_problem(load_profiles(PROFILES, model, phase), parse_cluster(cluster), medium, memory_bytes=memory)


def test_unit_memory_is_weights_plus_kv_and_cim_runs_only_the_head():
    d = _problem("tinyllama", "decode", "2cpu+1gpu+1cim")
    prof = load_profiles(PROFILES, "tinyllama", "decode")["cim"].df
    assert [u["weight_bytes"] for u in d["units"]] == list(prof.weight_bytes + prof.kv_bytes)
    assert d["units"][1]["weight_bytes"] - int(prof.weight_bytes[1]) == 2 * 4 * 64 * 128 * 4  # KV at S=128
    assert d["device_types"]["cim"]["allowed"] == [False] * 23 + [True]
    assert "allowed" not in d["device_types"]["gpu-rtx3070ti"]
    assert {t: s["memory_bytes"] for t, s in d["device_types"].items()} == {
        t: REALISTIC_MEMORY_BYTES[t] for t in d["device_types"]}
    p = problem_from_dict(d)
    assert p.allowed.shape == (3, 24) and p.allowed.sum() == 2 * 24 + 1  # per device type
    for alpha in (0.0, 0.5, 1.0):
        r = solve(p, alpha, "exact")
        for s in r.stages:
            if s.device.startswith("cim"):
                assert (s.first, s.last) == (23, 23)


def test_cim_capacity_constant_is_the_vgg19_floor_plan():
    cap = llm_costs.cim_weight_capacity("vgg19")
    assert REALISTIC_MEMORY_BYTES["cim"] == cap["fp32_equiv_bytes"]
    assert cap["tiles"] == 524 and cap["weights_8bit"] > 143_652_544  # VGG19's own weights fit its chip


def test_vit_attention_units_are_not_allowed_on_cim():
    for gran in ("layer", "block"):
        profs = load_profiles(PROFILES, "vit_b_16", gran)
        d = build_problem(profs, parse_cluster("1cpu+1cim"), "hb-wcc")
        kinds = list(profs["cim"].df["kind"])
        assert d["device_types"]["cim"]["allowed"] == [k != "attention" for k in kinds]
        assert kinds.count("attention") == 12
    shipped = json.loads((REPO / "data/problems/vit_b_16_2cpu1gpu1cim_hb-wcc.json").read_text())
    assert shipped["device_types"]["cim"]["allowed"].count(False) == 12
    # CNN problems are unchanged: every unit is weight-stationary, so no mask is written
    d = build_problem(load_profiles(PROFILES, "vgg8", "layer"), parse_cluster("2cpu+2cim"), "hb-wcc")
    assert "allowed" not in d["device_types"]["cim"]


def test_weight_stationary_rule_on_a_table():
    df = pd.DataFrame({"kind": ["conv", "attention", "linear", "embedding", "decoder_block", "head"],
                       "act_macs": [0, 0, 5, 0, 0, 0]})
    assert weight_stationary_units(df) == [True, False, False, False, False, True]


def test_memory_limits_bind_and_nothing_fitting_is_an_infeasible_error():
    # 2.5 GB GPUs: the 4.4 GB TinyLlama must be split over both
    d = _problem("tinyllama", "decode", "2gpu", memory={"gpu-rtx3070ti": 2.5e9})
    p = problem_from_dict(d)
    r = solve(p, 0.0, "exact")
    assert len(r.stages) == 2
    for s in r.stages:
        assert sum(u["weight_bytes"] for u in d["units"][s.first:s.last + 1]) <= 2.5e9
    with pytest.raises(InfeasibleError):
        solve(problem_from_dict(_problem("tinyllama", "decode", "1gpu", memory={"gpu-rtx3070ti": 2.5e9})), 1.0)
    with pytest.raises(InfeasibleError, match="can run on no device"):
        solve(problem_from_dict(_problem("gpt2", "decode", "2cim")), 0.5)


def test_exact_and_paper_match_brute_force_on_an_llm_problem():
    """GPT-2 decode, 2 CPU + 1 GPU + 1 CIM with a CIM memory too small for the head: masks and limits both act."""
    d = _problem("gpt2", "decode", "2cpu+1gpu+1cim", memory={"cim": 1.0e8, "gpu-rtx3070ti": 4.0e8})
    p = problem_from_dict(d)
    front = [(r.bottleneck_s, r.energy_j) for r in pareto_front(p)]
    ref = brute_front(p)
    assert len(front) == len(ref)
    np.testing.assert_allclose(front, ref, rtol=1e-12)
    for alpha in (0.0, 0.3, 1.0):
        best = brute_best_objective(p, alpha)
        assert solve(p, alpha, "exact").objective == pytest.approx(best, rel=1e-12)
    for alpha in (0.0, 1.0):  # the paper's DP is exact at the ends
        assert solve(p, alpha, "paper").objective == pytest.approx(solve(p, alpha, "exact").objective, rel=1e-12)


def test_exact_optimum_of_the_1b_model_over_8_devices_within_a_second():
    p = load_problem(REPO / "data/problems/tinyllama_decode_4cpu2gpu2cim_pcie5.json")
    assert p.D == 8 and p.L == 24
    t = time.perf_counter()
    r = solve(p, 0.5, "exact")
    took = time.perf_counter() - t
    assert r.stages and took <= 1.0, f"{took:.3f} s"


def test_spec_model_decode_is_memory_bound_prefill_is_not():
    gpu = specmodel.rtx3070ti()
    shape = llm.shape_of(llm.llm_config("tinyllama"))
    split = {}
    for phase in llm.PHASES:
        table = llm.unit_frame(llm.unit_costs(shape, phase, 128))
        work = llm_costs.llm_work(table, [1] * len(table), 128 * 8 if phase == "prefill" else 8)
        split[phase] = llm_costs.time_split(gpu, work)
        # every weight byte is read once per forward, whatever the phase
        assert work["bytes"].sum() >= table["weight_bytes"].sum() - table["weight_bytes"].iloc[0]
    assert split["decode"]["memory_s"] > 20 * split["decode"]["compute_s"]
    assert split["prefill"]["compute_s"] > split["prefill"]["memory_s"]


def test_cli_problem_and_solve_say_when_nothing_fits(tmp_path, capsys):
    from donna_core.cli.main import main

    out = tmp_path / "p.json"
    assert main(["problem", "--model", "tinyllama", "--phase", "decode", "--cluster", "2cim", "--medium",
                 "hb-wcc", "--memory", "realistic", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["solve", str(out), "--alpha", "0.5"]) == 3
    err = capsys.readouterr().err
    assert "no feasible plan" in err and "\n" not in err.strip()


def test_example_problems_for_both_llms_load_and_solve():
    files = sorted((REPO / "data/problems").glob("*.json"))
    for model in llm.LLM_NAMES:
        mine = [f for f in files if f.name.startswith(model + "_")]
        assert {f.name.split("_")[1] for f in mine} >= {"prefill", "decode"}
        for f in mine:
            assert solve(load_problem(f), 1.0).stages


def test_llm_sweep_rows_and_summary():
    from donna_core.experiments import llm_study as ls

    sw = ls.llm_sweep(["gpt2"], ["decode"], clusters={"2 CPU + 1 GPU + 1 CIM": "2cpu+1gpu+1cim", "2 CIM": "2cim"},
                      media=["hb-wcc"], alphas=[0.0, 1.0], progress=False)
    inf = sw[sw.kind == "infeasible"]
    assert list(inf.cluster) == ["2 CIM"] and "no device" in inf.message.iloc[0]
    ok = sw[sw.kind != "infeasible"]
    np.testing.assert_allclose(ok.tokens_per_s, 1 / ok.bottleneck_s)  # decode: one token per inference
    d = ls.llm_problem("gpt2", "decode", "2cpu+1gpu+1cim", "hb-wcc")
    r = solve(problem_from_dict(d), 1.0, "exact")
    row = ok[(ok.kind == "exact") & (ok.alpha == 1.0)].iloc[0]
    assert row.bottleneck_s == r.bottleneck_s and row.energy_j == r.energy_j
    text = ls.llm_summary(sw, ls.memory_table(["gpt2"], ["prefill", "decode"]))
    assert any("3,072 B in decode" in s for s in text)
    assert any("no feasible plan" in s for s in text)
