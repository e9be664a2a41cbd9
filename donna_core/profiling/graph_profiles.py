"""Profiles of graph units (granularity ``graph``) and the edges file beside them.

``data/profiles/<model>/graph/<device_type>.csv`` is an ordinary profile (docs/ARCHITECTURE.md), one row per
graph unit (:mod:`.graph_units`) in unit order; ``out_bytes`` is the bytes of the values the unit gives to other
units (informative: the graph problem uses the edges).  Extra column ``pool_after`` (a pool op follows the
unit's conv: NeuroSim's per-layer pool flag).

``data/profiles/<model>/graph/edges.csv``: line 1 ``# donna-edges {json metadata}``, then CSV columns ``u, v,
bytes, u_name, v_name`` (0-based unit indices, u < v, sorted).  Metadata: ``format``, ``model``, ``n_units``,
``units`` (names in order), ``input_units`` (indices of the units reading the model input), ``input_bytes``,
``source``, ``libraries``, ``date``.
"""
from __future__ import annotations

import datetime as _dt
import io
import json
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from ..atomic import write_text_atomic
from .profiles import EDGES_FILE, Profile, ProfileError, validate_profile

if TYPE_CHECKING:  # the unit derivation needs torch; reading an edges file must not (the explorer reads them)
    from .graph_units import GraphPlan, GraphUnit

EDGES_HEADER = "# donna-edges "
EDGE_COLUMNS = ("u", "v", "bytes", "u_name", "v_name")
UNITS_HOW = ("graph units derived by torch.fx (donna_core.profiling.graph_units): one unit per conv/linear op "
             "with the ops fused into it (producer chains, residual add, concat; consumer-side pools and sums)")


def graph_unit_table(units: Sequence[GraphUnit]) -> pd.DataFrame:
    """One row per graph unit: the profile columns without costs, plus ``pool_after``."""
    from .units import GEOMETRY_FIELDS

    rows = [{"unit": u.name, "kind": u.kind, "out_bytes": u.out_bytes, "weight_bytes": u.weight_bytes,
             "macs": u.macs, **u.geometry(), "pool_after": int(u.pool_after)} for u in units]
    df = pd.DataFrame(rows)
    for c in ("out_bytes", "weight_bytes", "macs", *GEOMETRY_FIELDS, "pool_after"):
        df[c] = df[c].astype("Int64")
    return df


class _ChainedView:
    """What :func:`profiler.profile_plan` needs of a plan: ``initial_env`` and steps env -> env in a valid order."""

    def __init__(self, plan: GraphPlan):
        self.initial_env = plan.initial_env
        self.steps = plan.chained_steps()


def profile_graph_model(name: str, repeats: int = 20, warmup: int = 3, threads: int = 1,
                        progress: bool = True, notes: str = "") -> Profile:
    """Measure every graph unit of ``name`` on this host's CPU (``cpu-host``), interleaved order, time only."""
    import torch

    from .graph_models import build_graph_model
    from .graph_units import GRAPH_GRANULARITY, derive_graph_units
    from .meters import make_meter
    from .profiler import ProfilerError, host_info, library_versions, profile_plan

    if repeats < 1 or warmup < 0 or threads < 1:
        raise ProfilerError(f"repeats >= 1, warmup >= 0, threads >= 1 needed; got {repeats}, {warmup}, {threads}")
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        load_before = [round(v, 2) for v in os.getloadavg()]
        started = time.time()
        model, x = build_graph_model(name)
        plan = derive_graph_units(model, x)
        with torch.no_grad():
            exact = bool(torch.equal(plan.run(x), model(x)))
        if not exact:
            raise ProfilerError(f"{name}: the graph units do not reproduce the model's output")
        r = profile_plan(model, x, _ChainedView(plan), torch.device("cpu"), repeats, warmup, make_meter("cpu"),
                         progress, desc=f"{name}/graph/cpu", order="interleaved")
        duration = time.time() - started
        load_after = [round(v, 2) for v in os.getloadavg()]
    finally:
        torch.set_num_threads(prev)
    df = graph_unit_table(plan.units)
    df.insert(2, "time_s", r["median_s"])
    df.insert(3, "time_spread_s", r["iqr_s"])
    df.insert(4, "energy_j", [np.nan] * len(df))
    sum_units = float(sum(r["median_s"]))
    meta: dict[str, Any] = {
        "format": 1, "model": name, "device_type": "cpu-host", "granularity": GRAPH_GRANULARITY,
        "n_units": len(plan.units), "source_kind": "measured",
        "source": (f"per-graph-unit fp32 forward, batch 1, torch device 'cpu' with {threads} thread(s); time = "
                   f"median of {repeats} repeats after {warmup} warm-up rounds, interleaved order (each round runs "
                   f"every unit once in index order, then the whole model; time.perf_counter), spread = IQR; "
                   f"{UNITS_HOW}; random weights (seed in the model name or 0)"),
        "energy_source": "unavailable", "energy_meter": "none: interleaved order measures time only",
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "host": host_info(), "threads": threads, "repeats": repeats, "warmup": warmup, "order": "interleaved",
        "statistic": "median", "dtype": str(x.dtype).replace("torch.", ""), "input_shape": list(x.shape),
        "input_bytes": plan.input_bytes, "libraries": library_versions(), "units_reproduce_output": exact,
        "whole_model_median_s": r["whole_median_s"], "whole_model_iqr_s": r["whole_iqr_s"],
        "whole_model_repeats": r["whole_repeats"], "sum_unit_median_s": sum_units,
        "sum_to_whole_ratio": sum_units / r["whole_median_s"],
        "load_avg_before": load_before, "load_avg_after": load_after, "profiling_wall_s": round(duration, 1),
    }
    if notes:
        meta["notes"] = notes
    return validate_profile(Profile(meta, df), f"{name}/graph/cpu-host")


