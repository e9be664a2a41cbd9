"""Analytical CIM (DNN+NeuroSim V1.3 default chip) cost model for models NeuroSim was not run on.

Two parts:

1. :func:`floorplan` reproduces NeuroSim V1.3's automatic floor plan (``ChipDesignInitialize`` /
   ``ChipFloorPlan`` in Chip.cpp) from the layer geometry alone: which layers use the "novel" K×K-PE mapping,
   the tile and PE sizes, tiles per layer, weight duplication (``speedup``) and utilization, and the chip-level
   quantities that make a layer's cost depend on the *whole network* (total tiles, global bus width, number of
   global-buffer cores).  It is exact on the shipped runs (tested).
2. :func:`features` turns geometry + floor plan into a handful of physically motivated per-layer terms, and
   :class:`CimEstimator` maps them to latency and dynamic energy with a few non-negative coefficients fitted by
   least squares on relative error (numpy only) to the NeuroSim runs.  Leakage energy is then computed the way
   NeuroSim does it, ``latency × tile leakage × (total tiles − this layer's tiles)``, with the per-tile leakage
   fitted per mapping kind (novel vs conventional).

Architecture behind the features (NeuroSim V1.3 defaults): 128×128 RRAM sub-arrays, 2 bits per cell so an
8-bit weight spans 4 columns, 8 columns share one ADC, 8-bit inputs applied bit-serially (8 array reads per
input vector), input vectors per layer ``(H−K+1)/S · (W−K+1)/S`` (NeuroSim ignores padding), duplicated
weights (``speedup``) process input vectors in parallel.  Global-buffer traffic per layer is the IFM bits
(``C·K·K·8`` per vector, ``C·8`` for novel-mapped layers) plus OFM bits (``O·8`` per vector, /4 when a 2×2 pool
follows); NeuroSim divides it by the buffer parallelism ``min(#buffer cores, ceil(bus width/128))`` and
multiplies it by ``ceil(total chip tiles / layer tiles)`` — the whole-network dependence.

Activation×activation matmuls (attention ``QKᵀ`` and ``AV``) are not weight-stationary and cannot be written
into ReRAM once; this module does not model them.  Callers decide (``device_profiles`` assumes they run on the
CIM chip's digital periphery at zero cost — stated in the profile metadata).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .fitting import nnls_relative


class CimEstimatorError(ValueError):
    """Bad input to the CIM estimator (geometry, calibration data)."""


# NeuroSim V1.3 Param.cpp defaults used by the floor plan.
SUBARRAY = 128                  # numRowSubArray = numColSubArray
CELL_BITS = 2
WEIGHT_BITS = 8
INPUT_BITS = 8
COLS_PER_WEIGHT = math.ceil(WEIGHT_BITS / CELL_BITS)   # numColPerSynapse = 4
COLS_PER_ADC = 8                # numColMuxed
MAX_GLOBAL_BUS = 2048           # maxGlobalBusWidth
GBUF_CORE_BITS = 128 * 128      # globalBufferCoreSizeRow * Col
GBUF_INTERFACE = 128            # global buffer interface width (core column count)

GEOM = ["ifm_h", "ifm_w", "ifm_c", "k_h", "k_w", "ofm_c", "stride", "pool"]


def _geometry(layers: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in GEOM if c not in layers.columns]
    if missing:
        raise CimEstimatorError(f"layer table lacks column(s) {missing} (need {GEOM})")
    g = layers[GEOM].copy()
    for c in GEOM:
        v = g[c].to_numpy(float)
        if not np.all(np.isfinite(v)) or (c != "pool" and np.any(v < 1)):
            i = int(np.argmax(~np.isfinite(v) | (v < 1)))
            raise CimEstimatorError(f"layer {i + 1}: column {c!r} must be a positive integer, got {g[c].iloc[i]}")
        g[c] = v.astype(int)
    if np.any((g["k_h"] > g["ifm_h"]) | (g["k_w"] > g["ifm_w"])):
        i = int(np.argmax((g["k_h"] > g["ifm_h"]) | (g["k_w"] > g["ifm_w"])))
        raise CimEstimatorError(f"layer {i + 1}: kernel larger than the input map")
    return g.reset_index(drop=True)


@dataclass
class FloorPlan:
    """NeuroSim's automatic floor plan for one network (per-layer arrays + chip-level numbers)."""
    novel: np.ndarray              # 1 where the layer uses the novel (K×K PE) mapping
    num_tiles: np.ndarray
    tiles_row: np.ndarray          # tiles along the weight-matrix rows (>1 -> global accumulation)
    speedup: np.ndarray
    utilization: np.ndarray
    num_pe_nm: int
    pe_size_nm: float
    tile_size_cm: float
    pe_size_cm: float
    total_tiles: int
    global_bus_width: float
    num_buffer_cores: int

    @property
    def buffer_parallelism(self) -> float:
        return float(min(self.num_buffer_cores, math.ceil(self.global_bus_width / GBUF_INTERFACE)))


