#!/usr/bin/env python
"""Build data/profiles/<model>/graph/{cpu-host,gpu-rtx3070ti,cpu-xeon-w3323,cim}.csv + edges.csv for the graph
models (googlenet, inception_v3, resnet50, RandWire) and the bundled graph problems in data/problems/.

    PYTHONPATH=. .venv/bin/python scripts/build_graph_profiles.py [--models ...] [--repeats 20] [--skip-measure]

cpu-host is measured on this machine (1 thread, interleaved); GPU/Xeon modelled (spec-sheet model, the Xeon
with the chain profiles' calibration); CIM from the CIM estimator.  ``--skip-measure`` keeps existing cpu-host
profiles (e.g. to rebuild the modelled ones only).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from donna_core import config
from donna_core.atomic import write_json_atomic  # noqa: E402
from donna_core.devices import cim_estimator, specmodel  # noqa: E402
from donna_core.devices import device_profiles as dp  # noqa: E402
from donna_core.devices import graph_device_profiles as gdp  # noqa: E402
from donna_core.profiling.graph_models import GRAPH_MODEL_NAMES, build_graph_model  # noqa: E402
from donna_core.profiling.graph_profiles import (  # noqa: E402
    edges_meta,
    graph_unit_table,
    profile_graph_model,
    read_edges,
    write_edges,
)
from donna_core.profiling.graph_units import derive_graph_units  # noqa: E402
from donna_core.profiling.problem_builder import build_graph_problem, parse_cluster  # noqa: E402
from donna_core.profiling.profiles import (  # noqa: E402
    load_profiles,
    profile_path,
    read_profile,
    write_profile,
)

ROOT = config.ROOT

DEFAULT_MODELS = [m for m in GRAPH_MODEL_NAMES if m != "randwire_tiny"]
# The problems shipped in data/problems/: the paper's heterogeneous 2 CPU + 1 GPU + 1 CIM cluster over HB-WCC.
PROBLEM_CLUSTER, PROBLEM_MEDIUM = "2cpu+1gpu+1cim", "hb-wcc"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--skip-measure", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "data" / "profiles"))
    ap.add_argument("--problems", default=str(ROOT / "data" / "problems"))
    ap.add_argument("--notes", default="")
    args = ap.parse_args(argv)

    est = cim_estimator.CimEstimator.fit(cim_estimator.shipped_runs())
    xeon = gdp.xeon_from_chain_profile(read_profile(profile_path(args.out, "vgg19", "layer", "cpu-xeon-w3323")))
    gpu = specmodel.rtx3070ti()
    date = dp.today()
    for m in tqdm(args.models, desc="graph models", unit="model"):
        model, x = build_graph_model(m)
        plan = derive_graph_units(model, x)
        edges_path = write_edges(edges_meta(m, plan), plan.edges, args.out)
        if not args.skip_measure:
            prof = profile_graph_model(m, repeats=args.repeats, warmup=args.warmup, notes=args.notes)
            write_profile(prof, profile_path(args.out, m, "graph", "cpu-host"))
        table = graph_unit_table(plan.units)
        work = gdp.graph_unit_work(table, plan.edges, plan.input_bytes, dp.unit_op_counts(plan))
        for spec in (gpu, xeon):
            costs, meta = gdp.spec_graph_costs(spec, work)
            if spec is xeon:
                meta["host"] = "Intel Xeon W-3323 (modelled, not measured)"
                meta["model_params"]["calibration"] = ("the calibration of the shipped chain profiles "
                                                       "(data/profiles/vgg19/layer/cpu-xeon-w3323.csv model_params)")
            write_profile(gdp.graph_profile(m, spec.name, table, costs, meta, date),
                          profile_path(args.out, m, "graph", spec.name))
        costs, meta = gdp.cim_graph_costs(table, est)
        write_profile(gdp.graph_profile(m, "cim", table, costs, meta, date), profile_path(args.out, m, "graph", "cim"))

        profs = load_profiles(args.out, m, "graph")
        cluster = parse_cluster(PROBLEM_CLUSTER)
        problem = build_graph_problem(profs, read_edges(edges_path), cluster, PROBLEM_MEDIUM, memory_bytes="realistic")
        write_json_atomic(Path(args.problems) / f"{m}_graph_2cpu1gpu1cim_{PROBLEM_MEDIUM}.json", problem)
    return 0


if __name__ == "__main__":
    sys.exit(main())
