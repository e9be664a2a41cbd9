"""DNN+NeuroSim V1.3 as the CIM device's source: log parser, layer-table exporter, mapping onto units.

* :func:`parse_log` reads NeuroSim's standard output (the "Estimation of Layer N" blocks, plus the floor-plan
  tables and the chip summary) into a per-layer DataFrame whose columns are the ones of the shipped
  ``neurosim_runs/<model>_layers.csv``.
* :func:`load_layers` loads such a per-layer CSV and validates it.
* :func:`network_csv` writes any model's conv/fc table in NeuroSim's ``NetWork_<model>.csv`` format
  (8 columns, no header: IFM H, IFM W, IFM C, kernel H, kernel W, OFM C, pooling-follows flag, stride).
* :func:`cim_layer_costs` maps NeuroSim rows onto the project's ``layer`` units one to one (geometry checked row
  by row) and returns per-unit time and energy.

CIM energy of a layer (the choice this project makes, stated in every CIM profile's metadata):
``energy = dynamic energy + leakage energy`` exactly as NeuroSim reports them for the layer, where NeuroSim's
layer-by-layer leakage energy is ``layer latency x leakage power of the tiles of all *other* layers`` (the
chip is powered while one layer computes).  Ops NeuroSim does not simulate (residual adds, pooling that is not
fused into a conv row, softmax, layer norm, ...) are assumed to cost nothing on the CIM device.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..config import NEUROSIM_RUNS


class NeuroSimError(ValueError):
    """A NeuroSim log, layer table or unit mapping is malformed or inconsistent."""


#: NeuroSim V1.3 default parameters behind the shipped runs (neurosim_runs/README.md, Param.cpp @ 388f421).
NEUROSIM_DEFAULTS = {
    "version": "DNN+NeuroSim V1.3",
    "commit": "388f421204cd97b0b980f79ce92d4b8c6e4c3d44",
    "technode_nm": 22,
    "memcell": "RRAM 1T1R",
    "resistance_on_ohm": 6e3,
    "resistance_off_ohm": 9e5,
    "read_voltage_v": 0.5,
    "cell_bits": 2,
    "weight_bits": 8,
    "input_bits": 8,
    "subarray": "128x128",
    "columns_per_adc": 8,
    "adc": "5-bit MLSA (levelOutput 32)",
    "novel_mapping": True,
    "pipeline": False,
    "mode": "layer-by-layer (non-pipelined), synchronous clock",
    "validated_calibration": True,
}

# Column order of the shipped per-layer CSVs (the first eleven are required).
GEOMETRY_COLUMNS = ["ifm_h", "ifm_w", "ifm_c", "k_h", "k_w", "ofm_c", "stride"]
REQUIRED_COLUMNS = ["layer", *GEOMETRY_COLUMNS, "latency_s", "dynamic_energy_j", "leakage_energy_j"]

_TIME = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "ps": 1e-12}
_ENERGY = {"J": 1.0, "mJ": 1e-3, "uJ": 1e-6, "nJ": 1e-9, "pJ": 1e-12, "fJ": 1e-15}
_POWER = {"W": 1.0, "mW": 1e-3, "uW": 1e-6, "nW": 1e-9}

# "layerN's <field> is: <value><unit>" inside an Estimation block -> our column, unit table.
_LAYER_FIELDS = {
    "readLatency": ("latency_s", _TIME),
    "readDynamicEnergy": ("dynamic_energy_j", _ENERGY),
    "leakagePower": ("leakage_power_w", _POWER),
    "leakageEnergy": ("leakage_energy_j", _ENERGY),
    "buffer latency": ("buffer_latency_s", _TIME),
    "buffer readDynamicEnergy": ("buffer_dynamic_energy_j", _ENERGY),
    "ic latency": ("ic_latency_s", _TIME),
    "ic readDynamicEnergy": ("ic_dynamic_energy_j", _ENERGY),
}
# "----------- ADC (...) readLatency is : <v><unit>" breakdown lines.
_BREAKDOWN = {
    ("ADC", "readLatency"): ("adc_latency_s", _TIME),
    ("Accumulation", "readLatency"): ("accum_latency_s", _TIME),
    ("Other", "readLatency"): ("other_latency_s", _TIME),
    ("ADC", "readDynamicEnergy"): ("adc_dynamic_energy_j", _ENERGY),
    ("Accumulation", "readDynamicEnergy"): ("accum_dynamic_energy_j", _ENERGY),
    ("Other", "readDynamicEnergy"): ("other_dynamic_energy_j", _ENERGY),
}
_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_RE_BLOCK = re.compile(r"^-+\s*Estimation of Layer\s+(\d+)\s*-+\s*$")
_RE_FIELD = re.compile(r"^layer(\d+)'s (.+?) is:\s*" + _NUM + r"\s*([a-zA-Z]+)\s*$")
_RE_BREAK = re.compile(r"^-+\s*(ADC|Accumulation|Other)\b.*?\b(readLatency|readDynamicEnergy) is\s*:\s*"
                       + _NUM + r"\s*([a-zA-Z]+)\s*$")
_RE_TABLE_ROW = re.compile(r"^layer(\d+):\s*" + _NUM + r"\s*$")
_FLOORPLAN_TABLES = {"# of tile used for each layer": "num_tiles", "Speed-up of each layer": "speedup",
                     "Utilization of each layer": "utilization"}
_SUMMARY = {
    "Chip clock period is": ("clock_period_s", _TIME),
    "Chip layer-by-layer readLatency (per image) is": ("total_latency_s", _TIME),
    "Chip total readDynamicEnergy is": ("total_dynamic_energy_j", _ENERGY),
    "Chip total leakage Energy is": ("total_leakage_energy_j", _ENERGY),
    "Chip total leakage Power is": ("total_leakage_power_w", _POWER),
}


def _convert(value: str, unit: str, table: Mapping[str, float], where: str) -> float:
    if unit not in table:
        raise NeuroSimError(f"{where}: unknown unit {unit!r} (expected one of {sorted(table)})")
    return float(value) * table[unit]


def parse_log(text: str, source: str = "<log>") -> pd.DataFrame:
    """Parse NeuroSim V1.3 standard output into one row per layer.

    Columns: ``layer`` (1-based), ``latency_s``, ``dynamic_energy_j``, ``leakage_power_w``,
    ``leakage_energy_j``, ``buffer_*``, ``ic_*``, ``adc_*``, ``accum_*``, ``other_*`` (seconds / joules / watts)
    and, when the log contains the floor-plan tables, ``num_tiles``, ``speedup``, ``utilization``.
    Chip-level summary values (clock period, totals) go to ``df.attrs["summary"]``.
    Raises :class:`NeuroSimError` naming ``source`` and the line when the log is malformed.
    """
    layers: dict[int, dict[str, float]] = {}
    tables: dict[str, dict[int, float]] = {}
    summary: dict[str, float] = {}
    current: int | None = None
    table: str | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        where = f"{source}:{lineno}"
        m = _RE_BLOCK.match(line)
        if m:
            current = int(m.group(1))
            if current in layers:
                raise NeuroSimError(f"{where}: 'Estimation of Layer {current}' appears twice")
            layers[current] = {}
            table = None
            continue
        if line.startswith("---") and not _RE_BREAK.match(line):
            # Section headers end a floor-plan table and (for the summary) the last layer block.
            table = next((col for key, col in _FLOORPLAN_TABLES.items() if key in line), None)
            if "Summary" in line or "Hardware Performance Done" in line:
                current = None
            continue
        if table is not None:
            m = _RE_TABLE_ROW.match(line)
            if m:
                tables.setdefault(table, {})[int(m.group(1))] = float(m.group(2))
                continue
        if current is not None:
            m = _RE_FIELD.match(line)
            if m:
                n, field, value, unit = int(m.group(1)), m.group(2), m.group(3), m.group(4)
                if n != current:
                    raise NeuroSimError(f"{where}: value for layer {n} inside the block of layer {current}")
                if field in _LAYER_FIELDS:
                    col, units = _LAYER_FIELDS[field]
                    layers[current][col] = _convert(value, unit, units, where)
                continue
            m = _RE_BREAK.match(line)
            if m:
                col, units = _BREAKDOWN[(m.group(1), m.group(2))]
                layers[current][col] = _convert(m.group(3), m.group(4), units, where)
                continue
        else:
            for key, (col, units) in _SUMMARY.items():
                if line.startswith(key):
                    m = re.search(r":\s*" + _NUM + r"\s*([a-zA-Z]+)\s*$", line)
                    if not m:
                        raise NeuroSimError(f"{where}: cannot read the number in {line!r}")
                    summary[col] = _convert(m.group(1), m.group(2), units, where)
    if not layers:
        raise NeuroSimError(f"{source}: no 'Estimation of Layer N' block found — is this NeuroSim's stdout?")
    numbers = sorted(layers)
    if numbers != list(range(1, len(numbers) + 1)):
        raise NeuroSimError(f"{source}: layer blocks are not numbered 1..N (got {numbers[:10]}...)")
    for n, vals in layers.items():
        missing = [c for c in ("latency_s", "dynamic_energy_j", "leakage_energy_j") if c not in vals]
        if missing:
            raise NeuroSimError(f"{source}: layer {n} has no {', '.join(missing)} (truncated log?)")
    df = pd.DataFrame([{"layer": n, **layers[n]} for n in numbers])
    for col, values in tables.items():
        if sorted(values) != numbers:
            raise NeuroSimError(f"{source}: floor-plan table '{col}' lists layers {sorted(values)[:5]}..., "
                                f"expected 1..{len(numbers)}")
        df[col] = [values[n] for n in numbers]
    df.attrs["summary"] = summary
    return df


def parse_log_file(path: str | Path) -> pd.DataFrame:
    """:func:`parse_log` on a file (e.g. ``neurosim_runs/vgg8_summary.txt``)."""
    path = Path(path)
    return parse_log(path.read_text(encoding="utf-8", errors="replace"), source=str(path))


def load_layers(path: str | Path) -> pd.DataFrame:
    """Load a per-layer NeuroSim CSV (``neurosim_runs/<model>_layers.csv``) and validate it."""
    path = Path(path)
    if not path.exists():
        raise NeuroSimError(f"{path}: no such NeuroSim layer table")
    df = pd.read_csv(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise NeuroSimError(f"{path}: missing column(s) {missing}")
    if list(df["layer"]) != list(range(1, len(df) + 1)):
        raise NeuroSimError(f"{path}: column 'layer' must be 1..N in order")
    for col in ["latency_s", "dynamic_energy_j", "leakage_energy_j"]:
        bad = ~np.isfinite(df[col].to_numpy(float)) | (df[col].to_numpy(float) < 0)
        if bad.any():
            raise NeuroSimError(f"{path}: column {col!r} has a negative or non-finite value "
                                f"in layer {int(df['layer'][bad].iloc[0])}")
    return df


def run_dir() -> Path:
    """The project's NeuroSim source data folder (``neurosim_runs/`` at the repository root)."""
    return NEUROSIM_RUNS


