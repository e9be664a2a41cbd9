"""Every notebook runs under papermill (small parameters, synthetic profiles, tmp output dir); the figures and
result tables it writes must agree with calling donna_core directly, and the claims report must be built."""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from donna_core.experiments import claims as cl
from donna_core.experiments import claims_report as cr
from donna_core.experiments import result_tables as rt
from donna_core.experiments import scenario_profiles as sp
from donna_core.experiments import scenarios as sc
from donna_core.experiments.notebook_runner import relative_to_notebook, venv_kernel
from donna_core.partition.costs import evaluate
from donna_core.partition.plan_format import plan_string
from donna_core.partition.problem import problem_from_dict
from donna_core.partition.solve import solve

REPO = Path(__file__).resolve().parents[2]
NB_DIR = REPO / "notebooks"
ALL_NOTEBOOKS = ("01_profiles", "02_scenario_sweep", "03_single_gpu_comparison", "04_cim_edge_vs_cloud",
                 "05_explore")
# structure and parameter checks cover every notebook in the folder, including ones added later (06, 07, ...)
EVERY_NOTEBOOK = tuple(sorted(f.stem for f in NB_DIR.glob("*.ipynb")))
ALPHAS = [0.0, 0.5, 1.0]

TABLE_RTOL = 10.0 ** (1 - rt.TABLE_DIGITS)  # a value written with TABLE_DIGITS significant digits is this close


