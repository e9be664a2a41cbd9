"""The exact solver's scalar DPs over all states ``(c, a, j)`` (the recurrence in :mod:`.exact`), one key per
state: the min-max DP (least bottleneck), the energy DPs (alpha = 1 under a bottleneck threshold, alpha = 0 on
the pair ``(E, B)``), the known staircase of least-energy plans, and the alpha-weighted heuristic that only
supplies an upper bound. Every DP breaks ties by the rule of :mod:`.exact` (device sequence keys compared
through per-level ranks, then the DP's candidate order)."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .costs import Tables
from .errors import InfeasibleError
from .exact_context import SolverContext
from .exact_sizes import CHUNK
from .ties import lexmin, lexmin_rows

N_STAIRS = 12      # thresholds of the known staircase (scalar DPs run before the front search)


def dense_dp(ctx: SolverContext, mode: str, thr: float = np.inf, weights: tuple[float, float] | None = None):
    """One scalar DP over all states; ``mode`` is 'minmax' (key B; only ``P`` is filled, and only stages no
    slower than ``thr`` are tried: see :func:`least_bottleneck`), 'energy' (key E, parts <= thr), 'energy_b'
    (key (E, B)) or 'weighted' (key ``w_b B + w_e E`` with ``weights = (w_b, w_e)``, a heuristic, see
    :func:`weighted_plan`). Returns (P, S, code, prev_j, prev_a) arrays of shape (M, K, L+1); ``S`` is filled
    in modes 'energy_b' and 'weighted'."""
    p, tb, cl, L = ctx.p, ctx.tb, ctx.cl, ctx.L
    K, L1 = cl.K, L + 1
    shape = ctx.shapes["dp tables"]     # what the size guard counts
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
                _dense_batch(ctx, mode, thr, weights, rows, b, P, S, code, pj, pa)
        if mode != "minmax":
            _rank_level(code, P, cl.n_used == n)
    return P, S, code, pj, pa


def _dense_batch(ctx: SolverContext, mode: str, thr: float, weights, rows: np.ndarray, b: int,
                 P, S, code, pj, pa) -> None:
    """Fill the states ``(m, b, .)`` for every count vector ``m`` in ``rows`` (one level, all using class
    ``b``) from the previous level (see :func:`dense_dp`); all rows at once, every class as a source (a class
    the source count vector does not use contributes ``inf``).

    For each end ``k`` only the feasible starts ``j`` in ``[lo(k), k-1]`` are built (:mod:`.stage_windows`),
    ``j`` ascending within each source class, so the flat candidate order (class, then ``j``) and with it the
    tie rule's last resort are those of the full ``(class, j)`` table; the rest of that table is ``inf``.
    Ends whose window holds no reachable start are not built at all, and the device sequence keys are only
    compared where the costs tie (:func:`.ties.lexmin_rows`): an unreachable state keeps ``inf`` and
    arbitrary back-pointers, which nothing reads (a finite state's predecessors are all finite)."""
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
            start = np.isfinite(f).any(axis=0)
        else:
            ce = tb.bits[None, None, :] * p.link_epb[devs_a, dev_b[:, None]][:, :, None]
            ok = present[:, :, None] & ((ct <= thr) if mode == "energy" else True)
            X = np.where(ok, Psrc + ce, np.inf)
            start = np.isfinite(X).any(axis=(0, 1))
            Xv = view(X).transpose(0, 2, 1, 3)                           # (R, L1, K, W)
            cv = view(code[src[:, None], srcs[None, :]]).transpose(0, 2, 1, 3)
            if mode != "energy":
                Sv = view(np.where(present[:, :, None], np.maximum(S[src[:, None], srcs[None, :]], ct),
                                   np.inf)).transpose(0, 2, 1, 3)
        # only ends k with a reachable start j in [k - W, k - 1] can get a finite value; the others stay inf
        # (their candidates are all inf), so they are not built
        js = np.nonzero(start)[0]
        if len(js) == 0:
            continue
        k_end = min(L1, int(js[-1]) + W + 1)
        step = max(1, CHUNK // (R * A * W))
        for k0 in range(int(js[0]) + 1, k_end, step):
            ks = slice(k0, min(k_end, k0 + step))
            valid = w_idx >= (lo[ks] - kall[ks] + W)[:, None]              # (C, W): j >= lo(k)
            st = np.where(valid, pt[ks][:, None] - ptv[ks], np.inf)       # = Tables.stage_time, inf outside
            if mode == "minmax":
                P[ms, b, ks] = np.maximum(fv[:, ks], st[None]).min(axis=2)
                continue
            se = np.where(valid, pe[ks][:, None] - pev[ks], np.inf)
            cand = np.add(Xv[:, ks], se[None, :, None, :], order="C")      # (R, C, A, W), flat rows below
            C = cand.shape[1]
            flat = (R * C, A * W)
            if mode == "energy":
                keys = [cand.reshape(flat)]
            else:
                scand = np.maximum(Sv[:, ks], st[None, :, None, :], order="C")
                if mode == "weighted":
                    keys = [_weighted(weights, scand, cand).reshape(flat)]
                else:
                    keys = [cand.reshape(flat), scand.reshape(flat)]
            if mode == "weighted":
                # its key can be inf where the energy is finite: every row is decided by the full rule
                best = lexmin(keys + [cv[:, ks].reshape(flat)], axis=1)        # flat index a*W + w
            else:
                # the first key is the state's value: the sequence keys are only needed where costs tie
                cvk = cv[:, ks]
                best = lexmin_rows(keys, lambda rows, cvk=cvk, C=C: [cvk[rows // C, rows % C].reshape(len(rows), -1)])
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
    i = int(lexmin(cols)[0])
    return int(ms[i]), int(bs[i])


def least_bottleneck(ctx: SolverContext) -> float:
    """The least bottleneck ``B*`` of any plan (``inf`` when none exists), from the min-max DP over stages no
    slower than a guess ``U``: if the DP's answer is ``<= U`` it is ``B*`` (a plan reaching ``B*`` has every
    part ``<= B* <= U``, so all of its stages were tried), otherwise ``U`` grows to that answer (the bottleneck
    of a real plan, so ``>= B*``) or fourfold, whichever is less. The guess starts at
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
        P, *_ = dense_dp(ctx, "minmax", np.inf if full else U)
        v = float(P[ctx.cl.n_used > 0][:, :, ctx.L].min())
        if full or v <= U:
            return v
        U = min(4.0 * U, v)


def min_bottleneck_then_energy(tb: Tables, ctx: SolverContext | None = None):
    """Exact alpha = 1 plan (device indices): least bottleneck, then least energy, then the tie rule."""
    ctx = ctx or SolverContext(tb)
    thr = least_bottleneck(ctx)
    if not np.isfinite(thr):
        raise InfeasibleError("no plan fits the devices' memory limits and allowed units")
    E, S, code, pj, pa = dense_dp(ctx, "energy", thr)
    m, b = _best_final(ctx, [E], code)
    return _backtrack(ctx, m, b, ctx.L, pj, pa)


def _weighted(weights: tuple[float, float], B, E):
    """``w_b B + w_e E`` with unreachable entries (inf, or 0 * inf with a vanishing weight) as inf."""
    w_b, w_e = weights
    with np.errstate(invalid="ignore", over="ignore"):
        w = w_b * B + w_e * E
    return np.where(np.isfinite(B) & np.isfinite(E) & ~np.isnan(w), w, np.inf)


def weighted_plan(tb: Tables, ctx: SolverContext, alpha: float, norm: dict):
    """A good (not always optimal) plan for 0 < alpha < 1 from one scalar DP that keeps, per state, the least
    alpha-weighted partial cost (the paper's rule, over count vectors). Only used as an upper bound that lets
    the exact search drop more labels."""
    weights = (alpha / norm["time_s"], (1.0 - alpha) / norm["energy_j"])
    E, S, code, pj, pa = dense_dp(ctx, "weighted", weights=weights)
    best = _best_final(ctx, [_weighted(weights, S, E)], code)
    if best is None:
        raise InfeasibleError("no plan fits the devices' memory limits and allowed units")
    return _backtrack(ctx, best[0], best[1], ctx.L, pj, pa)


def min_energy_then_bottleneck(tb: Tables, ctx: SolverContext | None = None):
    """Exact alpha = 0 plan (device indices): least energy, then least bottleneck, then the tie rule."""
    ctx = ctx or SolverContext(tb)
    E, S, code, pj, pa = dense_dp(ctx, "energy_b")
    best = _best_final(ctx, [E, S], code)
    if best is None:
        raise InfeasibleError("no plan fits the devices' memory limits and allowed units")
    return _backtrack(ctx, best[0], best[1], ctx.L, pj, pa)



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
        E, *_ = dense_dp(ctx, "energy", float(t))
        e[i] = E[ctx.cl.n_used > 0][:, :, ctx.L].min()
        if bar is not None:
            bar.update()
    return thr, np.minimum.accumulate(e)

