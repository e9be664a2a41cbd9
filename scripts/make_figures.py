#!/usr/bin/env python
"""Rerun the paper's figures from cached profiles: notebooks 01-04, 07, 08, 10 under papermill, then the claims report.

Writes every figure (PNG + PDF), the executed notebooks and the result tables (``data/*.csv``) under
``--outdir`` (default ``figures/``) and the claims report to ``--report`` (default ``reports/claims.md``).
No profiling and no GPU: the notebooks only read ``data/profiles/``.

Executed notebooks are reproducible from any checkout (relative paths, volatile metadata stripped; see
:mod:`donna_core.experiments.notebook_runner`), so a rerun with unchanged inputs leaves ``git status`` clean.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from donna_core import config

# before numpy loads here and in every notebook kernel (they inherit the environment)
os.environ.update(config.REPRODUCIBLE_ENV)
from donna_core.experiments.notebook_runner import relative_to_notebook, run_notebook  # noqa: E402

REPO = config.ROOT
VALIDATION_NOTEBOOK = "06_pipeline_validation"  # run by `make validate`; `make figures` renders its cache

# 07: decoder LLMs; 08: graph placement; 10: shared media, link curves
NOTEBOOKS = ("01_profiles", "02_scenario_sweep", "03_single_gpu_comparison", "04_cim_edge_vs_cloud",
             "07_llm_partitioning", "08_graph_placement", "10_communication_model")
NOTEBOOKS_DIR = REPO / "notebooks"


def write_report(outdir: Path, report: Path, validation_dir: Path | None = None) -> Path:
    """Build the claims report from the tables the notebooks wrote into ``outdir/data``."""
    from donna_core.atomic import write_text_atomic
    from donna_core.experiments.claims import build_claims, load_results
    from donna_core.experiments.claims_report import render_markdown

    tables = load_results(outdir / "data")
    if not tables:
        raise FileNotFoundError(f"no result tables under {outdir / 'data'}; did the notebooks run?")
    text = render_markdown(build_claims(tables), tables)
    if validation_dir is not None:  # measured pipelines, from the cache of `make validate`
        from donna_core.experiments.validation_claims import validation_markdown

        section = validation_markdown(validation_dir)   # reads the cache once
        text += ("\n" + section) if section else ""
    from donna_core.experiments.shared_media_study import study_markdown

    section = study_markdown(outdir / "data")  # notebook 10; appended last so the sections above stay unchanged
    text += ("\n" + section) if section else ""
    from donna_core.experiments.graph_study import study_markdown as graph_markdown

    section = graph_markdown(outdir / "data")  # notebook 08; appended after notebook 10's, the bytes above unchanged
    text += ("\n" + section) if section else ""
    return write_text_atomic(report, text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outdir", type=Path, default=REPO / "figures")
    ap.add_argument("--report", type=Path, default=REPO / "reports" / "claims.md")
    ap.add_argument("--profiles-dir", type=Path, default=None, help="default: data/profiles")
    ap.add_argument("--cpu", choices=("paper", "host"), default="paper",
                    help="paper: modelled Xeon W-3323 (the paper's CPU); host: the CPU measured on this machine")
    ap.add_argument("--cpu-power-w", type=float, default=None,
                    help="with --cpu host on a machine without an energy meter: model the CPU's energy as this "
                         "average power (W) x its measured time")
    ap.add_argument("--only", nargs="*", choices=NOTEBOOKS, default=None, help="run only these notebooks")
    args = ap.parse_args(argv)
    from tqdm import tqdm

    outdir = args.outdir.resolve()
    common = {"cpu": args.cpu, "cpu_power_w": args.cpu_power_w,
              "outdir": relative_to_notebook(outdir, NOTEBOOKS_DIR),
              "profiles_dir": relative_to_notebook(args.profiles_dir, NOTEBOOKS_DIR)}
    todo = args.only or list(NOTEBOOKS)
    if not args.only and (REPO / "data" / "validation" / "summary.csv").exists():
        todo.append(VALIDATION_NOTEBOOK)  # shows the cached measurements, measures nothing
    t0 = time.perf_counter()
    with tqdm(todo, desc="notebooks", unit="nb") as bar:
        for name in bar:
            bar.set_postfix_str(name)
            t = time.perf_counter()
            # notebook 06 gets exactly the parameters `make validate` gives it, so either leaves the same copy
            params = common if name != VALIDATION_NOTEBOOK else {
                "measure": False, "outdir": common["outdir"],
                "validation_dir": relative_to_notebook(REPO / "data" / "validation", NOTEBOOKS_DIR)}
            run_notebook(name, outdir, params, NOTEBOOKS_DIR)
            tqdm.write(f"{name}: {time.perf_counter() - t:.1f} s")
    path = write_report(outdir, args.report.resolve(), REPO / "data" / "validation")
    print(f"figures in {outdir}, claims report {path}; total {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