#: models with a shipped NeuroSim run -> (layer CSV, log, NetWork table) file names inside :func:`run_dir`.
RUNS = {
    "vgg8": ("vgg8_layers.csv", "vgg8_summary.txt", "NetWork_VGG8.csv"),
    "vgg19": ("vgg19_layers.csv", "vgg19_summary.txt", "NetWork_VGG19.csv"),
    "resnet152": ("resnet152_layers.csv", "resnet152_summary.txt", "NetWork_ResNet152.csv"),
}


def load_run(model: str) -> pd.DataFrame:
    """The shipped NeuroSim per-layer table of ``model`` (one of :data:`RUNS`)."""
    if model not in RUNS:
        raise NeuroSimError(f"no NeuroSim run for model {model!r}; runs exist for {sorted(RUNS)}")
    return load_layers(run_dir() / RUNS[model][0])


def read_network_csv(text: str, source: str = "<NetWork csv>") -> pd.DataFrame:
    """Parse a NeuroSim ``NetWork_<model>.csv`` (8 columns, no header) into named integer columns."""
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",") if p.strip() != ""]
        if len(parts) != 8:
            raise NeuroSimError(f"{source}:{lineno}: expected 8 values, got {len(parts)}: {line!r}")
        try:
            rows.append([int(float(p)) for p in parts])
        except ValueError:
            raise NeuroSimError(f"{source}:{lineno}: non-numeric value in {line!r}") from None
    return pd.DataFrame(rows, columns=["ifm_h", "ifm_w", "ifm_c", "k_h", "k_w", "ofm_c", "pool", "stride"])