def floorplan(layers: pd.DataFrame) -> FloorPlan:
    """NeuroSim V1.3's floor plan (novel mapping on, layer-by-layer, defaults) from geometry columns ``GEOM``."""
    g = _geometry(layers)
    C, KH, KW, O = (g[c].to_numpy() for c in ("ifm_c", "k_h", "k_w", "ofm_c"))
    n = len(g)
    rps, cps = 1, COLS_PER_WEIGHT
    kk = KH * KW
    # ChipDesignInitialize: numPENM = the most frequent K*K (ties -> first layer reaching the max count).
    most, num_pe = 0, 0
    for i in range(n):
        count = 1
        for j in range(n):
            if kk[i] == kk[j] and kk[i] != 1:
                count += 1
            if most < count:
                most, num_pe = count, int(kk[i])
    novel = ((kk == num_pe) & (C * kk * rps >= SUBARRAY)).astype(int)
    cube = 2.0 ** np.ceil(np.log2(O * cps))
    max_pe_nm = float(cube[novel == 1].max()) if novel.any() else 0.0
    max_tile_cm = float(cube[novel == 0].max()) if (novel == 0).any() else 0.0

    def tile_design_nm(pe):
        m = novel == 1
        tiles = np.sum(np.ceil(C[m] * rps / pe) * np.ceil(O[m] * cps / pe))
        mat = np.sum(C[m] * kk[m] * rps * O[m] * cps)
        return tiles, (mat / (tiles * pe * pe * num_pe) if tiles else 0.0)

    def tile_design_cm(ts):
        m = novel == 0
        tiles = np.sum(np.ceil(C[m] * kk[m] * rps / ts) * np.ceil(O[m] * cps / ts))
        mat = np.sum(C[m] * kk[m] * rps * O[m] * cps)
        return tiles, (mat / (tiles * ts * ts) if tiles else 0.0)

    def pe_dup(pe, ts):
        dr, dc = np.ones(n), np.ones(n)
        mat = 0.0
        for i in range(n):
            if novel[i]:
                continue
            rows, cols = C[i] * kk[i] * rps, O[i] * cps
            if rows <= ts or cols <= ts:
                npr = math.ceil(ts / pe)
                dr[i] = max(1, math.floor(npr / math.ceil(rows / pe)))
                dc[i] = max(1, math.floor(npr / math.ceil(cols / pe)))
            mat += dr[i] * dc[i] * rows * cols
        return dr, dc, mat

    if novel.any() and max_pe_nm < 2 * SUBARRAY:
        raise CimEstimatorError("NeuroSim floor plan: sub-array too large for the novel-mapped layers")
    pe_nm = max(max_pe_nm, 2 * SUBARRAY)
    best = 0.0
    p = pe_nm
    while p > 2 * SUBARRAY:
        _, u = tile_design_nm(p)
        if u > best:
            best, pe_nm = u, p
        p /= 2
    ts_cm = max(max_tile_cm, 4 * SUBARRAY)
    best_cm = 0.0
    t = ts_cm
    while t > 4 * SUBARRAY:
        tiles, u = tile_design_cm(t)
        if u > best_cm:
            best_cm, ts_cm = u, t
        t /= 2
    tiles_cm, _ = tile_design_cm(ts_cm)
    pe_cm = ts_cm / 2
    p = ts_cm / 2
    while p > 2 * SUBARRAY:
        _, _, mat = pe_dup(p, ts_cm)
        u = mat / (tiles_cm * ts_cm * ts_cm) if tiles_cm else 0.0
        if u > best_cm:
            best_cm, pe_cm = u, p
        p /= 2
    pdr, pdc, _ = pe_dup(pe_cm, ts_cm)
    # SubArrayDup
    sdr, sdc = np.ones(n), np.ones(n)
    for i in range(n):
        if novel[i]:
            rows, cols, size = C[i] * rps, O[i] * cps, pe_nm
        else:
            rows, cols, size = C[i] * kk[i] * rps, O[i] * cps, pe_cm
        if rows <= size or cols <= size:
            nsa = math.ceil(size / SUBARRAY)
            sdr[i] = max(1, math.floor(nsa / math.ceil(rows / SUBARRAY)))
            sdc[i] = max(1, math.floor(nsa / math.ceil(cols / SUBARRAY)))
    # OverallEachLayer (layer-by-layer)
    tr = np.where(novel == 1, np.ceil(C * rps / pe_nm), np.ceil(C * kk * rps / ts_cm))
    tc = np.where(novel == 1, np.ceil(O * cps / pe_nm), np.ceil(O * cps / ts_cm))
    dup = pdr * pdc * sdr * sdc
    util = np.where(novel == 1,
                    dup * C * num_pe * rps * O * cps / (tr * tc * pe_nm * pe_nm * max(num_pe, 1)),
                    dup * C * kk * rps * O * cps / (tr * tc * ts_cm * ts_cm))
    # ChipInitialize: global bus width (halved until <= max) and global buffer cores (hold the largest IFM).
    bus = float(np.sum(np.where(novel == 1, pe_nm * math.ceil(math.sqrt(max(num_pe, 1))) * (1 + 1 / COLS_PER_ADC),
                                ts_cm * (1 + 1 / COLS_PER_ADC))))
    while bus > MAX_GLOBAL_BUS:
        bus /= 2
    max_input = float(np.max(g["ifm_h"].to_numpy() * g["ifm_w"].to_numpy() * C))
    cores = math.ceil(INPUT_BITS * max_input / GBUF_CORE_BITS)
    ntiles = (tr * tc).astype(int)
    return FloorPlan(novel=novel, num_tiles=ntiles, tiles_row=tr.astype(int), speedup=dup.astype(int),
                     utilization=util, num_pe_nm=num_pe, pe_size_nm=pe_nm, tile_size_cm=ts_cm, pe_size_cm=pe_cm,
                     total_tiles=int(ntiles.sum()), global_bus_width=bus, num_buffer_cores=cores)


