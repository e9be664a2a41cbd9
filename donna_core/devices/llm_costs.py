"""Device costs of the decoder-LLM units: GPU/Xeon from the spec model, CIM from the estimator.

* ``gpu-rtx3070ti`` / ``cpu-xeon-w3323`` -- :mod:`specmodel` with each unit's KV cache counted in its DRAM
  traffic (decode reads the cache of ``S`` tokens, prefill writes it).  In decode every weight is read once per
  token for a single token's worth of FLOPs, so the model is memory-bandwidth bound there -- :func:`time_split`
  shows it (memory share of the modelled time per phase).
* ``cim`` -- the CIM estimator (NeuroSim V1.3 floor plan + fitted coefficients) for the weight-stationary
  matrices only.  CIM crossbars hold weights; QKᵀ, AV and softmax are activation × activation and an embedding
  is a table gather, none of which the estimator (or NeuroSim) models.  Those units are **not allowed** on CIM
  (the problem builder emits ``device_types["cim"].allowed``); their CIM rows still carry the cost of their
  weight-stationary matrices alone (a what-if, never used by a solver).
* CIM capacity: NeuroSim floor-plans a chip for the network it is given; the largest shipped design (VGG19,
  :func:`cim_weight_capacity`) is taken as the CIM device of the clusters.

Pure functions over unit tables; ``scripts/build_llm_profiles.py`` does the I/O.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import cim_estimator, cim_floorplan, neurosim, specmodel
from ..profiling import llm

# Units whose work is not a weight-stationary matrix-vector product (see module docstring).
CIM_INELIGIBLE_ASSUMPTION = (
    "CIM eligibility: crossbars hold weights and compute weight x activation products; attention's "
    "activation x activation products (QK^T, AV), softmax and the KV cache, and an embedding-table gather, are "
    "not modelled by NeuroSim or the CIM estimator, so every unit containing them (embedding, each decoder "
    "block, vit_b_16's attention units) is marked not allowed on CIM; the CIM time/energy written for such a "
    "unit covers only its weight-stationary matrices (a what-if, never used by the solvers)")


def cim_weight_capacity(model: str = "vgg19") -> dict:
    """On-chip weight capacity of the NeuroSim V1.3 chip floor-planned for shipped run ``model``.

    Cells = Σ tiles × cells per tile (conventional tile: tile_size²; novel-mapped tile: numPE × PE_size²); an
    8-bit weight takes ``COLS_PER_WEIGHT`` 2-bit cells.  ``fp32_equiv_bytes`` = weights × 4: the capacity in the
    problem files' byte accounting (unit ``weight_bytes`` are FP32).  Mapping fragmentation is ignored, so a
    real mapping of other layers holds somewhat less (an upper bound).
    """
    run = neurosim.load_run(model)
    fp = cim_floorplan.floorplan(run)
    per_tile = np.where(fp.novel == 1, fp.num_pe_nm * fp.pe_size_nm ** 2, fp.tile_size_cm ** 2)
    cells = float(np.sum(per_tile * fp.num_tiles))
    weights = cells / cim_floorplan.COLS_PER_WEIGHT
    return {"model": model, "tiles": int(fp.total_tiles), "cells": cells, "weights_8bit": weights,
            "fp32_equiv_bytes": weights * 4,
            "how": (f"NeuroSim V1.3 floor plan of the shipped {model} run (cim_floorplan.floorplan): "
                    f"{fp.total_tiles} tiles, {cells / 1e6:.1f} M 2-bit cells, {cim_floorplan.COLS_PER_WEIGHT} "
                    f"cells per 8-bit weight -> {weights / 1e6:.1f} M weights = {weights * 4 / 1e6:.0f} MB in "
                    "FP32-equivalent bytes; mapping fragmentation ignored (upper bound)")}


# ------------------------------------------------------------------------------------------------ op counts
def count_ops(plan: "llm.LLMPlan") -> list[int]:
    """Kernels each unit launches in eager PyTorch: aten ops that are not views/aliases (counted by running it).

    Op counts do not depend on the sizes, so a test-sized model of the same architecture gives the real
    model's counts cheaply.
    """
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    class _Count(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if not func.is_view and func.__name__.split(".")[0] not in ("detach", "alias", "lift_fresh"):
                self.n += 1
            return func(*args, **(kwargs or {}))

    env = plan.initial_env(plan.tokens)
    counts = []
    with torch.no_grad():
        for step in plan.steps:
            with _Count() as c:
                env = step(env)
            counts.append(max(c.n, 1))
    return counts


def llm_op_counts(name: str, phase: str) -> list[int]:
    """:func:`count_ops` of ``name`` in ``phase`` from its test-sized twin (same per-block op sequence)."""
    small = llm.build_llm(name, small=True)
    real_layers = llm.shape_of(llm.llm_config(name)).layers
    counts = count_ops(llm.build_plan(small, phase, 8))
    # embed, block (identical for every block), head
    return [counts[0]] + [counts[1]] * real_layers + [counts[-1]]


# ----------------------------------------------------------------------------------------------- spec model
def llm_work(table: pd.DataFrame, n_ops, input_bytes: float) -> pd.DataFrame:
    """:func:`specmodel.unit_work` plus each unit's KV-cache traffic (``kv_bytes``: read in decode, written in
    prefill).  The embedding reads one table row per token, not the whole table."""
    t = table.copy()
    t["n_ops"] = n_ops
    w = specmodel.unit_work(t, input_bytes)
    emb = (t["kind"] == "embedding").to_numpy()
    # an embedding gathers one row per token: bytes = its output (x2: read the rows, write the hidden state)
    w.loc[emb, "bytes"] = 2.0 * t.loc[emb, "out_bytes"].astype(float).to_numpy()
    w["bytes"] = w["bytes"] + t["kv_bytes"].astype(float).to_numpy()
    return w


def host_calibration(measured: dict, host: dict) -> tuple[dict, pd.DataFrame]:
    """Fit the spec model's three factors on measured cpu-host LLM profiles, as the CNN path does.

    ``measured[(model, phase)] = (unit table, n_ops, input_bytes, measured time_s array)``; ``host`` =
    :func:`specmodel.host_spec_from_cpuinfo` with the measured copy bandwidth.  Fitted on the fastest unit of
    each (model, phase, kind): identical blocks differ only by background load on the shared host.  Returns the
    fit and every unit with its in-sample prediction.
    """
    parts = []
    for (m, ph), (table, n_ops, in_bytes, t_meas) in measured.items():
        w = llm_work(table, n_ops, in_bytes)
        w["model"], w["phase"], w["kind"] = m, ph, table["kind"].to_numpy()
        w["measured_s"] = np.asarray(t_meas, float)
        parts.append(w)
    rows = pd.concat(parts, ignore_index=True)
    mins = rows.loc[rows.groupby(["model", "phase", "kind"], sort=True)["measured_s"].idxmin()]
    fit = specmodel.calibrate(mins, mins["measured_s"], host["peak_flops"], host["mem_bw_Bps"])
    spec = specmodel.DeviceSpec("cpu-host", host["peak_flops"], host["mem_bw_Bps"], fit["dispatch_s"],
                                fit["compute_eff"] or 1.0, fit["mem_eff"] or 1.0, 1.0)
    rows["pred_s"] = specmodel.predict(spec, rows)["time_s"].to_numpy()
    fit["fit_rows"] = int(len(mins))
    return fit, rows


def time_split(spec: specmodel.DeviceSpec, work: pd.DataFrame) -> dict:
    """Totals of the spec model's three time terms and the memory share (shows decode is bandwidth bound)."""
    p = specmodel.predict(spec, work)
    tot = float(p.time_s.sum())
    return {"time_s": tot, "dispatch_s": float(p.dispatch_s.sum()), "compute_s": float(p.compute_s.sum()),
            "memory_s": float(p.memory_s.sum()), "memory_share": float(p.memory_s.sum()) / tot}


