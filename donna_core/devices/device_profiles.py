"""Build the simulated/modelled device profiles: ``cim``, ``gpu-rtx3070ti``, ``cpu-xeon-w3323``.

* ``cim`` — ``simulated`` from the shipped DNN+NeuroSim V1.3 runs (``neurosim_runs/``) for vgg8, vgg19, resnet152
  (one NeuroSim row per conv/linear unit, :func:`donna_core.devices.neurosim.cim_layer_costs`); ``modelled`` by the
  CIM estimator calibrated on those three runs for any other model (vit_b_16).
* ``gpu-rtx3070ti`` / ``cpu-xeon-w3323`` — ``modelled`` by the spec-sheet model (:mod:`donna_core.devices.specmodel`),
  the CPU's efficiencies calibrated on the measured ``cpu-host`` layer profiles of this machine.

``block`` profiles are sums of the ``layer`` rows ``layer_first..layer_last`` (:func:`sum_to_blocks`).
Pure functions take unit tables / profiles and return tables; :func:`build_all` does the I/O.
"""
from __future__ import annotations

import datetime as _dt
import math
import operator

import numpy as np
import pandas as pd

from . import cim_estimator, neurosim, specmodel
from ..profiling.profiles import GEOMETRY_COLUMNS, Profile

DEVICE_TYPES = ("cim", "gpu-rtx3070ti", "cpu-xeon-w3323")
MODELS = ("vgg8", "vgg19", "resnet152", "vit_b_16")

CIM_ASSUMPTIONS = (
    "energy_j = NeuroSim dynamic energy + NeuroSim layer-by-layer leakage energy (layer latency x leakage "
    "power of all other layers' tiles); ops NeuroSim does not simulate (residual adds, pooling not fused into "
    "a conv row, softmax, layer norm, GELU, class token/positional add) are assumed free on CIM (time 0, energy 0)"
)
ATTENTION_ASSUMPTION = (
    "attention units: the Q/K/V input projection (E->3E) and output projection (E->E) are weight-stationary "
    "linear layers over all tokens and are estimated as such; the activation x activation products QK^T and AV "
    "(2*T^2*E MACs) are not weight-stationary: they are charged at the same time and energy per MAC as the "
    "unit's projections (as if they ran at crossbar efficiency), ignoring the cost of writing K and V into "
    "ReRAM - optimistic"
)

# fx ops that are bookkeeping, not kernels (no launch/dispatch counted).
_TRIVIAL_TARGETS = {getattr, operator.getitem, "size", "dim", "contiguous"}
_TRIVIAL_NAMES = ("_assert", "getattr", "getitem", "eq", "size", "dim", "floordiv")
# Modules that launch several kernels per call (batch 1, PyTorch eager): nn.MultiheadAttention = in-projection
# GEMM, q scaling, QK^T bmm, softmax, AV bmm, out-projection GEMM and two layout copies -> 8 (an estimate).
_MODULE_OPS = {"MultiheadAttention": 8, "Dropout": 0, "Identity": 0}


def unit_op_counts(plan) -> list[int]:
    """Kernels/ops each unit launches: call_module/call_function/call_method nodes that do work.

    Shape bookkeeping (getattr, getitem, size, dim, asserts, int floordiv) counts 0, Dropout/Identity 0 (eval),
    nn.MultiheadAttention 8 (:data:`_MODULE_OPS`), every other op 1.  A few int ops on shapes (e.g. ``n_h * n_w``
    in torchvision's ViT) still count 1: the fx graph here carries no types to tell them apart."""
    nodes = {n.name: n for n in plan.graph_module.graph.nodes}
    counts = []
    for u in plan.units:
        c = 0
        for name in u.nodes:
            n = nodes.get(name)
            if n is None or n.op not in ("call_module", "call_function", "call_method"):
                continue
            tgt = n.target
            tname = getattr(tgt, "__name__", str(tgt))
            if tgt in _TRIVIAL_TARGETS or any(tname.startswith(p) or tname == p for p in _TRIVIAL_NAMES):
                continue
            if n.op == "call_module":
                c += _MODULE_OPS.get(type(plan.graph_module.get_submodule(tgt)).__name__, 1)
                continue
            c += 1
        counts.append(max(c, 1))
    return counts


