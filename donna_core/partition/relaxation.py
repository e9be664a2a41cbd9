"""The Lagrangian relaxation behind the bounded solver, computed from prefix sums (no ``L x L`` tables).

A stage ``j..k-1`` on a device of type ``t`` takes ``pt[t, k] - pt[t, j]`` seconds (the same float expression as
:meth:`donna_core.partition.costs.Tables.stage_time`, so a threshold test here agrees bit for bit with the
evaluated plan). All costs are ``>= 0``, so the prefix sums are non-decreasing and, rounding being monotone,
``fl(A[k] - A[j])`` is non-increasing in ``j``: for a fixed end ``k`` the starts ``j`` whose stage fits the memory,
holds only allowed units and takes at most ``theta`` form one window ``[lo(k), k-1]``, found by a binary search
(:func:`least_start`). Every recursion below is then a loop over ``k`` with ``O(window x K)`` work per step and
``O(L K)`` memory, and it checks the clock every few hundred steps (:class:`OutOfTime`).
"""
from __future__ import annotations

import math
import time

import numpy as np

from .costs import Tables

THR_SLACK = 1e-12       # parts equal to a threshold up to rounding count as within it (keeps it a relaxation)
CLOCK_EVERY = 128       # steps of a recursion between two looks at the clock


class OutOfTime(Exception):
    """The deadline passed inside a recursion; the caller keeps what it had."""


def least_start(A: np.ndarray, base: np.ndarray, c) -> np.ndarray:
    """For every ``k`` (``A`` non-decreasing, length ``L+1``): the least ``j`` in ``[base[k], k]`` with
    ``fl(A[k] - A[j]) <= c``; ``k`` itself always qualifies when ``c >= 0``. A vectorised binary search."""
    k = np.arange(len(A))
    lo, hi = base.astype(np.int64).copy(), k.copy()
    ck = np.broadcast_to(c, k.shape)
    while True:
        act = lo < hi
        if not act.any():
            return lo
        mid = (lo + hi) // 2
        ok = (A[k] - A[mid]) <= ck
        hi = np.where(act & ok, mid, hi)
        lo = np.where(act & ~ok, mid + 1, lo)


