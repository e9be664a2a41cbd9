"""What profiles exist: one entry per ``<root>/<model>/<granularity>/<device_type>.csv``, with its provenance.

Reads only each file's metadata line (no pandas), so listing a folder of profiles is cheap; used by
``donna problem --list-types``, ``donna devices`` and the explorer's device-type pickers.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .profiles import GRANULARITIES, HEADER_PREFIX

ROLES = ("cpu", "gpu", "cim")


@dataclass(frozen=True)
class ProfileEntry:
    model: str
    granularity: str
    device_type: str
    role: str          # cpu | gpu | cim (from the type name's prefix) | other
    source_kind: str   # measured | simulated | modelled | ? (unreadable metadata)
    source: str        # the metadata's one-line source description
    path: str

    def label(self) -> str:
        return f"{self.device_type} ({self.source_kind})"


def role_of(device_type: str) -> str:
    """``cpu-mine`` -> cpu, ``gpu-rtx3070ti`` -> gpu, ``cim`` -> cim; anything else -> other."""
    head = device_type.split("-", 1)[0].lower()
    return head if head in ROLES else "other"


def _meta(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            first = fh.readline()
        return json.loads(first[len(HEADER_PREFIX):]) if first.startswith(HEADER_PREFIX) else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}


def profile_catalog(root: str | os.PathLike, model: str | None = None) -> list[ProfileEntry]:
    """Every profile under ``root`` (optionally of one model), sorted by model, granularity, role, type."""
    root = Path(root)
    out = []
    models = [root / model] if model else (sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else [])
    for m in models:
        if not m.is_dir():
            continue
        for g in sorted(p for p in m.iterdir() if p.is_dir() and p.name in GRANULARITIES):
            for f in sorted(g.glob("*.csv")):
                meta = _meta(f)
                out.append(ProfileEntry(m.name, g.name, f.stem, role_of(f.stem), str(meta.get("source_kind", "?")),
                                        str(meta.get("source", "")), str(f)))
    order = {r: i for i, r in enumerate(ROLES + ("other",))}
    return sorted(out, key=lambda e: (e.model, e.granularity, order[e.role], e.device_type))


def device_type_choices(entries: list[ProfileEntry], model: str, granularity: str) -> dict[str, list[ProfileEntry]]:
    """Role -> the profiles of ``model`` at ``granularity`` that can fill that role (a picker's options)."""
    out: dict[str, list[ProfileEntry]] = {r: [] for r in ROLES}
    for e in entries:
        if e.model == model and e.granularity == granularity and e.role in out:
            out[e.role].append(e)
    return out


def complete_settings(entries: list[ProfileEntry]) -> list[tuple[str, str]]:
    """(model, granularity) pairs with at least one profile for every role: what the explorer can offer."""
    seen: dict[tuple[str, str], set[str]] = {}
    for e in entries:
        seen.setdefault((e.model, e.granularity), set()).add(e.role)
    return sorted(k for k, roles in seen.items() if set(ROLES) <= roles)


def format_catalog(entries: list[ProfileEntry]) -> str:
    """One line per profile: model/granularity, device type, role, provenance."""
    return "\n".join(f"{e.model}/{e.granularity}\t{e.device_type}\t{e.role}\t{e.source_kind}\t{e.source[:90]}"
                     for e in entries)
