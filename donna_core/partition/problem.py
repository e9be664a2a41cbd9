"""The problem file: parsing and validation into a :class:`Problem` of plain numpy arrays.

Every user mistake raises :class:`ProblemError` whose message names the offending field with a JSON-path-like
location (``device_types["gpu"].time_s[3]``), so the CLI can print one line and exit with code 2.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_json_atomic
from ..untrusted import read_json
from .errors import ProblemError
from .graph_problem import Graph, check_edge_sums, default_out_bytes, parse_edges
from .media import MEDIA_PRESETS, CpuCost, Medium, canonical_medium_name, check_time_curve

TOP_KEYS = {"name", "units", "input_bytes", "device_types", "devices", "media", "links", "source", "meta", "edges"}
TYPE_KEYS = {"time_s", "energy_j", "memory_bytes", "allowed", "meta"}
DEVICE_KEYS = {"name", "type", "meta"}
UNIT_KEYS = {"name", "out_bytes", "weight_bytes", "meta"}

# More devices than this is a mistake (a runaway generator, a typo in a count), not a cluster: the D x D link
# tables alone would take minutes to build, and no solver here can use them.
MAX_DEVICES = 1024
# The largest cost sum accepted. The solvers compare costs with relative tolerances (x * (1 + 1e-9),
# x + 1e-12 * |x|) and add a few sums together; 1e300 leaves that arithmetic far from the float maximum (1.8e308),
# so no intermediate value can overflow to inf, and no physical time, energy or size comes near it.
MAX_COST_SUM = 1e300
# The cost model sums a stage's units as a difference of prefix sums (costs.Tables), exact only to ~16
# significant digits of the running total. A unit whose own cost the prefix sums cannot reproduce to this
# relative precision (e.g. 3.0 after 1e150) would be costed wrongly, and the solvers' pruning bounds, which
# allow a relative slack of 1e-9, would no longer be consistent with the costs; such files are refused. The
# bundled problems reproduce every unit to 2e-12 or better.
PREFIX_RTOL = 1e-9
MEDIUM_KEYS = {"bandwidth_Bps", "energy_J_per_bit", "latency_s", "description", "time_curve", "shared", "cpu", "meta"}
CPU_KEYS = {"send_s", "send_s_per_byte", "recv_s", "recv_s_per_byte"}


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
    # shared media (see media.py): their names, and per device pair the index of the shared medium between
    # them (-1: an independent link; diagonal -1)
    shared_media: tuple[str, ...] = ()
    link_shared: np.ndarray | None = None
    # CPU cost of a message over the pair's medium (media.CpuCost of the sender's / receiver's type):
    # cpu_send[u, v] = (seconds per message, seconds per byte) charged to u when it sends to v; cpu_recv[u, v]
    # the same charged to v when it receives from u. Zero unless a medium gives "cpu".
    cpu_send: np.ndarray | None = None
    cpu_recv: np.ndarray | None = None

    @property
    def has_shared(self) -> bool:
        return bool(self.shared_media)

    @property
    def has_cpu_cost(self) -> bool:
        return self.cpu_send is not None and bool(self.cpu_send.any() or self.cpu_recv.any())

    @property
    def extended(self) -> bool:
        """Shared media or CPU costs: the cost terms beyond the paper's independent-link model."""
        return self.has_shared or self.has_cpu_cost
    # the DAG of a graph problem (file key "edges", see graph_problem); None for a chain
    graph: Graph | None = None

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