def _load_make_figures():
    spec = importlib.util.spec_from_file_location("make_figures", REPO / "scripts" / "make_figures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


mf = _load_make_figures()


@pytest.mark.parametrize("name", EVERY_NOTEBOOK)
def test_notebook_structure(name):
    nb = nbformat.read(NB_DIR / f"{name}.ipynb", as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []) and nb.cells[1] is code[0]
    assert all(not c.get("outputs") for c in code), "commit notebooks without outputs"
    # notebooks only call donna_core and plot: no imports beyond these, no function or class definitions
    for c in code:
        for line in c.source.splitlines():
            m = re.match(r"\s*(?:from|import)\s+([\w.]+)", line)
            if m:
                assert m.group(1).split(".")[0] in {"donna_core", "pathlib", "pandas", "IPython"}, line
            assert not re.match(r"\s*(def|class|for|while)\s", line), f"logic in notebook {name}: {line}"


@pytest.mark.parametrize("name", EVERY_NOTEBOOK)
def test_papermill_sees_every_parameter(name):
    """papermill silently skips a parameter line it cannot parse (e.g. '=' inside a comment)."""
    import papermill as pm

    nb = nbformat.read(NB_DIR / f"{name}.ipynb", as_version=4)
    assigned = {m.group(1) for m in re.finditer(r"^(\w+)\s*=", nb.cells[1].source, re.M)}
    assert assigned and set(pm.inspect_notebook(str(NB_DIR / f"{name}.ipynb"))) == assigned


def test_venv_kernel_points_at_this_interpreter():
    from jupyter_client.kernelspec import KernelSpecManager

    with venv_kernel():
        spec = KernelSpecManager().get_kernel_spec("python3")
        assert spec.argv[0] == sys.executable


RUN_PARAMS: dict[str, dict] = {}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Run 01-05 once on synthetic profiles into a tmp dir; return (outdir, profiles root, profiles)."""
    from .synthetic_profiles import write_synthetic_profiles

    base = tmp_path_factory.mktemp("nb")
    root = write_synthetic_profiles(base / "profiles", models=("vgg8", "resnet152"), n_units=(5, 8), seed=3)
    out = base / "figures"
    rel_root, rel_out = relative_to_notebook(root, NB_DIR), relative_to_notebook(out, NB_DIR)
    common = {"profiles_dir": rel_root, "outdir": rel_out, "cpu": "paper"}

    def run_nb(name, params):
        RUN_PARAMS[name] = params
        return mf.run_notebook(name, out, params, NB_DIR)

    run_nb("01_profiles", {**common, "models": ["vgg8", "resnet152"]})
    run_nb("02_scenario_sweep", {**common, "models": ["vgg8"], "alphas": ALPHAS})
    run_nb("03_single_gpu_comparison", {**common, "model": "resnet152", "media": ["hb-wcc", "lb-wcc"], "alphas": [1.0]})
    run_nb("04_cim_edge_vs_cloud", {**common, "models": ["vgg8", "resnet152"], "n_edge": 2})
    run_nb("05_explore", {"profiles_dir": rel_root, "cpu": "paper", "model": "vgg8"})
    report = mf.write_report(out, base / "reports" / "claims.md")
    profs = {m: sp.load_model_profiles(m, sp.device_files("paper"), profiles_dir=root) for m in ("vgg8", "resnet152")}
    return out, report, profs


def test_executed_notebooks_are_reproducible(run, tmp_path):
    """No absolute path of this checkout and no timestamps in an executed notebook; a rerun is byte-identical."""
    out, _, _ = run
    first = (out / "04_cim_edge_vs_cloud.ipynb").read_text()
    for volatile in (str(REPO), "start_time", "end_time", "iopub.execute_input", "input_path"):
        assert volatile not in first, volatile
    nb = nbformat.reads(first, as_version=4)
    params = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert params.id == "04_cim_edge_vs_cloud-injected-parameters"
    again = tmp_path / "again"
    mf.run_notebook("04_cim_edge_vs_cloud", again, RUN_PARAMS["04_cim_edge_vs_cloud"], NB_DIR)
    assert (again / "04_cim_edge_vs_cloud.ipynb").read_text() == first


def _text_outputs(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    parts = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            parts.append(o.get("text", "") or o.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def test_figures_and_notebooks_written(run):
    out, report, _ = run
    for fig in ("fig2a_profile_time", "fig2b_profile_energy", "fig2c-k_scenario_sweep",
                "fig3_single_gpu_comparison", "fig4_cim_edge_vs_cloud"):
        for ext in ("png", "pdf"):
            p = out / f"{fig}.{ext}"
            assert p.is_file() and p.stat().st_size > 1000, p
    for name in ALL_NOTEBOOKS:
        assert (out / f"{name}.ipynb").is_file()
    assert not list(out.glob("*.FAILED.ipynb"))


def test_profiles_table_matches_files(run):
    out, _, profs = run
    long = pd.read_csv(out / "data" / "profiles_long.csv")
    g = long[(long.model == "resnet152") & (long.role == "cim")]
    # result tables hold rt.TABLE_DIGITS significant digits
    np.testing.assert_allclose(g["time_s"].to_numpy(), profs["resnet152"]["cim"].table["time_s"].to_numpy(),
                               rtol=TABLE_RTOL, atol=0)
    assert set(long["source_kind"]) == {"modelled", "simulated"}


def test_sweep_matches_direct_calls(run):
    out, _, profs = run
    df = pd.read_csv(out / "data" / "sweep.csv")
    direct = sc.sweep({"vgg8": profs["vgg8"]}, alphas=ALPHAS, progress=False)
    cols = ["scenario", "model", "medium", "cluster", "alpha", "solver", "bottleneck_s", "energy_j", "objective",
            "plan"]
    pd.testing.assert_frame_equal(df[cols], direct[cols], check_exact=False, rtol=TABLE_RTOL, atol=0)
    n = direct["scenario"].nunique()
    text = _text_outputs(out / "02_scenario_sweep.ipynb")
    assert f"{n} scenarios = 1 models x 3 media x 4 clusters x 3 alpha values" in text
    worse = int(sc.mark_dp_worse(direct)["dp_worse"].sum())
    assert f"paper DP worse than exact in {worse} of {n} scenarios" in text
    fronts = pd.read_csv(out / "data" / "fronts.csv")
    assert len(fronts) == len(sc.pareto_fronts({"vgg8": profs["vgg8"]}, progress=False))


def test_fig3_matches_direct_calls(run):
    out, _, profs = run
    f3 = pd.read_csv(out / "data" / "fig3.csv")
    assert len(f3) == 2 * len(sc.FIG3_CLUSTERS)
    p = profs["resnet152"]
    one_gpu = problem_from_dict(sc.make_problem(p, {"gpu": 1}, "pcie5"))
    base = evaluate(one_gpu, [("gpu0", 0, one_gpu.L - 1)])
    row = f3[(f3.medium == "hb-wcc") & (f3.cluster == "2cpu+2gpu")].iloc[0]
    r = solve(problem_from_dict(sc.make_problem(p, {"cpu": 2, "gpu": 2}, "hb-wcc")), 1.0, "paper")
    assert row["speedup"] == pytest.approx(base.bottleneck_s / r.bottleneck_s, rel=TABLE_RTOL)
    assert row["per_device_energy_ratio"] == pytest.approx(r.energy_j / len(r.stages) / base.energy_j, rel=TABLE_RTOL)


def test_fig4_matches_direct_calls(run):
    out, _, profs = run
    f4 = pd.read_csv(out / "data" / "fig4.csv")
    for m in ("vgg8", "resnet152"):
        d = sc.edge_cloud_problem(profs[m], 2)
        p = problem_from_dict(d)
        r = solve(p, 1.0, "paper")
        b = evaluate(p, [("gpu0", 0, p.L - 1)])
        row = f4[f4.model == m].iloc[0]
        assert row["energy_reduction"] == pytest.approx(b.energy_j / r.energy_j, rel=TABLE_RTOL)
        assert row["speedup"] == pytest.approx(b.bottleneck_s / r.bottleneck_s, rel=TABLE_RTOL)
        assert row["donna_plan"] == plan_string(r.stages)


def test_claims_report_from_notebook_results(run):
    out, report, _ = run
    md = report.read_text()
    tables = cl.load_results(out / "data")
    assert md == cr.render_markdown(cl.build_claims(tables), tables)
    n = pd.read_csv(out / "data" / "sweep.csv")["scenario"].nunique()
    assert f"| {n} = " in md
    f4 = tables["fig4"].set_index("model")
    assert f"resnet152 {f4.loc['resnet152', 'energy_reduction']:.3g}×" in md


def test_explore_notebook_shows_a_plan(run):
    out, _, _ = run
    text = _text_outputs(out / "05_explore.ipynb")
    assert "vgg8, 2cpu+1gpu+1cim, HB-WCC, α=0.80, exact:" in text


@pytest.fixture(scope="module")
def run10(run, tmp_path_factory):
    """Notebook 10 on the same synthetic profiles, into its own folder next to a copy of 01-04's tables."""
    import shutil

    from .synthetic_profiles import write_synthetic_profiles

    base = tmp_path_factory.mktemp("nb10")
    root = write_synthetic_profiles(base / "profiles", models=("vgg8", "resnet152"), n_units=(5, 8), seed=3)
    out = base / "figures"
    shutil.copytree(run[0] / "data", out / "data")
    params = {"profiles_dir": relative_to_notebook(root, NB_DIR), "outdir": relative_to_notebook(out, NB_DIR),
              "cpu": "paper", "models": ["vgg8", "resnet152"], "clusters": ["2cpu+2cim", "2cpu+1gpu+1cim"],
              "alphas": [0.0, 1.0], "fig3_alphas": [1.0], "n_edge": 2}
    mf.run_notebook("10_communication_model", out, params, NB_DIR)
    return out, root


def test_communication_notebook_matches_direct_calls(run10):
    from donna_core.experiments import shared_media_study as st

    out, root = run10
    for fig in ("fig10a_shared_throughput_ratio", "fig10b_shared_fronts", "fig10c_curve_vs_line"):
        for ext in ("png", "pdf"):
            assert (out / f"{fig}.{ext}").stat().st_size > 1000
    profs = {m: sp.load_model_profiles(m, sp.device_files("paper"), profiles_dir=root) for m in ("vgg8", "resnet152")}
    cl2 = {c: sc.parse_cluster(c) for c in ("2cpu+2cim", "2cpu+1gpu+1cim")}
    study = st.run_worlds(profs, cl2, [0.0, 1.0], [1.0], 2, progress=False)
    got = pd.read_csv(out / "data" / "shared_compare.csv")
    want = st.compare_worlds(study["sweep"], profs, cl2)
    cols = st.SCENARIO_KEY + ["plan_independent", "plan_shared", "throughput_ratio", "indep_plan_shared_bottleneck_s"]
    # tables carry 12 significant digits (result_tables.TABLE_DIGITS): equal to that precision, plans exactly
    pd.testing.assert_frame_equal(got[cols], want[cols].reset_index(drop=True), check_exact=False, rtol=1e-11,
                                  atol=0.0, check_dtype=False)
    text = _text_outputs(out / "10_communication_model.ipynb")
    assert "same plan, same energy: True" in text and "same plan, bottleneck never smaller: True" in text


def test_report_appends_the_communication_section(run, run10, tmp_path):
    """With notebook 10's tables the report gains a last section; every byte before it is unchanged."""
    out, _ = run10
    _, report, _ = run
    text = mf.write_report(out, tmp_path / "claims.md").read_text()
    before = report.read_text()
    assert text.startswith(before) and len(text) > len(before)
    assert "## Beyond the paper: shared wireless channels" in text[len(before):]
