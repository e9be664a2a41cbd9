"""The optional ``edges`` of a problem file: a DAG over the units.

``"edges": [[u, v, bytes], ...]`` with 0-based unit indices and ``u < v`` (units are listed in a topological
order, so ``u < v`` alone rules out cycles); ``bytes`` is the size of the tensor u's output contributes to v.
Units with no incoming edge read the model input. Every mistake raises :class:`ProblemError` naming the edge.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import ProblemError


@dataclass(frozen=True, eq=False)
class Graph:
    """Edges as parallel arrays (sorted by ``(src, dst)``) and the units that read the model input."""

    src: np.ndarray          # (E,) int
    dst: np.ndarray          # (E,) int
    nbytes: np.ndarray       # (E,) float
    input_units: np.ndarray  # (k,) int: units with no incoming edge

    @property
    def E(self) -> int:
        return len(self.src)

    def successors(self, L: int) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in range(L)]
        for e in range(self.E):
            out[int(self.src[e])].append(e)
        return out

    def predecessors(self, L: int) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in range(L)]
        for e in range(self.E):
            out[int(self.dst[e])].append(e)
        return out


def _index(value, path: str, L: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ProblemError(f"{path}: must be a unit index (integer), got {value!r:.60}")
    if not 0 <= value < L:
        raise ProblemError(f"{path}: unknown unit index {value}; units are 0..{L - 1}")
    return value


def _bytes(value, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProblemError(f"{path}: must be a number of bytes, got {value!r:.60}")
    try:
        x = float(value)
    except OverflowError:
        raise ProblemError(f"{path}: is too large for a float") from None
    if math.isnan(x) or math.isinf(x) or x < 0:
        raise ProblemError(f"{path}: must be a finite number >= 0, got {value!r}")
    return x


def parse_edges(edges, L: int) -> Graph:
    """Validate the ``edges`` list of a problem with ``L`` units."""
    if not isinstance(edges, list):
        raise ProblemError(f"edges: must be a list of [u, v, bytes] triples, got {type(edges).__name__}")
    seen: dict[tuple[int, int], int] = {}
    rows = []
    for k, edge in enumerate(edges):
        path = f"edges[{k}]"
        if not (isinstance(edge, list) and len(edge) == 3):
            raise ProblemError(f"{path}: must be [u, v, bytes], got {edge!r:.60}")
        u = _index(edge[0], path + "[0]", L)
        v = _index(edge[1], path + "[1]", L)
        if u >= v:
            raise ProblemError(f"{path}: u = {u} >= v = {v}; units must be listed in a topological order "
                               "(every edge goes from a lower to a higher index, which also rules out cycles)")
        if (u, v) in seen:
            raise ProblemError(f"{path}: duplicate edge {u} -> {v} (also edges[{seen[(u, v)]}])")
        seen[(u, v)] = k
        rows.append((u, v, _bytes(edge[2], path + "[2]")))
    rows.sort()
    src = np.array([r[0] for r in rows], dtype=int)
    dst = np.array([r[1] for r in rows], dtype=int)
    nbytes = np.array([r[2] for r in rows], dtype=float)
    has_in = np.zeros(L, dtype=bool)
    has_in[dst] = True
    return Graph(src, dst, nbytes, np.nonzero(~has_in)[0])


def default_out_bytes(g: Graph, L: int) -> list[float]:
    """``out_bytes`` of a graph problem that omits it: the largest tensor each unit sends (0 for sinks). The
    graph cost model never reads it; it only keeps the chain-shaped fields of :class:`Problem` filled."""
    out = np.zeros(L)
    np.maximum.at(out, g.src, g.nbytes)
    return out.tolist()


def check_edge_sums(g: Graph, max_sum: float, media=()) -> None:
    """Refuse edges whose summed bytes, or summed message time / energy over a used medium (every edge a
    message, as in the normalisation), exceed ``max_sum``: such costs could no longer be compared."""
    total = float(np.sum(g.nbytes)) if g.E else 0.0
    if not total <= max_sum:
        raise ProblemError(f"edges[*][2]: the sum of edge bytes is {total:.3g}, beyond {max_sum:.0e}: costs this "
                           "large cannot be compared (rescale the units)")
    with np.errstate(over="ignore"):
        for name, med in media:
            t = g.E * med.latency_s + total / med.bandwidth_Bps
            e = 8.0 * total * med.energy_J_per_bit
            if not (t <= max_sum and e <= max_sum):
                raise ProblemError(f'media["{name}"]: every edge sent over it would take {t:.3g} s and '
                                   f"{e:.3g} J, beyond {max_sum:.0e}: costs this large cannot be compared")
