"""Analytical CIM (DNN+NeuroSim V1.3 default chip) cost model for networks NeuroSim was not run on.

NeuroSim's per-layer cost is a sum of terms whose *structure* (what scales with what, which ceil and which
divisor) is fixed by its source; only the per-cycle / per-bit / per-length constants come from circuit models
this project does not reproduce.  The model follows that split, one module per step:

1. :mod:`.cim_floorplan` reproduces NeuroSim's automatic floor plan (exact on the shipped runs, tested).
2. :mod:`.cim_terms` computes every per-layer term from geometry + floor plan.  Terms marked *exact* are cycle
   counts NeuroSim computes from integers alone (synchronous mode: one buffer line or one ADC sense per cycle);
   terms marked *fitted* are counts whose per-unit constant depends on circuit models (tile buffer widths and
   cores, H-tree wire delay, adder delays).  Its docstring lists the terms with their NeuroSim sources.
3. :class:`CimEstimator` (here) fits each NeuroSim breakdown column (``buffer``, ``ic``, ``adc``, ``accum``, the
   rest of ``other``; latency and dynamic energy) on its own terms — non-negative least squares on relative error
   — so every coefficient has one meaning (``params()`` lists them).  Leakage = latency × per-tile leakage ×
   tiles of the *other* layers (NeuroSim's layer-by-layer rule); per-tile leakage = base + slope × sub-array
   rows a PE uses, fitted per mapping kind (the runs show exactly three levels per kind).
4. :mod:`.cim_validation` scores it against NeuroSim (leave-one-model-out, leave-one-layer-class-out, totals
   implied by a reported error).

Activation×activation matmuls (attention ``QKᵀ`` and ``AV``) are not weight-stationary; the estimator does not
model them (``device_profiles`` states its assumption).  NeuroSim V1.3's source was read, not copied.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .cim_floorplan import CimEstimatorError, floorplan
from .cim_terms import ENERGY_MODEL, LATENCY_MODEL, MEANING, component_targets, density_array, features
from .fitting import nnls


def parse_input_stats(text: str, source: str = "<input stats>") -> np.ndarray:
    """Per-layer input 1-bit densities from an ``input_stats_<model>.txt`` (``N file bit-density X ...`` lines)."""
    vals = {}
    for k, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = re.match(r"\s*(\d+)\s+\S+\s+bit-density\s+([0-9.eE+-]+)", line)
        if not m:
            raise CimEstimatorError(f"{source}: line {k}: expected '<layer> <file> bit-density <value> ...'")
        vals[int(m.group(1))] = float(m.group(2))
    if not vals or sorted(vals) != list(range(1, len(vals) + 1)):
        raise CimEstimatorError(f"{source}: layers must be numbered 1..N without gaps")
    return density_array([vals[i] for i in range(1, len(vals) + 1)], len(vals))


def load_input_density(model: str) -> np.ndarray:
    """Input 1-bit density per layer of a shipped run (``neurosim_runs/input_stats_<model>.txt``)."""
    from . import neurosim
    path = neurosim.run_dir() / f"input_stats_{model}.txt"
    if not path.exists():
        raise CimEstimatorError(f"{path}: no input statistics for {model!r}")
    return parse_input_stats(path.read_text(), str(path))


def shipped_runs() -> dict[str, pd.DataFrame]:
    """The three shipped NeuroSim runs with their per-layer input density as a ``density`` column."""
    from . import neurosim
    return {m: neurosim.load_run(m).assign(density=load_input_density(m)) for m in sorted(neurosim.RUNS)}


def run_density(name: str, df: pd.DataFrame) -> np.ndarray:
    from . import neurosim
    if "density" not in df.columns and name in neurosim.RUNS:
        d = load_input_density(name)          # a shipped run passed without its trace statistics
        if len(d) == len(df):
            return d
    if "density" not in df.columns:
        raise CimEstimatorError(f"run {name!r}: column 'density' (input 1-bit density per layer) missing; "
                                "see shipped_runs() / load_input_density()")
    return density_array(df["density"].to_numpy(float), len(df))


def _fit_component(X: np.ndarray, exact: np.ndarray, y: np.ndarray, names: list[str],
                   shared: bool = False) -> dict[str, float]:
    """Non-negative c minimising Σ((exact + X c − y) / y)²; rows with y <= 0 carry no information.

    Terms with no signal in the training rows get 0 (nothing to learn them from).  ``shared``: a term's
    novel (``_nm``) and conventional (``_cm``) variants get one common coefficient (used when one mapping kind
    is held out, so its constants must come from the other kind)."""
    ok = y > 0
    groups: dict[str, list[int]] = {}
    for j, t in enumerate(names):
        key = t[:-3] if shared and t.endswith(("_nm", "_cm")) else t
        groups.setdefault(key, []).append(j)
    keys = list(groups)
    G = np.column_stack([X[:, groups[k]].sum(axis=1) for k in keys]) if keys else np.zeros((len(y), 0))
    G = G[ok]
    live = [i for i in range(G.shape[1]) if np.any(G[:, i] != 0)]
    coef = np.zeros(len(keys))
    if live:
        coef[live] = nnls(G[:, live] / y[ok, None], (y[ok] - exact[ok]) / y[ok])
    return {names[j]: float(coef[i]) for i, k in enumerate(keys) for j in groups[k]}


@dataclass
class CimEstimator:
    """Fitted constants: latency (cycles per term unit), dynamic energy (J per term unit), tile leakage (W)."""
    lat_coef: dict = field(default_factory=dict)      # {component: {term: cycles per unit}}
    dyn_coef: dict = field(default_factory=dict)      # {component: {term: J per unit}}
    tile_leak_w: dict = field(default_factory=dict)   # {kind: [W, W per PE sub-array row], "per_cell": bool}
    clock_s: float = 0.0
    default_density: dict = field(default_factory=dict)   # {"first": d, "hidden": d}
    calibrated_on: tuple = ()
    floorplan_sizes: list = field(default_factory=list)   # [(CM tile, CM PE, NM PE, #NM PEs)] of the runs

    @classmethod
    def fit(cls, runs: dict[str, pd.DataFrame]) -> "CimEstimator":
        """Calibrate on NeuroSim per-layer tables ``{model: layers_df}`` (GEOM + breakdown + ``density``)."""
        return cls.fit_rows({name: (df, np.ones(len(df), bool)) for name, df in runs.items()})

    @classmethod
    def fit_rows(cls, runs: dict[str, tuple[pd.DataFrame, np.ndarray]], shared: bool | None = None
                  ) -> "CimEstimator":
        """Fit on the selected rows of whole networks (features depend on the network's floor plan).

        ``shared`` (default: only when the rows hold a single mapping kind): novel and conventional variants of
        a term share one constant, tile leakage scales with the tile's cells."""
        if not runs:
            raise CimEstimatorError("CimEstimator.fit needs at least one NeuroSim run")
        F, T, leak, novel, cells, subrows, clocks, first, hidden, sizes = [], [], [], [], [], [], [], [], [], []
        for name, (df, keep) in runs.items():
            for c in ("latency_s", "dynamic_energy_j", "leakage_energy_j"):
                if c not in df.columns:
                    raise CimEstimatorError(f"run {name!r}: column {c!r} missing")
            d = run_density(name, df)
            f = features(df, density=d)
            F.append(f[keep])
            fp = floorplan(df)
            sizes.append((fp.tile_size_cm, fp.pe_size_cm, fp.pe_size_nm, fp.num_pe_nm))
            T.append({k: (a[keep], b[keep]) for k, (a, b) in component_targets(df).items()})
            if keep[0]:
                first.append(d[0])
            hidden.extend(d[1:][keep[1:]])
            # the clock is what turns exact ADC cycles into NeuroSim's ADC latency
            clocks.append(df["adc_latency_s"].to_numpy(float)[keep] / f["adc_cycles"].to_numpy()[keep])
            with np.errstate(divide="ignore", invalid="ignore"):
                leak.append((df["leakage_energy_j"].to_numpy(float)
                             / (df["latency_s"].to_numpy(float) * f["other_tiles"].to_numpy(float)))[keep])
            novel.append(f["novel"].to_numpy()[keep])
            cells.append(f["tile_cells"].to_numpy(float)[keep])
            subrows.append(f["pe_subrows"].to_numpy(float)[keep])
        F = pd.concat(F, ignore_index=True)
        if shared is None:
            shared = F["novel"].nunique() < 2
        clock = float(np.median(np.concatenate(clocks)))
        lat, dyn = {}, {}
        for comp, (exact, fitted) in LATENCY_MODEL.items():
            y = np.concatenate([t[comp][0] for t in T]) / clock
            ex = F[exact].to_numpy(float).sum(axis=1) if exact else np.zeros(len(F))
            lat[comp] = _fit_component(F[fitted].to_numpy(float), ex, y, fitted, shared)
        for comp, terms in ENERGY_MODEL.items():
            y = np.concatenate([t[comp][1] for t in T])
            dyn[comp] = _fit_component(F[terms].to_numpy(float), np.zeros(len(F)), y, terms, shared)
        leak, novel = np.concatenate(leak), np.concatenate(novel)
        cells, subrows = np.concatenate(cells), np.concatenate(subrows)
        ok = np.isfinite(leak) & (leak > 0)

        def base_slope(mask, y):
            X = np.column_stack([np.ones(mask.sum()), subrows[mask]])
            return [float(c) for c in nnls(X / y[mask, None], np.ones(mask.sum()))]
        if shared:
            # per memory cell: a tile leaks in proportion to its cells (NM 9x512², CM 1024² by default)
            per_cell = base_slope(ok, leak / cells)
            tl = {"novel": per_cell, "conventional": per_cell, "per_cell": True}
        else:
            tl = {k: base_slope(ok & (novel == v), leak) if np.any(ok & (novel == v)) else [float("nan")] * 2
                  for k, v in (("novel", 1), ("conventional", 0))}
            tl["per_cell"] = False
        first = first or hidden
        dd = {"first": float(np.mean(first)), "hidden": float(np.median(hidden)) if hidden else float(np.mean(first))}
        return cls(lat, dyn, tl, clock, dd, tuple(runs), sorted(set(sizes)))

    def extrapolation(self, layers: pd.DataFrame) -> list[str]:
        """Why a prediction leaves the calibrated range (empty: tile and PE sizes as in a calibration run).

        The fitted tile-level constants (buffer widths, H-tree, adders) belong to the tile/PE sizes of the runs;
        NeuroSim picks other sizes for networks whose layers are all narrow, and then they are extrapolated."""
        fp = floorplan(layers)
        mine = (fp.tile_size_cm, fp.pe_size_cm, fp.pe_size_nm, fp.num_pe_nm)
        if mine in [tuple(x) for x in self.floorplan_sizes]:
            return []
        cal = "; ".join(f"{a:g}/{b:g}, {d} PEs of {c:g}" for a, b, c, d in self.floorplan_sizes)
        return [f"floor plan conventional tile {fp.tile_size_cm:g} / PE {fp.pe_size_cm:g}, novel tile "
                f"{fp.num_pe_nm} PEs of {fp.pe_size_nm:g} differs from the calibration runs' ({cal}): tile-level "
                "constants extrapolated"]

    def density_for(self, n: int, density=None) -> np.ndarray:
        """Per-layer density: given (one number or per layer) or the default (first layer / the others)."""
        if density is None:
            return np.array([self.default_density["first"]] + [self.default_density["hidden"]] * (n - 1))[:n]
        return density_array(density, n)

    def predict_components(self, layers: pd.DataFrame, density=None) -> pd.DataFrame:
        """Per-layer latency (s) and dynamic energy (J) of each NeuroSim component, plus the features used."""
        if not self.lat_coef:
            raise CimEstimatorError("CimEstimator is not calibrated (use CimEstimator.fit)")
        if density is None and "density" in layers.columns:
            density = layers["density"].to_numpy(float)
        fp = floorplan(layers)
        f = features(layers, fp, self.density_for(len(layers), density))
        out = {}
        for comp, (exact, fitted) in LATENCY_MODEL.items():
            cyc = f[exact].to_numpy(float).sum(axis=1) if exact else np.zeros(len(f))
            for t in fitted:
                k = self.lat_coef[comp][t]
                if t.startswith("icg_"):
                    # HTree.cpp: synchronous latency per read = ceil(wire delay × clock freq) cycles
                    per_read = math.ceil(k * fp.htree_length - 1e-9) if k > 0 else 0
                    mask = f["novel"].to_numpy() == (1 if t == "icg_nm" else 0)
                    cyc = cyc + per_read * f["greads"].to_numpy(float) * mask
                else:
                    cyc = cyc + k * f[t].to_numpy(float)
            out[f"{comp}_latency_s"] = cyc * self.clock_s
        for comp, terms in ENERGY_MODEL.items():
            out[f"{comp}_dynamic_energy_j"] = f[terms].to_numpy(float) @ np.array(
                [self.dyn_coef[comp][t] for t in terms])
        res = pd.DataFrame(out)
        return pd.concat([res, f], axis=1)

    def predict(self, layers: pd.DataFrame, density=None) -> pd.DataFrame:
        """Per-layer ``latency_s``, ``dynamic_energy_j``, ``leakage_energy_j``, ``energy_j`` of a whole network.

        ``layers`` must hold *all* conv/fc layers of the network in order (the floor plan — total tiles, bus
        width, buffer size, H-tree — is network-wide).  ``density``: input 1-bit density, one number or one
        per layer; else a ``density`` column of ``layers``; else :attr:`default_density`."""
        pc = self.predict_components(layers, density)
        comps = list(LATENCY_MODEL)
        lat = sum(pc[f"{c}_latency_s"].to_numpy() for c in comps)
        dyn = sum(pc[f"{c}_dynamic_energy_j"].to_numpy() for c in comps)
        tl = self.tile_leakage(pc)
        if np.any(~np.isfinite(tl)):
            kind = "novel" if np.any(~np.isfinite(tl) & (pc["novel"].to_numpy() == 1)) else "conventional"
            raise CimEstimatorError(f"no {kind}-mapped layer in the calibration runs: its tile leakage is unknown")
        leak = lat * tl * pc["other_tiles"].to_numpy(float)
        return pd.DataFrame({"latency_s": lat, "dynamic_energy_j": dyn, "leakage_energy_j": leak,
                             "energy_j": dyn + leak, "num_tiles": pc["num_tiles"], "novel": pc["novel"],
                             "density": pc["density"]})

    def tile_leakage(self, f: pd.DataFrame) -> np.ndarray:
        """Leakage power (W) of one tile of each layer, from :func:`features` columns."""
        n = f["pe_subrows"].to_numpy(float)
        nm = f["novel"].to_numpy() == 1
        (a1, b1), (a0, b0) = self.tile_leak_w["novel"], self.tile_leak_w["conventional"]
        tl = np.where(nm, a1 + b1 * n, a0 + b0 * n)
        return tl * f["tile_cells"].to_numpy(float) if self.tile_leak_w.get("per_cell") else tl

    def params(self) -> dict:
        """JSON-ready description (for profile metadata)."""
        return {"clock_s": self.clock_s, "latency_coef_cycles": self.lat_coef, "dynamic_coef_j": self.dyn_coef,
                "tile_leakage_w": self.tile_leak_w, "default_input_density": self.default_density,
                "calibrated_on": list(self.calibrated_on),
                "calibrated_floorplans_cmtile_cmpe_nmpe_numpe": [list(map(float, x)) for x in self.floorplan_sizes],
                "exact_terms": {c: ex for c, (ex, _) in LATENCY_MODEL.items() if ex},
                "fit": "per NeuroSim breakdown component, non-negative least squares on relative error (numpy)"}

    def coefficient_table(self) -> pd.DataFrame:
        """Every fitted constant with its component, unit and meaning (the report prints this)."""
        rows = [{"quantity": "latency", "component": c, "term": t, "value": v, "meaning": MEANING[t]}
                for c, d in self.lat_coef.items() for t, v in d.items()]
        rows += [{"quantity": "dynamic energy", "component": c, "term": t, "value": v, "meaning": MEANING[t]}
                 for c, d in self.dyn_coef.items() for t, v in d.items()]
        unit = "W per cell" if self.tile_leak_w.get("per_cell") else "W"
        for k in ("novel", "conventional"):
            a, b = self.tile_leak_w[k]
            rows += [{"quantity": "leakage", "component": "tile", "term": f"tile_leak_{k}", "value": a,
                      "meaning": f"leakage power of one {k} tile, base ({unit})"},
                     {"quantity": "leakage", "component": "tile", "term": f"tile_leak_{k}_per_subrow", "value": b,
                      "meaning": f"extra leakage of one {k} tile per sub-array row its PEs use ({unit})"}]
        rows += [{"quantity": "clock", "component": "chip", "term": "clock_s", "value": self.clock_s,
                  "meaning": "clock period (s) = ADC latency / exact ADC cycles"}]
        return pd.DataFrame(rows)
