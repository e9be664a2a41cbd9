"""Profiles + a cluster + a medium -> a problem dict (the JSON format of docs/ARCHITECTURE.md).

This is how measured/simulated/modelled profiles reach the solvers without hand work: every device type's
profile provenance is carried into ``device_types[t]["meta"]``.
"""
from __future__ import annotations

import math
import re
from typing import Any, Mapping, Sequence

import pandas as pd

from .profiles import Profile

DEFAULT_ALIASES: dict[str, str] = {"cpu": "cpu-xeon-w3323", "gpu": "gpu-rtx3070ti", "cim": "cim"}

# Realistic per-device memory (``memory_bytes="realistic"``), in the problem's FP32 byte accounting.
REALISTIC_MEMORY_BYTES: dict[str, float] = {
    "cpu-xeon-w3323": 8e9, "cpu-host": 8e9, "gpu-rtx3070ti": 8e9,
    "cim": 605_814_784.0,  # = devices.llm_costs.cim_weight_capacity()["fp32_equiv_bytes"] (tested)
}
MEMORY_SOURCES: dict[str, str] = {
    "cpu-xeon-w3323": ("edge CPU board with 8 GB DRAM (the edge assumption of the LLM study; "
                       "the Xeon's own DIMMs are larger)"),
    "cpu-host": "edge CPU board with 8 GB DRAM (the edge assumption of the LLM study)",
    "gpu-rtx3070ti": "NVIDIA RTX 3070 Ti spec: 8 GB GDDR6X",
    "cim": ("on-chip weights of the NeuroSim V1.3 chip floor-planned for VGG19 (the largest shipped run): 524 "
            "tiles, 605.8 M 2-bit cells = 151.5 M 8-bit weights = 606 MB FP32-equivalent; fragmentation ignored"),
}

# Device types whose compute is weight-stationary crossbars only (see weight_stationary_units).
WEIGHT_STATIONARY_PREFIXES = ("cim",)
# Unit kinds that need more than weight x activation products: attention (QK^T, AV, softmax, KV cache), an LLM
# decoder block (contains attention), an embedding (a table gather).
NON_WEIGHT_STATIONARY_KINDS = ("attention", "decoder_block", "embedding")

# [count][multiplier]name; "x" is a multiplier only between a count and whitespace ("3x gpu", "3 x gpu"), so a
# type named "xpu" stays usable ("2xpu" = two xpu); "*" may always follow a count ("3*gpu").
_TERM = re.compile(r"^\s*(?:([0-9]+)\s*(?:\*\s*|x\s+)?)?([A-Za-z][\w.\-]*)\s*$")
# Far beyond any cluster the solvers handle; without a limit "100000cpu" spends minutes building link tables.
MAX_CLUSTER_DEVICES = 1024


class ProblemBuildError(ValueError):
    """Profiles, cluster or medium that cannot form a problem (missing profile, mismatched units, ...)."""


def parse_cluster(spec: str, aliases: Mapping[str, str] | None = None) -> dict[str, int]:
    """``"2cpu+2gpu"`` -> ``{"cpu-xeon-w3323": 2, "gpu-rtx3070ti": 2}`` (device type -> count, in order).

    Each ``+``-separated term is ``[count]name``, ``count x name`` or ``count*name``; ``name`` is looked up in
    ``aliases`` (default :data:`DEFAULT_ALIASES`) and otherwise taken as a device-type name as is. At most
    :data:`MAX_CLUSTER_DEVICES` devices in all.
    """
    aliases = DEFAULT_ALIASES if aliases is None else aliases
    if not isinstance(spec, str) or not spec.strip():
        raise ProblemBuildError(f"cluster spec must be a non-empty string like '2cpu+2gpu', got {spec!r}")
    out: dict[str, int] = {}
    for k, term in enumerate(spec.split("+")):
        m = _TERM.match(term)
        if not m:
            raise ProblemBuildError(f"cluster spec {spec!r}: term {k + 1} ({term!r}) is not [count]name, "
                                    "e.g. 2cpu or 1gpu-rtx3070ti")
        # a count longer than 9 digits is over the limit anyway; int() of thousands of digits would raise
        count = (int(m.group(1)) if len(m.group(1)) <= 9 else 10 ** 9) if m.group(1) else 1
        if count < 1:
            raise ProblemBuildError(f"cluster spec {spec!r}: term {term.strip()!r} has count {count}; must be >= 1")
        dtype = aliases.get(m.group(2), m.group(2))
        if dtype in out:
            raise ProblemBuildError(f"cluster spec {spec!r}: device type {dtype!r} appears twice; "
                                    "write the total count once")
        out[dtype] = count
        if sum(out.values()) > MAX_CLUSTER_DEVICES:
            raise ProblemBuildError(f"cluster spec {spec[:40]!r}: {sum(out.values())} devices; at most "
                                    f"{MAX_CLUSTER_DEVICES} are supported")
    return out