def sum_to_blocks(layer_df: pd.DataFrame, block_table: pd.DataFrame, cols=("time_s", "energy_j")) -> pd.DataFrame:
    """Block rows = sums of layer rows ``layer_first..layer_last`` (inclusive) for ``cols``."""
    out = {c: [] for c in cols}
    n = len(layer_df)
    for r in block_table.itertuples():
        a, b = int(r.layer_first), int(r.layer_last)
        if not (0 <= a <= b < n):
            raise ValueError(f"block {r.unit!r}: layer range {a}..{b} outside the {n} layer units")
        for c in cols:
            out[c].append(float(layer_df[c].iloc[a:b + 1].sum()))
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------------------------------------
# CIM
# ---------------------------------------------------------------------------------------------------------
def attention_embed_dims(plan) -> dict[int, int]:
    """``{unit index: embed dim}`` of the units that call an ``nn.MultiheadAttention``."""
    nodes = {n.name: n for n in plan.graph_module.graph.nodes}
    out = {}
    for i, u in enumerate(plan.units):
        for name in u.nodes:
            n = nodes.get(name)
            if n is not None and n.op == "call_module":
                m = plan.graph_module.get_submodule(n.target)
                if type(m).__name__ == "MultiheadAttention":
                    out[i] = int(m.embed_dim)
    return out


def attention_tokens(macs: int, embed_dim: int) -> int:
    """Tokens T of a self-attention unit from its MACs = T·4E² + 2T²E (projections + QKᵀ + AV)."""
    E = embed_dim
    t = (-4 * E * E + math.sqrt(16 * E ** 4 + 8 * E * macs)) / (4 * E)
    if t < 1 or abs(t - round(t)) > 1e-6:
        raise ValueError(f"attention unit with E={E}: MACs {macs} do not match T*4E^2 + 2T^2E for an integer T")
    return int(round(t))


def neurosim_layer_table(table: pd.DataFrame, embed_dims: dict[int, int] | None = None
                         ) -> tuple[pd.DataFrame, list[int], list[float]]:
    """NeuroSim-style conv/fc rows for every weight-stationary op of a layer-granularity unit table.

    Returns ``(rows, owner, mac_scale)``: ``owner[j]`` = unit index of row j; ``mac_scale[i]`` = total MACs of
    unit i / MACs of its weight-stationary rows (1 except attention, see :data:`ATTENTION_ASSUMPTION`).
    A linear unit applied to T tokens (MACs = T·in·out) becomes a 1×1 conv over a T×1 map (T input vectors).
    """
    rows, owner = [], []
    scale = [1.0] * len(table)
    for i, r in enumerate(table.itertuples()):
        if r.kind == "attention":
            if not embed_dims or i not in embed_dims:
                raise ValueError(f"unit {r.unit!r}: attention unit needs its embed dim (embed_dims)")
            E = embed_dims[i]
            T = attention_tokens(int(r.macs), E)
            for out_c in (3 * E, E):
                rows.append(dict(ifm_h=T, ifm_w=1, ifm_c=E, k_h=1, k_w=1, ofm_c=out_c, stride=1, kind="attention"))
                owner.append(i)
            scale[i] = float(r.macs) / (T * 4 * E * E)
            continue
        if any(pd.isna(getattr(r, c)) for c in GEOMETRY_COLUMNS):
            continue
        g = {c: int(getattr(r, c)) for c in GEOMETRY_COLUMNS}
        if r.kind == "linear":
            t = int(r.macs) // (g["in_c"] * g["out_c"])
            if t * g["in_c"] * g["out_c"] != int(r.macs):
                raise ValueError(f"unit {r.unit!r}: MACs {r.macs} not a multiple of in*out features")
            g.update(in_h=max(t, 1), in_w=1)
        rows.append(dict(ifm_h=g["in_h"], ifm_w=g["in_w"], ifm_c=g["in_c"], k_h=g["k_h"], k_w=g["k_w"],
                         ofm_c=g["out_c"], stride=g["stride"], kind=r.kind))
        owner.append(i)
    df = pd.DataFrame(rows)
    geom_for_pool = df.rename(columns={"ifm_h": "in_h", "ifm_w": "in_w", "ifm_c": "in_c", "ofm_c": "out_c"})
    df["pool"] = neurosim.infer_pool_flags(geom_for_pool)
    df = df.drop(columns=["kind"])
    return df, owner, scale


