"""The device-type profiles behind the paper's scenarios: which file each role (cpu/gpu/cim) reads, loading and
checking them, and the profile tables and legends the figures show (Fig. 2a-b, the data-source table).

Device types (the paper's Section III-A):
    cpu = ``cpu-xeon-w3323`` (modelled from its spec sheet), gpu = ``gpu-rtx3070ti`` (modelled),
    cim = ``cim`` (simulated with DNN+NeuroSim V1.3). ``device_files(cpu="host")`` swaps in the CPU profile
    measured on this machine (``cpu-host``). Only reads files; :mod:`.scenarios` builds problems from them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .. import config

REPO_ROOT = config.ROOT
DEFAULT_PROFILES_DIR = config.profiles_root()
PAPER_DEVICE_FILES: dict[str, str] = {"cpu": "cpu-xeon-w3323", "gpu": "gpu-rtx3070ti", "cim": "cim"}
HOST_CPU_FILE = "cpu-host"


class ScenarioError(ValueError):
    """A scenario cannot be built from the given profiles/parameters (the message says what and where)."""


@dataclass(eq=False)
class TypeProfile:
    """One device type's per-unit profile of one model, with its provenance."""

    role: str                 # device-type key used in problems: "cpu" | "gpu" | "cim"
    device_type: str          # profile file stem, e.g. "cpu-xeon-w3323"
    model: str
    meta: dict
    table: pd.DataFrame       # one row per unit: unit, time_s, energy_j, out_bytes, weight_bytes, geometry…
    path: str = ""

    @property
    def source_kind(self) -> str:
        return str(self.meta.get("source_kind", "unknown"))

    @property
    def source(self) -> str:
        return str(self.meta.get("source", ""))

    @property
    def label(self) -> str:
        """Legend label: role, device and data source, e.g. ``gpu (gpu-rtx3070ti, modelled)``."""
        if "assumed_power_w" in self.meta:
            return (f"{self.role} ({self.device_type}, {self.source_kind} time, "
                    f"energy = {self.meta['assumed_power_w']:g} W x time)")
        return f"{self.role} ({self.device_type}, {self.source_kind})"


def device_files(cpu: str = "paper") -> dict[str, str]:
    """Role → profile file stem. ``cpu="paper"``: modelled Xeon W-3323; ``cpu="host"``: measured here."""
    if cpu == "paper":
        return dict(PAPER_DEVICE_FILES)
    if cpu == "host":
        return {**PAPER_DEVICE_FILES, "cpu": HOST_CPU_FILE}
    raise ScenarioError(f"cpu must be 'paper' (modelled Xeon W-3323) or 'host' (measured cpu-host), got {cpu!r}")


def profile_path(model: str, device_type: str, granularity: str = "layer",
                 profiles_dir: str | Path = DEFAULT_PROFILES_DIR) -> Path:
    return Path(profiles_dir) / model / granularity / f"{device_type}.csv"


def read_type_profile(path: str | Path, role: str, assume_power_w: float | None = None) -> TypeProfile:
    """Read one profile file (validated by donna_core.profiling.profiles) and check what the scenarios need from it.

    A profile without energy (``energy_source`` ``unavailable``, e.g. measured on a host without RAPL) is
    only usable with ``assume_power_w``: energy is then modelled as that average power × the profile's time,
    and the metadata says so (``energy_source`` ``model``, ``energy_note``).
    """
    from donna_core.profiling.profiles import read_profile

    path = Path(path)
    prof = read_profile(path)  # raises ProfileError (a ValueError) naming the file, line and column
    meta, table = dict(prof.meta), prof.df.copy()
    if table["energy_j"].isna().any():
        if assume_power_w is None:
            raise ScenarioError(
                f"{path}: energy_j is empty (energy_source={meta.get('energy_source')!r}); an energy-aware "
                "scenario needs per-unit energy for every device type: give an assumed average power "
                "(cpu_power_w) to model it as power × measured time")
        w = float(assume_power_w)
        if not (w > 0 and math.isfinite(w)):
            raise ScenarioError(f"assumed power for {role!r} must be a positive number of watts, "
                                f"got {assume_power_w!r}")
        table["energy_j"] = w * table["time_s"].astype(float)
        meta.update(energy_source="model", assumed_power_w=w,
                    energy_note=f"energy_j = {w:g} W (assumed average power) x {meta.get('source_kind')} time_s")
    return TypeProfile(role=role, device_type=str(meta["device_type"]), model=str(meta["model"]), meta=meta,
                       table=table.reset_index(drop=True), path=str(path))


def load_model_profiles(model: str, files: Mapping[str, str] | None = None, granularity: str = "layer",
                        profiles_dir: str | Path = DEFAULT_PROFILES_DIR, roles: Iterable[str] | None = None,
                        assume_power_w: Mapping[str, float] | None = None) -> dict[str, TypeProfile]:
    """Role → TypeProfile for one model; all roles must describe the same units.

    ``assume_power_w`` (role → watts) models the energy of profiles that have none (see read_type_profile).
    """
    files = dict(files or PAPER_DEVICE_FILES)
    roles = list(roles) if roles is not None else list(files)
    out: dict[str, TypeProfile] = {}
    for role in roles:
        if role not in files:
            raise ScenarioError(f"no profile file given for device role {role!r} (known: {sorted(files)})")
        out[role] = read_type_profile(profile_path(model, files[role], granularity, profiles_dir), role,
                                      (assume_power_w or {}).get(role))
    check_same_units(out)
    return out


