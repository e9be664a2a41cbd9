"""NeuroSim V1.3's automatic floor plan (default chip, novel mapping on, layer-by-layer) from layer geometry.

Reproduces Chip.cpp ``ChipDesignInitialize``, ``ChipFloorPlan``, ``TileDesignCM/NM``, ``PEDesign``,
``SubArrayDup``, ``OverallEachLayer`` and the chip-level quantities of ``ChipInitialize`` (global bus width,
global-buffer cores, the tile grid that sizes the global H-tree, the chip ReLU width).  Exact on the shipped runs
(tested).  The per-layer terms built on it are in :mod:`.cim_terms`, the fitted estimator in :mod:`.cim_estimator`.
NeuroSim V1.3's source was read, not copied.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd


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


def geometry(layers: pd.DataFrame) -> pd.DataFrame:
    """The ``GEOM`` columns as integers, checked (positive sizes, kernel within the input map)."""
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


def _best_halving(start: float, floor: float, utilisation, best: float) -> tuple[float, float]:
    """NeuroSim's size search: try ``start``, ``start / 2``, ... while above ``floor``; keep the first size whose
    ``utilisation`` beats ``best`` and every later one that beats it again (strictly, so ties keep the larger
    size). Returns (size, its utilisation); ``start`` unchanged when none beats ``best``."""
    size, p = start, start
    while p > floor:
        u = utilisation(p)
        if u > best:
            best, size = u, p
        p /= 2
    return size, best


def floorplan(layers: pd.DataFrame) -> FloorPlan:
    """NeuroSim V1.3's floor plan (novel mapping on, layer-by-layer, defaults) from geometry columns ``GEOM``."""
    g = geometry(layers)
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
    pe_nm, _ = _best_halving(max(max_pe_nm, 2 * SUBARRAY), 2 * SUBARRAY, lambda p: tile_design_nm(p)[1], 0.0)
    ts_cm, best_cm = _best_halving(max(max_tile_cm, 4 * SUBARRAY), 4 * SUBARRAY, lambda t: tile_design_cm(t)[1], 0.0)
    tiles_cm, _ = tile_design_cm(ts_cm)
    pe_cm, _ = _best_halving(ts_cm / 2, 2 * SUBARRAY,
                             lambda p: pe_dup(p, ts_cm)[2] / (tiles_cm * ts_cm * ts_cm) if tiles_cm else 0.0,
                             best_cm)
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

