"""The exact Pareto front of (bottleneck, energy) of a small graph problem, by enumerating every assignment.

All ``D ** L`` assignments are costed (vectorised, in chunks, in lexicographic order: unit 0 most significant)
and the non-dominated ones kept: bottleneck ascending, energy strictly descending; among assignments with the
same (bottleneck, energy) the lexicographically smallest (by device index) is kept. Refused above
``MAX_ASSIGNMENTS``.
"""
from __future__ import annotations

import numpy as np

from .graph_costs import GraphTables, all_assignments, evaluate_many

MAX_ASSIGNMENTS = 4_000_000
CHUNK = 200_000


class FrontTooLargeError(ValueError):
    pass


def graph_front(gt: GraphTables) -> list[np.ndarray]:
    total = gt.D ** gt.L
    if total > MAX_ASSIGNMENTS:
        raise FrontTooLargeError(f"the exact front of a graph problem enumerates every assignment: {gt.D}^{gt.L} = "
                                 f"{total:.3g} > {MAX_ASSIGNMENTS:.0e}; solve for single alphas instead "
                                 "(donna solve --alpha A)")
    cand_b, cand_e, cand_i = [], [], []
    for start in range(0, total, CHUNK):
        A = all_assignments(gt.L, gt.D, start, min(total, start + CHUNK))
        b, e = evaluate_many(gt, A)
        keep = _pareto(b, e)
        cand_b.append(b[keep])
        cand_e.append(e[keep])
        cand_i.append(np.arange(start, start + len(A))[keep])
    b, e, idx = np.concatenate(cand_b), np.concatenate(cand_e), np.concatenate(cand_i)
    keep = _pareto(b, e)
    return [all_assignments(gt.L, gt.D, int(i), int(i) + 1)[0] for i in idx[keep]]


def _pareto(b: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated finite points, bottleneck ascending (ties: the earliest index)."""
    finite = np.nonzero(np.isfinite(b))[0]
    order = finite[np.lexsort((finite, e[finite], b[finite]))]
    out, best_e = [], np.inf
    for i in order:
        if e[i] < best_e:
            out.append(i)
            best_e = e[i]
    return np.array(out, dtype=int)