# Columns that describe the model, not the device: every device type's profile must give the same values, or
# the problem would depend on which type happens to come first in the cluster.
MODEL_COLUMNS = ("unit", "out_bytes", "weight_bytes", "kv_bytes", "layer_first", "layer_last")


def _label(t: str, prof: Profile | None) -> str:
    """How a profile is named in a message: its file when it was read from one."""
    path = getattr(prof, "path", None)
    return f"{path} ({t})" if path else f"profile {t!r}"


def _plain(v):
    """A table cell as a plain int, or None when missing (pd.NA compares as neither equal nor unequal)."""
    return None if v is None or v is pd.NA or v != v else int(v)


def _check_agree(ref_t: str, ref: Profile, t: str, p: Profile) -> None:
    """``p`` describes the same model as ``ref``: same model, granularity, units and :data:`MODEL_COLUMNS`."""
    a, b = _label(ref_t, ref), _label(t, p)
    for key in ("model", "granularity"):
        if p.meta[key] != ref.meta[key]:
            raise ProblemBuildError(f"{b} has {key} {p.meta[key]!r} but {a} has {ref.meta[key]!r}")
    if len(p.df) != len(ref.df):
        raise ProblemBuildError(f"{b} has {len(p.df)} units but {a} has {len(ref.df)}")
    for col in MODEL_COLUMNS:
        if (col in p.df.columns) != (col in ref.df.columns):
            has, lacks = (b, a) if col in p.df.columns else (a, b)
            raise ProblemBuildError(f"column {col}: {has} has it but {lacks} does not")
        if col not in p.df.columns:
            continue
        for i, (x, r) in enumerate(zip(p.df[col], ref.df[col])):
            x, r = (str(x), str(r)) if col == "unit" else (_plain(x), _plain(r))
            if x != r and col == "unit":
                raise ProblemBuildError(f"unit {i}: {b} calls it {x!r} but {a} calls it {r!r}")
            if x != r:
                raise ProblemBuildError(f"unit {i} ({ref.df['unit'].iat[i]!r}): {col} {x} in {b} but {r} in {a}; "
                                        "the profiles of one model must agree (else the problem depends on the "
                                        "order of the cluster)")


def _device_prefixes(types: Sequence[str]) -> dict[str, str]:
    """Device-name prefix per type: the part before the first '-' (cpu-xeon-w3323 -> cpu) unless ambiguous."""
    short = {t: t.split("-", 1)[0] for t in types}
    clash = {s for s in short.values() if list(short.values()).count(s) > 1}
    return {t: (t if short[t] in clash else short[t]) for t in types}


def _profile_energy(t: str, prof: Profile, assume_power_w: Mapping[str, float]) -> tuple[list[float], dict]:
    df = prof.df
    times = [float(v) for v in df["time_s"]]
    if prof.meta["energy_source"] != "unavailable":
        return [float(v) for v in df["energy_j"]], {}
    if t not in assume_power_w:
        raise ProblemBuildError(
            f"profile of device type {t!r} ({prof.meta['model']}/{prof.meta['granularity']}) has no energy "
            f"(energy_source 'unavailable'); energy-aware partitioning needs it: use a profile with energy, "
            f"or model it from an assumed "
            f"average power (assume_power_w={{'{t}': WATTS}}, CLI --assume-power {t}=WATTS)")
    p = float(assume_power_w[t])
    if not math.isfinite(p) or p <= 0:
        raise ProblemBuildError(f"assumed power for {t!r} must be a positive number of watts, got {p!r}")
    note = {"energy_modelled": f"energy_j = {p:g} W (assumed average power, given by the user) x measured time_s; "
                               "the profile itself has no energy measurement"}
    return [p * x for x in times], note


def is_weight_stationary_type(device_type: str) -> bool:
    """CIM device types (``cim``, ``cim-...``): crossbars that only compute weight x activation products."""
    return any(device_type == p or device_type.startswith(p + "-") for p in WEIGHT_STATIONARY_PREFIXES)