# ---------------------------------------------------------------------------------------------------------
# Units (duck-typed: objects with attributes or mappings with keys in_h, in_w, in_c, k_h, k_w, out_c, stride)
# ---------------------------------------------------------------------------------------------------------
_UNIT_GEOM = ["in_h", "in_w", "in_c", "k_h", "k_w", "out_c", "stride"]


def _get(unit, key):
    if isinstance(unit, Mapping):
        return unit.get(key)
    return getattr(unit, key, None)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (v is pd.NA)


def unit_geometry(units: Iterable) -> pd.DataFrame:
    """Geometry table (in_h, in_w, in_c, k_h, k_w, out_c, stride, name, kind) of units that have one.

    Accepts a DataFrame with those columns, or a sequence of dicts / objects (e.g. ``donna_core.profiling.units.Unit``).
    Units without geometry (no conv/linear, e.g. attention) are dropped; ``unit_index`` keeps their position.
    A ``linear`` unit whose ``macs`` exceed in×out features runs on T = macs/(in×out) tokens and is given a T×1
    input map (NeuroSim then counts T input vectors); CNN classifiers (T = 1) keep NeuroSim's 1×1 convention.
    """
    if isinstance(units, pd.DataFrame):
        records = units.to_dict("records")
    else:
        records = list(units)
    rows = []
    for i, u in enumerate(records):
        geom = [_get(u, k) for k in _UNIT_GEOM]
        if all(_missing(v) for v in geom):
            continue
        if any(_missing(v) for v in geom):
            name = _get(u, "name") or _get(u, "unit")
            raise NeuroSimError(f"unit {i} ({name}): incomplete geometry {dict(zip(_UNIT_GEOM, geom))}")
        g = {k: int(v) for k, v in zip(_UNIT_GEOM, geom)}
        macs = _get(u, "macs")
        if _get(u, "kind") == "linear" and not _missing(macs) and int(macs) > g["in_c"] * g["out_c"]:
            # a linear layer applied to T tokens (transformers): T input vectors = a 1x1 conv over a Tx1 map
            g["in_h"], g["in_w"] = int(macs) // (g["in_c"] * g["out_c"]), 1
        rows.append({"unit_index": i, "name": _get(u, "name") or _get(u, "unit"), "kind": _get(u, "kind"), **g})
    return pd.DataFrame(rows, columns=["unit_index", "name", "kind", *_UNIT_GEOM])


