"""Modelled GPU/Xeon and estimated CIM costs of graph units (granularity ``graph``).

The same models as the chain profiles (:mod:`.device_profiles`), with the one difference a graph makes: a
unit's input bytes are the sum of its incoming edges (or the model input), not the previous unit's output.

* ``gpu-rtx3070ti``: :func:`specmodel.rtx3070ti` (spec sheet + assumed efficiencies);
* ``cpu-xeon-w3323``: the Xeon spec *as calibrated for the shipped chain profiles* (read back from a chain
  profile's ``model_params.spec``, so both use one calibration);
* ``cim``: the CIM estimator calibrated on the shipped NeuroSim runs, one NeuroSim row per graph unit
  (each unit is one conv/linear op), pool flag = a pooling op follows the conv inside the unit.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from . import cim_estimator, specmodel
from .device_profiles import CIM_ASSUMPTIONS, make_profile
from .neurosim import NEUROSIM_DEFAULTS
from ..profiling.graph_units import GRAPH_GRANULARITY
from ..profiling.profiles import Profile


def graph_unit_work(table: pd.DataFrame, edges: Sequence[tuple[int, int, int]], input_bytes: float,
                    n_ops: Sequence[int]) -> pd.DataFrame:
    """FLOPs, bytes moved (weights + all inputs + outputs) and op count per graph unit."""
    n = len(table)
    inb = np.zeros(n)
    for _, v, b in edges:
        inb[v] += b
    has_pred = {v for _, v, _ in edges}
    for i in range(n):
        if i not in has_pred:
            inb[i] = float(input_bytes)
    macs = table["macs"].astype(float).to_numpy()
    wb = table["weight_bytes"].astype(float).to_numpy()
    ob = table["out_bytes"].astype(float).to_numpy()
    return pd.DataFrame({"flops": 2.0 * macs, "bytes": wb + inb + ob, "n_ops": np.asarray(n_ops, float)})


def spec_graph_costs(spec: specmodel.DeviceSpec, work: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    pred = specmodel.predict(spec, work)
    meta = {"source_kind": "modelled", "energy_source": "model",
            "source": "spec-sheet model (donna_core/devices/specmodel.py) of graph units: time = ops x dispatch + "
                      "2*MACs/(peak*eff_c) + bytes/(bw*eff_m); energy = active power x time; batch 1, FP32",
            "model_params": {"spec": spec.to_dict()},
            "assumptions": ["bytes = weights + all incoming edge tensors (or the model input) + the unit's "
                            "produced tensors (no cache reuse)",
                            "energy = active power (TGP/TDP, upper bound) x modelled time; idle power not added"]}
    return pred[["time_s", "energy_j"]], meta


def xeon_from_chain_profile(prof: Profile) -> specmodel.DeviceSpec:
    """The calibrated Xeon spec a shipped chain ``cpu-xeon-w3323`` profile was built with."""
    spec = dict(prof.meta["model_params"]["spec"])
    return specmodel.DeviceSpec(**spec)


def cim_rows(table: pd.DataFrame) -> pd.DataFrame:
    """NeuroSim conv/fc rows of graph units (one per unit); a linear layer is a 1x1 conv over a 1x1 map."""
    rows = []
    for r in table.itertuples():
        if any(pd.isna(getattr(r, c)) for c in ("in_h", "in_w", "in_c", "k_h", "k_w", "out_c", "stride")):
            raise ValueError(f"unit {r.unit!r} has no conv/linear geometry: the CIM estimator has no input for it")
        rows.append(dict(ifm_h=int(r.in_h), ifm_w=int(r.in_w), ifm_c=int(r.in_c), k_h=int(r.k_h), k_w=int(r.k_w),
                         ofm_c=int(r.out_c), stride=int(r.stride),
                         pool=int(r.pool_after) if r.kind == "conv" else 0))
    return pd.DataFrame(rows)


def cim_graph_costs(table: pd.DataFrame, est: cim_estimator.CimEstimator) -> tuple[pd.DataFrame, dict]:
    rows = cim_rows(table)
    pred = est.predict(rows)
    meta = {"source_kind": "modelled", "energy_source": "model",
            "source": "CIM estimator, calibrated on " + ", ".join(est.calibrated_on)
                      + " NeuroSim V1.3 runs (donna_core/devices/cim_estimator.py); one NeuroSim row per graph unit, "
                        "the whole graph as one chip floor plan",
            "neurosim": {**NEUROSIM_DEFAULTS, "note": "architecture the estimator models; no run"},
            "model_params": {"cim_estimator": est.params(), "neurosim_rows": len(rows),
                             "extrapolation": est.extrapolation(rows)},
            "input_density": {"source": "default",
                              "per_neurosim_row": [round(float(x), 4) for x in pred["density"]]},
            "assumptions": [CIM_ASSUMPTIONS]}
    return pd.DataFrame({"time_s": pred["latency_s"].to_numpy(float),
                         "energy_j": pred["energy_j"].to_numpy(float)}), meta


def graph_profile(model: str, device_type: str, table: pd.DataFrame, costs: pd.DataFrame, meta: dict,
                  date: str) -> Profile:
    """A ``graph`` profile (keeps the ``pool_after`` column)."""
    prof = make_profile(model, device_type, GRAPH_GRANULARITY, table, costs, meta, date)
    prof.df["pool_after"] = table["pool_after"].to_numpy()
    return prof
