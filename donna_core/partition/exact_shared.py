"""Exact solver for the extended communication model: shared media and the CPU cost of messages.

Under these rules the bottleneck is no longer a running maximum of independent parts (README "Cost model"):
a shared medium's busy time is a *sum* over the plan's messages, and a stage's busy time grows by the CPU time
of its send, which depends on the *next* stage's device. So a label keeps, besides its energy ``E``,

* ``Bc`` -- the largest closed part: finished stages' busy times (send included), independent transfers;
* ``O``  -- the open (last) stage's busy time so far: compute + receive CPU time (its send is added when the
  next stage is appended; a plan's last stage sends nothing). Only kept when some medium has a CPU cost;
  otherwise the stage time goes straight into ``Bc``;
* ``S_m`` -- per shared medium ``m``, the sum of the message times over it so far (the input included).

A complete plan's bottleneck is ``max(Bc, O, S_1, ...)``. Every future cost added to a label depends only on its
state ``(count vector, class of the last device, units done)``, and ``max``/``+`` are monotone, so a label
that is ``<=`` another one at the same state in every coordinate (``Bc, O, S, E``) is never worse for any
completion: keeping only non-dominated labels is exact. Two exact reductions from :mod:`.exact` apply too:
``Bc`` is raised to the least stage time any completion still needs (:attr:`SolverContext.b_rest`), and, for
the alpha-optimum, labels whose objective lower bound (with :attr:`SolverContext.e_rest_r` for the energy to
come) exceeds a known plan's objective are dropped; stages are only built inside the windows that bound allows.

Ties: least objective (costs equal to 12 significant digits tie), then fewer stages, then the device sequence
in lexicographic order of device index -- among the plans whose labels survive dominance (a plan tied in the
objective but dominated at an intermediate state is not compared). Tested against brute force
(``tests/partition/test_shared_media.py``).
"""
from __future__ import annotations

import numpy as np

from .costs import Tables, objective
from .errors import InfeasibleError
from .exact_context import SolverContext
from .ties import TIE_RTOL
from .guard import check_labels

_SLACK = 1e-9


def _nondominated(g: np.ndarray, X: np.ndarray, tie: np.ndarray) -> np.ndarray:
    """Indices of the labels not dominated within their group ``g``: label q is dropped when an earlier label
    (order: group, then ``X`` columns lexicographically, then ``tie``) is ``<=`` in every column of ``X``.
    Exact duplicates keep the first by ``tie``. Pairwise within each group, one offset at a time."""
    order = np.lexsort((tie, *X.T[::-1], g))
    gs, Xs = g[order], X[order]
    n = len(gs)
    start = np.r_[True, gs[1:] != gs[:-1]]
    rank = np.arange(n) - np.maximum.accumulate(np.where(start, np.arange(n), 0))
    dead = np.zeros(n, dtype=bool)
    idx = np.nonzero(rank >= 1)[0]
    d = 1
    while len(idx):
        dom = np.all(Xs[idx - d] <= Xs[idx], axis=1)
        dead[idx[dom]] = True
        d += 1
        idx = idx[(rank[idx] >= d) & ~dead[idx]]
    return order[~dead]


class _Labels:
    """Column store of one level's labels."""

    def __init__(self, **cols):
        self.__dict__.update(cols)

    def take(self, i) -> "_Labels":
        return _Labels(**{k: v[i] for k, v in self.__dict__.items()})

    def __len__(self):
        return len(self.E)