class Relaxation:
    """Class-level data of one problem, shared by the bound and plan recursions of :mod:`.bounded`."""

    def __init__(self, tb: Tables, alpha: float, norm: dict, members, deadline: float = math.inf):
        p = tb.p
        self.tb, self.p, self.alpha, self.norm, self.deadline = tb, p, alpha, norm, deadline
        self.members = members
        self.K = K = len(members)
        self.L = L = p.L
        self.sizes = np.array([len(m) for m in members], dtype=np.int64)
        rep = [m[0] for m in members]
        self.ctype = np.array([p.device_type[d] for d in rep])
        self.pt, self.pe = tb.pt[self.ctype], tb.pe[self.ctype]          # (K, L+1)
        # per class: least start of a stage ending at k that fits the memory and holds only allowed units
        zero = np.zeros(L + 1, dtype=np.int64)
        fit = {}
        for t in np.unique(self.ctype):
            fit[t] = np.maximum(least_start(tb.pw, zero, p.memory_bytes[t]),
                                least_start(tb.pn[t].astype(np.float64), zero, 0.0))
        self.fit_lo = np.array([fit[t] for t in self.ctype])             # (K, L+1)
        # transfers between classes (a -> a: between two of its members), the same float expressions as
        # Tables.comm_time / comm_energy, broadcast over all class pairs at once
        u = np.repeat(np.array(rep)[:, None], K, axis=1)
        v = np.repeat(np.array(rep)[None, :], K, axis=0)
        second = np.array([m[1] if len(m) >= 2 else m[0] for m in members])
        v[np.arange(K), np.arange(K)] = second
        lat, bw, epb = p.link_lat[u, v][:, :, None], p.link_bw[u, v][:, :, None], p.link_epb[u, v][:, :, None]
        if tb.curved:   # measured time curves: the same table Tables.comm_time reads
            self.ct = tb.ct_table[tb.mid[u, v]].astype(float)
        else:
            self.ct = lat + tb.cut_bytes[None, None, :] / bw
        self.ce = tb.bits[None, None, :] * epb
        lonely = np.array([len(m) < 2 for m in members])
        self.ct[lonely, lonely] = np.inf                   # a class of one cannot follow itself
        self.ce[lonely, lonely] = np.inf
        self.ct[:, :, 0] = self.ct[:, :, L] = np.inf       # cuts 0 and L are not transfers
        ins = [tb.input_cost(d) for d in rep]
        self.in_t = np.array([x[0] for x in ins])
        self.in_e = np.array([x[1] for x in ins])
        self.tn, self.en = norm["time_s"], norm["energy_j"]

    # ------------------------------------------------------------------ windows and part values

    def windows(self, thr: float) -> np.ndarray:
        """``lo[b, k]``: least start of a stage on class ``b`` ending at ``k`` that fits and takes ``<= thr``."""
        lim = thr * (1 + THR_SLACK) if math.isfinite(thr) else math.inf
        return np.array([least_start(self.pt[b], self.fit_lo[b], lim) for b in range(self.K)])

    def _stage_extremes(self, x: float):
        """Per class and end ``k``: the largest stage time ``<= x`` and the least stage time ``> x`` among
        stages that fit (``-inf`` / ``inf`` where there is none)."""
        k = np.arange(self.L + 1)
        le, gt = [], []
        for b in range(self.K):
            pt, base = self.pt[b], self.fit_lo[b]
            j = least_start(pt, base, x)
            ok = j <= k - 1
            le.append(np.where(ok, pt - pt[np.minimum(j, self.L)], -np.inf))
            jp = j - 1
            okp = (jp >= base) & (jp <= k - 1)
            gt.append(np.where(okp, pt - pt[np.maximum(jp, 0)], np.inf))
        return np.array(le), np.array(gt)

    def largest_part_le(self, x: float) -> float:
        """The largest value a plan part (stage, transfer or input time) can take that is ``<= x`` (-inf if none)."""
        le, _ = self._stage_extremes(x)
        v = [le.max()]
        for arr in (self.ct, self.in_t):
            sel = arr[np.isfinite(arr) & (arr <= x)]
            if sel.size:
                v.append(sel.max())
        return float(max(v))

    def least_part_gt(self, x: float) -> float:
        """The least part value ``> x`` (inf if none)."""
        _, gt = self._stage_extremes(x)
        v = [gt.min()]
        for arr in (self.ct, self.in_t):
            sel = arr[np.isfinite(arr) & (arr > x)]
            if sel.size:
                v.append(sel.min())
        return float(min(v))

    def cheap_floors(self) -> tuple[float, float]:
        """Lower bounds on every plan's bottleneck and energy from single units: each unit runs on some present
        type that may hold it, so a plan's bottleneck is at least the slowest unit's fastest time and its energy
        at least the sum of every unit's least energy (transfers cost >= 0)."""
        p = self.p
        types = np.unique(self.ctype)
        ok = p.allowed[types] & (p.weight_bytes[None, :] <= p.memory_bytes[types][:, None])
        t_min = np.where(ok, p.time_s[types], np.inf).min(axis=0)
        e_min = np.where(ok, p.energy_j[types], np.inf).min(axis=0)
        return float(t_min.max()), float(math.fsum(e_min.tolist()))

    def _tick(self, k: int) -> None:
        if k % CLOCK_EVERY == 0 and time.perf_counter() > self.deadline:
            raise OutOfTime

    # ------------------------------------------------------------------ recursions

    def least_bottleneck(self) -> float:
        """Least bottleneck with the capacities dropped: a lower bound on every plan's bottleneck."""
        K, L = self.K, self.L
        lo = self.windows(math.inf)
        G = np.full((L + 1, K), np.inf)
        G[0] = self.in_t
        F = np.full((L + 1, K), np.inf)
        for k in range(1, L + 1):
            self._tick(k)
            j0 = int(lo[:, k].min())
            if j0 >= k:
                continue
            js = np.arange(j0, k)[:, None]
            st = self.pt[:, k][None, :] - self.pt[:, j0:k].T
            c = np.where(js >= lo[:, k][None, :], np.maximum(G[j0:k], st), np.inf)
            F[k] = c.min(axis=0)
            if k < L:
                G[k] = np.maximum(F[k][:, None], self.ct[:, :, k]).min(axis=0)
        return float(F[L].min())

    def _energy_tables(self, thr: float, w: float):
        lim = thr * (1 + THR_SLACK) if math.isfinite(thr) else math.inf
        with np.errstate(invalid="ignore"):
            ce = np.where(self.ct <= lim, w * self.ce, np.inf)
            g0 = np.where(self.in_t <= lim, w * self.in_e, np.inf)
        return self.windows(thr), ce, g0

    def relaxed(self, thr: float, lam: np.ndarray):
        """``V(lam, thr)`` and the class-use vector and stages of a minimising path (``inf, None, None`` if no
        path). Ties go to the earliest start ``j`` and the lowest class."""
        K, L = self.K, self.L
        w = (1.0 - self.alpha) / self.en
        lo, ce, g0 = self._energy_tables(thr, w)
        G = np.full((L + 1, K), np.inf)
        G[0] = g0
        F = np.full((L + 1, K), np.inf)
        arg_j = np.zeros((L + 1, K), dtype=np.int64)
        arg_a = np.zeros((L + 1, K), dtype=np.int64)
        cols = np.arange(K)
        for k in range(1, L + 1):
            self._tick(k)
            j0 = int(lo[:, k].min())
            if j0 >= k:
                continue
            js = np.arange(j0, k)[:, None]
            se = w * (self.pe[:, k][None, :] - self.pe[:, j0:k].T)
            cand = np.where(js >= lo[:, k][None, :], G[j0:k] + se, np.inf)
            jb = cand.argmin(axis=0)
            F[k] = lam + cand[jb, cols]
            arg_j[k] = jb + j0
            if k < L:
                c2 = F[k][:, None] + ce[:, :, k]
                ab = c2.argmin(axis=0)
                G[k] = c2[ab, cols]
                arg_a[k] = ab
        b = int(F[L].argmin())
        v = float(F[L, b])
        if not math.isfinite(v):
            return math.inf, None, None
        use = np.zeros(K, dtype=np.int64)
        seq, k = [], L
        while True:
            j = int(arg_j[k, b])
            seq.append((b, j, k - 1))
            use[b] += 1
            if j == 0:
                break
            b, k = int(arg_a[j, b]), j
        return v, use, seq[::-1]

    def capacitated(self, thr: float, lam: np.ndarray, R: int | None = None):
        """A plan (class, first, last stages) from the recursion with capacities enforced per label, or None.

        Each state ``(k, b)`` keeps the ``R`` cheapest labels with distinct count vectors (``R`` shrinks with
        ``L^2 K^2`` so one call stays around a few million candidate evaluations)."""
        K, L = self.K, self.L
        R = R or int(min(8, max(1, 2e6 // (L * L * K * K))))
        w = max(1.0 - self.alpha, 1e-6) / self.en      # a little energy even at alpha = 1, to break ties sensibly
        lo, ce, g0 = self._energy_tables(thr, w)
        F = np.full((L + 1, K, R), np.inf)
        cnt = np.zeros((L + 1, K, R, K), dtype=np.int32)   # count vector of each label
        par = np.full((L + 1, K, R, 3), -1, dtype=np.int64)  # (j, a, r) of the predecessor; a = -1: first stage
        cap = self.sizes
        eye = np.eye(K, dtype=np.int32)
        for k in range(1, L + 1):
            self._tick(k)
            lok = lo[:, k]
            j0 = max(1, int(lok.min()))
            se0 = w * (self.pe[:, k] - self.pe[:, 0])
            start = np.where(lok == 0, g0 + se0, np.inf)    # (K,): the first stage covers 0..k-1
            if k > j0:
                se = w * (self.pe[:, k][None, :] - self.pe[:, j0:k].T)           # (n, b)
                se = np.where(np.arange(j0, k)[:, None] >= lok[None, :], se, np.inf)
                c = F[j0:k, :, :, None] + (ce[:, :, j0:k].transpose(2, 0, 1)[:, :, None, :] + se[:, None, None, :])
                c = np.where(cnt[j0:k] < cap, c, np.inf).reshape(-1, K)      # rows (j-j0, a, r), columns b
            else:
                c = np.empty((0, K))
            c = np.vstack([start[None, :], c])
            if R == 1:
                self._one_label(k, j0, c, F, cnt, par, lam, eye)
                continue
            take = min(len(c), 4 * R)
            idx = np.argsort(c, axis=0, kind="stable")[:take]
            for b in range(K):
                rows = idx[:, b]
                vals = c[rows, b]
                fin = np.isfinite(vals)
                rows, vals = rows[fin], vals[fin]
                if len(rows) == 0:
                    continue
                src = rows - 1                              # -1: the start
                jj = np.where(src >= 0, src // (K * R) + j0, 0)
                aa = np.where(src >= 0, (src // R) % K, -1)
                rr = np.where(src >= 0, src % R, -1)
                vecs = np.where((src >= 0)[:, None], cnt[jj, np.maximum(aa, 0), np.maximum(rr, 0)], 0) + eye[b]
                _, first = np.unique(vecs, axis=0, return_index=True)
                keep = np.sort(first)[:R]                    # cheapest label of each distinct count vector
                n = len(keep)
                F[k, b, :n] = vals[keep] + lam[b]
                cnt[k, b, :n] = vecs[keep]
                par[k, b, :n, 0], par[k, b, :n, 1], par[k, b, :n, 2] = jj[keep], aa[keep], rr[keep]
        if not np.isfinite(F[L]).any():
            return None
        flat = int(F[L].reshape(-1).argmin())
        b, r, k, seq = flat // R, flat % R, L, []
        while True:
            j, a, rp = (int(x) for x in par[k, b, r])
            seq.append((b, j, k - 1))
            if a < 0:
                break
            b, r, k = a, rp, j
        return seq[::-1]

    def _one_label(self, k, j0, c, F, cnt, par, lam, eye) -> None:
        """:meth:`capacitated` with one label per state, vectorised over the classes."""
        K = self.K
        rows = c.argmin(axis=0)
        vals = c[rows, np.arange(K)]
        src = rows - 1
        jj = np.where(src >= 0, src // K + j0, 0)
        aa = np.where(src >= 0, src % K, -1)
        fin = np.isfinite(vals)
        F[k, :, 0] = np.where(fin, vals + lam, np.inf)
        prev = np.where(((src >= 0) & fin)[:, None], cnt[jj, np.maximum(aa, 0), 0], 0)
        cnt[k, :, 0] = np.where(fin[:, None], prev + eye, 0)
        par[k, :, 0, 0], par[k, :, 0, 1], par[k, :, 0, 2] = jj, aa, np.where(aa >= 0, 0, -1)

    def plan_devices(self, seq):
        """Class stages -> device stages: the n-th use of a class takes its n-th member."""
        used = [0] * self.K
        plan = []
        for b, first, last in seq:
            plan.append((self.members[b][used[b]], first, last))
            used[b] += 1
        return plan