def _short(value: Any, limit: int = 60) -> str:
    """``repr`` cut to one short line: an error message must stay one line even for a huge or nested value."""
    try:
        text = repr(value) if not isinstance(value, int) or value.bit_length() < 200 else \
            f"<{value.bit_length()}-bit integer>"
    except RecursionError:
        return "<deeply nested value>"
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _unicode(text: str, path: str) -> None:
    """A name from a JSON escape such as "\\ud800" (half a surrogate pair) is not text: printing it fails later."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _where(path, f"is not valid Unicode (unpaired surrogate {text[exc.start]!r} at position {exc.start})") \
            from None


def _number(value: Any, path: str, *, positive: bool = False, allow_inf: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _where(path, f"must be a number, got {_short(value)}")
    try:
        x = float(value)
    except OverflowError:   # an integer literal beyond the float range, e.g. 10**400
        raise _where(path, f"is too large for a float ({len(str(value))}-digit integer)") from None
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
            raise _where(f"{path}[{i}]", f"must be true or false, got {_short(v)}")
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


def _parse_media(d: dict, type_names: list[str]) -> dict[str, Medium]:
    media = dict(MEDIA_PRESETS)
    given = d.get("media", {})
    if not isinstance(given, dict):
        raise _where("media", "must be an object mapping medium names to {bandwidth_Bps, energy_J_per_bit}")
    for name, spec in given.items():
        path = f'media["{name}"]'
        _object(spec, path, MEDIUM_KEYS, {"bandwidth_Bps", "energy_J_per_bit"})
        curve = None
        if spec.get("time_curve") is not None:
            try:
                curve = check_time_curve(spec["time_curve"], path + ".time_curve")
            except ValueError as exc:
                raise ProblemError(str(exc)) from None
        shared = spec.get("shared", False)
        if not isinstance(shared, bool):
            raise _where(path + ".shared", f"must be true or false, got {_short(shared)}")
        if "meta" in spec and not isinstance(spec["meta"], dict):
            raise _where(path + ".meta", "must be an object")
        media[canonical_medium_name(name)] = Medium(
            _number(spec["bandwidth_Bps"], path + ".bandwidth_Bps", positive=True),
            _number(spec["energy_J_per_bit"], path + ".energy_J_per_bit"),
            str(spec.get("description", "")),
            _number(spec.get("latency_s", 0.0), path + ".latency_s"),
            curve, shared, _parse_cpu(spec.get("cpu", {}), path + ".cpu", type_names),
        )
    return media


def _parse_cpu(spec: Any, path: str, type_names: list[str]) -> dict[str, CpuCost]:
    if not isinstance(spec, dict):
        raise _where(path, "must be an object mapping device types to {send_s, send_s_per_byte, recv_s, "
                           "recv_s_per_byte}")
    out = {}
    for t, c in spec.items():
        if t not in type_names:
            raise _where(f'{path}["{t}"]', f"unknown device type {_short(t)}; known: {type_names}")
        _object(c, f'{path}["{t}"]', CPU_KEYS, set())
        out[t] = CpuCost(*(_number(c.get(k, 0.0), f'{path}["{t}"].{k}') for k in
                           ("send_s", "send_s_per_byte", "recv_s", "recv_s_per_byte")))
    return out


def _medium_name(name: Any, path: str, media: dict[str, Medium]) -> str:
    if not isinstance(name, str):
        raise _where(path, f"must be a medium name, got {_short(name)}")
    key = canonical_medium_name(name)
    if key not in media:
        raise _where(path, f"unknown medium {_short(name)}; known: {sorted(media)}")
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
            raise _where(path, f"must be [device, device, medium], got {_short(pair)}")
        a, b, m = pair
        for j, dev in enumerate((a, b)):
            if not isinstance(dev, str) or dev not in index:
                raise _where(f"{path}[{j}]", f"unknown device {_short(dev)}; devices are {names}")
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
    graph = parse_edges(d["edges"], len(units)) if "edges" in d else None
    for i, u in enumerate(units):
        path = f"units[{i}]"
        _object(u, path, UNIT_KEYS, {"name"} if graph is not None else {"name", "out_bytes"})
        if not isinstance(u["name"], str) or not u["name"]:
            raise _where(path + ".name", f"must be a non-empty string, got {_short(u['name'])}")
        unit_names.append(u["name"])
        out_b.append(_number(u["out_bytes"], path + ".out_bytes") if "out_bytes" in u else None)
        w_b.append(_number(u.get("weight_bytes", 0), path + ".weight_bytes"))
    if len(set(unit_names)) != len(unit_names):
        dup = sorted({n for n in unit_names if unit_names.count(n) > 1})
        raise _where("units", f"duplicate unit names {dup[:5]}")
    L = len(unit_names)
    if graph is not None:
        check_edge_sums(graph, MAX_COST_SUM)
        out_b = [b if b is not None else g for b, g in zip(out_b, default_out_bytes(graph, L))]
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
    if len(devices) > MAX_DEVICES:
        raise _where("devices", f"has {len(devices)} entries; at most {MAX_DEVICES} devices are supported")
    names, dev_type = [], []
    for i, dev in enumerate(devices):
        path = f"devices[{i}]"
        _object(dev, path, DEVICE_KEYS, {"name", "type"})
        if not isinstance(dev["name"], str) or not dev["name"]:
            raise _where(path + ".name", f"must be a non-empty string, got {_short(dev['name'])}")
        if dev["name"] in names:
            raise _where(path + ".name", f"duplicate device name {dev['name']!r}")
        if not isinstance(dev["type"], str) or dev["type"] not in types:
            raise _where(path + ".type", f"unknown device type {_short(dev['type'])}; known: {type_names}")
        names.append(dev["name"])
        dev_type.append(type_names.index(dev["type"]))

    media = _parse_media(d, type_names)
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
    shared_media = tuple(sorted({m for row in table for m in row if m and media[m].shared}))
    link_shared = np.full((D, D), -1, dtype=np.int64)
    cpu_send, cpu_recv = np.zeros((D, D, 2)), np.zeros((D, D, 2))
    for i in range(D):
        for j in range(D):
            if i != j:
                med = media[table[i][j]]
                if med.shared:
                    link_shared[i, j] = shared_media.index(table[i][j])
                cs, cr = med.cpu.get(type_names[dev_type[i]]), med.cpu.get(type_names[dev_type[j]])
                if cs is not None:
                    cpu_send[i, j] = cs.send_s, cs.send_s_per_byte
                if cr is not None:
                    cpu_recv[i, j] = cr.recv_s, cr.recv_s_per_byte

    _check_finite_sums(unit_names, np.array(out_b), np.array(w_b), input_bytes, type_names, time_rows,
                       energy_rows, table, media)
    if graph is not None:
        check_edge_sums(graph, MAX_COST_SUM, [(m, media[m]) for m in sorted({m for row in table for m in row if m})])

    source = None
    if d.get("source") is not None:
        if not isinstance(d["source"], str) or d["source"] not in names:
            raise _where("source", f"unknown device {_short(d['source'])}; devices are {names}")
        source = names.index(d["source"])
    meta = d.get("meta", {})
    if not isinstance(meta, dict):
        raise _where("meta", "must be an object")
    name = d.get("name", "unnamed problem")
    if not isinstance(name, str):
        raise _where("name", f"must be a string, got {_short(name)}")

    for path, text in [("name", name), *((f"units[{i}].name", n) for i, n in enumerate(unit_names)),
                       *((f"devices[{i}].name", n) for i, n in enumerate(names)),
                       *((f'device_types["{t}"]', t) for t in type_names), *((f'media["{m}"]', m) for m in media)]:
        _unicode(text, path)

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
        shared_media=shared_media,
        link_shared=link_shared,
        cpu_send=cpu_send,
        cpu_recv=cpu_recv,
        graph=graph,
    )


def _check_finite_sums(unit_names, out_b, w_b, input_bytes, type_names, time_rows, energy_rows, table, media):
    """Every cost a solver can form is bounded by the sums checked here (all terms are >= 0); when one of them
    exceeds :data:`MAX_COST_SUM` (or overflows to inf), plans can no longer be compared safely, so the file is
    refused naming the field."""
    with np.errstate(over="ignore"):     # the overflow is the finding, reported below, not a warning
        _check_sums(unit_names, out_b, w_b, input_bytes, type_names, time_rows, energy_rows, table, media)


def _check_sums(unit_names, out_b, w_b, input_bytes, type_names, time_rows, energy_rows, table, media):
    def finite(x, path, what):
        if not x <= MAX_COST_SUM:
            raise _where(path, f"{what} is {float(x):.3g}, beyond {MAX_COST_SUM:.0e}: costs this large cannot be "
                               "compared (rescale the units)")

    finite(np.sum(w_b), "units[*].weight_bytes", "the sum of weight_bytes")
    _check_prefix(w_b, "units[{}].weight_bytes")
    for t, tr, er in zip(type_names, time_rows, energy_rows):
        finite(np.sum(tr), f'device_types["{t}"].time_s', "the sum of the entries")
        finite(np.sum(er), f'device_types["{t}"].energy_j', "the sum of the entries")
        _check_prefix(tr, f'device_types["{t}"].time_s[{{}}]')
        _check_prefix(er, f'device_types["{t}"].energy_j[{{}}]')
    finite(sum(np.sum(tr) for tr in time_rows), "device_types[*].time_s", "the sum over all device types")
    finite(sum(np.sum(er) for er in energy_rows), "device_types[*].energy_j", "the sum over all device types")
    used = sorted({m for row in table for m in row if m})
    cut = float(np.sum(out_b[:-1])) if len(out_b) > 1 else 0.0
    biggest = max([float(np.max(out_b)), input_bytes])
    for m in used:
        med, path = media[m], f'media["{m}"]'
        what = f"with the largest message ({biggest:.3g} bytes)"
        finite(med.transfer_time_s(biggest), path + ".bandwidth_Bps", f"a transfer time {what}")
        finite(med.transfer_energy_j(biggest), path + ".energy_J_per_bit", f"a transfer energy {what}")
        what = f"summed over all cuts and the input ({cut + input_bytes:.3g} bytes)"
        finite(len(out_b) * med.latency_s + (cut + input_bytes) / med.bandwidth_Bps, path + ".bandwidth_Bps",
               f"the transfer time {what}")
        finite(8.0 * (cut + input_bytes) * med.energy_J_per_bit, path + ".energy_J_per_bit",
               f"the transfer energy {what}")
    finite(max(np.sum(tr) for tr in time_rows) + sum(
        len(out_b) * media[m].latency_s + (cut + input_bytes) / media[m].bandwidth_Bps for m in used),
        "device_types[*].time_s", "compute plus transfer time")
    finite(sum(np.sum(er) for er in energy_rows) + sum(
        8.0 * (cut + input_bytes) * media[m].energy_J_per_bit for m in used),
        "device_types[*].energy_j", "compute plus transfer energy")


def _check_prefix(x: np.ndarray, path: str) -> None:
    """Refuse a unit cost that the prefix sums of its row cannot reproduce (see :data:`PREFIX_RTOL`)."""
    pre = np.concatenate([[0.0], np.cumsum(x)])
    bad = np.nonzero((x > 0) & (np.abs((pre[1:] - pre[:-1]) - x) > PREFIX_RTOL * x))[0]
    if len(bad):
        l = int(bad[0])
        raise _where(path.format(l), f"{x[l]:.3g} is lost next to the sum of the entries before it ({pre[l]:.3g}): "
                                     "the solvers add costs with ~16 significant digits; write 0 for a negligible "
                                     "cost")


def load_problem(path: str | os.PathLike) -> Problem:
    """Read and validate a problem JSON file (at most ``untrusted.MAX_INPUT_BYTES``); errors name the file and
    the field."""
    path = Path(path)
    try:
        d = read_json(path, "problem file")
    except ValueError as exc:
        raise ProblemError(str(exc)) from None
    try:
        return problem_from_dict(d)
    except ProblemError as exc:
        raise ProblemError(f"{path}: {exc}") from None


def save_problem(d: dict, path: str | os.PathLike) -> Path:
    """Validate a problem dict and write it atomically as JSON."""
    problem_from_dict(d)
    return write_json_atomic(path, d)
