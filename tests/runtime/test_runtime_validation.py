"""make validate's code path on a small scale: calibration, profiling, plans, runs, cache, notebook 06,
and the claims section built from the cache."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

from donna_core.experiments.validation_claims import validation_markdown
from donna_core.runtime.comm_validation import CommCase
from donna_core.runtime.validation import accuracy, load_validation, planned_runs, run_validation

REPO = Path(__file__).resolve().parents[2]
NB = REPO / "notebooks" / "06_pipeline_validation.ipynb"


def test_planned_runs_dedupes_plans_and_runs_one_stage_plans_once():
    plans = {("loopback", 0.0): [("cpu0", 0, 3)], ("loopback", 1.0): [("cpu0", 0, 1), ("cpu1", 2, 3)],
             ("lb-wcc", 0.0): [("cpu0", 0, 3)], ("lb-wcc", 1.0): [("cpu0", 0, 1), ("cpu1", 2, 3)],
             ("loopback", 0.5): [("cpu0", 0, 1), ("cpu1", 2, 3)], ("lb-wcc", 0.5): [("cpu0", 0, 3)]}
    probs = {"loopback": {"id": "loopback"}, "lb-wcc": {"id": "lb-wcc"}}
    runs = planned_runs(probs, [0.0, 0.5, 1.0], lambda d, a: plans[(d["id"], a)])
    keys = [(r["setting"], len(r["plan"]), r["alphas"]) for r in runs]
    assert keys == [("none", 1, [0.0, 0.5]), ("loopback", 2, [0.5, 1.0]), ("lb-wcc", 2, [1.0])]


def test_accuracy_excludes_oversubscribed_runs():
    s = pd.DataFrame({"setting": ["none", "hb-wcc", "hb-wcc"], "stages": [1, 2, 3], "rel_error": [0.1, -0.3, 0.9],
                      "oversubscribed": [False, False, True]})
    a = accuracy(s).set_index("link")
    assert a.loc["all", "runs"] == 2 and a.loc["all", "max_abs_error"] == pytest.approx(0.3)
    assert a.loc["all", "mean_abs_error"] == pytest.approx(0.2) and a.loc["none (1 stage)", "runs"] == 1


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    out = tmp_path_factory.mktemp("validation")
    summary = run_validation(models=["vgg8"], granularities=["block"], settings=("loopback", "lb-wcc"),
                             alphas=(1.0,), inputs=5, warmup=1, check=2, profile_repeats=2, calib_repeats=2,
                             out_dir=out, shipped_profiles=REPO / "data" / "profiles", progress=False,
                             comm_cases=[CommCase("vgg8", "block", "lb-wcc-shared", (3, 4), 4),
                                         CommCase("vgg8", "block", "loopback", (0,), 4)])
    return out, summary


def test_small_validation_run_is_cached_with_provenance(cache):
    out, summary = cache
    assert len(summary) >= 1 and summary["outputs_equal"].all()
    assert set(summary["setting"]) <= {"none", "loopback", "lb-wcc"}
    v = load_validation(out)
    assert len(v["runs"]) == len(summary) and len(v["stages"]) == summary["stages"].sum()
    prov = v["runs"][0]["provenance"]
    assert prov["kind"] == "measured" and {"host", "torch", "date", "load_avg_before", "threads_per_stage"} <= set(prov)
    assert v["calibration"]["provenance"]["kind"] == "measured"
    assert "not measured" in v["calibration"]["medium"]["description"]
    prof = (out / "profiles" / "vgg8" / "block" / "cpu-run.csv").read_text().splitlines()[0]
    assert json.loads(prof.split(" ", 2)[2])["source_kind"] == "measured"
    # the emulated run's predicted transfer is the LB-WCC medium's
    emu = [r for r in v["runs"] if r["setting"] == "lb-wcc"]
    for r in emu:
        assert r["links"][0]["bandwidth_Bps"] == 3.5e6 and r["emulated"]


def test_notebook_06_renders_the_cache_and_claims_section(cache, tmp_path):
    out, summary = cache
    spec = importlib.util.spec_from_file_location("make_figures", REPO / "scripts" / "make_figures.py")
    mf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mf)
    figs = tmp_path / "figs"
    mf.run_notebook("06_pipeline_validation", figs, {"measure": False, "outdir": str(figs),
                                                      "validation_dir": str(out)}, mf.NOTEBOOKS_DIR)
    for name in ("fig6a_pipeline_predicted_vs_measured", "fig6b_pipeline_error_split",
                 "fig6c_transfer_bound_old_vs_new", "fig6d_transfers_old_vs_new"):
        assert (figs / f"{name}.png").stat().st_size > 0 and (figs / f"{name}.pdf").stat().st_size > 0
    md = validation_markdown(out)
    assert md.startswith("## Cost model vs measurement") and f"| all | {len(summary)} |" in md
    assert validation_markdown(tmp_path / "nothing") == ""
    assert "### Transfer-bound plans" in md and "| vgg8 | lb-wcc-shared |" in md


def test_transfer_bound_runs_are_cached_old_and_new_side_by_side(cache):
    out, _ = cache
    v = load_validation(out)
    comm, tr = v["comm_summary"], v["comm_transfers"]
    assert list(comm["setting"]) == ["lb-wcc-shared", "loopback"] and comm["outputs_equal"].all()
    shared = comm.iloc[0]
    # the shared channel carries both cuts: the new model's period is at least the old one's (independent links)
    assert shared["pred_new_period_s"] >= shared["pred_old_period_s"]
    assert len(tr) == 3 and (tr["meas_s"] > 0).all()
    cc = v["comm_calibration"]
    assert cc["busy"]["provenance"]["busy_cores"] and not cc["idle"]["provenance"].get("busy_cores")