def cim_layer_profile(model: str, table: pd.DataFrame, estimator: cim_estimator.CimEstimator | None = None,
                      embed_dims: dict[int, int] | None = None, run: pd.DataFrame | None = None,
                      run_source: str | None = None, density=None):
    """CIM time/energy per layer unit and the provenance metadata.

    Uses a NeuroSim run when there is one: ``run`` (e.g. :func:`neurosim.layers_from_log` of a user's own run,
    described by ``run_source``) or the shipped run of ``model``; else the calibrated ``estimator``, with
    ``density`` = input 1-bit density (one number, or one per NeuroSim row) or the shipped traces' default."""
    if run is None and model in neurosim.RUNS:
        run = neurosim.load_run(model)
        run_source = (f"neurosim_runs/{neurosim.RUNS[model][0]}, log neurosim_runs/{neurosim.RUNS[model][1]}")
    if run is not None:
        costs = neurosim.cim_layer_costs(run, table)
        meta = {"source_kind": "simulated", "energy_source": "neurosim",
                "source": f"DNN+NeuroSim V1.3 run of {model} ({run_source}); one NeuroSim row per conv/linear unit",
                "neurosim": {**neurosim.NEUROSIM_DEFAULTS,
                             "inputs": "synthetic: random-init 8-bit weights (seed 117), one U[-1,1) image"},
                "assumptions": [CIM_ASSUMPTIONS]}
        return costs[["time_s", "energy_j"]], meta
    if estimator is None:
        raise ValueError(f"no NeuroSim run for {model!r}: a calibrated CimEstimator is needed")
    rows, owner, scale = neurosim_layer_table(table, embed_dims)
    pred = estimator.predict(rows, density=density)
    t = np.zeros(len(table))
    e = np.zeros(len(table))
    np.add.at(t, owner, pred["latency_s"].to_numpy())
    np.add.at(e, owner, pred["energy_j"].to_numpy())
    t *= np.asarray(scale)
    e *= np.asarray(scale)
    meta = {"source_kind": "modelled", "energy_source": "model",
            "source": "CIM estimator, calibrated on " + ", ".join(estimator.calibrated_on)
                      + " NeuroSim V1.3 runs (donna_core/devices/cim_estimator.py)",
            "neurosim": {**neurosim.NEUROSIM_DEFAULTS, "note": "architecture the estimator models; no run"},
            "model_params": {"cim_estimator": estimator.params(), "neurosim_rows": len(rows),
                             "extrapolation": estimator.extrapolation(rows)},
            "input_density": {
                "source": "default" if density is None else "given",
                "per_neurosim_row": [round(float(x), 4) for x in pred["density"]],
                "note": ("default = density of 1-bits in the shipped NeuroSim traces (first layer: one U[-1,1) "
                         "image; other layers: ReLU outputs of random-init weights), per layer from "
                         "neurosim_runs/input_stats_*.txt; a trained model on real data is usually sparser, "
                         "which lowers dynamic energy (latency and leakage do not depend on it)")
                if density is None else "given by the caller"},
            "assumptions": [CIM_ASSUMPTIONS, ATTENTION_ASSUMPTION]}
    return pd.DataFrame({"time_s": t, "energy_j": e}), meta