def infer_pool_flags(geom: pd.DataFrame) -> list[int]:
    """NeuroSim's "followed by pooling" flag, inferred from consecutive geometries.

    A conv row gets 1 when the next *conv* row reads a smaller map than this conv writes after its stride while
    the next row is not a parallel branch reading this row's own input (a ResNet downsample conv reads the
    block input, which is larger, so it never triggers); the last conv before the fully connected rows gets 1
    when it writes a map larger than 1x1 and the next row reads a single vector (global/average pooling or
    flatten-after-pool, as in NeuroSim's shipped tables; a ViT patch embedding feeding 197 tokens gets 0).  Fully
    connected rows (1x1 IFM and kernel) and rows whose ``kind`` is ``linear`` or
    ``attention`` (when a ``kind`` column is given) get 0.
    """
    flags = []
    n = len(geom)
    kinds = geom["kind"].tolist() if "kind" in geom.columns else [None] * n
    is_fc = [(r.in_h == 1 and r.in_w == 1 and r.k_h == 1 and r.k_w == 1) or k in ("linear", "attention")
             for r, k in zip(geom.itertuples(), kinds)]
    for i, r in enumerate(geom.itertuples()):
        if is_fc[i]:
            flags.append(0)
            continue
        out_h = math.ceil(r.in_h / r.stride)
        nxt = next((j for j in range(i + 1, n)), None)
        if nxt is None:
            flags.append(1 if out_h > 1 else 0)
            continue
        g = geom.iloc[nxt]
        if is_fc[nxt]:
            # pooled/flattened into one vector before the classifier; a next row over many tokens (ViT) means the
            # map was turned into tokens, not pooled
            flags.append(1 if out_h > 1 and g.in_h == 1 else 0)
        elif g.in_c == r.out_c and g.in_h < out_h:
            flags.append(1)
        else:
            flags.append(0)
    return flags


def network_csv(units, pool: Sequence[int] | None = None) -> str:
    """NeuroSim ``NetWork_<model>.csv`` text for the conv/linear units of a model.

    One row per unit with geometry, in the units' order: ``IFM H, IFM W, IFM C, K H, K W, OFM C, pool, stride``
    (the column order of NeuroSim's own NetWork_VGG8.csv).  ``pool`` gives the followed-by-pooling flags
    explicitly; without it they are inferred by :func:`infer_pool_flags`.  Fully connected layers are written
    as a 1x1 IFM with a 1x1 kernel, as in NeuroSim's tables (T×1 for a linear layer over T tokens).
    Attention units are skipped: their activation×activation products are not weight-stationary, and their
    projections need the embed dim (``donna_core.devices.device_profiles.neurosim_layer_table`` builds those rows).
    NeuroSim counts input vectors as
    ``(H-K+1)/S * (W-K+1)/S`` (it ignores padding), so feed it the geometry as-is.
    """
    geom = unit_geometry(units)
    if geom.empty:
        raise NeuroSimError("network_csv: none of the units has conv/linear geometry")
    flags = list(pool) if pool is not None else infer_pool_flags(geom)
    if len(flags) != len(geom):
        raise NeuroSimError(f"network_csv: {len(flags)} pool flags for {len(geom)} conv/linear units")
    lines = [f"{r.in_h},{r.in_w},{r.in_c},{r.k_h},{r.k_w},{r.out_c},{int(f)},{r.stride}"
             for r, f in zip(geom.itertuples(), flags)]
    return "\n".join(lines) + "\n"


