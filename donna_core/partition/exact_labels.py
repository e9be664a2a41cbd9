"""The front search's labels and their pruning: per state, only the non-dominated ``(B, E)`` labels survive.

A label is one partial plan at a state ``(m, a, j)`` of the recurrence in :mod:`.exact`: its bottleneck ``B``
and energy ``E`` so far, its device sequence key ``code`` (a dense rank within its level, see
:func:`.exact_dp.dense_dp`), its last device, the start ``pj`` of its last stage and the index of its
``parent`` label one level up (to rebuild the plan).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .ties import TIE_RTOL


@dataclass
class Labels:
    """One level's labels, a column of equal length per field."""
    m: np.ndarray        # count vector code (devices used, per class)
    a: np.ndarray        # class of the last stage's device
    j: np.ndarray        # units done
    B: np.ndarray        # bottleneck so far (raised to the least any completion must have)
    E: np.ndarray        # energy so far
    code: np.ndarray     # device sequence key (int64)
    dev: np.ndarray      # last stage's device
    pj: np.ndarray       # first unit of the last stage
    parent: np.ndarray   # index of the label this one extends, in the previous level (-1 at the first)

    def __len__(self) -> int:
        return len(self.B)

    def take(self, idx) -> "Labels":
        """The labels at ``idx`` (indices or a boolean mask), every field alike."""
        return Labels(*(getattr(self, f.name)[idx] for f in fields(self)))

    @staticmethod
    def concat(parts: list["Labels"]) -> "Labels":
        return Labels(*(np.concatenate([getattr(q, f.name) for q in parts]) for f in fields(Labels)))


LABEL_FIELDS = len(fields(Labels))


def box_dominated(g, B, E) -> np.ndarray:
    """Labels the dominance sort below would drop anyway, found in O(n) without sorting: per state, with Y1 the
    least-energy label of least bottleneck among them and Y2 the least-bottleneck label of least energy among
    them, a label with a larger bottleneck than Y1's (or equal and more energy), or with at least Y2's energy
    and after Y2 in the sort order, is dominated by an earlier label whose energy it does not undercut (so the
    running minimum the sort uses is unchanged by dropping it). Most candidates fall outside that box."""
    if len(g) < 4096:
        return np.zeros(len(g), dtype=bool)
    _, gi = np.unique(g, return_inverse=True) if g.max() >= 4 * len(g) else (None, g)
    n = int(gi.max()) + 1
    e_min = np.full(n, np.inf)
    np.minimum.at(e_min, gi, E)
    b1 = np.full(n, np.inf)
    at = E == e_min[gi]
    np.minimum.at(b1, gi[at], B[at])
    b_min = np.full(n, np.inf)
    np.minimum.at(b_min, gi, B)
    e2 = np.full(n, np.inf)
    at = B == b_min[gi]
    np.minimum.at(e2, gi[at], E[at])
    B1, Em, Bm, E2 = b1[gi], e_min[gi], b_min[gi], e2[gi]
    by_y1 = (B > B1) | ((B == B1) & (E > Em))
    by_y2 = (E >= E2) & ((B > Bm) | ((B == Bm) & (E > E2)))
    return by_y1 | by_y2


def _sort_labels(g, B, E, code, pj) -> np.ndarray:
    """``np.lexsort((pj, code, E, B, g))``, faster: sort on (g, B, E) and re-sort only the runs that tie on all
    three by (code, pj) (rare; every sort here is stable, so the result is the same permutation)."""
    # three stable passes (last key first) = lexsort; the state key g usually fits 16 bits, where numpy's
    # stable sort is a radix sort
    order = np.argsort(E, kind="stable")
    # dense ranks of E from this pass, kept for the running minimum in prune (saves sorting E again)
    e_sorted = E[order]
    step = np.concatenate([[0], (e_sorted[1:] != e_sorted[:-1]).cumsum()])
    e_rank = np.empty(len(E), dtype=np.int64)
    e_rank[order] = step
    e_vals = e_sorted[np.concatenate([[True], e_sorted[1:] != e_sorted[:-1]])]
    order = order[np.argsort(B[order], kind="stable")]
    gk = g[order]
    order = order[np.argsort(gk.astype(np.uint16) if gk.max() < 65536 else gk, kind="stable")]
    gs, bs, es = g[order], B[order], E[order]
    tie = (gs[1:] == gs[:-1]) & (bs[1:] == bs[:-1]) & (es[1:] == es[:-1])
    if tie.any():
        in_run = np.zeros(len(order), dtype=bool)
        in_run[1:] |= tie
        in_run[:-1] |= tie
        pos = np.nonzero(in_run)[0]
        run = np.cumsum(np.concatenate([[True], ~tie]))[pos]      # run id of each tied position
        sub = order[pos]
        order[pos] = sub[np.lexsort((pj[sub], code[sub], run))]
    return order, e_vals, e_rank


def _group_cummin(x: np.ndarray, start: np.ndarray, ranked=None) -> np.ndarray:
    """Running minimum of ``x`` restarted wherever ``start`` is True (contiguous groups), exactly, without pandas:
    values become integer ranks, each group is offset above every later group, so one global running minimum
    never carries a value across a group boundary; the ranks map back to the very same floats. ``ranked``
    (optional): ``(sorted unique values, rank of each x)`` when the caller has them already."""
    u, rank = ranked if ranked is not None else np.unique(x, return_inverse=True)
    gid = np.cumsum(start) - 1
    key = (gid[-1] - gid) * np.int64(len(u)) + rank.reshape(-1)
    return u[np.minimum.accumulate(key) % len(u)]


def prune(lab: Labels, K: int, L1: int, keep_fn=None) -> Labels:
    """Keep, per state (m, a, j), the non-dominated (B, E) labels; among equal labels the tie-rule winner.
    The survivors stay grouped by state, bottleneck ascending (energy descending)."""
    if keep_fn is not None:
        lab = keep_fn(lab)
    if len(lab) == 0:
        return lab
    g = (lab.m * K + lab.a) * L1 + lab.j
    drop = box_dominated(g, lab.B, lab.E)
    if drop.any():
        lab = lab.take(~drop)
        g = g[~drop]
    order, e_vals, e_rank = _sort_labels(g, lab.B, lab.E, lab.code, lab.pj)
    gs = g[order]
    es = lab.E[order]
    start = np.empty(len(gs), dtype=bool)
    start[0] = True
    start[1:] = gs[1:] != gs[:-1]
    # within a group (sorted by B, then E) a label survives iff its E is below every earlier label's E
    run = _group_cummin(es, start, (e_vals, e_rank[order]))
    prev = np.empty_like(run)
    prev[0] = np.inf
    prev[1:] = run[:-1]
    prev[start] = np.inf
    with np.errstate(invalid="ignore"):
        keep = es < np.where(np.isfinite(prev), prev - TIE_RTOL * np.abs(prev), np.inf)
    idx = order[keep]
    out = lab.take(idx)
    # sequence keys (prefix rank, last device) -> dense ranks within this level, see exact_dp.dense_dp
    out.code = np.unique(out.code, return_inverse=True)[1].reshape(-1).astype(np.int64) + 1
    return out