def spec_costs(spec: specmodel.DeviceSpec, table: pd.DataFrame, n_ops, input_bytes: float):
    """Per-unit time/energy of an LLM unit table on a spec-model device, and provenance metadata."""
    work = llm_work(table, n_ops, input_bytes)
    pred = specmodel.predict(spec, work)
    meta = {"source_kind": "modelled", "energy_source": "model",
            "source": "spec-sheet model (donna_core/devices/specmodel.py via devices/llm_costs.py): time = ops x "
                      "dispatch + 2*MACs/(peak*eff_c) + bytes/(bw*eff_m); energy = active power x time; batch 1, FP32",
            "model_params": {"spec": spec.to_dict(), "time_split": time_split(spec, work)},
            "assumptions": ["bytes = weights + activations in + out + KV cache (read in decode, written in "
                            "prefill), no cache reuse; the embedding reads only the rows it gathers",
                            "ops = aten kernels of the eager PyTorch unit (llm_costs.count_ops)",
                            "energy = active power (TGP/TDP, upper bound) x modelled time; idle power not added"]}
    return pred[["time_s", "energy_j"]], meta


# ---------------------------------------------------------------------------------------------------- CIM
def cim_rows(shape: "llm.LLMShape", table: pd.DataFrame) -> tuple[pd.DataFrame, list[int]]:
    """NeuroSim-style rows (a linear over T tokens = a 1×1 conv over a T×1 map) of every weight matrix, and
    the unit each row belongs to.  A block's token count comes from its output size (S in prefill, 1 in decode);
    the head projects only the last token in both phases."""
    rows, owner = [], []
    for i, r in enumerate(table.itertuples()):
        if r.kind == "decoder_block":
            t = int(r.out_bytes) // (shape.d * 4)
            mats = shape.block_linears()
        elif r.kind == "head":
            t, mats = 1, [("lm_head", shape.d, shape.vocab)]
        else:
            continue
        for _, cin, cout in mats:
            rows.append(dict(ifm_h=t, ifm_w=1, ifm_c=cin, k_h=1, k_w=1, ofm_c=cout, stride=1, pool=0))
            owner.append(i)
    return pd.DataFrame(rows), owner


