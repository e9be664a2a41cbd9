"""The exact front search (:func:`pareto_labels`): every state's non-dominated ``(B, E)`` labels, level by
level (level = number of stages), all labels of a level in one set of array operations; the recurrence, the
exact reductions and the tie rule are stated in :mod:`.exact`."""
from __future__ import annotations

import sys

import numpy as np

from .costs import Tables
from .errors import InfeasibleError
from .exact_bounds import WIN, LabelBound
from .exact_context import SolverContext
from .exact_labels import Labels, box_dominated, prune
from .guard import check_labels
from .ties import TIE_RTOL


def pareto_labels(tb: Tables, ctx: SolverContext | None = None, bound: LabelBound | None = None,
                  budget: int | None = None, bar=None):
    """Exact Pareto front: list of (bottleneck, energy, plan) with bottleneck ascending, energy strictly
    descending; each point's plan is the tie-rule winner among plans with exactly that (B, E).

    ``bound(B, E_lower)`` (optional, a :class:`~.exact_bounds.LabelBound`) returns a mask of labels worth
    keeping, given their bottleneck and a lower bound on the energy of any completion (energy so far + the
    cheapest type's energy for every remaining unit). It must only drop labels that cannot reach the front (or
    the optimum sought); see :func:`.exact_bounds.front_bound` and :func:`.exact_bounds.objective_bound`.

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

    def keep_fn(lab: Labels) -> Labels:
        # Any completion's bottleneck is >= G(remaining devices, j), so labels whose bottleneck is below it are
        # equivalent in B: raising B to that bound is exact and lets dominance merge them. Dead ends (inf) go.
        lab.B = np.maximum(lab.B, G[cl.M - 1 - lab.m, lab.j])
        keep = np.isfinite(lab.B)
        if bound is not None:
            keep &= bound(lab.B, lab.E + H[cl.M - 1 - lab.m, lab.j])
        return lab.take(keep)
    level: list[Labels] = []
    first = []
    for b in range(cl.K):
        dev = ctx.device(b, 1)
        t = p.device_type[dev]
        ins, ine = ctx.tb.input_cost(dev)
        st0, se0 = ctx.stage(t, 0, np.arange(L1))
        ks = np.nonzero(np.isfinite(st0))[0]
        n = len(ks)
        first.append(Labels(m=np.full(n, cl.strides[b]), a=np.full(n, b), j=ks, B=np.maximum(st0[ks], ins),
                            E=se0[ks] + ine, code=np.full(n, dev + 1, dtype=np.int64),
                            dev=np.full(n, dev, dtype=np.int64), pj=np.zeros(n, dtype=np.int64),
                            parent=np.full(n, -1, dtype=np.int64)))
    cur = prune(Labels.concat(first), cl.K, L1, keep_fn)
    level.append(cur)
    n_labels = len(cur)
    _learn(bound, cur, L)
    while True:
        live = cur.j < L
        if not live.any() or len(level) >= cl.sizes.sum():
            break
        parts = []
        idx_live = np.nonzero(live)[0]
        # prune leaves each state's labels together, bottleneck ascending (energy descending). Appending a stage
        # with part c = max(transfer, stage time) maps label i to (max(B_i, c), E_i + d): once c >= B_{i+1},
        # the state's next label maps to the same bottleneck with less energy, so label i only needs the
        # stages with c < B_{i+1} (its "shadow" limit; inf for a state's last label).
        gcur = (cur.m * cl.K + cur.a) * L1 + cur.j
        shadow = np.full(len(gcur), np.inf)
        same = gcur[1:] == gcur[:-1]
        shadow[:-1][same] = cur.B[1:][same]
        plans_b = []
        for b in range(cl.K):
            cnt_b = cl.counts[cur.m[idx_live], b]
            sel = idx_live[cnt_b < cl.sizes[b]]
            if len(sel) == 0:
                continue
            cnt_next = cl.counts[cur.m[sel], b] + 1
            dev_b = np.array(cl.members[b] + (-1,))[cnt_next - 1]
            dev_a = cur.dev[sel]
            jj = cur.j[sel]
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
                k_sh = np.searchsorted(pt, pt[jj] + sh * (1 + WIN) + WIN * pt[jj], side="right") - 1
            kmax = np.where(ct < sh, np.minimum(kmax, k_sh), jj)
            if bound is not None:
                Bl, El = np.maximum(cur.B[sel], ct), cur.E[sel] + ce + ctx.e_rest[jj]
                # every stage on b from here leaves at least Hb energy to spend (this stage + the rest on the
                # devices left): a tighter E_low for the caps, while the energy window keeps El (see windows)
                E_pair = cur.E[sel] + ce + Hb[cl.M - 1 - cur.m[sel], b, jj]
                kmax = np.minimum(kmax, bound.windows(ctx, t, jj, Bl, El, E_pair))
                b_cap = bound.caps(Bl, E_pair)[0]
                rows = cl.M - 1 - (cur.m[sel] + cl.strides[b])
                kmin = _first_at_most(G_mono, rows, kmin, kmax, b_cap * (1 + WIN))
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
            Bn = np.maximum(np.maximum(cur.B[sel][r], ct[r]), st_k)
            En = cur.E[sel][r] + ce[r] + se_k
            mn = cur.m[sel][r] + cl.strides[b]
            # filter before the other fields are built: the bound (keep_fn's test) and box dominance
            Bn = np.maximum(Bn, G[cl.M - 1 - mn, k])
            ok = np.isfinite(Bn)
            if bound is not None:
                ok &= bound(Bn, En + H[cl.M - 1 - mn, k])
                ok[ok] = bound.joint(Bn[ok], En[ok], cl.M - 1 - mn[ok], k[ok])
            ok[ok] = ~box_dominated(mn[ok] * L1 + k[ok], Bn[ok], En[ok])
            r, k, Bn, En, mn = r[ok], k[ok], Bn[ok], En[ok], mn[ok]
            parts.append(Labels(m=mn, a=np.full(len(r), b), j=k, B=Bn, E=En,
                                code=cur.code[sel][r] * ctx.base + dev_b[r] + 1, dev=dev_b[r], pj=jj[r],
                                parent=sel[r]))
        if not parts:
            break
        # the candidates passed keep_fn's tests (G, finiteness, bound) above: only dominance is left to apply
        cur = prune(Labels.concat(parts), cl.K, L1)
        level.append(cur)
        n_labels += len(cur)
        _learn(bound, cur, L)
        if bar is not None:
            bar.update()
            bar.set_postfix_str(f"{n_labels:,} labels")
    # finals across all levels
    fin = []
    for n, lv in enumerate(level):
        f = np.nonzero(lv.j == L)[0]
        for i in f:
            fin.append((lv.B[i], lv.E[i], n + 1, int(lv.code[i]), int(lv.pj[i]), n, int(i)))
    if not fin:
        raise InfeasibleError("no plan fits the devices' memory limits and allowed units")
    fin.sort(key=lambda x: x[:5])
    front, best_e = [], np.inf
    for B, E, n, c, _, lv_i, i in fin:
        if best_e == np.inf or E < best_e - TIE_RTOL * abs(best_e):
            best_e = E
            front.append((float(B), float(E), _label_plan(ctx, level, lv_i, i)))
    return front, n_labels


def _learn(bound: LabelBound | None, lab: Labels, L: int) -> None:
    """Complete plans found at this level are known plans: let the bound use them for the levels to come."""
    if bound is None:
        return
    f = lab.j == L
    if f.any():
        bound.learn(lab.B[f], lab.E[f])


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


def _label_plan(ctx: SolverContext, level: list[Labels], n: int, i: int):
    plan = []
    k = ctx.L
    while n >= 0:
        lv = level[n]
        dev = int(lv.dev[i])
        j = int(lv.pj[i]) if n > 0 else 0
        plan.append((dev, j, k - 1))
        k = j
        i = int(lv.parent[i])
        n -= 1
    return plan[::-1]


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

