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
