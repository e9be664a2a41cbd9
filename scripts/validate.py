#!/usr/bin/env python
"""Measure the cost model against running pipelines, then render notebook 06 from the cache.

1. ``donna_core.runtime.validation.run_validation``: link calibration, fresh profiles of this host, every distinct
   plan over alpha and link settings executed as a real pipeline (progress bars here, on the terminal);
   results cached under ``data/validation/`` with provenance;
2. ``notebooks/06_pipeline_validation.ipynb`` under papermill with ``measure=False`` (reads the cache), its figures
   (PNG + PDF) and executed copy into ``--outdir`` (default ``figures/``).

``--skip-measure`` only re-renders the notebook from the cache; ``--only-transfer-bound`` measures only the
transfer-bound plans (old vs new communication model). Takes about 8-12 minutes on the 2-core VM.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from donna_core import config

REPO = config.ROOT
NOTEBOOK = "06_pipeline_validation"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outdir", type=Path, default=REPO / "figures")
    ap.add_argument("--validation-dir", type=Path, default=REPO / "data" / "validation")
    ap.add_argument("--models", nargs="*", default=["resnet152", "vgg19"])
    ap.add_argument("--granularities", nargs="*", default=["block", "layer"])
    ap.add_argument("--inputs", type=int, default=10, help="inputs per run (default 10)")
    ap.add_argument("--warmup", type=int, default=2, help="inputs left out of the statistics (default 2)")
    ap.add_argument("--profile-repeats", type=int, default=10)
    ap.add_argument("--skip-measure", action="store_true", help="only render notebook 06 from the cache")
    ap.add_argument("--only-transfer-bound", action="store_true",
                    help="measure only the transfer-bound plans (comm_*.csv), keep the rest of the cache")
    ap.add_argument("--no-transfer-bound", action="store_true", help="skip the transfer-bound plans")
    args = ap.parse_args(argv)
    from tqdm import tqdm

    from donna_core.experiments.notebook_runner import relative_to_notebook, run_notebook
    from donna_core.runtime.validation import accuracy, run_comm_part, run_validation

    t0 = time.perf_counter()
    print(f"load average before: {[round(x, 2) for x in os.getloadavg()]} ({os.cpu_count()} logical CPUs)")
    if args.only_transfer_bound and not args.skip_measure:
        acc = run_comm_part(args.validation_dir, profile_repeats=args.profile_repeats)
        print("\n".join(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}" for k, v in acc.items()))
    elif not args.skip_measure:
        summary = run_validation(models=args.models, granularities=args.granularities, inputs=args.inputs,
                                 warmup=args.warmup, profile_repeats=args.profile_repeats,
                                 out_dir=args.validation_dir, shipped_profiles=REPO / "data" / "profiles",
                                 transfer_bound=not args.no_transfer_bound)
        print(accuracy(summary).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    nb_dir = REPO / "notebooks"
    with tqdm([NOTEBOOK], desc="notebook", unit="nb") as bar:
        for name in bar:   # relative paths: the executed notebook is the same from any checkout
            run_notebook(name, args.outdir.resolve(),
                         {"measure": False, "outdir": relative_to_notebook(args.outdir, nb_dir),
                          "validation_dir": relative_to_notebook(args.validation_dir, nb_dir)},
                         nb_dir)
    print(f"load average after: {[round(x, 2) for x in os.getloadavg()]}; total {time.perf_counter() - t0:.0f} s; "
          f"cache {args.validation_dir}, figures in {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