def cim_costs(shape: "llm.LLMShape", table: pd.DataFrame, estimator: cim_estimator.CimEstimator):
    """CIM time/energy per unit: each unit estimated as its own chip (the floor plan of its matrices alone).

    Only the head is allowed on CIM (:func:`problem_builder.weight_stationary_units`); a chip holding just one
    unit's matrices is what the memory limit (:func:`cim_weight_capacity`) admits, and it keeps other units'
    tiles out of its leakage.
    """
    rows, owner = cim_rows(shape, table)
    t = np.zeros(len(table))
    e = np.zeros(len(table))
    owner = np.asarray(owner)
    for i in sorted(set(owner.tolist())):
        pred = estimator.predict(rows[owner == i].reset_index(drop=True))
        t[i] = float(pred["latency_s"].sum())
        e[i] = float(pred["energy_j"].sum())
    meta = {"source_kind": "modelled", "energy_source": "model",
            "source": "CIM estimator (donna_core/devices/cim_estimator.py), calibrated on "
                      + ", ".join(estimator.calibrated_on) + " NeuroSim V1.3 runs; each unit's weight matrices "
                      "floor-planned as one chip; a linear over T tokens = 1x1 conv over a Tx1 map",
            "neurosim": {**neurosim.NEUROSIM_DEFAULTS, "note": "architecture the estimator models; no run"},
            "model_params": {"cim_estimator": estimator.params(), "capacity": cim_weight_capacity()},
            "assumptions": [CIM_INELIGIBLE_ASSUMPTION,
                            "layer norms / residual adds / activations around the head are free on CIM, "
                            "as for the CNNs"]}
    return pd.DataFrame({"time_s": t, "energy_j": e}), meta
