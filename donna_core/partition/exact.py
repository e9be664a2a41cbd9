"""Exact solvers: the Pareto front of (bottleneck, energy) and the exact alpha-weighted optimum.

States are ``(c, a, j)``: ``c`` a count vector saying how many members of each device class are used (see
:mod:`donna_core.partition.classes`), ``a`` the class of the last stage's device, ``j`` the number of units done (the
last stage ends at unit ``j-1``). The device of a stage is determined by the state: the ``c[a]``-th member of class
``a``. A transition appends a stage on class ``b`` (``c[b] < size[b]``) covering units ``j..k-1``::

    B(c + e_b, b, k) = max(B(c, a, j), T_comm(a -> b, cut j), T_comp(b, j..k-1))
    E(c + e_b, b, k) =     E(c, a, j) + E_comm(a -> b, cut j) + E_comp(b, j..k-1)

with the first stage paying the input transfer from the source instead of ``T_comm``. Plans end in states
with ``j = L``.

* **Pareto front** (:func:`pareto_labels`): every state keeps the set of non-dominated ``(B, E)`` labels. Both
  ``max`` and ``+`` are monotone, so a label dominated at a state is dominated by one of its extensions too:
  pruning is exact. States are processed level by level (level = number of stages), all labels of a level in
  one set of array operations. Three exact reductions keep the label sets small: a label's ``B`` is raised to
  the least bottleneck any completion must have (so labels below it merge); labels beyond the alpha = 0/1
  optima are dropped; and labels beaten by a known plan (a "staircase" of least-energy plans under a few
  bottleneck thresholds, :func:`known_staircase`) are dropped. A label's energy is tested together with the
  least energy its completion must still spend, from a backward DP over the remaining units *and the devices
  left* (:attr:`SolverContext.e_rest_r`: once the cheap devices are used, the rest runs on costlier ones); at
  0 < alpha < 1 also jointly with its bottleneck, through the same DP under a few bottleneck thresholds
  (:meth:`SolverContext.energy_under`, :meth:`_ObjectiveBound.joint`). Candidates are not even built outside each
  label's window of stage ends (:class:`_Bound`, :func:`_first_at_most`, the "shadow" of a state's next label)
  nor when an O(n) box test (:func:`_box_dominated`) shows the dominance sort would drop them; both skip only
  labels the reductions above would remove, so the result is unchanged.
* **alpha = 1** (:func:`min_bottleneck_then_energy`): a min-max DP gives the least bottleneck ``B*``; a second
  DP minimises energy over plans whose every stage and transfer is ``<= B*``. (A single DP on the pair
  ``(B, E)`` would not be exact: once ``max`` saturates, a partial plan with a worse ``B`` but less energy wins.)
* **alpha = 0** (:func:`min_energy_then_bottleneck`): one DP on the pair ``(E, B)`` in lexicographic order,
  which is exact because ``+`` is strictly monotone.
* **0 < alpha < 1**: the minimiser of ``alpha*B/Tn + (1-alpha)*E/En`` lies on the Pareto front; it is picked there,
  searching only labels whose objective bound is within the best of the alpha = 0/1 plans and the plan of one
  alpha-weighted scalar DP (:func:`weighted_plan`).

Ties (documented rule, the same in every path): at alpha = 1 the least energy among the fastest plans; at
alpha = 0 the fastest among the least-energy plans; otherwise the least objective; then fewer stages; then the
device sequence in lexicographic order of device index. Plans that still tie differ only in their cuts; they
are separated deterministically in the DP's order (a state keeps the label with the earliest previous cut,
so earlier cuts compared from the last backwards win whenever the tied plans also tie at the states in between).
Equal-length device sequences are compared through per-level ranks (see :func:`_rank_level`), so there is no
limit on the number of devices.
"""
from __future__ import annotations

import sys

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .classes import DeviceClasses, device_classes
from .costs import Tables
from .errors import InfeasibleError
from .exact_sizes import CHUNK, exact_arrays
from .guard import check_labels
from .stage_windows import dense_tables, end_hi, stage_cost, start_lo

# Costs that agree to 12 significant digits are ties: the same real energy summed in another order (plan
# evaluation vs. DP accumulation) differs in the last bits, and float noise must not override the tie rule.
TIE_RTOL = 1e-12


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
            cl, L1 = self.cl, self.L + 1
            G = np.full((cl.M, L1), np.inf)
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
            cl, L1 = self.cl, self.L + 1
            H = np.full((cl.M, L1), np.inf)
            H[:, self.L] = 0.0
            Hb = np.full((cl.M, cl.K, L1), np.inf)
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
        cl, L, L1 = self.cl, self.L, self.L + 1
        th = np.asarray(thetas, float)[:, None, None]
        H = np.full((cl.M, len(th), L1), np.inf)     # count vector first: one row per DP step, all thresholds
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


