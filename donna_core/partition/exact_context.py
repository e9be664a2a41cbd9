"""The arrays the exact chain solver's DPs share for one problem (:class:`SolverContext`): device classes,
prefix-sum stage costs, the dense stage tables and the backward completion tables (least bottleneck / least
energy of the units left on the devices left) that the label search uses as exact bounds.

Every table whose size the guard counts is allocated with the shape :func:`.exact_sizes.exact_arrays` gives it.
"""
from __future__ import annotations

import numpy as np

from .classes import DeviceClasses, device_classes
from .costs import Tables
from .exact_sizes import array_shapes
from .stage_windows import dense_tables, end_hi, stage_cost, start_lo


class SolverContext:
    """Arrays shared by the DPs of one problem. Stage costs come from the prefix sums of
    :class:`~donna_core.partition.costs.Tables` (:mod:`.stage_windows`); the dense ``T x (L+1)^2`` stage tables
    (:attr:`st`, :attr:`se`) are built only when a completion bound of the front search asks for them."""

    def __init__(self, tb: Tables, cl: DeviceClasses | None = None):
        p = tb.p
        tb.check_runnable()
        self.tb, self.p = tb, p
        self.cl = cl or device_classes(p)
        self.L = p.L
        # shapes of the tables the guard counts, from the one list both read
        self.shapes = array_shapes(self.cl.M, self.cl.K, p.time_s.shape[0], p.L)
        self.base = p.D + 1
        self.types = np.unique(p.device_type)
        # least energy any completion still has to spend: units j.. on their cheapest present type
        types = self.types
        e_min = np.where(p.allowed[types], p.energy_j[types], np.inf).min(axis=0)
        self.e_rest = np.concatenate([np.cumsum(e_min[::-1])[::-1], [0.0]])
        # h_energy[t, k] - h_energy[t, j] = stage energy on t minus the cheapest types' energy over j..k-1:
        # non-decreasing in k, so the energy window of a stage is one searchsorted (see _Bound.windows)
        # (units a type may not run never lie inside one of its stages: their increment is set to 0 so that the
        # whole row stays sorted for searchsorted, while differences inside any feasible stage are unchanged)
        inc = np.where(p.allowed, p.energy_j - e_min[None, :], 0.0)
        self.h_energy = np.concatenate([np.zeros((len(inc), 1)), np.cumsum(np.maximum(inc, 0.0), axis=1)], axis=1)
        self._dense = None
        self._n_fin = None
        self._lo = {}
        self._b_rest = None
        self._e_rest_r = self._e_rest_rb = None

    @property
    def st(self) -> np.ndarray:
        """Dense stage times ``[t, j, k]`` (``inf`` where not feasible); built on first use."""
        if self._dense is None:
            self._dense = dense_tables(self.tb)
        return self._dense[0]

    @property
    def se(self) -> np.ndarray:
        """Dense stage energies ``[t, j, k]``, like :attr:`st`."""
        _ = self.st     # builds both dense tables
        return self._dense[1]

    @property
    def n_fin(self) -> np.ndarray:
        """``n_fin[t, j]``: number of feasible stages starting at unit ``j`` on type ``t`` (ends ``j+1..j+n``)."""
        if self._n_fin is None:
            L1 = self.L + 1
            self._n_fin = np.zeros((self.p.time_s.shape[0], L1), dtype=np.int64)
            j = np.arange(L1)
            for t in self.types:
                self._n_fin[t] = end_hi(self.tb, t, j) - j
        return self._n_fin

    def start_lo(self, t: int, thr: float = np.inf) -> np.ndarray:
        """``lo[k]``: least start of a feasible stage ending at ``k - 1`` on type ``t`` with time ``<= thr``."""
        key = (int(t), float(thr))
        if key not in self._lo:
            self._lo[key] = start_lo(self.tb, t, np.arange(self.L + 1), thr)
        return self._lo[key]

    def stage(self, t: int, j, k) -> tuple[np.ndarray, np.ndarray]:
        """(time, energy) of stages ``j..k-1`` on type ``t``; ``inf`` where not feasible."""
        return stage_cost(self.tb, t, j, k)

    @property
    def b_rest(self) -> np.ndarray:
        """``b_rest[r, j]``: least possible max stage time for units ``j..L-1`` on devices from the count vector
        with code ``r`` (transfers ignored, so a lower bound on any completion's bottleneck); ``inf`` when no
        completion exists."""
        if self._b_rest is None:
            cl = self.cl
            G = np.full(self.shapes["completion tables"], np.inf)
            G[:, self.L] = 0.0
            for r in np.argsort(cl.n_used, kind="stable"):
                for b in range(cl.K):
                    if cl.counts[r, b] == 0:
                        continue
                    t = self.p.device_type[cl.members[b][0]]
                    cand = np.maximum(self.st[t], G[r - cl.strides[b]][None, :]).min(axis=1)
                    G[r, : self.L] = np.minimum(G[r, : self.L], cand[: self.L])
            self._b_rest = G
        return self._b_rest

    @property
    def e_rest_r(self) -> np.ndarray:
        """``e_rest_r[r, j]``: least compute energy of units ``j..L-1`` on devices from the count vector with code
        ``r``, each stage within its type's memory and allowed units (transfers ignored: their energy is >= 0);
        ``inf`` when no completion exists. A lower bound on any completion's energy that, unlike ``e_rest``,
        knows which devices are left (once the cheap devices are used, the rest must run on costlier ones).
        ``e_rest_rb[r, b, j]`` (filled alongside): the same when the next stage must be on class ``b``."""
        if self._e_rest_r is None:
            cl = self.cl
            H = np.full(self.shapes["completion tables"], np.inf)
            H[:, self.L] = 0.0
            Hb = np.full(self.shapes["completion by class"], np.inf)
            for r in np.argsort(cl.n_used, kind="stable"):
                for b in range(cl.K):
                    if cl.counts[r, b] == 0:
                        continue
                    t = self.p.device_type[cl.members[b][0]]
                    Hb[r, b] = (self.se[t] + H[r - cl.strides[b]][None, :]).min(axis=1)
                    H[r, : self.L] = np.minimum(H[r, : self.L], Hb[r, b, : self.L])
            self._e_rest_r, self._e_rest_rb = H, Hb
        return self._e_rest_r

    def energy_under(self, thetas) -> np.ndarray:
        """``out[i, r, j]``: least compute energy of units ``j..L-1`` on devices from count vector ``r`` with
        every stage time ``<= thetas[i]`` (transfers ignored, so a lower bound for every completion whose
        bottleneck is ``<= thetas[i]``); the same backward DP as :attr:`e_rest_r` on masked stage tables."""
        cl, L = self.cl, self.L
        th = np.asarray(thetas, float)[:, None, None]
        M, L1 = self.shapes["joint bound tables"]
        H = np.full((M, len(th), L1), np.inf)     # count vector first: one row per DP step, all thresholds
        H[:, :, L] = 0.0
        se = {t: np.where(self.st[t][None] <= th, self.se[t][None], np.inf) for t in np.unique(self.p.device_type)}
        for r in np.argsort(cl.n_used, kind="stable"):
            for b in range(cl.K):
                if cl.counts[r, b] == 0:
                    continue
                t = self.p.device_type[cl.members[b][0]]
                cand = (se[t] + H[r - cl.strides[b]][:, None, :]).min(axis=2)
                np.minimum(H[r, :, :L], cand[:, :L], out=H[r, :, :L])
        return H.transpose(1, 0, 2)

    @property
    def e_rest_rb(self) -> np.ndarray:
        _ = self.e_rest_r   # builds both
        return self._e_rest_rb

    def device(self, cls: int, count: int) -> int:
        """The device a stage uses when it is the ``count``-th (1-based) use of class ``cls``."""
        return self.cl.members[cls][count - 1]
