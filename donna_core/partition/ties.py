"""The tolerance of the chain solvers' tie rule and the lexicographic minimum that applies it.

Costs that agree to 12 significant digits are ties: the same real energy summed in another order (plan
evaluation vs. DP accumulation) differs in the last bits, and float noise must not override the tie rule (the
rule itself is stated in :mod:`.exact` and, for the front, :mod:`.front_select`).
"""
from __future__ import annotations

import numpy as np

TIE_RTOL = 1e-12


def _lexmask(keys: list[np.ndarray], axis: int) -> np.ndarray:
    """Mask of the entries that tie for the lexicographic minimum of ``keys`` along ``axis``."""
    mask = None
    for key in keys:
        is_float = key.dtype.kind == "f"
        big = np.inf if is_float else np.iinfo(key.dtype).max
        kk = key if mask is None else np.where(mask, key, big)
        lo = np.expand_dims(kk.min(axis=axis), axis)
        sel = (kk <= lo + TIE_RTOL * np.abs(lo)) if is_float else (kk == lo)
        mask = sel if mask is None else mask & sel
    return mask


def lexmin(keys: list[np.ndarray], axis: int = 0) -> np.ndarray:
    """Index along ``axis`` of the lexicographic minimum of ``keys`` (2-D) for every column (row); float keys
    within :data:`TIE_RTOL` of the least tie, integer keys tie only when equal."""
    return _lexmask(keys, axis).argmax(axis=axis)


def lexmin_rows(keys: list[np.ndarray], more) -> np.ndarray:
    """``lexmin(keys + more(rows), axis=1)`` for every row whose least first key is finite, building the further
    keys only for the rows where the first key leaves a tie: ``more(rows)`` returns them for those rows alone.
    (Rows whose first key is all ``inf`` get an arbitrary index: their minimum is ``inf`` whatever is picked.)"""
    first = keys[0]
    best = first.argmin(axis=1)
    lo = first[np.arange(len(first)), best]
    # where the least entry is the only one within the tolerance, it is the lexicographic minimum
    near = np.count_nonzero(first <= (lo + TIE_RTOL * np.abs(lo))[:, None], axis=1)
    tied = np.nonzero((near > 1) & np.isfinite(lo))[0]
    if len(tied):
        best[tied] = lexmin([k[tied] for k in keys] + more(tied), axis=1)
    return best