def _lexmin(keys: list[np.ndarray], axis: int = 0) -> np.ndarray:
    """Index along ``axis`` of the lexicographic minimum of ``keys`` (2-D) for every column (row)."""
    mask = None
    for key in keys:
        is_float = key.dtype.kind == "f"
        big = np.inf if is_float else np.iinfo(key.dtype).max
        kk = key if mask is None else np.where(mask, key, big)
        lo = np.expand_dims(kk.min(axis=axis), axis)
        sel = (kk <= lo + TIE_RTOL * np.abs(lo)) if is_float else (kk == lo)
        mask = sel if mask is None else mask & sel
    return mask.argmax(axis=axis)


def _dense(ctx: SolverContext, mode: str, thr: float = np.inf):
    """One scalar DP over all states; ``mode`` is 'minmax' (key B; only ``P`` is filled, and only stages no
    slower than ``thr`` are tried: see :func:`least_bottleneck`), 'energy' (key E, parts <= thr), 'energy_b'
    (key (E, B)) or 'weighted' (key ``w_b B + w_e E``, a heuristic, see :func:`weighted_plan`). Returns (P, S,
    code, prev_j, prev_a) arrays of shape (M, K, L+1); ``S`` is filled in modes 'energy_b' and 'weighted'."""
    p, tb, cl, L = ctx.p, ctx.tb, ctx.cl, ctx.L
    M, K, L1 = cl.M, cl.K, L + 1
    shape = exact_arrays(M, K, p.time_s.shape[0], L, 1.0)["dp tables"][1]     # what the size guard counts
    P = np.full(shape, np.inf)
    S = np.full(shape, np.inf)
    code = np.zeros(shape, dtype=np.int64)
    pj = np.full(shape, -1, dtype=np.int64)
    pa = np.full(shape, -1, dtype=np.int64)
    for b in range(K):
        dev = ctx.device(b, 1)
        t = p.device_type[dev]
        ins, ine = tb.input_cost(dev)
        st, se = ctx.stage(t, 0, np.arange(L1))
        m = cl.strides[b]
        if mode == "minmax":
            P[m, b] = np.maximum(st, ins)
        else:
            ok = np.isfinite(st) & (st <= thr) & (ins <= thr)
            P[m, b] = np.where(ok, se + ine, np.inf)
            S[m, b] = np.where(ok, np.maximum(st, ins), np.inf)
        code[m, b] = dev + 1
    # Device sequences are compared through per-level ranks: a sequence's key is (rank of its prefix among the
    # previous level's sequences, last device); after a level is done its keys are replaced by dense ranks.
    # Lexicographic order of equal-length sequences is kept and the integers stay small for any D.
    if mode != "minmax":
        _rank_level(code, P, cl.n_used == 1)
    for n in range(2, int(cl.n_used.max()) + 1):
        at_n = cl.n_used == n
        for b in range(K):
            rows = np.nonzero(at_n & (cl.counts[:, b] > 0))[0]
            if len(rows):
                _dense_batch(ctx, mode, thr, rows, b, P, S, code, pj, pa)
        if mode != "minmax":
            _rank_level(code, P, cl.n_used == n)
    return P, S, code, pj, pa


