"""Profile files: per-unit cost of one model on one device type (format in docs/ARCHITECTURE.md).

``data/profiles/<model>/<granularity>/<device_type>.csv``: line 1 is ``# donna-profile {json metadata}``, then a
CSV table with one row per unit.  Every read validates; every error names the file, the line and the column.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..atomic import write_text_atomic
from ..untrusted import file_kind, is_decimal, loads_json, parse_float, parse_int, read_text

FORMAT_VERSION = 1
HEADER_PREFIX = "# donna-profile "
SOURCE_KINDS = ("measured", "simulated", "modelled")
ENERGY_SOURCES = ("rapl", "nvml-energy", "nvml-power", "neurosim", "model", "unavailable")
# LLMs are profiled per phase; the phase takes the granularity's place (data/profiles/gpt2/decode/...).
# "graph": the units of a model's fx graph with their data edges (graph_units.py); the edges sit beside the
# device profiles in EDGES_FILE (graph_profiles.py), which is not a device profile.
GRANULARITIES = ("layer", "block", "prefill", "decode", "graph")
EDGES_FILE = "edges.csv"
REQUIRED_META = ("format", "model", "device_type", "granularity", "n_units", "source_kind", "source",
                 "energy_source", "date")
GEOMETRY_COLUMNS = ("in_h", "in_w", "in_c", "k_h", "k_w", "out_c", "stride")
BASE_COLUMNS = ("unit", "kind", "time_s", "time_spread_s", "energy_j", "out_bytes", "weight_bytes", "macs") \
    + GEOMETRY_COLUMNS
BLOCK_COLUMNS = ("layer_first", "layer_last")
# LLM profiles add the KV cache a block holds and its activation x activation MACs (validated when present).
LLM_INT_COLUMNS = ("kv_bytes", "act_macs")
INT_COLUMNS = ("out_bytes", "weight_bytes", "macs") + GEOMETRY_COLUMNS + BLOCK_COLUMNS + LLM_INT_COLUMNS
# Integers a float holds exactly: the problem file and the solvers carry sizes as floats, and 2^53 bytes (9 PB)
# is beyond any unit; larger values (2^63 overflows the table's int64) are refused, naming the cell.
MAX_PROFILE_INT = 2**53
_NUMBER = (int, float)
FLOAT_COLUMNS = ("time_s", "time_spread_s", "energy_j")


class ProfileError(ValueError):
    """A malformed, inconsistent or missing profile file."""


@dataclass
class Profile:
    """Metadata dict + one DataFrame row per unit (columns as in :data:`BASE_COLUMNS`)."""

    meta: dict[str, Any]
    df: pd.DataFrame
    path: str | None = None     # the file it was read from (for messages naming two files), None if built

    @property
    def model(self) -> str:
        return self.meta["model"]

    @property
    def device_type(self) -> str:
        return self.meta["device_type"]

    @property
    def granularity(self) -> str:
        return self.meta["granularity"]

    @property
    def units(self) -> list[str]:
        return list(self.df["unit"])


def expected_columns(granularity: str) -> tuple[str, ...]:
    return BASE_COLUMNS + (BLOCK_COLUMNS if granularity == "block" else ())


def profile_path(root: str | os.PathLike, model: str, granularity: str, device_type: str) -> Path:
    """``<root>/<model>/<granularity>/<device_type>.csv``."""
    for what, v in (("model", model), ("granularity", granularity), ("device_type", device_type)):
        if not v or "/" in v or v in (".", ".."):
            raise ProfileError(f"invalid {what} {v!r} for a profile path")
    return Path(root) / model / granularity / f"{device_type}.csv"


def _is_missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def _short(v: Any, limit: int = 40) -> str:
    try:
        r = repr(v)
    except (RecursionError, ValueError):    # a deeply nested value; an int beyond repr's digit limit
        r = f"<{type(v).__name__}>"
    return r if len(r) <= limit else r[: limit - 1] + "…"


def _cell_float(v: Any) -> float | None:
    """A table cell as a float: text must be a plain decimal (``1_0`` is not 10), numbers pass; else None."""
    if isinstance(v, str):
        return parse_float(v.strip()) if is_decimal(v.strip()) else None
    if isinstance(v, bool) or not isinstance(v, (int, float)) and not hasattr(v, "__float__"):
        return None
    try:
        return float(v)
    except (TypeError, ValueError, OverflowError):
        return None


def _cell_int(v: Any) -> int | None:
    """A table cell as an int: plain digits, or a decimal with an integral value (``5.24288e5``); else None."""
    if isinstance(v, str):
        v = v.strip()
        try:
            return parse_int(v)
        except ValueError:
            pass
        if not is_decimal(v):
            return None
    x = _cell_float(v)
    if x is None or not math.isfinite(x) or not x.is_integer():
        return None
    return int(x)


def _numeric_if_all(col: pd.Series) -> pd.Series:
    """An extra (free) column read as text becomes numbers when every filled cell is a plain decimal."""
    filled = [v for v in col if isinstance(v, str) and v.strip()]
    if not filled or not all(is_decimal(v.strip()) for v in filled):
        return col
    return pd.Series([float(v) if isinstance(v, str) and v.strip() else math.nan for v in col], dtype="float64",
                     index=col.index)


def _check_optional_meta(meta: dict[str, Any], where: str) -> None:
    """Metadata keys the code reads besides the required ones must have the right type and range."""
    if "input_bytes" in meta:
        v = meta["input_bytes"]
        if isinstance(v, bool) or not isinstance(v, _NUMBER) or not (0 <= v <= MAX_PROFILE_INT):
            raise ProfileError(f"{where}:1: metadata 'input_bytes' must be a number of bytes in [0, 2^53], "
                               f"got {_short(v)}")
    if "context" in meta:
        v = meta["context"]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ProfileError(f"{where}:1: metadata 'context' must be a positive integer, got {_short(v)}")


def validate_profile(profile: Profile, where: str = "<profile>") -> Profile:
    """Check metadata and table; return a normalised copy (typed columns).  Raises :class:`ProfileError`."""
    meta, df = profile.meta, profile.df
    if not isinstance(meta, dict):
        raise ProfileError(f"{where}:1: metadata must be a JSON object, got {type(meta).__name__}")
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise ProfileError(f"{where}:1: metadata is missing key(s) {', '.join(missing)}")
    if meta["format"] != FORMAT_VERSION:
        raise ProfileError(f"{where}:1: metadata 'format' is {meta['format']!r}, this reader knows {FORMAT_VERSION}")
    for key, allowed in (("granularity", GRANULARITIES), ("source_kind", SOURCE_KINDS),
                         ("energy_source", ENERGY_SOURCES)):
        if meta[key] not in allowed:
            raise ProfileError(f"{where}:1: metadata '{key}' is {meta[key]!r}; allowed: {', '.join(allowed)}")
    for key in ("model", "device_type"):
        if not isinstance(meta[key], str) or not meta[key]:
            raise ProfileError(f"{where}:1: metadata '{key}' must be a non-empty string, got {meta[key]!r}")
    if isinstance(meta["n_units"], bool) or not isinstance(meta["n_units"], int) or meta["n_units"] < 1:
        raise ProfileError(f"{where}:1: metadata 'n_units' must be a positive integer, got {_short(meta['n_units'])}")
    _check_optional_meta(meta, where)

    cols = expected_columns(meta["granularity"])
    absent = [c for c in cols if c not in df.columns]
    if absent:
        raise ProfileError(f"{where}:2: missing column(s) {', '.join(absent)}")
    if len(df) != meta["n_units"]:
        raise ProfileError(f"{where}: metadata says n_units={meta['n_units']} but the table has {len(df)} row(s)")

    df = df.reset_index(drop=True).copy()
    unavailable = meta["energy_source"] == "unavailable"

    def fail(i: int, col: str, msg: str) -> ProfileError:
        unit = df.at[i, "unit"]
        # Line numbers: 1 = metadata, 2 = CSV header, so row i is on line i + 3.
        return ProfileError(f"{where}:{i + 3}: unit {unit!r}, column {col}: {msg}")

    seen: dict[str, int] = {}
    for i, u in enumerate(df["unit"]):
        if _is_missing(u) or str(u).strip() == "":
            raise fail(i, "unit", "empty unit name")
        if str(u) in seen:
            raise fail(i, "unit", f"duplicate unit name (also on line {seen[str(u)] + 3})")
        seen[str(u)] = i
    df["unit"] = df["unit"].astype(str)
    df["kind"] = df["kind"].astype(str)

    for col in FLOAT_COLUMNS:
        vals = []
        for i, v in enumerate(df[col]):
            if _is_missing(v) or (isinstance(v, str) and v.strip() == ""):
                if col == "time_s":
                    raise fail(i, col, "time is missing (NaN/empty)")
                if col == "energy_j" and not unavailable:
                    raise fail(i, col, f"energy is missing but energy_source is {meta['energy_source']!r} "
                                       "(use energy_source 'unavailable' for unknown energy)")
                vals.append(math.nan)
                continue
            x = _cell_float(v)
            if x is None:
                raise fail(i, col, f"not a number (plain decimal expected): {_short(v)}")
            if math.isnan(x) or math.isinf(x):
                raise fail(i, col, f"not a finite number: {_short(v)}")
            if x < 0:
                raise fail(i, col, f"negative value {x!r}")
            if col == "energy_j" and unavailable:
                raise fail(i, col, "energy given although energy_source is 'unavailable' (leave it empty)")
            vals.append(x)
        df[col] = pd.Series(vals, dtype="float64")

    int_cols = [c for c in INT_COLUMNS if c in df.columns]
    for col in int_cols:
        nullable = col in GEOMETRY_COLUMNS + LLM_INT_COLUMNS
        positive = col in GEOMETRY_COLUMNS
        vals = []
        for i, v in enumerate(df[col]):
            if _is_missing(v) or (isinstance(v, str) and v.strip() == ""):
                if not nullable:
                    raise fail(i, col, "value is missing")
                vals.append(pd.NA)
                continue
            x = _cell_int(v)
            if x is None:
                raise fail(i, col, f"not an integer: {_short(v)}")
            if x < 0 or (positive and x == 0):
                raise fail(i, col, f"must be {'positive' if positive else 'non-negative'}, got {_short(v)}")
            if x > MAX_PROFILE_INT:
                raise fail(i, col, f"{_short(v)} is beyond 2^53 (the largest integer a float holds exactly)")
            vals.append(x)
        df[col] = pd.array(vals, dtype="Int64")
    for col in df.columns:
        if col not in expected_columns(meta["granularity"]) + LLM_INT_COLUMNS and df[col].dtype == object:
            df[col] = _numeric_if_all(df[col])

    if meta["granularity"] == "block":
        expect = 0
        for i in range(len(df)):
            lf, ll = df.at[i, "layer_first"], df.at[i, "layer_last"]
            if lf != expect:
                raise fail(i, "layer_first", f"blocks must tile the layer units in order: expected {expect}, got {lf}")
            if ll < lf:
                raise fail(i, "layer_last", f"layer_last {ll} < layer_first {lf}")
            expect = int(ll) + 1
    return Profile(dict(meta), df, profile.path)


def _check_path(meta: dict[str, Any], path: Path) -> None:
    """When the file sits at <model>/<granularity>/<device_type>.csv, the metadata must agree with the path."""
    if path.parent.name not in GRANULARITIES:
        return
    expect = {"device_type": path.stem, "granularity": path.parent.name, "model": path.parent.parent.name}
    for key, val in expect.items():
        if meta.get(key) != val:
            raise ProfileError(f"{path}:1: metadata '{key}' is {meta.get(key)!r} but the file path says {val!r}")


def parse_profile(text: str, where: str = "<profile>") -> Profile:
    """Parse profile file contents (validated)."""
    first, _, rest = text.partition("\n")
    if not first.startswith(HEADER_PREFIX):
        raise ProfileError(f"{where}:1: first line must start with {HEADER_PREFIX.strip()!r} followed by JSON "
                           f"metadata, got {first[:60]!r}")
    try:
        meta = loads_json(first[len(HEADER_PREFIX):], f"{where}:1", "metadata is ")
    except ValueError as exc:
        raise ProfileError(str(exc)) from None
    if not isinstance(meta, dict):
        raise ProfileError(f"{where}:1: metadata must be a JSON object, got {type(meta).__name__}")
    if not rest.strip():
        raise ProfileError(f"{where}:2: no CSV table after the metadata line")
    _check_complete_rows(rest, where)
    try:
        # every cell as text: numbers are parsed by the strict rules of validate_profile, not pandas'
        df = pd.read_csv(io.StringIO(rest), dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise ProfileError(f"{where}: CSV table is malformed: {exc}") from None
    return validate_profile(Profile(meta, df), where)


def _check_complete_rows(table: str, where: str) -> None:
    """A file cut short (a copy or write interrupted) ends inside its last row: pandas would silently fill the
    missing columns with NaN (or keep a number cut to fewer digits), so every row must have the header's
    number of fields and the table must end with a line break, as :func:`format_profile` writes it."""
    rows = csv.reader(io.StringIO(table))
    header = next(rows)
    for n, row in enumerate(rows):
        if row and len(row) != len(header):
            raise ProfileError(f"{where}:{n + 3}: row has {len(row)} field(s) but the header has {len(header)} "
                               "(file truncated or a field missing)")
    if not table.endswith("\n"):
        raise ProfileError(f"{where}:{table.count(chr(10)) + 2}: the last row does not end with a line break "
                           "(file truncated?)")


def read_profile(path: str | os.PathLike) -> Profile:
    """Read and validate one profile file."""
    path = Path(path)
    if not os.path.lexists(path):
        raise ProfileError(f"profile file {path} does not exist")
    try:
        # regular files only: a FIFO named *.csv would block the open forever
        text = read_text(path, "profile", regular_only=True)
    except ValueError as exc:
        raise ProfileError(str(exc)) from None
    prof = parse_profile(text, str(path))
    _check_path(prof.meta, path)
    return Profile(prof.meta, prof.df, str(path))


def format_profile(profile: Profile, where: str = "<profile>") -> str:
    """Serialise (after validation) to the file format."""
    prof = validate_profile(profile, where)
    try:
        head = json.dumps(prof.meta, sort_keys=True, allow_nan=False, separators=(", ", ": "))
    except (TypeError, ValueError) as exc:
        raise ProfileError(f"{where}: metadata is not JSON-serialisable: {exc}") from None
    if "\n" in head:
        raise ProfileError(f"{where}: metadata must fit on one line")
    cols = list(expected_columns(prof.granularity)) + [c for c in prof.df.columns
                                                        if c not in expected_columns(prof.granularity)]
    # repr-precision floats so a round trip is exact.
    body = prof.df[cols].to_csv(index=False, lineterminator="\n", float_format="%.17g")
    return HEADER_PREFIX + head + "\n" + body


def write_profile(profile: Profile, path: str | os.PathLike) -> Path:
    """Validate and atomically write ``profile`` to ``path``."""
    path = Path(path)
    text = format_profile(profile, str(path))
    _check_path(profile.meta, path)
    return write_text_atomic(path, text)


def not_a_profile(path: Path) -> str | None:
    """Why ``path`` (a ``*.csv`` directory entry) cannot be a profile file, or None when it is a regular file
    (directly or through a symlink). ``os.stat`` only: nothing is opened."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "a broken symbolic link" if os.path.islink(path) else "gone"
    except OSError as exc:
        return f"not accessible ({exc.strerror or exc})"
    return None if stat.S_ISREG(st.st_mode) else file_kind(st.st_mode)


def load_profiles(root: str | os.PathLike, model: str, granularity: str,
                  skipped: dict[str, str] | None = None) -> dict[str, Profile]:
    """All profiles of ``model`` at ``granularity`` under ``root``, keyed by device type.

    A ``*.csv`` entry that is not a regular file (a directory, FIFO, broken link) is skipped, so it cannot break
    clusters that do not use it; when ``skipped`` is given, device type -> the reason is recorded there for the
    caller to report."""
    d = Path(root) / model / granularity
    files = sorted(f for f in d.glob("*.csv") if f.name != EDGES_FILE) if d.is_dir() else []
    out, why = {}, {}
    for f in files:
        reason = not_a_profile(f)
        if reason is None:
            out[f.stem] = read_profile(f)
        else:
            why[f.stem] = f"{f} is {reason}, not a profile file (skipped)"
    if skipped is not None:
        skipped.update(why)
    if not out:
        extra = f"; {'; '.join(why.values())}" if why else ""
        raise ProfileError(f"no profiles for model {model!r} at granularity {granularity!r}: {d} has no *.csv "
                           f"(run `donna profile --model {model} --granularity {granularity}`){extra}")
    return out
