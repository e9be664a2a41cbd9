"""The one text form of a plan: ``cpu0:0-40|gpu0:41-155`` (device, 0-based inclusive unit range, pipeline order).

Used by every table, figure and report that prints a plan, so plans from different tools compare as strings.
"""
from __future__ import annotations

from typing import Iterable


def plan_string(plan: Iterable) -> str:
    """``plan`` as stages (objects with ``device``, ``first``, ``last``) or ``(device, first, last)`` triples."""
    parts = []
    for s in plan:
        d, f, l = (s.device, s.first, s.last) if hasattr(s, "device") else s
        parts.append(f"{d}:{int(f)}-{int(l)}")
    return "|".join(parts)