# ---------------------------------------------------------------------------------------------------------
# Edges file
# ---------------------------------------------------------------------------------------------------------
def edges_meta(name: str, plan: GraphPlan) -> dict[str, Any]:
    from .profiler import library_versions

    return {"format": 1, "model": name, "n_units": len(plan.units), "units": [u.name for u in plan.units],
            "input_units": [u.index for u in plan.units if u.reads_input], "input_bytes": plan.input_bytes,
            "source": "bytes = sizes of the distinct values unit u produces and unit v reads, measured on the "
                      "example input (batch 1, fp32); " + UNITS_HOW,
            "libraries": library_versions(),
            "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()}


def format_edges(meta: dict[str, Any], edges: Sequence[tuple[int, int, int]]) -> str:
    check_edges(meta, edges, "<edges>")
    names = meta["units"]
    df = pd.DataFrame([(u, v, b, names[u], names[v]) for u, v, b in edges], columns=list(EDGE_COLUMNS))
    return EDGES_HEADER + json.dumps(meta, sort_keys=True, separators=(", ", ": ")) + "\n" + \
        df.to_csv(index=False, lineterminator="\n")


def write_edges(meta: dict[str, Any], edges: Sequence[tuple[int, int, int]], root: str | os.PathLike) -> Path:
    from .graph_units import GRAPH_GRANULARITY

    path = Path(root) / meta["model"] / GRAPH_GRANULARITY / EDGES_FILE
    return write_text_atomic(path, format_edges(meta, edges))


def check_edges(meta: dict[str, Any], edges: Sequence[tuple[int, int, int]], where: str) -> None:
    """u < v < n_units, integer bytes > 0, no duplicates, sorted; the input units are those without a predecessor."""
    n = meta.get("n_units")
    if not isinstance(n, int) or n < 1 or len(meta.get("units", [])) != n:
        raise ProfileError(f"{where}:1: metadata 'n_units' must be a positive integer equal to len('units')")
    seen = set()
    for k, e in enumerate(edges):
        line = k + 3
        u, v, b = e
        if not (isinstance(u, int) and isinstance(v, int) and 0 <= u < v < n):
            raise ProfileError(f"{where}:{line}: edge ({u}, {v}): need integers 0 <= u < v < {n}")
        if not (isinstance(b, int) and b > 0):
            raise ProfileError(f"{where}:{line}: edge ({u}, {v}): bytes must be a positive integer, got {b!r}")
        if (u, v) in seen:
            raise ProfileError(f"{where}:{line}: edge ({u}, {v}) appears twice")
        seen.add((u, v))
    if list(edges) != sorted(edges):
        raise ProfileError(f"{where}: edges must be sorted by (u, v)")
    has_pred = {v for _, v in seen}
    if sorted(meta.get("input_units", [])) != [i for i in range(n) if i not in has_pred]:
        raise ProfileError(f"{where}:1: metadata 'input_units' must list exactly the units without an incoming edge")


def read_edges(path: str | os.PathLike) -> tuple[dict[str, Any], list[tuple[int, int, int]]]:
    path = Path(path)
    if not path.is_file():
        raise ProfileError(f"edges file {path} does not exist (run scripts/build_graph_profiles.py)")
    text = path.read_text(encoding="utf-8")
    first, _, rest = text.partition("\n")
    if not first.startswith(EDGES_HEADER):
        raise ProfileError(f"{path}:1: first line must start with {EDGES_HEADER.strip()!r} and JSON metadata")
    try:
        meta = json.loads(first[len(EDGES_HEADER):])
    except json.JSONDecodeError as exc:
        raise ProfileError(f"{path}:1: metadata is not valid JSON ({exc.msg})") from None
    try:
        df = pd.read_csv(io.StringIO(rest))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise ProfileError(f"{path}: CSV table is malformed: {exc}") from None
    if list(df.columns) != list(EDGE_COLUMNS):
        raise ProfileError(f"{path}:2: columns must be {', '.join(EDGE_COLUMNS)}")
    edges = []
    for k, r in enumerate(df.itertuples(index=False)):
        vals = []
        for c in ("u", "v", "bytes"):
            x = getattr(r, c)
            if not (isinstance(x, (int, np.integer)) or (isinstance(x, float) and math.isfinite(x) and x.is_integer())):
                raise ProfileError(f"{path}:{k + 3}: column {c}: not an integer: {x!r}")
            vals.append(int(x))
        edges.append(tuple(vals))
    check_edges(meta, edges, str(path))
    for k, r in enumerate(df.itertuples(index=False)):
        if (r.u_name, r.v_name) != (meta["units"][r.u], meta["units"][r.v]):
            raise ProfileError(f"{path}:{k + 3}: unit names {r.u_name!r}, {r.v_name!r} do not match the metadata")
    return meta, edges