# ---------------------------------------------------------------------------------------------------------
# CPU host calibration -> Xeon; GPU
# ---------------------------------------------------------------------------------------------------------
def calibration_rows(host_profiles: dict[str, pd.DataFrame], plans: dict) -> pd.DataFrame:
    """Stack measured host per-unit times with their work (FLOPs, bytes, ops) for :func:`specmodel.calibrate`.

    ``host_profiles[model]`` = cpu-host layer profile table; ``plans[model]`` = (layer unit table, n_ops,
    input_bytes).  Unit names must agree (profiles of the same unit derivation)."""
    parts = []
    for model, prof in host_profiles.items():
        table, n_ops, input_bytes = plans[model]
        if list(prof["unit"]) != list(table["unit"]):
            raise ValueError(f"{model}: cpu-host profile units differ from the derived layer units")
        t = table.copy()
        t["n_ops"] = n_ops
        w = specmodel.unit_work(t, input_bytes)
        w["model"] = model
        w["unit"] = list(table["unit"])
        w["measured_s"] = prof["time_s"].to_numpy(float)
        w["shape"] = [f"{r.kind}:{r.in_h}x{r.in_w}x{r.in_c}/k{r.k_h}x{r.k_w}/o{r.out_c}/s{r.stride}/ops{k}"
                      for r, k in zip(table.itertuples(), n_ops)]
        parts.append(w)
    return pd.concat(parts, ignore_index=True)