def extended_search(tb: Tables, ctx: SolverContext | None = None, alpha: float | None = None,
                    norm: dict | None = None, ub: float = np.inf, budget: int | None = None):
    """Every non-dominated complete plan's (bottleneck, energy, plan) under the extended model; with ``alpha``
    only those that can beat ``ub`` (the objective of a known plan) are searched. Returns (finals, n_labels)."""
    ctx = ctx or SolverContext(tb)
    p, cl, L = ctx.p, ctx.cl, ctx.L
    L1 = L + 1
    nS = len(p.shared_media)
    use_o = p.has_cpu_cost
    G = ctx.b_rest
    H = ctx.e_rest_r if alpha is not None else None
    bounded = alpha is not None and np.isfinite(ub)
    lim = ub * (1 + _SLACK)
    tn, en = (norm["time_s"], norm["energy_j"]) if norm else (1.0, 1.0)

    def lower(Bmax, E_low):
        with np.errstate(invalid="ignore"):     # inf * 0 for dead ends at alpha in {0, 1}: nan, never kept
            return alpha * Bmax / tn + (1 - alpha) * E_low / en

    def filt(lab: _Labels) -> _Labels:
        rem = cl.M - 1 - lab.m
        lab.Bc = np.maximum(lab.Bc, G[rem, lab.j])
        keep = np.isfinite(lab.Bc)
        if bounded:
            bmax = np.maximum(lab.Bc, np.max(lab.X, axis=1)) if lab.X.shape[1] else lab.Bc
            keep &= lower(bmax, lab.E + H[rem, lab.j]) <= lim
        lab = lab.take(np.nonzero(keep)[0])
        if len(lab) == 0:
            return lab
        g = (lab.m * cl.K + lab.a) * L1 + lab.j
        cols = np.column_stack([lab.E, lab.Bc, lab.X])
        lab = lab.take(_nondominated(g, cols, lab.code))
        lab.code = np.unique(lab.code, return_inverse=True)[1].reshape(-1).astype(np.int64) + 1
        return lab

    # X columns: [O] (when CPU costs exist) then S_1..S_nS
    nx = int(use_o) + nS
    first = []
    for b in range(cl.K):
        dev = ctx.device(b, 1)
        t = p.device_type[dev]
        ins, ine = tb.input_cost(dev)
        ks = np.nonzero(np.isfinite(ctx.st[t, 0]))[0]
        n = len(ks)
        X = np.zeros((n, nx))
        Bc = np.zeros(n)
        sid = p.link_shared[p.source, dev] if p.source is not None and p.source != dev else -1
        if sid >= 0:
            X[:, int(use_o) + sid] = ins
        else:
            Bc = np.full(n, ins)
        if use_o:
            X[:, 0] = ctx.st[t, 0, ks] + tb.input_recv_cpu(dev)
        else:
            Bc = np.maximum(Bc, ctx.st[t, 0, ks])
        first.append(_Labels(m=np.full(n, cl.strides[b]), a=np.full(n, b), j=ks, Bc=Bc, X=X,
                             E=ctx.se[t, 0, ks] + ine, code=np.full(n, dev + 1, dtype=np.int64),
                             dev=np.full(n, dev), pj=np.zeros(n, dtype=np.int64), parent=np.full(n, -1)))
    cur = filt(_cat(first))
    levels = [cur]
    n_labels = len(cur)
    finals = []
    while True:
        done = cur.j == L
        if done.any():
            f = np.nonzero(done)[0]
            Bf = np.maximum(cur.Bc[f], cur.X[f].max(axis=1)) if nx else cur.Bc[f]
            for i, bb, ee in zip(f, Bf, cur.E[f]):
                finals.append((float(bb), float(ee), len(levels) - 1, int(i)))
            if bounded:
                lim = min(lim, float(lower(Bf, cur.E[f]).min()) * (1 + _SLACK))
        live = np.nonzero(~done)[0]
        if len(live) == 0 or len(levels) >= cl.sizes.sum():
            break
        parts, n_cand = [], 0
        for b in range(cl.K):
            sel = live[cl.counts[cur.m[live], b] < cl.sizes[b]]
            if len(sel) == 0:
                continue
            dev_b = np.array(cl.members[b])[cl.counts[cur.m[sel], b]]
            dev_a, jj = cur.dev[sel], cur.j[sel]
            t = p.device_type[cl.members[b][0]]
            ct = tb.comm_time(dev_a, dev_b, jj)
            ce = tb.bits[jj] * p.link_epb[dev_a, dev_b]
            sid = p.link_shared[dev_a, dev_b]
            Bc = cur.Bc[sel]
            X = cur.X[sel].copy()
            if use_o:
                Bc = np.maximum(Bc, X[:, 0] + tb.send_cpu(dev_a, dev_b, jj))
                X[:, 0] = tb.recv_cpu(dev_a, dev_b, jj)
            Bc = np.where(sid < 0, np.maximum(Bc, ct), Bc)
            for s in range(nS):
                X[:, int(use_o) + s] += np.where(sid == s, ct, 0.0)
            E = cur.E[sel] + ce
            kmax = jj + np.isfinite(ctx.st[t][jj]).sum(axis=1)
            if bounded:
                kmax = np.minimum(kmax, _window(ctx, t, jj, Bc, X, E, alpha, tn, en, lim))
            cnt = np.maximum(kmax - jj, 0)
            parts.append((b, sel, dev_b, jj, t, Bc, X, E, cnt))
            n_cand += int(cnt.sum())
        if budget is not None:
            check_labels(n_labels, n_cand, budget)
        new = []
        for b, sel, dev_b, jj, t, Bc, X, E, cnt in parts:
            tot = int(cnt.sum())
            if tot == 0:
                continue
            r = np.repeat(np.arange(len(sel)), cnt)
            k = jj[r] + 1 + np.arange(tot) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            st = ctx.st[t][jj[r], k]
            Xn = X[r].copy()
            if use_o:
                Xn[:, 0] += st
                Bn = Bc[r]
            else:
                Bn = np.maximum(Bc[r], st)
            new.append(_Labels(m=cur.m[sel][r] + cl.strides[b], a=np.full(tot, b), j=k, Bc=Bn, X=Xn,
                               E=E[r] + ctx.se[t][jj[r], k], code=cur.code[sel][r] * ctx.base + dev_b[r] + 1,
                               dev=dev_b[r], pj=jj[r], parent=sel[r]))
        if not new:
            break
        cur = filt(_cat(new))
        levels.append(cur)
        n_labels += len(cur)
    if not finals:
        raise InfeasibleError("no plan fits the devices' memory limits and allowed units")
    return [(bb, ee, _plan(ctx, levels, n, i)) for bb, ee, n, i in finals], n_labels


