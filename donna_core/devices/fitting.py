"""Small least-squares helpers shared by the device models (numpy only, no SciPy dependency)."""
from __future__ import annotations

import numpy as np


def nnls(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """min ||A c - b||^2 subject to c >= 0, by refitting without the most negative coefficient until none is.

    Columns are scaled to unit max first so that features of very different magnitudes (seconds per MAC vs.
    seconds per layer) do not make the least-squares solve ill-conditioned.
    """
    scale = np.maximum(np.abs(A).max(axis=0), 1e-300)
    A = A / scale
    active = list(range(A.shape[1]))
    coef = np.zeros(A.shape[1])
    while active:
        sol, *_ = np.linalg.lstsq(A[:, active], b, rcond=None)
        if np.all(sol >= 0):
            coef[active] = sol
            break
        active.pop(int(np.argmin(sol)))
    return coef / scale


def nnls_relative(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative fit of ``X c ~ y`` minimising the sum of squared *relative* errors ((X c - y) / y)^2."""
    return nnls(X / y[:, None], np.ones_like(y))
