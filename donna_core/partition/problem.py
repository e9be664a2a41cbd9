"""The problem file: parsing and validation into a :class:`Problem` of plain numpy arrays.

Every user mistake raises :class:`ProblemError` whose message names the offending field with a JSON-path-like
location (``device_types["gpu"].time_s[3]``), so the CLI can print one line and exit with code 2.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_json_atomic
from .media import MEDIA_PRESETS, Medium, canonical_medium_name

TOP_KEYS = {"name", "units", "input_bytes", "device_types", "devices", "media", "links", "source", "meta"}
TYPE_KEYS = {"time_s", "energy_j", "memory_bytes", "allowed", "meta"}
DEVICE_KEYS = {"name", "type", "meta"}
MEDIUM_KEYS = {"bandwidth_Bps", "energy_J_per_bit", "latency_s", "description"}


class ProblemError(ValueError):
    """A problem file (or dict) is malformed; the message names the field."""


@dataclass(frozen=True, eq=False)
class Problem:
    """A validated partitioning problem.

    Arrays: ``time_s``/``energy_j`` have shape (T, L) over ``type_names``; ``device_type`` maps each of the D
    devices to its type row; ``link_bw``/``link_epb`` are (D, D) bandwidth (B/s) and energy per bit (J/b) of
    the medium between two devices (diagonal unused), ``link_lat`` (D, D) its per-message latency in seconds
    (diagonal 0); ``memory_bytes`` is (T,), ``inf`` where unlimited; ``allowed`` (T, L) is True where a type may
    run a unit (a stage is feasible only if all its units are allowed on its device's type).
    """

    name: str
    unit_names: tuple[str, ...]
    out_bytes: np.ndarray
    weight_bytes: np.ndarray
    input_bytes: float
    type_names: tuple[str, ...]
    time_s: np.ndarray
    energy_j: np.ndarray
    memory_bytes: np.ndarray
    device_names: tuple[str, ...]
    device_type: np.ndarray
    link_medium: tuple[tuple[str, ...], ...]
    link_bw: np.ndarray
    link_epb: np.ndarray
    link_lat: np.ndarray
    allowed: np.ndarray
    media: dict[str, Medium]
    source: int | None
    meta: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def L(self) -> int:
        return len(self.unit_names)

    @property
    def D(self) -> int:
        return len(self.device_names)

    def device_index(self, name: str) -> int:
        try:
            return self.device_names.index(name)
        except ValueError:
            raise ProblemError(f"unknown device {name!r}; devices are {list(self.device_names)}") from None

    def type_of(self, device: int) -> str:
        return self.type_names[self.device_type[device]]


def _where(path: str, msg: str) -> ProblemError:
    return ProblemError(f"{path}: {msg}")


def _number(value: Any, path: str, *, positive: bool = False, allow_inf: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _where(path, f"must be a number, got {value!r}")
    x = float(value)
    if math.isnan(x) or (math.isinf(x) and not allow_inf):
        raise _where(path, f"must be finite, got {value!r}")
    if x < 0 or (positive and x == 0):
        raise _where(path, f"must be {'> 0' if positive else '>= 0'}, got {value!r}")
    return x


def _vector(values: Any, path: str, length: int) -> np.ndarray:
    if not isinstance(values, list):
        raise _where(path, f"must be a list of {length} numbers, got {type(values).__name__}")
    if len(values) != length:
        raise _where(path, f"has {len(values)} entries but there are {length} units")
    return np.array([_number(v, f"{path}[{i}]") for i, v in enumerate(values)], dtype=float)


def _flags(values: Any, path: str, length: int) -> np.ndarray:
    if not isinstance(values, list):
        raise _where(path, f"must be a list of {length} booleans, got {type(values).__name__}")
    if len(values) != length:
        raise _where(path, f"has {len(values)} entries but there are {length} units")
    for i, v in enumerate(values):
        # 0/1 are refused on purpose: a list of numbers here is more likely a misplaced cost vector
        if not isinstance(v, bool):
            raise _where(f"{path}[{i}]", f"must be true or false, got {v!r}")
    return np.array(values, dtype=bool)


def _object(value: Any, path: str, allowed: set[str], required: set[str]) -> dict:
    if not isinstance(value, dict):
        raise _where(path, f"must be an object, got {type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _where(path, f"unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    missing = sorted(required - set(value))
    if missing:
        raise _where(path, f"missing required key(s) {missing}")
    return value


def _parse_media(d: dict) -> dict[str, Medium]:
    media = dict(MEDIA_PRESETS)
    given = d.get("media", {})
    if not isinstance(given, dict):
        raise _where("media", "must be an object mapping medium names to {bandwidth_Bps, energy_J_per_bit}")
    for name, spec in given.items():
        path = f'media["{name}"]'
        _object(spec, path, MEDIUM_KEYS, {"bandwidth_Bps", "energy_J_per_bit"})
        media[canonical_medium_name(name)] = Medium(
            _number(spec["bandwidth_Bps"], path + ".bandwidth_Bps", positive=True),
            _number(spec["energy_J_per_bit"], path + ".energy_J_per_bit"),
            str(spec.get("description", "")),
            _number(spec.get("latency_s", 0.0), path + ".latency_s"),
        )
    return media


def _medium_name(name: Any, path: str, media: dict[str, Medium]) -> str:
    if not isinstance(name, str):
        raise _where(path, f"must be a medium name, got {name!r}")
    key = canonical_medium_name(name)
    if key not in media:
        raise _where(path, f"unknown medium {name!r}; known: {sorted(media)}")
    return key


def _parse_links(spec: Any, names: list[str], media: dict[str, Medium]) -> list[list[str]]:
    D = len(names)
    if isinstance(spec, str):
        m = _medium_name(spec, "links", media)
        return [[m] * D for _ in range(D)]
    _object(spec, "links", {"default", "pairs"}, set())
    default = _medium_name(spec["default"], "links.default", media) if "default" in spec else None
    table: list[list[str | None]] = [[default] * D for _ in range(D)]
    pairs = spec.get("pairs", [])
    if not isinstance(pairs, list):
        raise _where("links.pairs", "must be a list of [device, device, medium] triples")
    index = {n: i for i, n in enumerate(names)}
    seen: dict[tuple[int, int], str] = {}
    for k, pair in enumerate(pairs):
        path = f"links.pairs[{k}]"
        if not (isinstance(pair, list) and len(pair) == 3):
            raise _where(path, f"must be [device, device, medium], got {pair!r}")
        a, b, m = pair
        for j, dev in enumerate((a, b)):
            if dev not in index:
                raise _where(f"{path}[{j}]", f"unknown device {dev!r}; devices are {names}")
        if a == b:
            raise _where(path, f"links a device to itself ({a!r})")
        m = _medium_name(m, f"{path}[2]", media)
        i, j = sorted((index[a], index[b]))
        if seen.get((i, j), m) != m:
            raise _where(path, f"conflicting media for {a!r}-{b!r}: {seen[(i, j)]!r} and {m!r}")
        seen[(i, j)] = m
        table[i][j] = table[j][i] = m
    missing = [(names[i], names[j]) for i in range(D) for j in range(i + 1, D) if table[i][j] is None]
    if missing:
        raise _where("links", f"no medium for device pair(s) {missing[:5]}{' …' if len(missing) > 5 else ''}; "
                     "give a 'default' or list every pair")
    return [[m if m is not None else "" for m in row] for row in table]


def problem_from_dict(d: Any) -> Problem:
    """Validate a problem dict (the JSON format documented in the README) and return a :class:`Problem`."""
    _object(d, "problem", TOP_KEYS, {"units", "device_types", "devices", "links"})
    units = d["units"]
    if not isinstance(units, list) or not units:
        raise _where("units", "must be a non-empty list of {name, out_bytes, weight_bytes}")
    unit_names, out_b, w_b = [], [], []
    for i, u in enumerate(units):
        path = f"units[{i}]"
        if not isinstance(u, dict):
            raise _where(path, f"must be an object, got {type(u).__name__}")
        for key in ("name", "out_bytes"):
            if key not in u:
                raise _where(path, f"missing required key {key!r}")
        if not isinstance(u["name"], str) or not u["name"]:
            raise _where(path + ".name", f"must be a non-empty string, got {u['name']!r}")
        unit_names.append(u["name"])
        out_b.append(_number(u["out_bytes"], path + ".out_bytes"))
        w_b.append(_number(u.get("weight_bytes", 0), path + ".weight_bytes"))
    if len(set(unit_names)) != len(unit_names):
        dup = sorted({n for n in unit_names if unit_names.count(n) > 1})
        raise _where("units", f"duplicate unit names {dup[:5]}")
    L = len(unit_names)
    input_bytes = _number(d.get("input_bytes", 0), "input_bytes")

    types = d["device_types"]
    if not isinstance(types, dict) or not types:
        raise _where("device_types", "must be a non-empty object mapping type names to profiles")
    type_names = list(types)
    time_rows, energy_rows, mem, allowed_rows = [], [], [], []
    for t in type_names:
        path = f'device_types["{t}"]'
        spec = _object(types[t], path, TYPE_KEYS, {"time_s", "energy_j"})
        time_rows.append(_vector(spec["time_s"], path + ".time_s", L))
        energy_rows.append(_vector(spec["energy_j"], path + ".energy_j", L))
        m = spec.get("memory_bytes")
        mem.append(math.inf if m is None else _number(m, path + ".memory_bytes", positive=True))
        a = spec.get("allowed")
        allowed_rows.append(np.ones(L, dtype=bool) if a is None else _flags(a, path + ".allowed", L))

    devices = d["devices"]
    if not isinstance(devices, list) or not devices:
        raise _where("devices", "must be a non-empty list of {name, type}")
    names, dev_type = [], []
    for i, dev in enumerate(devices):
        path = f"devices[{i}]"
        _object(dev, path, DEVICE_KEYS, {"name", "type"})
        if not isinstance(dev["name"], str) or not dev["name"]:
            raise _where(path + ".name", f"must be a non-empty string, got {dev['name']!r}")
        if dev["name"] in names:
            raise _where(path + ".name", f"duplicate device name {dev['name']!r}")
        if dev["type"] not in types:
            raise _where(path + ".type", f"unknown device type {dev['type']!r}; known: {type_names}")
        names.append(dev["name"])
        dev_type.append(type_names.index(dev["type"]))

    media = _parse_media(d)
    table = _parse_links(d["links"], names, media)
    D = len(names)
    bw = np.full((D, D), np.inf)
    epb = np.zeros((D, D))
    lat = np.zeros((D, D))
    for i in range(D):
        for j in range(D):
            if i != j:
                bw[i, j] = media[table[i][j]].bandwidth_Bps
                epb[i, j] = media[table[i][j]].energy_J_per_bit
                lat[i, j] = media[table[i][j]].latency_s

    source = None
    if d.get("source") is not None:
        if d["source"] not in names:
            raise _where("source", f"unknown device {d['source']!r}; devices are {names}")
        source = names.index(d["source"])
    meta = d.get("meta", {})
    if not isinstance(meta, dict):
        raise _where("meta", "must be an object")
    name = d.get("name", "unnamed problem")
    if not isinstance(name, str):
        raise _where("name", f"must be a string, got {name!r}")

    return Problem(
        name=name,
        unit_names=tuple(unit_names),
        out_bytes=np.array(out_b),
        weight_bytes=np.array(w_b),
        input_bytes=input_bytes,
        type_names=tuple(type_names),
        time_s=np.vstack(time_rows),
        energy_j=np.vstack(energy_rows),
        memory_bytes=np.array(mem),
        device_names=tuple(names),
        device_type=np.array(dev_type, dtype=int),
        link_medium=tuple(tuple(r) for r in table),
        link_bw=bw,
        link_epb=epb,
        link_lat=lat,
        allowed=np.vstack(allowed_rows),
        media=media,
        source=source,
        meta=meta,
        raw=d,
    )


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed in a problem file")


def load_problem(path: str | os.PathLike) -> Problem:
    """Read and validate a problem JSON file; errors name the file and the field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProblemError(f"{path}: cannot read problem file ({exc.strerror or exc})") from None
    try:
        d = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ProblemError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:
        raise ProblemError(f"{path}: {exc}") from None
    try:
        return problem_from_dict(d)
    except ProblemError as exc:
        raise ProblemError(f"{path}: {exc}") from None


def save_problem(d: dict, path: str | os.PathLike) -> Path:
    """Validate a problem dict and write it atomically as JSON."""
    problem_from_dict(d)
    return write_json_atomic(path, d)
