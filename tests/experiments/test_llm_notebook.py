"""Notebook 07 (decoder LLMs) runs under papermill, only calls donna_core, and its table equals a direct call."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pandas as pd

from donna_core.experiments import llm_study as ls
from donna_core.experiments.notebook_runner import relative_to_notebook

REPO = Path(__file__).resolve().parents[2]
NB_DIR = REPO / "notebooks"
NAME = "07_llm_partitioning"


def _make_figures():
    spec = importlib.util.spec_from_file_location("make_figures", REPO / "scripts" / "make_figures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_notebook_07_is_run_by_make_figures():
    # its structure (parameters cell, only donna_core calls) is checked with every notebook in test_notebooks.py
    assert NAME in _make_figures().NOTEBOOKS


def test_notebook_07_runs_and_matches_a_direct_call(tmp_path):
    mf = _make_figures()
    out = tmp_path / "figures"
    params = {"models": ["gpt2"], "phases": ["prefill", "decode"], "media": ["hb-wcc"], "alphas": [0.0, 1.0],
              "outdir": relative_to_notebook(out, NB_DIR), "cpu": "paper"}
    mf.run_notebook(NAME, out, params, NB_DIR)
    for ext in ("png", "pdf"):
        assert (out / f"fig7_llm_fronts.{ext}").stat().st_size > 1000
    got = pd.read_csv(out / "data" / "llm_sweep.csv")
    want = ls.llm_sweep(["gpt2"], ["prefill", "decode"], media=["hb-wcc"], alphas=[0.0, 1.0], progress=False)
    pd.testing.assert_frame_equal(got[["cluster", "kind", "alpha", "bottleneck_s", "energy_j"]].reset_index(drop=True),
                                  want[["cluster", "kind", "alpha", "bottleneck_s", "energy_j"]].reset_index(drop=True))
    text = "".join(o.get("text", "") for c in nbformat.read(out / f"{NAME}.ipynb", as_version=4).cells
                   for o in c.get("outputs", []))
    assert "decode transfers are 128x smaller" in text
