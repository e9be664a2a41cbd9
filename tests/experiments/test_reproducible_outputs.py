"""Outputs of `make figures` are the same bytes however many threads the numeric libraries use.

The figure notebooks' writers (``result_tables.write_table``, ``plotting.save_figure``) are run in fresh processes,
with every BLAS/OpenMP pool at 1 thread, at 2, and with an older x86-64 BLAS kernel (``OPENBLAS_CORETYPE``: what
another host would pick), on a cheap slice of the real work: the CIM estimator's error tables (least squares
through LAPACK) and a Fig. 2-style sweep with its fronts and figure on synthetic profiles.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cli_process import donna_env

from .synthetic_profiles import SYNTH_FILES, write_synthetic_profiles

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

CHILD = """
import json
import sys
from pathlib import Path

import matplotlib
matplotlib.use("Agg")

from donna_core.devices import cim_estimator, cim_validation
from donna_core.experiments import plotting
from donna_core.experiments import result_tables as rt
from donna_core.experiments import scenario_profiles as sp
from donna_core.experiments import scenarios as sc

out, profiles_dir, files = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
runs = cim_estimator.shipped_runs()
per_layer, per_model = cim_validation.error_table(runs, leave_one_out=True)
rt.write_table(per_model, out / "cim_estimator_loo_per_model.csv")
rt.write_table(per_layer, out / "cim_estimator_loo_per_layer.csv")
rt.write_table(cim_validation.class_out_table(runs), out / "cim_estimator_class_out.csv")
profiles = {"toya": sp.load_model_profiles("toya", files, profiles_dir=profiles_dir)}
marked = sc.mark_dp_worse(sc.sweep(profiles, alphas=(0.0, 0.5, 1.0), progress=False))
fronts = sc.pareto_fronts(profiles, progress=False)
rt.write_table(marked, out / "sweep.csv")
rt.write_table(fronts, out / "fronts.csv")
fig = plotting.plot_sweep(marked, fronts, ["toya"], list(sc.PAPER_MEDIA), sources=sp.sources_label(profiles))
plotting.save_figure(fig, out, "sweep")
"""


def _write_outputs(out, profiles_dir, threads: int, **env_extra: str) -> dict[str, bytes]:
    out.mkdir()
    env = donna_env(**{v: str(threads) for v in THREAD_VARS}, **env_extra)
    if "OPENBLAS_CORETYPE" not in env_extra:   # the host's own kernel, even if this process pinned another
        env.pop("OPENBLAS_CORETYPE", None)
    argv = [sys.executable, "-c", CHILD, str(out), str(profiles_dir), json.dumps(SYNTH_FILES)]
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def _openblas_dynamic_arch() -> bool:
    """numpy's BLAS is an OpenBLAS built for every x86-64 kernel (so OPENBLAS_CORETYPE picks another host's)."""
    import numpy as np

    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    return "openblas" in blas.get("name", "") and "DYNAMIC_ARCH" in blas.get("openblas configuration", "")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """The outputs written at 1 thread, at 2 threads, and (when possible) with another x86-64 host's BLAS kernel."""
    tmp = tmp_path_factory.mktemp("repro")
    profiles_dir = write_synthetic_profiles(tmp / "profiles", models=("toya",), n_units=(6,), seed=5)
    out = {"1 thread": _write_outputs(tmp / "t1", profiles_dir, 1),
           "2 threads": _write_outputs(tmp / "t2", profiles_dir, 2)}
    if _openblas_dynamic_arch():
        out["Prescott kernel"] = _write_outputs(tmp / "old", profiles_dir, 1, OPENBLAS_CORETYPE="Prescott")
    return out


CIM_FITTED = ("cim_estimator_loo_per_layer.csv", "cim_estimator_class_out.csv")


@pytest.mark.slow
def test_tables_and_figures_are_identical_bytes_at_1_and_2_threads(outputs):
    one, two = outputs["1 thread"], outputs["2 threads"]
    assert sorted(one) == sorted(["cim_estimator_loo_per_model.csv", *CIM_FITTED, "fronts.csv", "sweep.csv",
                                  "sweep.pdf", "sweep.png"])
    assert one.keys() == two.keys()
    for name in one:
        assert one[name] == two[name], f"{name} differs between 1 and 2 threads"
    # nothing that changes from run to run or from host to host is stamped into the figures
    assert b"/CreationDate" not in one["sweep.pdf"] and b"/ModDate" not in one["sweep.pdf"]
    assert b"Software" not in one["sweep.png"]


@pytest.mark.slow
def test_solver_tables_and_figures_do_not_depend_on_the_hosts_blas_kernel(outputs):
    """The solvers and plots use no BLAS reductions: another x86-64 host's kernels give the same bytes."""
    if "Prescott kernel" not in outputs:
        pytest.skip("numpy's BLAS is not a DYNAMIC_ARCH OpenBLAS: another host's kernel cannot be selected here")
    here, there = outputs["1 thread"], outputs["Prescott kernel"]
    for name in here:
        if name not in CIM_FITTED:
            assert here[name] == there[name], f"{name} differs under another BLAS kernel"


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="the CIM estimator's least-squares fit (LAPACK via OpenBLAS) moves by ~5e-12 "
                   "relative with the BLAS kernel, and a few per-layer errors cross a 12-digit rounding boundary: "
                   "why make_figures pins the kernel (next test)")
def test_cim_estimator_tables_do_not_depend_on_the_hosts_blas_kernel(outputs):
    if "Prescott kernel" not in outputs:
        pytest.skip("numpy's BLAS is not a DYNAMIC_ARCH OpenBLAS: another host's kernel cannot be selected here")
    for name in CIM_FITTED:
        assert outputs["1 thread"][name] == outputs["Prescott kernel"][name], f"{name} differs"


def test_make_figures_computes_on_the_baseline_blas_kernel_whatever_the_host():
    """What removes the host dependence above: make_figures pins numpy's OpenBLAS to the baseline x86-64 kernel
    before numpy loads, in its own process and in every notebook kernel it starts (they inherit the
    environment)."""
    from donna_core import config

    probe = ("import os, runpy, sys; sys.argv = ['make_figures']; "
             "runpy.run_path('scripts/make_figures.py', run_name='imported'); "
             "import numpy; print(os.environ.get('OPENBLAS_CORETYPE'))")
    env = donna_env()
    env.pop("OPENBLAS_CORETYPE", None)
    r = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120,
                       cwd=config.CODE_ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == config.REPRODUCIBLE_ENV["OPENBLAS_CORETYPE"] == "Prescott"