def load_paper_profiles(models: Sequence[str], cpu: str = "paper", profiles_dir: str | Path | None = None,
                        cpu_power_w: float | None = None,
                        granularity: str = "layer") -> dict[str, dict[str, TypeProfile]]:
    """Model → role → TypeProfile for the paper's three device roles.

    ``cpu``: "paper" (modelled Xeon W-3323) or "host" (measured here); ``cpu_power_w`` models the energy of a
    CPU profile that has none (a host without RAPL) as that power × its measured time.
    """
    files = device_files(cpu)
    assume = {"cpu": float(cpu_power_w)} if cpu_power_w is not None else None
    return {m: load_model_profiles(m, files, granularity, profiles_dir or DEFAULT_PROFILES_DIR, assume_power_w=assume)
            for m in models}


def check_same_units(profiles: Mapping[str, TypeProfile]) -> None:
    """Raise ScenarioError unless every profile lists the same units with the same out_bytes."""
    ref_role, ref = None, None
    for role, prof in profiles.items():
        if ref is None:
            ref_role, ref = role, prof
            continue
        a, b = ref.table, prof.table
        if len(a) != len(b):
            raise ScenarioError(f"{prof.path or role}: {len(b)} units but {ref.path or ref_role} has {len(a)}")
        if list(a["unit"]) != list(b["unit"]):
            i = next(k for k, (x, y) in enumerate(zip(a["unit"], b["unit"])) if x != y)
            raise ScenarioError(f"{prof.path or role}: unit {i} is {b['unit'][i]!r}, "
                                f"{ref.path or ref_role} has {a['unit'][i]!r}")
        if not np.array_equal(a["out_bytes"].to_numpy(), b["out_bytes"].to_numpy()):
            raise ScenarioError(f"{prof.path or role}: out_bytes differ from {ref.path or ref_role}")


def input_bytes_of(profile: TypeProfile) -> int:
    """Bytes of the model's input (float32): metadata ``input_bytes`` if present, else the first unit's IFM."""
    if "input_bytes" in profile.meta:
        return int(profile.meta["input_bytes"])
    row = profile.table.iloc[0]
    try:
        h, w, c = (int(row[k]) for k in ("in_h", "in_w", "in_c"))
    except (KeyError, ValueError, TypeError):
        raise ScenarioError(f"{profile.path}: no input_bytes in the metadata and no in_h/in_w/in_c geometry on "
                            "the first unit, so the model's input size is unknown") from None
    return h * w * c * 4


def profile_long_table(profiles_by_model: Mapping[str, Mapping[str, TypeProfile]]) -> pd.DataFrame:
    """Fig. 2a-b data: one row per (model, device type, unit) with time, energy and the data source."""
    frames = []
    for model, profs in profiles_by_model.items():
        for role, p in profs.items():
            t = p.table
            frames.append(pd.DataFrame({
                "model": model, "role": role, "device_type": p.device_type, "source_kind": p.source_kind,
                "label": p.label, "unit_index": np.arange(len(t)), "unit": t["unit"].astype(str),
                "kind": t["kind"].astype(str) if "kind" in t.columns else "",
                "time_s": t["time_s"].astype(float), "energy_j": t["energy_j"].astype(float)}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def sources_table(profiles_by_model: Mapping[str, Mapping[str, TypeProfile]]) -> pd.DataFrame:
    """Provenance of every profile used: model, role, device type, source kind, source, file."""
    rows = [{"model": m, "role": r, "device_type": p.device_type, "source_kind": p.source_kind,
             "energy_source": p.meta.get("energy_source", ""),
             "source": p.source + (f"; {p.meta['energy_note']}" if "energy_note" in p.meta else ""),
             "path": _display_path(p.path)}
            for m, profs in profiles_by_model.items() for r, p in profs.items()]
    return pd.DataFrame(rows)


def _display_path(path) -> str:
    """Repository-relative path when inside the repository, so outputs do not depend on the checkout folder."""
    try:
        return Path(path).resolve().relative_to(REPO_ROOT).as_posix()
    except (ValueError, TypeError):
        return str(path)


def sources_label(profiles_by_model: Mapping[str, Mapping[str, TypeProfile]]) -> str:
    """One-line legend text naming each device role's profile and data source, e.g.
    ``data: cpu = cpu-xeon-w3323 (modelled), cim = cim (simulated)``."""
    seen: dict[str, set] = {}
    for profs in profiles_by_model.values():
        for r, p in profs.items():
            seen.setdefault(r, set()).add(p.label.split(" ", 1)[1].strip("()").replace(", ", " (", 1) + ")")
    return "data: " + ", ".join(f"{r} = {' / '.join(sorted(v))}" for r, v in seen.items())
