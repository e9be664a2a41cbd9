"""The CIM estimator's per-layer terms: geometry + floor plan + input density -> cycle counts and energy terms.


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

import numpy as np
import pandas as pd

from .cim_floorplan import (COLS_PER_ADC, COLS_PER_WEIGHT, GBUF_INTERFACE, GEOM, INPUT_BITS, SUBARRAY,
                            CimEstimatorError, FloorPlan, floorplan, geometry)


def features(layers: pd.DataFrame, fp: FloorPlan | None = None, density=None) -> pd.DataFrame:
    """Per-layer terms of the model (geometry + floor plan + input density; no NeuroSim output needed).

    Columns: the exact cycle counts ``gbuf_cycles``, ``adc_cycles``, ``relu_cycles``; the fitted latency terms of
    :data:`LATENCY_MODEL` and energy terms of :data:`ENERGY_MODEL`; bookkeeping (``num_in_vectors``,
    ``num_tiles``, ``novel``, ``other_tiles``, ``density``, ``htree_length``).  ``density`` = input 1-bit
    density per layer (array) or one number for all layers; default 0.5 (see :meth:`CimEstimator.predict`).
    """
    g = geometry(layers)
    fp = fp or floorplan(layers)
    H, W, C, KH, KW, O, S, P = (g[c].to_numpy(float) for c in GEOM)
    n = len(g)
    d = density_array(density if density is not None else 0.5, n)
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


def density_array(density, n: int) -> np.ndarray:
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