def weight_stationary_units(df) -> list[bool]:
    """Per unit of a profile table: True when it is weight-stationary matrix work only (CIM may run it).

    False for kinds in :data:`NON_WEIGHT_STATIONARY_KINDS` and for any unit with activation x activation MACs
    (``act_macs`` column, LLM profiles).  CIM costs of such units are not modelled by NeuroSim."""
    act = [0] * len(df) if "act_macs" not in df.columns else [0 if v is None or v != v else int(v)
                                                                for v in df["act_macs"].astype("float")]
    return [not (str(k) in NON_WEIGHT_STATIONARY_KINDS or a > 0) for k, a in zip(df["kind"], act)]


def profile_allowed(df) -> list[bool] | None:
    """The profile's own ``allowed`` column (1 = this device type can run the unit), e.g. a CIM profile that
    cannot cost grouped convolutions (reason in its metadata); ``None`` when the profile has none."""
    if "allowed" not in df.columns:
        return None
    out = []
    for i, v in enumerate(df["allowed"]):
        if str(v).strip().lower() in ("1", "true", "1.0"):
            out.append(True)
        elif str(v).strip().lower() in ("0", "false", "0.0"):
            out.append(False)
        else:
            raise ProblemBuildError(f"unit {i}: column allowed must be 0 or 1, got {v!r}")
    return out


def realistic_memory(device_type: str) -> tuple[float, str] | None:
    """(bytes, source) of the ``realistic`` memory preset for a device type: a known type, else by its role
    prefix for CPUs (any ``cpu-...``: the edge CPU board) and CIM types; ``None`` for an unknown GPU."""
    if device_type in REALISTIC_MEMORY_BYTES:
        return REALISTIC_MEMORY_BYTES[device_type], MEMORY_SOURCES[device_type]
    for base in ("cpu-host", "cim"):
        prefix = base.split("-")[0]
        if device_type == prefix or device_type.startswith(prefix + "-"):
            return REALISTIC_MEMORY_BYTES[base], MEMORY_SOURCES[base] + f" (preset of {base}, by name prefix)"
    return None


def resolve_memory(types: Sequence[str], preset: str | None, overrides: Mapping[str, float] | None
                   ) -> tuple[dict[str, float], dict[str, str]]:
    """Memory per device type: the preset (``realistic`` or none) first, then the per-type ``overrides``; returns
    (bytes per type, source per type). A type the preset does not know needs an override."""
    if preset not in (None, "realistic"):
        raise ProblemBuildError(f"memory preset must be 'realistic', got {preset!r}")
    overrides = dict(overrides or {})
    mem: dict[str, float] = {}
    notes: dict[str, str] = {}
    if preset == "realistic":
        unknown = []
        for t in types:
            if t in overrides:
                continue
            r = realistic_memory(t)
            if r is None:
                unknown.append(t)
            else:
                mem[t], notes[t] = r
        if unknown:
            raise ProblemBuildError(f"no realistic memory size known for device type(s) {unknown}; give it, e.g. "
                                    f"--memory realistic --memory {unknown[0]}=8e9")
    for t, v in overrides.items():
        mem[t] = float(v)
        notes[t] = "given by the user"
    return mem, notes


