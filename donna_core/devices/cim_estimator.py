"""Analytical CIM (DNN+NeuroSim V1.3 default chip) cost model for networks NeuroSim was not run on.

NeuroSim's per-layer cost is a sum of terms whose *structure* (what scales with what, which ceil and which
divisor) is fixed by its source; only the per-cycle / per-bit / per-length constants come from circuit models
this project does not reproduce.  This module follows that split:

1. :func:`floorplan` reproduces the automatic floor plan (Chip.cpp ``ChipDesignInitialize``,
   ``ChipFloorPlan``, ``TileDesignCM/NM``, ``PEDesign``, ``SubArrayDup``, ``OverallEachLayer``) and the
   chip-level quantities of ``ChipInitialize`` (global bus width, global-buffer cores, the tile grid that sizes
   the global H-tree, the chip ReLU width).  Exact on the shipped runs (tested).
2. :func:`features` computes every per-layer term from geometry + floor plan.  Terms marked *exact* are cycle
   counts NeuroSim computes from integers alone (synchronous mode: one buffer line or one ADC sense per cycle);
   terms marked *fitted* are counts whose per-unit constant depends on circuit models (tile buffer widths and
   cores, H-tree wire delay, adder delays).
3. :class:`CimEstimator` fits each NeuroSim breakdown column (``buffer``, ``ic``, ``adc``, ``accum``, the rest of
   ``other``; latency and dynamic energy) on its own terms — non-negative least squares on relative error —
   so every coefficient has one meaning (``params()`` lists them).  Leakage = latency × per-tile leakage ×
   tiles of the *other* layers (NeuroSim's layer-by-layer rule); per-tile leakage = base + slope × sub-array
   rows a PE uses, fitted per mapping kind (the runs show exactly three levels per kind).

Latency terms (cycles; × the clock period, itself read off the runs as ADC latency / ADC cycles):

* global buffer (exact; Chip.cpp ``ChipCalculatePerformance``, Buffer.cpp ``Buffer::CalculateLatency``):
  read + write lines = (IFM bits + OFM bits) / 128 (interface width), IFM bits = weight rows × 8 × input
  vectors (÷ kernel height for novel-mapped layers), OFM bits = O × 8 × vectors (÷4 if a 2×2 pool follows);
  divided by min(#buffer cores, ceil(global bus width / 128)) and multiplied by ceil(total chip tiles / this
  layer's tiles) — the only term that depends on the network's size.
* tile buffers (fitted; Tile.cpp ``TileCalculatePerformance``): input buffer lines ∝ input vectors × rows held
  by a tile, output buffer lines ∝ input vectors × columns of a tile, *not* divided by weight duplication and
  *not* depending on the network's size (the same layer costs the same in a 21- and a 156-layer network);
  plus a PE-buffer part ∝ vectors × 8 / duplication (ProcessingUnit.cpp).
* interconnect: tile H-tree (fitted, same traffic as the tile buffers) and global H-tree (HTree.cpp
  ``HTree::CalculateLatency``, root-to-leaf): ceil(wire delay / clock) cycles per read × ceil((IFM+OFM bits) /
  global bus width) reads.  The wire length in tile sides is exact — 2·(2^s − 1) + main bus, with
  s = ceil(log2(max(grid rows, grid cols))) and main bus = min(grid cols − x_c, x_c), x_c = floor(log2(min(rows,
  cols))) — the delay per tile side is fitted per tile kind (novel / conventional tiles differ in size).
* ADC (exact): one sense cycle per muxed column (8) per input bit (8) per input vector, divided by the weight
  duplication as Tile.cpp ``TileCalculatePerformance`` divides ``coreLatencyADC``; matches the runs' ADC
  latency to 4e-6 (tested).
* accumulation (fitted; ProcessingUnit/Tile adder trees, Chip.cpp ``Gaccumulation``): vectors × 8 / duplication
  × (1, adder-tree depth ceil(log2(sub-arrays summed))), the novel tile's 9-PE adder per input bit (not divided
  by duplication), and the global accumulation of row tiles ∝ columns × vectors × ceil(log2(row tiles)).
* rest of "other": chip ReLU (exact: ceil(vectors × O / ReLU units), units = max(conventional tile size,
  ceil(sqrt(#novel PEs)) × novel PE size) / 8) and max pooling (fitted, ∝ vectors when a pool follows).

Dynamic energy terms (per-bit / per-conversion constants fitted; data dependence through the input 1-bit
*density* d, per layer): global buffer bits; global H-tree bit·lengths (bus width × reads × wire length);
tile input/output traffic summed over tiles; ADC conversions (vectors × 8 × columns × row sub-arrays) and
conversions × d; array energy ∝ MACs × d; ReLU outputs; global accumulation.  d defaults to the density of the
shipped traces (first layer: the U[-1,1) image; other layers: ReLU outputs), see :attr:`CimEstimator.default_density`.

Activation×activation matmuls (attention ``QKᵀ`` and ``AV``) are not weight-stationary; this module does not
model them (``device_profiles`` states its assumption).  NeuroSim V1.3's source was read, not copied.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .fitting import nnls


class CimEstimatorError(ValueError):
    """Bad input to the CIM estimator (geometry, calibration data, densities)."""


# NeuroSim V1.3 Param.cpp defaults used by the floor plan and the exact terms.
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
    grid_rows: int = 0             # chip tile grid (Chip.cpp ChipFloorPlan: numTileRow, numTileCol)
    grid_cols: int = 0

    @property
    def buffer_parallelism(self) -> float:
        """Chip.cpp ChipCalculatePerformance: global-buffer latency divisor min(#cores, ceil(bus / 128))."""
        return float(min(self.num_buffer_cores, math.ceil(self.global_bus_width / GBUF_INTERFACE)))

    @property
    def htree_length(self) -> float:
        """Root-to-leaf global H-tree wire length in tile sides (HTree.cpp Initialize + CalculateLatency).

        NeuroSim sizes tiles square (Tile.cpp TileCalculateArea: height = sqrt(area)), so every stage's length is
        a power of two of the tile side: vertical + horizontal stages sum to 2·(2^s − 1), plus the main bus."""
        r, c = self.grid_rows, self.grid_cols
        if r < 1 or c < 1:
            return 0.0
        s = math.ceil(math.log2(max(r, c))) if max(r, c) > 1 else 0
        xc = math.floor(math.log2(min(r, c)))
        if c - xc < 1:                 # over-routing constraint (orc = 1)
            xc -= 1
        return float(2 * (2 ** s - 1) + min(c - xc, xc))

    @property
    def relu_units(self) -> int:
        """Chip.cpp ChipInitialize: GreLu width = ceil(max(CM tile, ceil(sqrt(#NM PEs))·NM PE) / numColMuxed)."""
        widest = max(self.tile_size_cm, math.ceil(math.sqrt(max(self.num_pe_nm, 1))) * self.pe_size_nm)
        return int(math.ceil(widest / COLS_PER_ADC))


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
    total = int(ntiles.sum())
    # ChipFloorPlan: numTileRow = ceil(sqrt(total)), numTileCol = ceil(total / numTileRow)
    grid_rows = math.ceil(math.sqrt(total))
    grid_cols = math.ceil(total / grid_rows)
    return FloorPlan(novel=novel, num_tiles=ntiles, tiles_row=tr.astype(int), speedup=dup.astype(int),
                     utilization=util, num_pe_nm=num_pe, pe_size_nm=pe_nm, tile_size_cm=ts_cm, pe_size_cm=pe_cm,
                     total_tiles=total, global_bus_width=bus, num_buffer_cores=cores,
                     grid_rows=grid_rows, grid_cols=grid_cols)


def features(layers: pd.DataFrame, fp: FloorPlan | None = None, density=None) -> pd.DataFrame:
    """Per-layer terms of the model (geometry + floor plan + input density; no NeuroSim output needed).

    Columns: the exact cycle counts ``gbuf_cycles``, ``adc_cycles``, ``relu_cycles``; the fitted latency terms of
    :data:`LATENCY_MODEL` and energy terms of :data:`ENERGY_MODEL`; bookkeeping (``num_in_vectors``,
    ``num_tiles``, ``novel``, ``other_tiles``, ``density``, ``htree_length``).  ``density`` = input 1-bit
    density per layer (array) or one number for all layers; default 0.5 (see :meth:`CimEstimator.predict`).
    """
    g = _geometry(layers)
    fp = fp or floorplan(layers)
    H, W, C, KH, KW, O, S, P = (g[c].to_numpy(float) for c in GEOM)
    n = len(g)
    d = _density_array(density if density is not None else 0.5, n)
    nm = fp.novel.astype(float)
    cm = 1.0 - nm
    spd = fp.speedup.astype(float)
    # input vectors as NeuroSim counts them: int((H-K+1)/S) * int((W-K+1)/S), padding ignored
    niv = np.array([max(1, int((h - kh + 1) // s) * int((w - kw + 1) // s))
                    for h, w, kh, kw, s in zip(H, W, KH, KW, S)], dtype=float)
    rows = C * KH * KW
    cols = O * COLS_PER_WEIGHT
    # Chip.cpp ChipCalculatePerformance: numBitToLoadOut (IFM to tiles) / numBitToLoadIn (OFM back)
    bits_out = np.where(nm == 1, rows / KH, rows) * INPUT_BITS * niv
    bits_in = O * INPUT_BITS * niv / np.where(P > 0, 4.0, 1.0)
    gbuf = (bits_out + bits_in) / GBUF_INTERFACE / fp.buffer_parallelism * np.ceil(fp.total_tiles / fp.num_tiles)
    greads = np.ceil((bits_out + bits_in) / fp.global_bus_width)
    L = fp.htree_length
    # what one tile holds (the largest tile of the layer: NeuroSim takes the max over tiles)
    rows_tile = np.where(nm == 1, np.minimum(C, fp.pe_size_nm), np.minimum(rows, fp.tile_size_cm))
    cols_tile = np.where(nm == 1, np.minimum(cols, fp.pe_size_nm), np.minimum(cols, fp.tile_size_cm))
    depth = np.ceil(np.log2(np.ceil(rows_tile / SUBARRAY)))          # adder-tree levels over sub-arrays
    per_bit = niv * INPUT_BITS / spd                                  # bit-serial steps per duplicate
    row_tiles = fp.tiles_row.astype(float)
    col_tiles = np.ceil(cols / np.where(nm == 1, fp.pe_size_nm, fp.tile_size_cm))
    gacc = cols * niv * np.ceil(np.log2(row_tiles))
    conv = niv * INPUT_BITS * cols * np.where(nm == 1, np.ceil(C / SUBARRAY) * KH * KW, np.ceil(rows / SUBARRAY))
    macs = niv * rows * O
    f = {
        # exact cycle counts
        "gbuf_cycles": gbuf, "adc_cycles": niv * INPUT_BITS * COLS_PER_ADC / spd,
        "relu_cycles": np.ceil(niv * O / fp.relu_units),
        # tile buffers: input lines ∝ vectors × rows held, output lines ∝ vectors × columns, PE buffers / dup
        "tbuf_rows_nm": niv * rows_tile * nm, "tbuf_rows_cm": niv * rows_tile * cm,
        "tbuf_cols_nm": niv * cols_tile * nm, "tbuf_cols_cm": niv * cols_tile * cm,
        "tbuf_pe_nm": per_bit * nm, "tbuf_pe_cm": per_bit * cm,
        # interconnect: tile H-tree traffic; global H-tree reads × wire length (ceil'd per read in predict)
        "ict_rows_nm": niv * rows_tile * nm, "ict_rows_cm": niv * rows_tile * cm,
        "ict_cols_nm": niv * cols_tile * nm, "ict_cols_cm": niv * cols_tile * cm,
        "icg_nm": greads * L * nm, "icg_cm": greads * L * cm,
        # accumulation
        "acc_pe": per_bit, "acc_depth": per_bit * depth, "acc_tile_nm": niv * INPUT_BITS * nm, "acc_global": gacc,
        # max pooling
        "pool_vec": niv * (P > 0),
        # dynamic energy
        "e_gbuf_bits": bits_out + bits_in,
        "e_icg_nm": greads * fp.global_bus_width * L * nm, "e_icg_cm": greads * fp.global_bus_width * L * cm,
        "e_tile_in_nm": niv * rows * col_tiles * nm, "e_tile_in_cm": niv * rows * col_tiles * cm,
        "e_tile_out_nm": niv * O * row_tiles * nm, "e_tile_out_cm": niv * O * row_tiles * cm,
        "e_conv": conv, "e_conv_d": conv * d, "e_macs_d": macs * d, "e_relu": niv * O, "e_gacc": gacc,
        # bookkeeping
        "greads": greads, "htree_length": np.full(n, L), "num_in_vectors": niv, "num_tiles": fp.num_tiles,
        "novel": fp.novel, "other_tiles": fp.total_tiles - fp.num_tiles, "density": d,
        "tile_cells": np.where(nm == 1, max(fp.num_pe_nm, 1) * fp.pe_size_nm ** 2, fp.tile_size_cm ** 2),
        # sub-array rows a PE of this layer uses: tile leakage grows with it (the runs: 11.6/12.2/13.5 µW for
        # 1/2/4 on conventional tiles, 28.4/29.8/32.6 µW on novel tiles)
        "pe_subrows": np.ceil(np.minimum(rows_tile, np.where(nm == 1, fp.pe_size_nm, fp.pe_size_cm)) / SUBARRAY),
    }
    return pd.DataFrame(f)


def _density_array(density, n: int) -> np.ndarray:
    d = np.asarray(density, dtype=float)
    if d.ndim == 0:
        d = np.full(n, float(d))
    if d.shape != (n,):
        raise CimEstimatorError(f"density: need one number or {n} per-layer values, got shape {d.shape}")
    if not np.all(np.isfinite(d)) or np.any((d < 0) | (d > 1)):
        i = int(np.argmax(~np.isfinite(d) | (d < 0) | (d > 1)))
        raise CimEstimatorError(f"density: layer {i + 1} has {d[i]}, must be a fraction in [0, 1]")
    return d


# NeuroSim breakdown column -> (exact terms with coefficient 1, fitted terms).  Latency in cycles.
LATENCY_MODEL = {
    "buffer": (["gbuf_cycles"], ["tbuf_rows_nm", "tbuf_rows_cm", "tbuf_cols_nm", "tbuf_cols_cm",
                                 "tbuf_pe_nm", "tbuf_pe_cm"]),
    "ic": ([], ["ict_rows_nm", "ict_rows_cm", "ict_cols_nm", "ict_cols_cm", "icg_nm", "icg_cm"]),
    "adc": (["adc_cycles"], []),
    "accum": ([], ["acc_pe", "acc_depth", "acc_tile_nm", "acc_global"]),
    "rest": (["relu_cycles"], ["pool_vec"]),
}
ENERGY_MODEL = {
    "buffer": ["e_gbuf_bits", "e_tile_in_nm", "e_tile_in_cm", "e_tile_out_nm", "e_tile_out_cm"],
    "ic": ["e_icg_nm", "e_icg_cm", "e_tile_in_nm", "e_tile_in_cm", "e_tile_out_nm", "e_tile_out_cm"],
    "adc": ["e_conv", "e_conv_d", "e_macs_d"],
    "accum": ["e_conv", "e_gacc"],
    "rest": ["e_conv", "e_conv_d", "e_macs_d", "e_relu"],
}
MEANING = {
    "tbuf_rows_nm": "tile input-buffer cycles per (input vector × row held), novel tile",
    "tbuf_rows_cm": "tile input-buffer cycles per (input vector × row held), conventional tile",
    "tbuf_cols_nm": "tile output-buffer cycles per (input vector × column), novel tile",
    "tbuf_cols_cm": "tile output-buffer cycles per (input vector × column), conventional tile",
    "tbuf_pe_nm": "PE-buffer cycles per bit-serial step (÷ duplication), novel",
    "tbuf_pe_cm": "PE-buffer cycles per bit-serial step (÷ duplication), conventional",
    "ict_rows_nm": "tile H-tree cycles per (input vector × row held), novel",
    "ict_rows_cm": "tile H-tree cycles per (input vector × row held), conventional",
    "ict_cols_nm": "tile H-tree cycles per (input vector × column), novel",
    "ict_cols_cm": "tile H-tree cycles per (input vector × column), conventional",
    "icg_nm": "global H-tree wire delay per novel-tile side, in clock cycles (ceil'd per read)",
    "icg_cm": "global H-tree wire delay per conventional-tile side, in clock cycles (ceil'd per read)",
    "acc_pe": "PE/tile shift-add cycles per bit-serial step",
    "acc_depth": "extra cycles per step per adder-tree level over sub-arrays",
    "acc_tile_nm": "novel tile's 9-PE adder cycles per input bit (not ÷ duplication)",
    "acc_global": "global accumulation cycles per (column × vector × level over row tiles)",
    "pool_vec": "max-pool cycles per input vector of a pooled layer",
    "e_gbuf_bits": "global-buffer energy per bit moved (J)",
    "e_icg_nm": "global H-tree energy per bit per novel-tile side (J)",
    "e_icg_cm": "global H-tree energy per bit per conventional-tile side (J)",
    "e_tile_in_nm": "tile input traffic energy per (vector × weight row × column tile), novel (J)",
    "e_tile_in_cm": "tile input traffic energy per (vector × weight row × column tile), conventional (J)",
    "e_tile_out_nm": "tile output traffic energy per (vector × output × row tile), novel (J)",
    "e_tile_out_cm": "tile output traffic energy per (vector × output × row tile), conventional (J)",
    "e_conv": "energy per ADC conversion, data-independent part (J)",
    "e_conv_d": "energy per ADC conversion per unit input 1-bit density (J)",
    "e_macs_d": "array read energy per MAC per unit input 1-bit density (J)",
    "e_relu": "ReLU energy per output value (J)",
    "e_gacc": "global accumulation energy per (column × vector × level) (J)",
}
COMPONENT_COLUMNS = {"buffer": ("buffer_latency_s", "buffer_dynamic_energy_j"),
                     "ic": ("ic_latency_s", "ic_dynamic_energy_j"),
                     "adc": ("adc_latency_s", "adc_dynamic_energy_j"),
                     "accum": ("accum_latency_s", "accum_dynamic_energy_j")}


def component_targets(run: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """NeuroSim breakdown per component: ``{name: (latency_s, dynamic_energy_j)}``; ``rest`` = other − buffer − ic.

    NeuroSim's ``latency = adc + accum + other`` and ``other ⊇ buffer + ic`` (Chip.cpp adds the buffer and
    interconnect latencies to ``coreLatencyOther``); same for dynamic energy."""
    need = [c for pair in COMPONENT_COLUMNS.values() for c in pair] + ["other_latency_s", "other_dynamic_energy_j"]
    missing = [c for c in need if c not in run.columns]
    if missing:
        raise CimEstimatorError(f"NeuroSim run lacks breakdown column(s) {missing}")
    out = {k: (run[a].to_numpy(float), run[b].to_numpy(float)) for k, (a, b) in COMPONENT_COLUMNS.items()}
    out["rest"] = (run["other_latency_s"].to_numpy(float) - out["buffer"][0] - out["ic"][0],
                   run["other_dynamic_energy_j"].to_numpy(float) - out["buffer"][1] - out["ic"][1])
    return out


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
    return _density_array([vals[i] for i in range(1, len(vals) + 1)], len(vals))


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


def _run_density(name: str, df: pd.DataFrame) -> np.ndarray:
    from . import neurosim
    if "density" not in df.columns and name in neurosim.RUNS:
        d = load_input_density(name)          # a shipped run passed without its trace statistics
        if len(d) == len(df):
            return d
    if "density" not in df.columns:
        raise CimEstimatorError(f"run {name!r}: column 'density' (input 1-bit density per layer) missing; "
                                "see shipped_runs() / load_input_density()")
    return _density_array(df["density"].to_numpy(float), len(df))


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
        return cls._fit_rows({name: (df, np.ones(len(df), bool)) for name, df in runs.items()})

    @classmethod
    def _fit_rows(cls, runs: dict[str, tuple[pd.DataFrame, np.ndarray]], shared: bool | None = None
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
            d = _run_density(name, df)
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
        return _density_array(density, n)

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
        held = {name: pick(features(df, density=_run_density(name, df)), _geometry(df))
                for name, df in runs.items()}
        est = CimEstimator._fit_rows({n: (df, ~held[n]) for n, df in runs.items() if (~held[n]).any()})
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