def _window(ctx, t, jj, Bc, X, E, alpha, tn, en, lim):
    """Largest ``k`` (exclusive end) for which a stage ``jj..k-1`` on type ``t`` can still beat ``lim``: the
    stage time (a lower bound on the open busy time) and the energy bound both grow with ``k``."""
    bnow = np.maximum(Bc, X.max(axis=1)) if X.shape[1] else Bc
    e_low = E + ctx.e_rest[jj]
    with np.errstate(divide="ignore", invalid="ignore"):
        b_cap = (lim - (1 - alpha) * e_low / en) * tn / alpha if alpha > 0 else np.full(len(jj), np.inf)
        e_cap = (lim - alpha * bnow / tn) * en / (1 - alpha) if alpha < 1 else np.full(len(jj), np.inf)
        pt, pe = ctx.tb.pt[t], ctx.h_energy[t]
        kb = np.searchsorted(pt, pt[jj] + b_cap * (1 + 1e-9) + 1e-9 * np.abs(pt[jj]), side="right") - 1
        ke = np.searchsorted(pe, pe[jj] + (e_cap - e_low) + 1e-9 * (np.abs(e_cap) + np.abs(pe[jj])),
                             side="right") - 1
    k = np.minimum(kb, ke)
    live = (bnow <= b_cap * (1 + 1e-9)) | (alpha == 0)
    return np.where(live & np.isfinite(k), k, jj)


def _cat(parts: list[_Labels]) -> _Labels:
    keys = parts[0].__dict__.keys()
    return _Labels(**{k: np.concatenate([getattr(q, k) for q in parts]) for k in keys})


def _plan(ctx, levels, n, i):
    plan, k = [], ctx.L
    while n >= 0:
        lab = levels[n]
        j = int(lab.pj[i]) if n > 0 else 0
        plan.append((int(lab.dev[i]), j, k - 1))
        k, i, n = j, int(lab.parent[i]), n - 1
    return plan[::-1]


def extended_optimum(tb: Tables, ctx: SolverContext, alpha: float, norm: dict, ub: float, budget=None):
    """The alpha-optimal plan under the extended model and the number of labels searched."""
    finals, n_labels = extended_search(tb, ctx, alpha, norm, ub, budget)
    obj = [objective(alpha, b, e, norm) for b, e, _ in finals]
    if alpha == 1.0:
        key = [(b, e) for b, e, _ in finals]
    elif alpha == 0.0:
        key = [(e, b) for b, e, _ in finals]
    else:
        key = [(o,) for o in obj]
    lo = min(key)
    ties = [i for i in range(len(finals)) if _close(key[i], lo)]
    best = min(ties, key=lambda i: (len(finals[i][2]), [d for d, _, _ in finals[i][2]], key[i]))
    return finals[best][2], n_labels


def _close(a, b) -> bool:
    """Lexicographic tie test: equal up to :data:`TIE_RTOL` on the first key, then on the second."""
    for x, y in zip(a, b):
        if abs(x - y) > TIE_RTOL * abs(y):
            return False
    return True


def extended_front(tb: Tables, ctx: SolverContext | None = None, budget=None):
    """Exact Pareto front of (bottleneck, energy) under the extended model: (B, E, plan), B ascending."""
    finals, _ = extended_search(tb, ctx, budget=budget)
    finals.sort(key=lambda x: (x[0], x[1], len(x[2]), [d for d, _, _ in x[2]]))
    front, best_e = [], np.inf
    for b, e, plan in finals:
        if best_e == np.inf or e < best_e - TIE_RTOL * abs(best_e):
            best_e = e
            front.append((b, e, plan))
    return front