def build_problem(profiles: Mapping[str, Profile], cluster: Mapping[str, int] | Sequence[str],
                  links: str | Mapping[str, Any], source: str | None = None,
                  memory_bytes: Mapping[str, float] | str | None = None, name: str | None = None,
                  input_bytes: float | None = None, assume_power_w: Mapping[str, float] | None = None,
                  media: Mapping[str, Any] | None = None,
                  allowed: Mapping[str, Sequence[bool]] | None = None,
                  memory_overrides: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Problem dict for ``cluster`` (device type -> count, or a list of device types, one per device).

    ``links`` is a medium name (all links) or a links spec ``{"default": m, "pairs": [[a, b, m], ...]}`` over
    the generated device names (``cpu0``, ``cpu1``, ``gpu0`` ...).  All profiles used must describe the same
    units (same names and out_bytes, in the same order).

    ``memory_bytes``: per device type, or ``"realistic"`` for :data:`REALISTIC_MEMORY_BYTES` (sources in the
    problem's meta); ``memory_overrides`` (per type) then replace or add entries, so ``"realistic"`` plus
    ``{"gpu-rtx3070ti": 2.5e9}`` keeps the preset for every other type.  A unit's memory is its ``weight_bytes`` plus,
    for LLM profiles, its KV cache at the
    profile's context (``kv_bytes``).  ``allowed``: per device type, which units it may run; by default CIM types
    (:func:`is_weight_stationary_type`) may run only :func:`weight_stationary_units`, every other type all.
    """
    if isinstance(cluster, Mapping):
        counts = dict(cluster)
    else:
        counts = {}
        for t in cluster:
            counts[t] = counts.get(t, 0) + 1
    if not counts:
        raise ProblemBuildError("cluster is empty: give at least one device")
    for t, c in counts.items():
        if isinstance(c, bool) or not isinstance(c, int) or c < 1:
            raise ProblemBuildError(f"cluster: device type {t!r} has count {c!r}; must be an integer >= 1")
    missing = [t for t in counts if t not in profiles]
    if missing:
        raise ProblemBuildError(f"no profile for device type(s) {missing}; available profiles: {sorted(profiles)}")

    types = list(counts)
    ref_t = types[0]
    ref = profiles[ref_t]
    ref_units, ref_out = list(ref.df["unit"]), [int(v) for v in ref.df["out_bytes"]]
    for t in types[1:]:
        _check_agree(ref_t, ref, t, profiles[t])

    model, gran = ref.meta["model"], ref.meta["granularity"]
    if input_bytes is None:
        given = [(t, profiles[t].meta["input_bytes"]) for t in types if "input_bytes" in profiles[t].meta]
        for t, v in given[1:]:
            if v != given[0][1]:
                raise ProblemBuildError(f"metadata input_bytes: {v!r} in {_label(t, profiles[t])} but {given[0][1]!r} "
                                        f"in {_label(given[0][0], profiles[given[0][0]])}; the model has one input")
        found = [v for _, v in given]
        if found:
            input_bytes = found[0]
        else:
            from .models import MODEL_NAMES, input_bytes as zoo_input_bytes

            if model not in MODEL_NAMES:
                raise ProblemBuildError(f"no input_bytes in the profiles of {model!r} and it is not a zoo model; "
                                        "pass input_bytes")
            input_bytes = zoo_input_bytes(model)

    mem_note = None
    if isinstance(memory_bytes, str):
        if memory_bytes != "realistic":
            raise ProblemBuildError(f"memory_bytes must be a mapping or 'realistic', got {memory_bytes!r}")
        memory_bytes, mem_note = resolve_memory(types, "realistic", memory_overrides)
    elif memory_overrides:
        memory_bytes = {**dict(memory_bytes or {}), **dict(memory_overrides)}
    allowed_map = dict(allowed or {})
    unknown_allowed = sorted(set(allowed_map) - set(types))
    if unknown_allowed:
        raise ProblemBuildError(f"allowed given for device type(s) {unknown_allowed} not in the cluster {types}")

    assume = dict(assume_power_w or {})
    device_types: dict[str, Any] = {}
    for t in types:
        p = profiles[t]
        energy, note = _profile_energy(t, p, assume)
        spec: dict[str, Any] = {"time_s": [float(v) for v in p.df["time_s"]], "energy_j": energy,
                                "meta": {**p.meta, **note}}
        if memory_bytes and t in memory_bytes:
            spec["memory_bytes"] = float(memory_bytes[t])
        mask = allowed_map.get(t)
        if mask is None and is_weight_stationary_type(t):
            mask = weight_stationary_units(p.df)
        own = profile_allowed(p.df) if t not in allowed_map else None
        if own is not None:
            mask = own if mask is None else [a and b for a, b in zip(mask, own)]
        if mask is not None:
            mask = [bool(v) for v in mask]
            if len(mask) != len(ref_units):
                raise ProblemBuildError(f"allowed[{t!r}] has {len(mask)} entries "
                                        f"but the model has {len(ref_units)} units")
            if not all(mask):  # all-true is the default: leave it out so CNN problems stay unchanged
                spec["allowed"] = mask
        device_types[t] = spec
    unknown_mem = sorted(set(memory_bytes or {}) - set(types))
    if unknown_mem:
        raise ProblemBuildError(f"memory_bytes given for device type(s) {unknown_mem} not in the cluster {types}")

    prefix = _device_prefixes(types)
    devices = [{"name": f"{prefix[t]}{i}", "type": t} for t in types for i in range(counts[t])]
    names = [d["name"] for d in devices]
    if source is not None and source not in names:
        raise ProblemBuildError(f"source {source!r} is not a device of the cluster; devices are {names}")

    if isinstance(links, str):
        links_desc = links
    elif isinstance(links, Mapping):
        links_desc = str(links.get("default", "mixed"))
        links = dict(links)
    else:
        raise ProblemBuildError(f"links must be a medium name or a links spec object, got {type(links).__name__}")
    cluster_desc = " + ".join(f"{c} {t}" for t, c in counts.items())
    resident = [int(w) for w in ref.df["weight_bytes"]]
    if "kv_bytes" in ref.df.columns:  # LLM: the KV cache stays on the device that runs the block
        resident = [w + int(k) for w, k in zip(resident, ref.df["kv_bytes"])]
    what = model
    if "kv_bytes" in ref.df.columns:  # LLM phase: say what one inference of the cost model is
        ctx = ref.meta.get("context")
        what = (f"{model} {gran} (1 inference = 1 token: tokens/s = inf/s, J/token = J/inf)" if gran == "decode"
                else f"{model} {gran} (1 inference = a prompt of {ctx} tokens)")
    problem: dict[str, Any] = {
        "name": name or f"{what} / {cluster_desc} / {links_desc}",
        "units": [{"name": u, "out_bytes": int(o), "weight_bytes": w}
                  for u, o, w in zip(ref_units, ref_out, resident)],
        "input_bytes": float(input_bytes),
        "device_types": device_types,
        "devices": devices,
        "links": links,
        "meta": {"model": model, "granularity": gran, "built_by": "donna_core.profiling.problem_builder",
                 "cluster": cluster_desc},
    }
    if "kv_bytes" in ref.df.columns:
        ctx = ref.meta.get("context")
        problem["meta"]["unit_memory"] = (f"units[].weight_bytes = parameters + KV cache at context {ctx} "
                                          "(FP32); one inference = one forward of this phase")
    if mem_note:
        problem["meta"]["memory_sources"] = mem_note
    if any("allowed" in s for s in device_types.values()):
        problem["meta"]["allowed_rule"] = (
            "CIM types run only weight-stationary units: not attention (QK^T, AV, softmax), LLM decoder blocks "
            "(contain attention) or embeddings (table gather), which NeuroSim does not model; a profile's own "
            "'allowed' column (reason in its meta 'not_allowed') is applied too")
    if media:
        problem["media"] = dict(media)
    if source is not None:
        problem["source"] = source
    _validate(problem)
    return problem


def _validate(problem: dict[str, Any]) -> None:
    """Run the solver's own validation so a bad medium or link fails here, naming the field."""
    try:
        from ..partition.problem import problem_from_dict
    except ImportError:  # solver core not present: the dict is still returned, validated on load
        return
    try:
        problem_from_dict(problem)
    except ValueError as exc:
        raise ProblemBuildError(f"built problem is invalid: {exc}") from None


def build_graph_problem(profiles: Mapping[str, Profile], edges: tuple[Mapping[str, Any], Sequence],
                        cluster: Mapping[str, int] | Sequence[str], links: str | Mapping[str, Any],
                        **kwargs: Any) -> dict[str, Any]:
    """Graph problem dict: :func:`build_problem` on ``graph`` profiles, plus ``"edges": [[u, v, bytes], ...]``.

    ``edges`` = ``(metadata, [(u, v, bytes), ...])`` as :func:`graph_profiles.read_edges` returns them; the
    profiles' units must be the edges file's units.  ``units[].out_bytes`` is left out (a graph problem's
    transfers are its edges).  Other keyword arguments as for :func:`build_problem`.
    """
    meta, edge_list = edges
    first = next(iter(profiles.values()), None)
    if first is not None and first.meta.get("granularity") != "graph":
        raise ProblemBuildError("graph problems need 'graph' profiles, "
                                f"got granularity {first.meta.get('granularity')!r}")
    if kwargs.get("input_bytes") is None and "input_bytes" in meta:
        kwargs["input_bytes"] = meta["input_bytes"]
    problem = build_problem(profiles, cluster, links, **kwargs)
    names = [u["name"] for u in problem["units"]]
    if names != list(meta.get("units", [])):
        raise ProblemBuildError(f"edges file of {meta.get('model')!r} lists {len(meta.get('units', []))} units that "
                                f"differ from the profiles' {len(names)} units (rebuild both)")
    for u in problem["units"]:
        u.pop("out_bytes", None)
    problem["edges"] = [[int(u), int(v), int(b)] for u, v, b in edge_list]
    problem["name"] = problem["name"].replace(f"{problem['meta']['model']} /", f"{problem['meta']['model']} graph /", 1)
    problem["meta"]["edges"] = {"source": meta.get("source"), "input_units": meta.get("input_units"),
                                "date": meta.get("date")}
    return problem
