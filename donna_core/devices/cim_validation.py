"""How well the CIM estimator predicts NeuroSim: leave-one-model-out, leave-one-layer-class-out, and totals
implied by another estimator's reported error."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .cim_estimator import CimEstimator, run_density
from .cim_floorplan import geometry
from .cim_terms import features


LAYER_CLASSES = {
    "novel": lambda f, g: f["novel"].to_numpy() == 1,
    "conventional": lambda f, g: f["novel"].to_numpy() == 0,
    "fc": lambda f, g: (g["k_h"].to_numpy() == 1) & (g["ifm_h"].to_numpy() == 1),
    "conv": lambda f, g: ~((g["k_h"].to_numpy() == 1) & (g["ifm_h"].to_numpy() == 1)),
}


def _errors(name: str, df: pd.DataFrame, est: CimEstimator, mask=None) -> tuple[pd.DataFrame, dict]:
    pred = est.predict(df)
    act_e = df["dynamic_energy_j"].to_numpy(float) + df["leakage_energy_j"].to_numpy(float)
    lay = pd.DataFrame({"model": name, "layer": df["layer"].to_numpy() if "layer" in df else np.arange(1, len(df) + 1),
                        "latency_err": pred["latency_s"].to_numpy() / df["latency_s"].to_numpy(float) - 1,
                        "dynamic_err": pred["dynamic_energy_j"].to_numpy() / df["dynamic_energy_j"].to_numpy(float) - 1,
                        "energy_err": pred["energy_j"].to_numpy() / act_e - 1})
    sel = np.ones(len(df), bool) if mask is None else mask
    s = lay[sel]
    summary = {"model": name, "calibrated_on": "+".join(est.calibrated_on), "layers": int(sel.sum()),
               "latency_total_err": pred["latency_s"][sel].sum() / df["latency_s"][sel].sum() - 1,
               "energy_total_err": pred["energy_j"][sel].sum() / act_e[sel].sum() - 1,
               "dynamic_total_err": pred["dynamic_energy_j"][sel].sum() / df["dynamic_energy_j"][sel].sum() - 1,
               "leakage_total_err": pred["leakage_energy_j"][sel].sum() / df["leakage_energy_j"][sel].sum() - 1,
               "latency_layer_median_abs_err": float(np.median(np.abs(s["latency_err"]))),
               "energy_layer_median_abs_err": float(np.median(np.abs(s["energy_err"]))),
               "latency_layer_max_abs_err": float(np.max(np.abs(s["latency_err"]))),
               "energy_layer_max_abs_err": float(np.max(np.abs(s["energy_err"])))}
    return lay, summary


def error_table(runs: dict[str, pd.DataFrame], leave_one_out: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-layer and per-model relative errors of the estimator against NeuroSim.

    With ``leave_one_out`` each model is predicted by an estimator fitted on the *other* models; otherwise by
    the fit on all models.  Returns ``(per_layer, per_model)``; errors are ``predicted/actual − 1``.
    """
    per_layer, per_model = [], []
    full = None if leave_one_out else CimEstimator.fit(runs)
    for name, df in runs.items():
        est = CimEstimator.fit({k: v for k, v in runs.items() if k != name}) if leave_one_out else full
        lay, summ = _errors(name, df, est)
        per_layer.append(lay)
        per_model.append(summ)
    return pd.concat(per_layer, ignore_index=True), pd.DataFrame(per_model)


def class_out_table(runs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Leave-one-layer-class-out: fit on every layer *not* in the class, predict that class's layers.

    Classes (:data:`LAYER_CLASSES`): novel vs conventional mapping, conv vs FC.  Fitting uses per-layer rows of
    all runs; prediction needs the whole network (floor plan), so each run is predicted whole and only the held-
    out class's layers are scored (per layer, and summed over those layers)."""
    rows = []
    for cls_name, pick in LAYER_CLASSES.items():
        held = {name: pick(features(df, density=run_density(name, df)), geometry(df))
                for name, df in runs.items()}
        est = CimEstimator.fit_rows({n: (df, ~held[n]) for n, df in runs.items() if (~held[n]).any()})
        for name, df in runs.items():
            if held[name].any():
                _, s = _errors(name, df, est, held[name])
                rows.append({"held_out": cls_name, **s})
    return pd.DataFrame(rows)


def implied_reference_check(est: CimEstimator, layers: pd.DataFrame, ref: dict) -> pd.DataFrame:
    """Errors of ``est`` against NeuroSim totals *implied* by a reported error of another prediction.

    ``ref`` (see ``data/cim_checks/*.json``): ``previous_estimator_prediction`` (totals of the previous estimator)
    and ``reported_error_previous_estimator_vs_neurosim`` (its reported errors against a NeuroSim run, with the
    half-width of their printed rounding).  NeuroSim = other / (1 + error); the interval comes from the rounding.
    Returns one row per quantity: implied NeuroSim value (lo, mid, hi), this estimator's value and its error range."""
    pred = est.predict(layers)
    other, err = ref["previous_estimator_prediction"], ref["reported_error_previous_estimator_vs_neurosim"]
    mine = {"latency": pred["latency_s"].sum(), "dynamic_energy": pred["dynamic_energy_j"].sum(),
            "leakage_energy": pred["leakage_energy_j"].sum(), "energy": pred["energy_j"].sum()}
    theirs = {"latency": other["latency_s"], "dynamic_energy": other["dynamic_energy_j"],
              "leakage_energy": other["leakage_energy_j"],
              "energy": other["dynamic_energy_j"] + other["leakage_energy_j"]}
    rows = []
    for q, v in mine.items():
        e, h = err[q], err[f"{q}_halfwidth"]
        lo, mid, hi = theirs[q] / (1 + e + h), theirs[q] / (1 + e), theirs[q] / (1 + e - h)
        rows.append({"quantity": q, "implied_neurosim_lo": lo, "implied_neurosim": mid, "implied_neurosim_hi": hi,
                     "estimate": v, "err": v / mid - 1, "err_lo": v / hi - 1, "err_hi": v / lo - 1})
    return pd.DataFrame(rows)