def _dense_batch(ctx: SolverContext, mode: str, thr: float, rows: np.ndarray, b: int, P, S, code, pj, pa) -> None:
    """Fill the states ``(m, b, .)`` for every count vector ``m`` in ``rows`` (one level, all using class
    ``b``) from the previous level (see :func:`_dense`); all rows at once, every class as a source (a class
    the source count vector does not use contributes ``inf``).

    For each end ``k`` only the feasible starts ``j`` in ``[lo(k), k-1]`` are built (:mod:`.stage_windows`),
    ``j`` ascending within each source class, so the flat candidate order (class, then ``j``) and with it the
    tie rule's last resort are those of the full ``(class, j)`` table; the rest of that table is ``inf``."""
    p, tb, cl, L = ctx.p, ctx.tb, ctx.cl, ctx.L
    K, L1 = cl.K, L + 1
    kall = np.arange(L1)
    t = p.device_type[cl.members[b][0]]
    lo = ctx.start_lo(t, thr if mode in ("minmax", "energy") else np.inf)
    width = kall - lo
    W = int(width.max())
    if W == 0:
        return
    pt, pe = tb.pt[t], tb.pe[t]
    view = _start_view(W)
    ptv, pev = view(pt), view(pe)
    w_idx = np.arange(W)[None, :]
    size_max = int(cl.sizes.max())
    members = np.array([c + (c[0],) * (size_max - len(c)) for c in cl.members])     # (K, size_max), padded
    block = max(1, CHUNK // (K * W * L1))
    for r0 in range(0, len(rows), block):
        ms = rows[r0:r0 + block]
        R = len(ms)
        src = ms - cl.strides[b]
        srcs = np.nonzero((cl.counts[src] > 0).any(axis=0))[0]          # classes some row can come from
        A = len(srcs)
        cs = cl.counts[src][:, srcs]                                     # (R, A)
        present = cs > 0
        dev_b = members[b][cl.counts[ms, b] - 1]                         # (R,)
        devs_a = members[srcs[None, :], np.maximum(cs - 1, 0)]           # (R, A); unused classes: a stand-in
        with np.errstate(invalid="ignore", divide="ignore"):
            ct = tb.comm_time(devs_a[:, :, None], dev_b[:, None, None], kall[None, None, :])   # (R, A, L1)
        Psrc = P[src[:, None], srcs[None, :]]                            # (R, A, L1) over j
        if mode == "minmax":
            # max(x_a, s) is monotone in x_a: the best class for a start j does not depend on the stage
            f = np.where(present[:, :, None], np.maximum(Psrc, ct), np.inf).min(axis=1)      # (R, L1)
            fv = view(f)                                                 # (R, L1, W)
        else:
            ce = tb.bits[None, None, :] * p.link_epb[devs_a, dev_b[:, None]][:, :, None]
            ok = present[:, :, None] & ((ct <= thr) if mode == "energy" else True)
            X = np.where(ok, Psrc + ce, np.inf)
            Xv = view(X).transpose(0, 2, 1, 3)                           # (R, L1, K, W)
            cv = view(code[src[:, None], srcs[None, :]]).transpose(0, 2, 1, 3)
            if mode != "energy":
                Sv = view(np.where(present[:, :, None], np.maximum(S[src[:, None], srcs[None, :]], ct),
                                   np.inf)).transpose(0, 2, 1, 3)
        step = max(1, CHUNK // (R * A * W))
        for k0 in range(0, L1, step):
            ks = slice(k0, min(L1, k0 + step))
            valid = w_idx >= (lo[ks] - kall[ks] + W)[:, None]              # (C, W): j >= lo(k)
            st = np.where(valid, pt[ks][:, None] - ptv[ks], np.inf)       # = Tables.stage_time, inf outside
            if mode == "minmax":
                P[ms, b, ks] = np.maximum(fv[:, ks], st[None]).min(axis=2)
                continue
            se = np.where(valid, pe[ks][:, None] - pev[ks], np.inf)
            cand = Xv[:, ks] + se[None, :, None, :]                       # (R, C, A, W)
            C = cand.shape[1]
            flat = (R * C, A * W)
            if mode == "energy":
                keys = [cand.reshape(flat)]
            else:
                scand = np.maximum(Sv[:, ks], st[None, :, None, :])
                if mode == "weighted":
                    keys = [_weighted(ctx, scand, cand).reshape(flat)]
                else:
                    keys = [cand.reshape(flat), scand.reshape(flat)]
            keys.append(cv[:, ks].reshape(flat))
            best = _lexmin(keys, axis=1)                                   # flat index a*W + w
            cols = np.arange(R * C)
            P[ms, b, ks] = cand.reshape(flat)[cols, best].reshape(R, C)
            if mode != "energy":
                S[ms, b, ks] = scand.reshape(flat)[cols, best].reshape(R, C)
            ai, w = np.divmod(best.reshape(R, C), W)
            jj = np.maximum(kall[ks][None, :] - W + w, 0)
            code[ms, b, ks] = code[src[:, None], srcs[ai], jj] * ctx.base + dev_b[:, None] + 1
            pj[ms, b, ks] = jj
            pa[ms, b, ks] = srcs[ai]


def _start_view(W: int):
    """``x (.., L1) -> view (.., L1, W)`` with ``[.., k, w] = x[.., k - W + w]`` (zero-padded on the left)."""
    def view(x):
        pad = np.zeros(x.shape[:-1] + (W,), dtype=x.dtype)
        return sliding_window_view(np.concatenate([pad, x], axis=-1), W, axis=-1)[..., : x.shape[-1], :]
    return view


def _rank_level(code: np.ndarray, P: np.ndarray, level_mask: np.ndarray) -> None:
    """Replace the sequence keys of one level's reachable states by their dense ranks (in place)."""
    sel = np.zeros(code.shape, dtype=bool)
    sel[level_mask] = np.isfinite(P[level_mask])
    if sel.any():
        code[sel] = np.unique(code[sel], return_inverse=True)[1].reshape(-1) + 1


def _backtrack(ctx: SolverContext, m: int, b: int, k: int, pj, pa) -> list[tuple[int, int, int]]:
    cl = ctx.cl
    plan = []
    while True:
        dev = ctx.device(b, cl.counts[m][b])
        j = int(pj[m, b, k]) if cl.n_used[m] > 1 else 0
        plan.append((dev, j, k - 1))
        if cl.n_used[m] == 1:
            break
        a = int(pa[m, b, k])
        m, b, k = m - cl.strides[b], a, j
    return plan[::-1]


def _best_final(ctx: SolverContext, keys: list[np.ndarray], code) -> tuple[int, int] | None:
    """Lexicographic minimum over final states (j = L) of keys, then stage count, then device code."""
    cl, L = ctx.cl, ctx.L
    finals = [(m, b) for m in range(cl.M) for b in range(cl.K) if cl.n_used[m] > 0 and cl.counts[m][b] > 0]
    ms = np.array([f[0] for f in finals])
    bs = np.array([f[1] for f in finals])
    cols = [k[ms, bs, L][:, None] for k in keys]
    cols += [cl.n_used[ms][:, None].astype(np.int64), code[ms, bs, L][:, None]]
    if not np.isfinite(cols[0]).any():
        return None
    i = int(_lexmin(cols)[0])
    return int(ms[i]), int(bs[i])


def least_bottleneck(ctx: SolverContext) -> float:
    """The least bottleneck ``B*`` of any plan (``inf`` when none exists), from the min-max DP over stages no
    slower than a guess ``U``: if the DP's answer is ``<= U`` it is ``B*`` (a plan reaching ``B*`` has every
    part ``<= B* <= U``, so all of its stages were tried), otherwise ``U`` grows fourfold. The guess starts at
    twice a lower bound (every unit runs somewhere; at most D devices share the work), so the stage windows
    stay near the optimum's stage lengths instead of spanning the model."""
    p, tb = ctx.p, ctx.tb
    types = ctx.types
    t_min = np.where(p.allowed[types], p.time_s[types], np.inf).min(axis=0)
    lb = max(float(t_min.max()), float(t_min.sum()) / p.D) if p.L else 0.0
    slowest = float(tb.pt[types, ctx.L].max())        # no stage takes longer
    U = 2.0 * lb
    while True:
        full = not (0.0 < U < slowest)
        P, *_ = _dense(ctx, "minmax", np.inf if full else U)
        v = float(P[ctx.cl.n_used > 0][:, :, ctx.L].min())
        if full or v <= U:
            return v
        U *= 4.0


def min_bottleneck_then_energy(tb: Tables, ctx: SolverContext | None = None):
    """Exact alpha = 1 plan (device indices): least bottleneck, then least energy, then the tie rule."""
    ctx = ctx or SolverContext(tb)
    thr = least_bottleneck(ctx)
    if not np.isfinite(thr):
        raise InfeasibleError("no plan fits the devices' memory limits and allowed units")
    E, S, code, pj, pa = _dense(ctx, "energy", thr)
    m, b = _best_final(ctx, [E], code)
    return _backtrack(ctx, m, b, ctx.L, pj, pa)


def _weighted(ctx: SolverContext, B, E):
    """``w_b B + w_e E`` with unreachable entries (inf, or 0 * inf with a vanishing weight) as inf."""
    with np.errstate(invalid="ignore", over="ignore"):
        w = ctx.w_b * B + ctx.w_e * E
    return np.where(np.isfinite(B) & np.isfinite(E) & ~np.isnan(w), w, np.inf)


def weighted_plan(tb: Tables, ctx: SolverContext, alpha: float, norm: dict):
    """A good (not always optimal) plan for 0 < alpha < 1 from one scalar DP that keeps, per state, the least
    alpha-weighted partial cost (the paper's rule, over count vectors). Only used as an upper bound that lets
    the exact search drop more labels."""
    ctx.w_b, ctx.w_e = alpha / norm["time_s"], (1.0 - alpha) / norm["energy_j"]
    E, S, code, pj, pa = _dense(ctx, "weighted")
    best = _best_final(ctx, [_weighted(ctx, S, E)], code)
    if best is None:
        raise InfeasibleError("no plan fits the devices' memory limits and allowed units")
    return _backtrack(ctx, best[0], best[1], ctx.L, pj, pa)


def min_energy_then_bottleneck(tb: Tables, ctx: SolverContext | None = None):
    """Exact alpha = 0 plan (device indices): least energy, then least bottleneck, then the tie rule."""
    ctx = ctx or SolverContext(tb)
    E, S, code, pj, pa = _dense(ctx, "energy_b")
    best = _best_final(ctx, [E, S], code)
    if best is None:
        raise InfeasibleError("no plan fits the devices' memory limits and allowed units")
    return _backtrack(ctx, best[0], best[1], ctx.L, pj, pa)


def pareto_labels(tb: Tables, ctx: SolverContext | None = None, bound=None, budget: int | None = None,
                  bar=None):
    """Exact Pareto front: list of (bottleneck, energy, plan) with bottleneck ascending, energy strictly
    descending; each point's plan is the tie-rule winner among plans with exactly that (B, E).

    ``bound(B, E_lower)`` (optional) returns a mask of labels worth keeping, given their bottleneck and a lower
    bound on the energy of any completion (energy so far + the cheapest type's energy for every remaining
    unit). It must only drop labels that cannot reach the front (or the optimum sought); see
    :func:`front_bound` and :func:`objective_bound`.

    ``budget`` (bytes, optional): before each level is allocated, the labels held plus the level's candidates
    are checked against it (:func:`donna_core.partition.guard.check_labels` raises ``SolverSizeError``).
    ``bar`` (optional, see :func:`progress_bar`): advanced once per level, with the label count shown.
    """
    ctx = ctx or SolverContext(tb)
    p, cl, L = ctx.p, ctx.cl, ctx.L
    L1 = L + 1
    G = ctx.b_rest
    H = ctx.e_rest_r if bound is not None else None
    Hb = ctx.e_rest_rb if bound is not None else None
    G_mono = np.minimum.accumulate(G, axis=1)    # = G (already non-increasing in j); made sure for the search
    # finite stages starting at unit j, per device (via its type)
    n_fin = ctx.n_fin

    def keep_fn(lab):
        # Any completion's bottleneck is >= G(remaining devices, j), so labels whose bottleneck is below it are
        # equivalent in B: raising B to that bound is exact and lets dominance merge them. Dead ends (inf) go.
        lab["B"] = np.maximum(lab["B"], G[cl.M - 1 - lab["m"], lab["j"]])
        keep = np.isfinite(lab["B"])
        if bound is not None:
            keep &= bound(lab["B"], lab["E"] + H[cl.M - 1 - lab["m"], lab["j"]])
        return {key: v[keep] for key, v in lab.items()}
    # level tables: dict of arrays m, a, j, B, E, code, parent
    level = []
    m0, a0, j0, B0, E0, c0 = [], [], [], [], [], []
    for b in range(cl.K):
        dev = ctx.device(b, 1)
        t = p.device_type[dev]
        ins, ine = ctx.tb.input_cost(dev)
        st0, se0 = ctx.stage(t, 0, np.arange(L1))
        ks = np.nonzero(np.isfinite(st0))[0]
        m0.append(np.full(len(ks), cl.strides[b]))
        a0.append(np.full(len(ks), b))
        j0.append(ks)
        B0.append(np.maximum(st0[ks], ins))
        E0.append(se0[ks] + ine)
        c0.append(np.full(len(ks), dev + 1))
    cur = _prune(dict(m=np.concatenate(m0), a=np.concatenate(a0), j=np.concatenate(j0),
                      B=np.concatenate(B0), E=np.concatenate(E0), code=np.concatenate(c0).astype(np.int64),
                      dev=np.concatenate(c0).astype(np.int64) - 1,
                      pj=np.zeros(sum(len(x) for x in j0), dtype=np.int64),
                      parent=np.full(sum(len(x) for x in j0), -1, dtype=np.int64)), cl.K, L1, keep_fn)
    level.append(cur)
    n_labels = len(cur["B"])
    _learn(bound, cur, L)
    while True:
        live = cur["j"] < L
        if not live.any() or len(level) >= cl.sizes.sum():
            break
        parts = []
        idx_live = np.nonzero(live)[0]
        # _prune leaves each state's labels together, bottleneck ascending (energy descending). Appending a stage
        # with part c = max(transfer, stage time) maps label i to (max(B_i, c), E_i + d): once c >= B_{i+1},
        # the state's next label maps to the same bottleneck with less energy, so label i only needs the
        # stages with c < B_{i+1} (its "shadow" limit; inf for a state's last label).
        gcur = (cur["m"] * cl.K + cur["a"]) * L1 + cur["j"]
        shadow = np.full(len(gcur), np.inf)
        same = gcur[1:] == gcur[:-1]
        shadow[:-1][same] = cur["B"][1:][same]
        plans_b = []
        for b in range(cl.K):
            cnt_b = cl.counts[cur["m"][idx_live], b]
            sel = idx_live[cnt_b < cl.sizes[b]]
            if len(sel) == 0:
                continue
            cnt_next = cl.counts[cur["m"][sel], b] + 1
            dev_b = np.array(cl.members[b] + (-1,))[cnt_next - 1]
            dev_a = cur["dev"][sel]
            jj = cur["j"][sel]
            ct = ctx.tb.comm_time(dev_a, dev_b, jj)
            ce = ctx.tb.bits[jj] * p.link_epb[dev_a, dev_b]
            t = p.device_type[cl.members[b][0]]
            # the stages j..k-1 worth building: finite ones (k <= j + n_fin) within the bound's windows, and
            # k large enough that the remaining units' least bottleneck G (non-increasing in k) fits the cap
            kmax = jj + n_fin[t][jj]
            kmin = jj + 1
            sh = shadow[sel]
            pt = ctx.tb.pt[t]
            with np.errstate(invalid="ignore"):
                k_sh = np.searchsorted(pt, pt[jj] + sh * (1 + _WIN) + _WIN * pt[jj], side="right") - 1
            kmax = np.where(ct < sh, np.minimum(kmax, k_sh), jj)
            if bound is not None and hasattr(bound, "windows"):
                Bl, El = np.maximum(cur["B"][sel], ct), cur["E"][sel] + ce + ctx.e_rest[jj]
                # every stage on b from here leaves at least Hb energy to spend (this stage + the rest on the
                # devices left): a tighter E_low for the caps, while the energy window keeps El (see windows)
                E_pair = cur["E"][sel] + ce + Hb[cl.M - 1 - cur["m"][sel], b, jj]
                kmax = np.minimum(kmax, bound.windows(ctx, t, jj, Bl, El, E_pair))
                b_cap = bound.caps(Bl, E_pair)[0]
                rows = cl.M - 1 - (cur["m"][sel] + cl.strides[b])
                kmin = _first_at_most(G_mono, rows, kmin, kmax, b_cap * (1 + _WIN))
            cnt = np.maximum(kmax - kmin + 1, 0)
            plans_b.append((b, sel, dev_b, jj, ct, ce, t, cnt, kmin))
        if budget is not None:
            # this level's candidates, counted before any of them is allocated
            check_labels(n_labels, int(sum(int(x[7].sum()) for x in plans_b)), budget)
        for b, sel, dev_b, jj, ct, ce, t, cnt, kmin in plans_b:
            tot = int(cnt.sum())
            if tot == 0:
                continue
            r = np.repeat(np.arange(len(sel)), cnt)
            k = kmin[r] + np.arange(tot) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            st_k, se_k = ctx.stage(t, jj[r], k)
            Bn = np.maximum(np.maximum(cur["B"][sel][r], ct[r]), st_k)
            En = cur["E"][sel][r] + ce[r] + se_k
            mn = cur["m"][sel][r] + cl.strides[b]
            # filter before the other fields are built: the bound (keep_fn's test) and box dominance
            Bn = np.maximum(Bn, G[cl.M - 1 - mn, k])
            ok = np.isfinite(Bn)
            if bound is not None:
                ok &= bound(Bn, En + H[cl.M - 1 - mn, k])
                if hasattr(bound, "joint"):
                    ok[ok] = bound.joint(Bn[ok], En[ok], cl.M - 1 - mn[ok], k[ok])
            ok[ok] = ~_box_dominated(mn[ok] * L1 + k[ok], Bn[ok], En[ok])
            r, k, Bn, En, mn = r[ok], k[ok], Bn[ok], En[ok], mn[ok]
            parts.append(dict(m=mn, a=np.full(len(r), b), j=k, B=Bn, E=En,
                              code=cur["code"][sel][r] * ctx.base + dev_b[r] + 1, dev=dev_b[r], pj=jj[r],
                              parent=sel[r]))
        if not parts:
            break
        cat = {key: np.concatenate([q[key] for q in parts]) for key in parts[0]}
        # the candidates passed keep_fn's tests (G, finiteness, bound) above: only dominance is left to apply
        cur = _prune(cat, cl.K, L1)
        level.append(cur)
        n_labels += len(cur["B"])
        _learn(bound, cur, L)
        if bar is not None:
            bar.update()
            bar.set_postfix_str(f"{n_labels:,} labels")
    # finals across all levels
    fin = []
    for n, lv in enumerate(level):
        f = np.nonzero(lv["j"] == L)[0]
        for i in f:
            fin.append((lv["B"][i], lv["E"][i], n + 1, int(lv["code"][i]), int(lv["pj"][i]), n, int(i)))
    if not fin:
        raise InfeasibleError("no plan fits the devices' memory limits and allowed units")
    fin.sort(key=lambda x: x[:5])
    front, best_e = [], np.inf
    for B, E, n, c, _, lv_i, i in fin:
        if best_e == np.inf or E < best_e - TIE_RTOL * abs(best_e):
            best_e = E
            front.append((float(B), float(E), _label_plan(ctx, level, lv_i, i)))
    return front, n_labels


# Bounds compare with a relative slack so that labels equal to the bound up to rounding (the same plan's
# costs summed in another order) are never dropped.
_SLACK = 1e-9


N_STAIRS = 12      # thresholds of the known staircase (scalar DPs run before the front search)


def progress_bar(total: int, desc: str, enabled: bool | None = None):
    """A tqdm bar on stderr, shown when ``enabled`` (None: when stderr is a terminal); otherwise a stand-in
    whose ``update``/``close`` do nothing (tqdm is then not even imported)."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return _NoBar()
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="step", file=sys.stderr, leave=False)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass

    def close(self) -> None:
        pass


def known_staircase(ctx: SolverContext, b_lo: float, b_hi: float, n: int = N_STAIRS,
                    bar=None) -> tuple[np.ndarray, np.ndarray]:
    """Achievable points ``(thr_i, E(thr_i))``: for ``n`` bottleneck thresholds spread geometrically over
    ``[b_lo, b_hi]``, the least energy of a plan whose every stage and transfer is ``<= thr_i``. Each costs one
    scalar DP; together they let the front search drop labels that a known plan already beats."""
    if not (b_hi > b_lo > 0):
        return np.array([b_lo]), np.array([np.inf])
    thr = np.geomspace(b_lo, b_hi, n)
    e = np.empty(n)
    for i, t in enumerate(thr):
        E, *_ = _dense(ctx, "energy", float(t))
        e[i] = E[ctx.cl.n_used > 0][:, :, ctx.L].min()
        if bar is not None:
            bar.update()
    return thr, np.minimum.accumulate(e)


def _first_at_most(G: np.ndarray, rows, lo, hi, cap):
    """Per label, the least ``k`` in ``[lo, hi]`` with ``G[row, k] <= cap`` (``G`` non-increasing along a row);
    ``hi + 1`` where there is none. A vectorised binary search."""
    lo, hi = lo.copy(), np.maximum(hi + 1, lo)
    last = G.shape[1] - 1
    while True:
        act = lo < hi
        if not act.any():
            return lo
        mid = (lo + hi) // 2
        ok = G[rows, np.minimum(mid, last)] <= cap
        hi = np.where(act & ok, mid, hi)
        lo = np.where(act & ~ok, mid + 1, lo)


_WIN = 1e-9    # windows are widened by this (relative) so they only ever skip stages the bound would drop


class _Bound:
    """A label filter ``keep(B, E_low) -> mask`` plus :meth:`windows`: for labels about to append a stage starting
    at unit ``j``, the largest ``k`` worth building. Stage time ``st[j, k]`` grows with ``k``, and so does the
    energy lower bound ``se[j, k] + e_rest[k]`` (the stage's type costs at least the cheapest type per unit);
    a window ends where either passes the cap that :meth:`caps` derives from the label. Only a necessary
    condition, so ``keep`` is still applied to every built label and results are unchanged."""

    def caps(self, B, E_low):
        raise NotImplementedError

    def windows(self, ctx: "SolverContext", t: int, j, B, E_low, E_pair=None):
        """``E_low``: the label's energy + the cheapest types' energy of units ``j..`` (what the energy window
        adds stage increments to); ``E_pair`` (optional, >= E_low): a tighter lower bound on the energy of
        every candidate built from this label and class, used for the caps and to drop the pair outright."""
        E_pair = E_low if E_pair is None else E_pair
        b_cap, e_cap = self.caps(B, E_pair)
        pt, pe = ctx.tb.pt[t], ctx.h_energy[t]
        with np.errstate(invalid="ignore"):
            kb = np.searchsorted(pt, pt[j] + b_cap * (1 + _WIN) + _WIN * np.abs(pt[j]), side="right") - 1
            ke = np.searchsorted(pe, pe[j] + (e_cap - E_low) + _WIN * (np.abs(e_cap) + np.abs(pe[j])),
                                 side="right") - 1
        k = np.minimum(kb, ke)
        with np.errstate(invalid="ignore"):
            live = (B <= b_cap * (1 + _WIN)) & (E_pair <= e_cap * (1 + _WIN) + _WIN * np.abs(E_pair))
        return np.where(live, k, j)


def _learn(bound, lab: dict, L: int) -> None:
    """Complete plans found at this level are known plans: let the bound use them for the levels to come."""
    if bound is None or not hasattr(bound, "learn"):
        return
    f = lab["j"] == L
    if f.any():
        bound.learn(lab["B"][f], lab["E"][f])


class _FrontBound(_Bound):
    def __init__(self, b_max, e_max, staircase):
        self.bm, self.em = b_max * (1 + _SLACK), e_max * (1 + _SLACK)
        self.stairs = staircase

    def learn(self, B, E):
        """Add known plans (bottleneck B, energy E) to the staircase: a later label at least as slow and with
        more energy than one of them cannot reach the front."""
        thr, e = (np.asarray(B, float), np.asarray(E, float)) if self.stairs is None else (
            np.concatenate([self.stairs[0], B]), np.concatenate([self.stairs[1], E]))
        o = np.argsort(thr, kind="stable")
        self.stairs = (thr[o], np.minimum.accumulate(e[o]))

    def __call__(self, B, E_low):
        keep = (B <= self.bm) & (E_low <= self.em)
        if self.stairs is not None:
            thr, e_thr = self.stairs
            i = np.searchsorted(thr, B, side="right") - 1          # largest threshold <= B
            keep &= ~((i >= 0) & (E_low > e_thr[np.maximum(i, 0)] * (1 + _SLACK)))
        return keep

    def caps(self, B, E_low):
        b_cap = np.full(np.shape(B), self.bm)
        e_cap = np.full(np.shape(B), self.em)
        if self.stairs is not None:
            thr, e_thr = self.stairs
            lim = e_thr * (1 + _SLACK)
            # energy: a later B is >= this B, so its threshold's least energy is at most this one's
            i = np.searchsorted(thr, B, side="right") - 1
            e_cap = np.where(i >= 0, np.minimum(e_cap, lim[np.maximum(i, 0)]), e_cap)
            # bottleneck: stay below the first threshold whose least energy is already beaten by E_low
            first = np.searchsorted(-lim, -E_low, side="right")    # lim is non-increasing
            b_cap = np.where(first < len(thr), np.minimum(b_cap, thr[np.minimum(first, len(thr) - 1)]), b_cap)
        return b_cap, e_cap


class _ObjectiveBound(_Bound):
    def __init__(self, alpha, norm, ub):
        self.alpha, self.tn, self.en, self.lim = alpha, norm["time_s"], norm["energy_j"], ub * (1 + _SLACK)

    def learn(self, B, E):
        """A complete plan found during the search lowers the objective a label must beat."""
        obj = self.alpha * np.asarray(B) / self.tn + (1 - self.alpha) * np.asarray(E) / self.en
        self.lim = min(self.lim, float(obj.min()) * (1 + _SLACK))

    def __call__(self, B, E_low):
        return self.alpha * B / self.tn + (1 - self.alpha) * E_low / self.en <= self.lim

    def set_completion(self, thetas, H_theta, H_all) -> None:
        """Enable :meth:`joint`: ``H_theta[i]`` is :meth:`SolverContext.energy_under` at ``thetas[i]``
        (ascending), ``H_all`` the unrestricted table (:attr:`SolverContext.e_rest_r`)."""
        self.thetas, self.H_theta, self.H_all = np.asarray(thetas, float), H_theta, H_all

    def joint(self, B, E, rem, j):
        """Mask of labels (bottleneck ``B``, energy so far ``E``, remaining count vector code ``rem``, next unit
        ``j``) whose objective lower bound over all completions is within the limit. A completion whose
        bottleneck lies in ``(thetas[i-1], thetas[i]]`` has objective >= ``alpha max(B, thetas[i-1]) / Tn +
        (1 - alpha) (E + H_theta[i]) / En``; one above the last threshold is covered by the caller's test
        (``__call__`` with the unrestricted energy bound). The minimum over the intervals bounds every
        completion."""
        if getattr(self, "thetas", None) is None or len(B) == 0:
            return np.ones(len(B), dtype=bool)
        a, th = self.alpha, self.thetas
        lo = np.concatenate([[0.0], th[:-1]])
        best = np.full(len(B), np.inf)
        with np.errstate(invalid="ignore"):
            for i in range(len(th)):
                v = a * np.maximum(B, lo[i]) / self.tn + (1 - a) * (E + self.H_theta[i][rem, j]) / self.en
                best = np.minimum(best, np.where(np.isnan(v), np.inf, v))
            # completions slower than the last threshold: energy only bounded by the unrestricted table
            v = a * np.maximum(B, th[-1]) / self.tn + (1 - a) * (E + self.H_all[rem, j]) / self.en
            best = np.minimum(best, np.where(np.isnan(v), np.inf, v))
        return best <= self.lim

    def caps(self, B, E_low):
        a = self.alpha
        with np.errstate(divide="ignore", invalid="ignore"):
            b_cap = (self.lim - (1 - a) * E_low / self.en) * self.tn / a if a > 0 else np.full(np.shape(B), np.inf)
            e_cap = (self.lim - a * B / self.tn) * self.en / (1 - a) if a < 1 else np.full(np.shape(B), np.inf)
        return b_cap, e_cap


def front_bound(b_max: float, e_max: float, staircase=None):
    """Labels that can still reach the Pareto front. A plan with bottleneck above ``b_max`` (the bottleneck of
    the best least-energy plan) or energy above ``e_max`` (the energy of the best fastest plan) is dominated;
    so is one whose bottleneck is at least a staircase threshold and whose energy exceeds that threshold's
    least energy (a known plan is then at least as fast and strictly cheaper)."""
    return _FrontBound(b_max, e_max, staircase)


def objective_bound(alpha: float, norm: dict, ub: float):
    """Labels whose objective lower bound does not exceed ``ub`` (the objective of a known plan)."""
    return _ObjectiveBound(alpha, norm, ub)


def _label_plan(ctx: SolverContext, level, n: int, i: int):
    plan = []
    k = ctx.L
    while n >= 0:
        lv = level[n]
        dev = int(lv["dev"][i])
        j = int(lv["pj"][i]) if n > 0 else 0
        plan.append((dev, j, k - 1))
        k = j
        i = int(lv["parent"][i])
        n -= 1
    return plan[::-1]


def _box_dominated(g, B, E) -> np.ndarray:
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
    # dense ranks of E from this pass, kept for the running minimum in _prune (saves sorting E again)
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


def _prune(lab: dict, K: int, L1: int, keep_fn=None) -> dict:
    """Keep, per state (m, a, j), the non-dominated (B, E) labels; among equal labels the tie-rule winner."""
    if keep_fn is not None:
        lab = keep_fn(lab)
    if len(lab["B"]) == 0:
        return lab
    g = (lab["m"] * K + lab["a"]) * L1 + lab["j"]
    drop = _box_dominated(g, lab["B"], lab["E"])
    if drop.any():
        lab = {key: v[~drop] for key, v in lab.items()}
        g = g[~drop]
    order, e_vals, e_rank = _sort_labels(g, lab["B"], lab["E"], lab["code"], lab["pj"])
    gs = g[order]
    es = lab["E"][order]
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
    out = {key: v[idx] for key, v in lab.items()}
    # sequence keys (prefix rank, last device) -> dense ranks within this level, see _dense
    out["code"] = np.unique(out["code"], return_inverse=True)[1].reshape(-1).astype(np.int64) + 1
    return out