def shape_minima(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct unit shape (kind, geometry, op count): the fastest measured unit of that shape.

    On a shared host, contention only ever adds time; ResNet repeats the same bottleneck shape up to 36 times,
    and the fastest of identical units is the least disturbed measurement of that shape."""
    return rows.loc[rows.groupby("shape", sort=True)["measured_s"].idxmin()].reset_index(drop=True)


def spec_layer_profile(spec: specmodel.DeviceSpec, table: pd.DataFrame, n_ops, input_bytes: float):
    t = table.copy()
    t["n_ops"] = n_ops
    pred = specmodel.predict(spec, specmodel.unit_work(t, input_bytes))
    meta = {"source_kind": "modelled", "energy_source": "model",
            "source": "spec-sheet model (donna_core/devices/specmodel.py): time = ops x dispatch + 2*MACs/(peak*eff_c) "
                      "+ bytes/(bw*eff_m); energy = active power x time; batch 1, FP32",
            "model_params": {"spec": spec.to_dict()},
            "assumptions": ["bytes = weights + activations in + out per unit (no cache reuse)",
                            "energy = active power (TGP/TDP, upper bound) x modelled time; idle power not added"]}
    return pred[["time_s", "energy_j"]], meta


# ---------------------------------------------------------------------------------------------------------
# Profile assembly
# ---------------------------------------------------------------------------------------------------------
def make_profile(model: str, device_type: str, granularity: str, table: pd.DataFrame, costs: pd.DataFrame,
                 meta: dict, date: str) -> Profile:
    cols = ["unit", "kind", "out_bytes", "weight_bytes", "macs", *GEOMETRY_COLUMNS]
    if granularity == "block":
        cols += ["layer_first", "layer_last"]
    df = table[cols].copy()
    df.insert(2, "time_s", costs["time_s"].to_numpy(float))
    df.insert(3, "time_spread_s", np.nan)
    df.insert(4, "energy_j", costs["energy_j"].to_numpy(float))
    full = {"format": 1, "model": model, "device_type": device_type, "granularity": granularity,
            "n_units": len(df), **meta, "date": date}
    if granularity == "block":
        full["source"] = full["source"] + "; block rows = sums of the layer profile's rows layer_first..layer_last"
    order = ["format", "model", "device_type", "granularity", "n_units", "source_kind", "source", "energy_source",
             "date"]
    return Profile({k: full[k] for k in order} | {k: v for k, v in full.items() if k not in order}, df)


def today() -> str:
    return _dt.date.today().isoformat()


# ---------------------------------------------------------------------------------------------------------
# The paper's qualitative profile facts (Section IV-A)
# ---------------------------------------------------------------------------------------------------------
def profile_facts(profs: dict[str, pd.DataFrame], gpu: str = "gpu-rtx3070ti", cpu: str = "cpu-xeon-w3323",
                  cim: str = "cim") -> dict:
    """Check "GPU fastest; CIM most energy-efficient; CIM slowest except the last one or two layers".

    ``profs`` maps device type -> layer profile table of one model (same units).  Returns plain numbers/lists.
    """
    names = list(profs[gpu]["unit"])
    for d in (cpu, cim):
        if list(profs[d]["unit"]) != names:
            raise ValueError(f"profiles of {gpu} and {d} list different units")
    T = pd.DataFrame({d: profs[d]["time_s"].to_numpy(float) for d in (gpu, cpu, cim)})
    E = pd.DataFrame({d: profs[d]["energy_j"].to_numpy(float) for d in (gpu, cpu, cim)})
    L = len(T)
    fastest = T.idxmin(axis=1)
    slowest = T.idxmax(axis=1)
    greenest = E.idxmin(axis=1)
    cim_not_slowest = [int(i) for i in np.where(slowest != cim)[0]]
    return {
        "n_layers": L,
        "total_time_s": T.sum().to_dict(), "total_energy_j": E.sum().to_dict(),
        "gpu_fastest_total": bool(T.sum().idxmin() == gpu),
        "gpu_fastest_layer_frac": float((fastest == gpu).mean()),
        "cim_most_efficient_total": bool(E.sum().idxmin() == cim),
        "cim_most_efficient_layer_frac": float((greenest == cim).mean()),
        "cim_slowest_layer_frac": float((slowest == cim).mean()),
        "cim_not_slowest_layers": cim_not_slowest,
        "cim_slowest_except_last_two": bool(all(i >= L - 2 for i in cim_not_slowest)),
        "last_two_cim_not_slowest": [bool(slowest.iloc[i] != cim) for i in range(max(L - 2, 0), L)],
    }


def describe_facts(f: dict) -> str:
    """One-paragraph plain-text summary of :func:`profile_facts`."""
    L = f["n_layers"]
    ns = f["cim_not_slowest_layers"]
    tail = [i for i in ns if i >= L - 2]
    other = [i for i in ns if i < L - 2]
    parts = [
        f"GPU fastest in total: {'yes' if f['gpu_fastest_total'] else 'NO'} "
        f"(fastest device on {f['gpu_fastest_layer_frac']:.0%} of {L} layers)",
        f"CIM lowest total energy: {'yes' if f['cim_most_efficient_total'] else 'NO'} "
        f"(lowest on {f['cim_most_efficient_layer_frac']:.0%} of layers)",
        f"CIM slowest on {f['cim_slowest_layer_frac']:.0%} of layers; not slowest on the last two layers: "
        f"{f['last_two_cim_not_slowest']}; not slowest on {len(other)} earlier layer(s)"
        + (f" (indices {other[:12]}{'...' if len(other) > 12 else ''})" if other else "")
        + " -> paper's 'CIM slowest except the last one or two layers': "
        + ("holds" if f["cim_slowest_except_last_two"] and tail else "does NOT hold"),
    ]
    return "; ".join(parts) + "."


# ---------------------------------------------------------------------------------------------------------
# Device profiles for any model (``donna devices``)
# ---------------------------------------------------------------------------------------------------------
GROUPED_CONV_REASON = (
    "grouped/depthwise convolution (groups > 1): not run on CIM. A crossbar column sums the products of one "
    "input vector (rows = K*K*in_c of the layer) with one filter; a depthwise KxK filter reads only its own "
    "channel's K*K inputs, so mapped as a dense layer it would occupy K*K*C rows x C columns with 1/C of the "
    "cells used (block-diagonal), and packed block-diagonally (K*K rows x 1 column per channel) it needs "
    "per-block partial-sum routing NeuroSim V1.3 does not simulate. The estimator is calibrated on dense "
    "layers only, so no CIM cost is claimed for these units (allowed = 0; time/energy 0 are placeholders)")
MODULE_UNIT_REASON = ("module-boundary unit (the model is not traceable by torch.fx): no layer geometry to map "
                      "onto crossbars, so CIM may not run it (allowed = 0; time/energy 0 are placeholders)")
# The shipped profile whose metadata holds the Xeon model's calibration (fitted on this project's measured host
# profiles by scripts/build_device_profiles.py); new models reuse that calibration instead of refitting.
XEON_CALIBRATION_PROFILE = ("resnet152", "layer", "cpu-xeon-w3323")


def cim_blocked_units(table: pd.DataFrame) -> dict[int, str]:
    """``{layer unit index: reason}`` for units CIM may not run: grouped convs, opaque module units."""
    out = {}
    groups = table["groups"] if "groups" in table.columns else [1] * len(table)
    for i, (kind, g) in enumerate(zip(table["kind"], groups)):
        if kind == "module":
            out[i] = MODULE_UNIT_REASON
        elif not pd.isna(g) and int(g) > 1:
            out[i] = GROUPED_CONV_REASON
    return out


def cim_profile_any(model: str, table: pd.DataFrame, estimator, embed_dims: dict[int, int]):
    """CIM costs per layer unit with an ``allowed`` column: simulated/estimated for dense units; 0 placeholders
    and allowed = 0 for :func:`cim_blocked_units` (left out of the estimator's chip, so its floor plan and
    leakage count only the layers it maps)."""
    blocked = cim_blocked_units(table)
    dense = table.copy()
    for i in blocked:  # no geometry -> no NeuroSim row -> not part of the estimated chip
        for c in GEOMETRY_COLUMNS:
            dense.at[dense.index[i], c] = pd.NA
    costs, meta = cim_layer_profile(model, dense, estimator, embed_dims)
    costs = costs.reset_index(drop=True).copy()
    allowed = np.ones(len(table), dtype=int)
    for i in blocked:
        allowed[i] = 0
        costs.loc[i, ["time_s", "energy_j"]] = 0.0
    costs["allowed"] = allowed
    if blocked:
        reasons = sorted(set(blocked.values()))
        meta = {**meta, "not_allowed": {"units": [str(table["unit"].iloc[i]) for i in sorted(blocked)],
                                        "reasons": reasons}}
    return costs, meta


def xeon_from_shipped(root) -> specmodel.DeviceSpec:
    """The modelled Xeon W-3323 with the calibration stored in the shipped profile's metadata."""
    from ..profiling.profiles import profile_path, read_profile

    meta = read_profile(profile_path(root, *XEON_CALIBRATION_PROFILE)).meta
    spec = dict(meta["model_params"]["spec"])
    return specmodel.DeviceSpec(**spec)


def model_device_profiles(model: str, layer_table: pd.DataFrame, block_table: pd.DataFrame | None, n_ops,
                          input_bytes: int, embed_dims: dict[int, int], estimator, xeon: specmodel.DeviceSpec,
                          granularity: str, date: str, extra_meta: dict | None = None) -> dict[str, Profile]:
    """Device type -> modelled/simulated profile of one model at ``granularity`` (layer costs, summed to blocks).

    Pure: the caller derives the unit tables and supplies the estimator and specs (see :func:`build_for_model`)."""
    costs = {"cim": cim_profile_any(model, layer_table, estimator, embed_dims)}
    for spec in (specmodel.rtx3070ti(), xeon):
        c, meta = spec_layer_profile(spec, layer_table, n_ops, input_bytes)
        if spec is xeon:
            meta["host"] = "Intel Xeon W-3323 (modelled, not measured)"
            meta["model_params"]["calibration"] = (f"reused from data/profiles/{'/'.join(XEON_CALIBRATION_PROFILE)}"
                                                   ".csv (fitted on this project's measured cpu-host profiles)")
        costs[spec.name] = (c, meta)
    out = {}
    for dev, (c, meta) in costs.items():
        meta = {**meta, **(extra_meta or {})}
        if granularity == "layer":
            prof = make_profile(model, dev, "layer", layer_table, c, meta, date)
            extra = {k: c[k].to_numpy() for k in ("allowed",) if k in c.columns}
        else:
            bc = sum_to_blocks(c.assign(unit=layer_table["unit"].to_numpy()), block_table)
            prof = make_profile(model, dev, "block", block_table, bc, meta, date)
            extra = {}
            if "allowed" in c.columns:  # a block may run on CIM only if every layer in it may
                a = c["allowed"].to_numpy()
                extra["allowed"] = np.array([int(a[int(r.layer_first): int(r.layer_last) + 1].min())
                                             for r in block_table.itertuples()])
        table = layer_table if granularity == "layer" else block_table
        if "groups" in table.columns:
            prof.df["groups"] = table["groups"].to_numpy()
        for k, v in extra.items():
            prof.df[k] = v
        out[dev] = prof
    return out