def compare_geometry(layers: pd.DataFrame, geom: pd.DataFrame) -> list[str]:
    """Row-by-row differences between NeuroSim layer geometry and unit geometry (empty list = identical)."""
    diffs = []
    if len(layers) != len(geom):
        diffs.append(f"{len(layers)} NeuroSim layers vs {len(geom)} conv/linear units")
    pairs = list(zip(GEOMETRY_COLUMNS, _UNIT_GEOM))
    for i in range(min(len(layers), len(geom))):
        a, b = layers.iloc[i], geom.iloc[i]
        bad = [f"{ns}={int(a[ns])} vs {u}={int(b[u])}" for ns, u in pairs if int(a[ns]) != int(b[u])]
        if bad:
            diffs.append(f"row {i + 1} ({b['name']}): " + ", ".join(bad))
    return diffs


def cim_layer_costs(layers: pd.DataFrame, units) -> pd.DataFrame:
    """Per-unit CIM time and energy at ``layer`` granularity from a NeuroSim per-layer table.

    Every unit with conv/linear geometry takes the next NeuroSim row (one to one, geometry must agree exactly,
    else :class:`NeuroSimError` lists the differing rows); a unit with no conv/linear gets time 0 and energy 0
    (ops NeuroSim does not simulate are assumed free on CIM).  ``energy_j = dynamic + leakage`` (module doc).
    Returns columns ``unit_index, time_s, energy_j, dynamic_energy_j, leakage_energy_j, neurosim_layer``.
    """
    records = units.to_dict("records") if isinstance(units, pd.DataFrame) else list(units)
    geom = unit_geometry(records)
    diffs = compare_geometry(layers, geom)
    if diffs:
        raise NeuroSimError("NeuroSim rows do not map onto the units: " + "; ".join(diffs[:8])
                            + (f" (+{len(diffs) - 8} more)" if len(diffs) > 8 else ""))
    out = pd.DataFrame({"unit_index": range(len(records)), "time_s": 0.0, "energy_j": 0.0,
                        "dynamic_energy_j": 0.0, "leakage_energy_j": 0.0, "neurosim_layer": pd.NA})
    idx = geom["unit_index"].to_numpy()
    out.loc[idx, "time_s"] = layers["latency_s"].to_numpy(float)
    out.loc[idx, "dynamic_energy_j"] = layers["dynamic_energy_j"].to_numpy(float)
    out.loc[idx, "leakage_energy_j"] = layers["leakage_energy_j"].to_numpy(float)
    out["energy_j"] = out["dynamic_energy_j"] + out["leakage_energy_j"]
    out.loc[idx, "neurosim_layer"] = layers["layer"].to_numpy()
    return out


def layers_from_log(log_text: str, network_text: str, source: str = "<log>") -> pd.DataFrame:
    """A per-layer table like ``neurosim_runs/<model>_layers.csv`` from a NeuroSim stdout plus the
    ``NetWork_<model>.csv`` it was run on (the log carries no geometry).  This is the "drop your own NeuroSim
    run in" path: feed the result to :func:`cim_layer_costs` (or save it and pass it to
    ``scripts/build_device_profiles.py --neurosim``)."""
    perf = parse_log(log_text, source=source)
    net = read_network_csv(network_text, source=f"{source} (NetWork table)")
    if len(net) != len(perf):
        raise NeuroSimError(f"{source}: the log has {len(perf)} layers but the NetWork table has {len(net)} rows")
    out = pd.concat([perf[["layer"]], net[GEOMETRY_COLUMNS], perf.drop(columns=["layer"]), net[["pool"]]], axis=1)
    out["num_in_vectors"] = [int((r.ifm_h - r.k_h + 1) // r.stride) * int((r.ifm_w - r.k_w + 1) // r.stride)
                             for r in net.itertuples()]
    out["macs_neurosim"] = net.ifm_h * net.ifm_w * net.ifm_c * net.k_h * net.k_w * net.ofm_c
    out.attrs["summary"] = perf.attrs.get("summary", {})
    return out