def features(layers: pd.DataFrame, fp: FloorPlan | None = None) -> pd.DataFrame:
    """Per-layer model terms (all computable from geometry + floor plan; no NeuroSim output needed).

    Latency terms (proportional to clock cycles):
      ``gbuf_nm``, ``gbuf_cm``  global-buffer traffic × ceil(total tiles / layer tiles), novel / conventional
                (split by mapping kind: it halved the leave-one-model-out error on the three runs)
      ``array_nm``, ``array_cm`` bit-serial array reads: input vectors × 8 / speedup (novel / conventional)
      ``tbuf_nm``, ``tbuf_cm``   tile-buffer traffic: input vectors × 8 × rows held per tile / speedup
      ``post``  global accumulation + ReLU + pooling: input vectors × output channels
      ``const`` 1 per layer
    Dynamic-energy terms:
      ``e_adc``  ADC conversions: input vectors × 8 × used columns × row sub-array groups
      ``e_buf``  global-buffer + H-tree traffic bits
      ``e_tile`` tile-level traffic bits (IFM bits replicated over column tiles)
      ``e_out``  output values: input vectors × output channels
    """
    g = _geometry(layers)
    fp = fp or floorplan(layers)
    H, W, C, KH, KW, O, S, P = (g[c].to_numpy(float) for c in GEOM)
    # input vectors as NeuroSim counts them: int((H-K+1)/S) * int((W-K+1)/S), padding ignored
    niv = np.array([max(1, int((h - kh + 1) // s) * int((w - kw + 1) // s))
                    for h, w, kh, kw, s in zip(H, W, KH, KW, S)], dtype=float)
    rows = C * KH * KW
    bits_out = np.where(fp.novel == 1, C * INPUT_BITS * niv, rows * INPUT_BITS * niv)
    bits_in = O * INPUT_BITS * niv / np.where(P > 0, 4.0, 1.0)
    ratio = np.ceil(fp.total_tiles / fp.num_tiles)
    # NeuroSim also divides by the buffer parallelism min(#cores, ceil(bus/128)) (FloorPlan.buffer_parallelism);
    # including it made the leave-one-model-out error worse on the three runs, so it is left out.
    gbuf = (bits_out + bits_in) / GBUF_INTERFACE * ratio
    array = niv * INPUT_BITS / fp.speedup
    rows_tile = np.where(fp.novel == 1, np.minimum(C, fp.pe_size_nm), np.minimum(rows, fp.tile_size_cm))
    tbuf = niv * INPUT_BITS * rows_tile / fp.speedup / SUBARRAY
    post = niv * O / 1e3
    cols = O * COLS_PER_WEIGHT
    e_adc = niv * INPUT_BITS * cols * np.ceil(rows / SUBARRAY)
    e_buf = bits_out + bits_in
    e_tile = bits_out * np.ceil(cols / np.where(fp.novel == 1, fp.pe_size_nm, fp.tile_size_cm))
    e_out = niv * O
    nm = fp.novel
    return pd.DataFrame({"gbuf_nm": gbuf * nm, "gbuf_cm": gbuf * (1 - nm),
                         "array_nm": array * nm, "array_cm": array * (1 - nm),
                         "tbuf_nm": tbuf * nm, "tbuf_cm": tbuf * (1 - nm), "post": post, "const": np.ones(len(g)),
                         "e_adc": e_adc, "e_buf": e_buf, "e_tile": e_tile, "e_out": e_out,
                         "num_in_vectors": niv, "num_tiles": fp.num_tiles, "novel": fp.novel,
                         "other_tiles": fp.total_tiles - fp.num_tiles})


LATENCY_TERMS = ["gbuf_nm", "gbuf_cm", "array_nm", "array_cm", "tbuf_nm", "tbuf_cm", "post", "const"]
ENERGY_TERMS = ["e_adc", "e_buf", "e_tile", "e_out"]


@dataclass
class CimEstimator:
    """Fitted coefficients: latency (s per term unit), dynamic energy (J per term unit), tile leakage (W)."""
    lat_coef: dict = field(default_factory=dict)
    dyn_coef: dict = field(default_factory=dict)
    tile_leak_w: dict = field(default_factory=dict)   # {"novel": W, "conventional": W}
    calibrated_on: tuple = ()

    @classmethod
    def fit(cls, runs: dict[str, pd.DataFrame]) -> "CimEstimator":
        """Calibrate on NeuroSim per-layer tables ``{model: layers_df}`` (columns GEOM + latency/energy/leakage)."""
        if not runs:
            raise CimEstimatorError("CimEstimator.fit needs at least one NeuroSim run")
        F, y_lat, y_dyn, leak, novel = [], [], [], [], []
        for name, df in runs.items():
            for c in ("latency_s", "dynamic_energy_j", "leakage_energy_j"):
                if c not in df.columns:
                    raise CimEstimatorError(f"run {name!r}: column {c!r} missing")
            f = features(df)
            F.append(f)
            y_lat.append(df["latency_s"].to_numpy(float))
            y_dyn.append(df["dynamic_energy_j"].to_numpy(float))
            # per-tile leakage power as NeuroSim applies it: leakage energy / (latency × other tiles)
            with np.errstate(divide="ignore", invalid="ignore"):
                leak.append(df["leakage_energy_j"].to_numpy(float)
                            / (df["latency_s"].to_numpy(float) * f["other_tiles"].to_numpy(float)))
            novel.append(f["novel"].to_numpy())
        F = pd.concat(F, ignore_index=True)
        y_lat, y_dyn = np.concatenate(y_lat), np.concatenate(y_dyn)
        leak, novel = np.concatenate(leak), np.concatenate(novel)
        lat = nnls_relative(F[LATENCY_TERMS].to_numpy(float), y_lat)
        dyn = nnls_relative(F[ENERGY_TERMS].to_numpy(float), y_dyn)
        ok = np.isfinite(leak)
        tl = {"novel": float(np.median(leak[ok & (novel == 1)])) if np.any(ok & (novel == 1)) else float(np.median(leak[ok])),
              "conventional": float(np.median(leak[ok & (novel == 0)])) if np.any(ok & (novel == 0)) else float(np.median(leak[ok]))}
        return cls(dict(zip(LATENCY_TERMS, map(float, lat))), dict(zip(ENERGY_TERMS, map(float, dyn))), tl,
                   tuple(runs))

    def predict(self, layers: pd.DataFrame) -> pd.DataFrame:
        """Per-layer ``latency_s``, ``dynamic_energy_j``, ``leakage_energy_j``, ``energy_j`` of a whole network.

        ``layers`` must hold *all* conv/fc layers of the network in order (the floor plan — total tiles, bus
        width, buffer size — is network-wide).
        """
        if not self.lat_coef:
            raise CimEstimatorError("CimEstimator is not calibrated (use CimEstimator.fit)")
        f = features(layers)
        lat = f[LATENCY_TERMS].to_numpy(float) @ np.array([self.lat_coef[t] for t in LATENCY_TERMS])
        dyn = f[ENERGY_TERMS].to_numpy(float) @ np.array([self.dyn_coef[t] for t in ENERGY_TERMS])
        tl = np.where(f["novel"] == 1, self.tile_leak_w["novel"], self.tile_leak_w["conventional"])
        leak = lat * tl * f["other_tiles"].to_numpy(float)
        return pd.DataFrame({"latency_s": lat, "dynamic_energy_j": dyn, "leakage_energy_j": leak,
                             "energy_j": dyn + leak, "num_tiles": f["num_tiles"], "novel": f["novel"]})

    def params(self) -> dict:
        """JSON-ready description (for profile metadata)."""
        return {"latency_coef_s": self.lat_coef, "dynamic_coef_j": self.dyn_coef,
                "tile_leakage_w": self.tile_leak_w, "calibrated_on": list(self.calibrated_on),
                "fit": "non-negative least squares on relative error (numpy)"}


def error_table(runs: dict[str, pd.DataFrame], leave_one_out: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-layer and per-model relative errors of the estimator against NeuroSim.

    With ``leave_one_out`` each model is predicted by an estimator fitted on the *other* models; otherwise by
    the fit on all models.  Returns ``(per_layer, per_model)``; errors are ``predicted/actual − 1``.
    """
    per_layer, per_model = [], []
    full = None if leave_one_out else CimEstimator.fit(runs)
    for name, df in runs.items():
        est = CimEstimator.fit({k: v for k, v in runs.items() if k != name}) if leave_one_out else full
        pred = est.predict(df)
        act_e = df["dynamic_energy_j"].to_numpy(float) + df["leakage_energy_j"].to_numpy(float)
        lay = pd.DataFrame({"model": name, "layer": df["layer"].to_numpy(),
                            "latency_err": pred["latency_s"].to_numpy() / df["latency_s"].to_numpy(float) - 1,
                            "dynamic_err": pred["dynamic_energy_j"].to_numpy() / df["dynamic_energy_j"].to_numpy(float) - 1,
                            "energy_err": pred["energy_j"].to_numpy() / act_e - 1})
        per_layer.append(lay)
        per_model.append({"model": name, "calibrated_on": "+".join(est.calibrated_on),
                          "latency_total_err": pred["latency_s"].sum() / df["latency_s"].sum() - 1,
                          "energy_total_err": pred["energy_j"].sum() / act_e.sum() - 1,
                          "dynamic_total_err": pred["dynamic_energy_j"].sum() / df["dynamic_energy_j"].sum() - 1,
                          "leakage_total_err": pred["leakage_energy_j"].sum() / df["leakage_energy_j"].sum() - 1,
                          "latency_layer_median_abs_err": float(np.median(np.abs(lay["latency_err"]))),
                          "energy_layer_median_abs_err": float(np.median(np.abs(lay["energy_err"]))),
                          "latency_layer_max_abs_err": float(np.max(np.abs(lay["latency_err"]))),
                          "energy_layer_max_abs_err": float(np.max(np.abs(lay["energy_err"])))})
    return pd.concat(per_layer, ignore_index=True), pd.DataFrame(per_model)
