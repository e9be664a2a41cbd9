"""The α-optimum on an exact Pareto front, with the documented tie rule — the one place that picks it.

The weighted objective ``α B / norm.time_s + (1 − α) E / norm.energy_j`` increases in both the bottleneck B and
the energy E, so its minimiser lies on the front. Ties (objectives within :data:`~.ties.TIE_RTOL` of the least)
go to the plan with fewer stages, then to the lexicographically smaller device sequence compared by device
*index* (the order of ``Problem.device_names``; not by name, since devices are built cpu, gpu, cim and
``"cim0" < "cpu0"``), then to the smaller bottleneck (front points have distinct bottlenecks, so this decides;
the objective itself would not: its last bits depend on the order in which the costs were summed).
``solve(..., solver="exact")`` and the explorer both pick here.
"""
from __future__ import annotations

from typing import Callable, Sequence

from .costs import objective
from .ties import TIE_RTOL


def select_on_front(front: Sequence, alpha: float, norm: dict,
                    device_index: Callable[[object], int] | None = None) -> int:
    """Index into ``front`` of the α-optimal point.

    ``front`` items are ``(bottleneck_s, energy_j, plan)`` triples (``plan`` = ``[(device, first, last), …]``)
    or objects with ``bottleneck_s``, ``energy_j`` and ``plan()`` (solver Results). ``device_index`` maps a
    plan's device entry to its index (e.g. ``Problem.device_index`` for names); by default entries are indices.
    """
    if not front:
        raise ValueError("the Pareto front is empty (no feasible plan)")
    index = device_index or int
    points = [(p.bottleneck_s, p.energy_j, p.plan()) if hasattr(p, "plan") else tuple(p) for p in front]
    obj = [objective(alpha, b, e, norm) for b, e, _ in points]
    lo = min(obj)
    ties = [i for i, o in enumerate(obj) if o <= lo + TIE_RTOL * abs(lo)]
    return min(ties, key=lambda i: (len(points[i][2]), [index(d) for d, _, _ in points[i][2]], points[i][0]))
