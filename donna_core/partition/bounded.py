"""Anytime bounded solver: a plan and a certified lower bound on the alpha-objective optimum, within a time limit.

For problems whose exact state space (count vectors over device classes) is too large: many devices with
distinct links, or many classes of many devices. Devices are grouped into the exact solver's classes
(:func:`donna_core.partition.classes.class_members`); swapping members of a class never changes a cost.

**Relaxation.** Drop the rule "class ``b`` is used at most ``size_b`` times" and price each use of class ``b``
with a Lagrange multiplier ``lambda_b >= 0`` instead. What is left is a shortest path over states ``(j, b)``
(units ``0..j-1`` done, last stage on class ``b``), O(L^2 K + L K^2) per solve::

    G(0, b) = w * E_in(b)                                         if T_in(b) <= theta
    F(k, b) = lambda_b + min_{j<k} G(j, b) + w * E_comp(b, j..k-1)  over stages with T_comp <= theta (and fits)
    G(j, b) = min_a F(j, a) + w * E_comm(a -> b, cut j)           over transfers with T_comm <= theta
    V(lambda, theta) = min_b F(L, b),     w = (1 - alpha) / norm.energy

(class ``a -> a`` pays the link between two members and needs ``size_a >= 2``). Every real plan whose parts
(stage and transfer times) are all ``<= theta`` is a path here, and ``sum_b lambda_b (use_b - size_b) <= 0``
for it, so ``V(lambda, theta) - lambda . size <= w * E`` for every such plan (weak duality).

**Bound.** A plan's bottleneck is one of finitely many part values (stage, transfer and input times). Split
the sorted values from ``g_0``, the least bottleneck of the relaxation without prices (no plan is faster), into
intervals ``[g_i, g_{i+1})``. A plan with bottleneck ``B`` in ``[g_i,
g_{i+1})`` has every part ``<= g_{i+1}`` and ``alpha B / norm.time >= alpha g_i / norm.time``, hence::

    objective >= alpha * g_i / norm.time + V(lambda_i, g_{i+1}) - lambda_i . size        (any lambda_i >= 0)

and the minimum of these interval bounds is a lower bound on the optimum (with lambda = 0 always among the
multipliers tried). An interval holding a single value ``g`` uses theta = g.
At alpha = 1 the energy weight is 0 and the multipliers alone prove an interval infeasible (the bound grows
without limit).

**Search (anytime).** Repeatedly take the interval with the least bound; improve its multipliers by projected
subgradient steps (Polyak step towards the best plan's objective, ``use - size`` as the subgradient); when its
bound stalls, split its candidate values in half (children inherit the multipliers; an interval of one value
gets a few fresh starts instead). Intervals whose bound reaches the best plan's objective are dropped.
**Plans** come from the same recursion with hard capacities carried along (each state keeps its few cheapest
labels with distinct count vectors; a transition to ``b`` is allowed only while ``count_b < size_b``), priced
with the interval's multipliers and its largest value as theta: always a valid plan, evaluated with the shared
cost model. A relaxed path that already respects the capacities is a plan too.

The search stops when the relative gap ``(plan - bound) / plan`` is at most ``gap_tol`` (``"gap"``), when every
interval's bound has reached the best plan (``"proved"``), when no interval can improve (``"converged"``: the
relaxation's own gap remains), after ``max_visits`` interval visits, or at ``time_limit_s``. Without the
wall-clock stop the result is deterministic (fixed visit order, ties to the lowest class / earliest cut);
``stats["stopped"]`` says which rule ended it. The bound is reported with a relative slack of 1e-10 so that
float rounding of a sum in another order can never put it above the optimum.
"""
from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass

import numpy as np

from .classes import class_members
from .costs import Tables, evaluate
from .exact import InfeasibleError

BOUND_SLACK = 1e-10     # relative; the certified bound is lowered by this much against float rounding
OVERSHOOT = 0.05        # Polyak target = best plan's objective * (1 + this)
LAMBDA_MAX = 1e100       # multipliers beyond this prove nothing more (objectives are normalised, ~1)
ATOMIC_RETRIES = 4      # fresh starts (step factor reset) for an interval that cannot be split
PRIMAL_EVERY = 4        # run the (costlier) capacitated plan search on every 4th visit of an interval
_THR_SLACK = 1e-12      # parts equal to a threshold up to rounding count as within it (keeps it a relaxation)


@dataclass
class _Interval:
    """Plans whose bottleneck is one of ``vals[i0..i1]`` (every bottleneck is one of the part values)."""
    i0: int
    i1: int
    lam: np.ndarray
    bound: float = -math.inf
    mu: float = 1.0           # Polyak step factor, halved after 3 steps in a row that do not raise the bound
    miss: int = 0
    retries: int = 0          # an interval that cannot be split is given a few fresh starts before it is final
    stalled: bool = False
    visits: int = 0


class _Relaxation:
    """Class-level tables of one problem, shared by the bound and plan recursions."""

    def __init__(self, tb: Tables, alpha: float, norm: dict, members):
        p = tb.p
        self.tb, self.p, self.alpha, self.norm = tb, p, alpha, norm
        self.members = members
        self.K = K = len(members)
        self.L = L = p.L
        L1 = L + 1
        self.sizes = np.array([len(m) for m in members], dtype=np.int64)
        rep = [m[0] for m in members]
        self.ctype = np.array([p.device_type[d] for d in rep])
        j = np.arange(L1)[:, None]
        k = np.arange(L1)[None, :]
        T = p.time_s.shape[0]
        self.st = np.full((T, L1, L1), np.inf)
        self.se = np.full((T, L1, L1), np.inf)
        for t in np.unique(self.ctype):
            ok = (k > j) & tb.fits(t, j, k)
            self.st[t] = np.where(ok, tb.stage_time(t, j, k), np.inf)
            self.se[t] = np.where(ok, tb.stage_energy(t, j, k), np.inf)
        cuts = np.arange(L1)
        self.ct = np.full((K, K, L1), np.inf)
        self.ce = np.full((K, K, L1), np.inf)
        for a in range(K):
            for b in range(K):
                if a != b:
                    u, v = rep[a], rep[b]
                elif len(members[a]) >= 2:
                    u, v = members[a][0], members[a][1]
                else:
                    continue
                self.ct[a, b] = tb.comm_time(u, v, cuts)
                self.ce[a, b] = tb.comm_energy(u, v, cuts)
        ins = [tb.input_cost(d) for d in rep]
        self.in_t = np.array([x[0] for x in ins])
        self.in_e = np.array([x[1] for x in ins])
        self.tn, self.en = norm["time_s"], norm["energy_j"]

    def tables(self, thr: float, w: float):
        """Energy tables (weighted by ``w``) with every part above ``thr`` removed."""
        lim = thr * (1 + _THR_SLACK)
        with np.errstate(invalid="ignore"):
            se = np.where(self.st <= lim, w * self.se, np.inf)
            ce = np.where(self.ct <= lim, w * self.ce, np.inf)
            g0 = np.where(self.in_t <= lim, w * self.in_e, np.inf)
        return se, ce, g0

    def part_values(self) -> np.ndarray:
        """Every value a plan's bottleneck can take (stage, transfer and input times), sorted, unique."""
        v = np.concatenate([self.st[np.unique(self.ctype)].ravel(), self.ct.ravel(), self.in_t])
        return np.unique(v[np.isfinite(v)])

    def least_bottleneck(self) -> float:
        """Least bottleneck with the capacities dropped: a lower bound on every plan's bottleneck."""
        K, L = self.K, self.L
        G = np.full((L + 1, K), np.inf)
        G[0] = self.in_t
        st_cls = self.st[self.ctype]                    # (K, L1, L1)
        F = np.full((L + 1, K), np.inf)
        for k in range(1, L + 1):
            F[k] = np.maximum(G[:k], st_cls[:, :k, k].T).min(axis=0)
            if k < L:
                G[k] = np.maximum(F[k][:, None], self.ct[:, :, k]).min(axis=0)
        return float(F[L].min())

    def relaxed(self, thr: float, lam: np.ndarray):
        """``V(lam, thr)`` and the class-use vector and stages of a minimising path (None if no path)."""
        K, L = self.K, self.L
        w = (1.0 - self.alpha) / self.en
        se, ce, g0 = self.tables(thr, w)
        se_cls = se[self.ctype]
        G = np.full((L + 1, K), np.inf)
        G[0] = g0
        F = np.full((L + 1, K), np.inf)
        arg_j = np.zeros((L + 1, K), dtype=np.int64)
        arg_a = np.zeros((L + 1, K), dtype=np.int64)
        for k in range(1, L + 1):
            cand = G[:k] + se_cls[:, :k, k].T            # (k, K) over j
            jb = cand.argmin(axis=0)
            F[k] = lam + cand[jb, np.arange(K)]
            arg_j[k] = jb
            if k < L:
                c2 = F[k][:, None] + ce[:, :, k]           # (a, b)
                ab = c2.argmin(axis=0)
                G[k] = c2[ab, np.arange(K)]
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
        se, ce, g0 = self.tables(thr, w)
        se_cls = se[self.ctype]
        F = np.full((L + 1, K, R), np.inf)
        cnt = np.zeros((L + 1, K, R, K), dtype=np.int32)   # count vector of each label
        par = np.full((L + 1, K, R, 3), -1, dtype=np.int64)  # (j, a, r) of the predecessor; a = -1: first stage
        cap = self.sizes
        eye = np.eye(K, dtype=np.int32)
        for k in range(1, L + 1):
            start = g0 + se_cls[:, 0, k]                  # (K,): the first stage covers 0..k-1
            if k > 1:
                c = F[1:k, :, :, None] + (ce[:, :, 1:k].transpose(2, 0, 1)[:, :, None, :]
                                          + se_cls[:, 1:k, k].T[:, None, None, :])
                c = np.where(cnt[1:k] < cap, c, np.inf).reshape(-1, K)      # rows (j-1, a, r), columns b
            else:
                c = np.empty((0, K))
            c = np.vstack([start[None, :], c])
            if R == 1:
                self._one_label(k, c, F, cnt, par, lam, eye)
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
                jj = np.where(src >= 0, src // (K * R) + 1, 0)
                aa = np.where(src >= 0, (src // R) % K, -1)
                rr = np.where(src >= 0, src % R, -1)
                vecs = np.where((src >= 0)[:, None], cnt[jj, np.maximum(aa, 0), np.maximum(rr, 0)], 0) + eye[b]
                if R > 1:
                    _, first = np.unique(vecs, axis=0, return_index=True)
                    keep = np.sort(first)[:R]                # cheapest label of each distinct count vector
                else:
                    keep = np.arange(1)
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

    def _one_label(self, k, c, F, cnt, par, lam, eye) -> None:
        """:meth:`capacitated` with one label per state, vectorised over the classes."""
        K = self.K
        rows = c.argmin(axis=0)
        vals = c[rows, np.arange(K)]
        src = rows - 1
        jj = np.where(src >= 0, src // K + 1, 0)
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


def bounded_solve(tb: Tables, alpha: float, norm: dict, time_limit_s: float = 60.0, gap_tol: float = 1e-9,
                  max_visits: int = 100_000, members=None, n_grid: int = 8, steps_per_visit: int = 10):
    """Plan and certified lower bound; returns ``(plan, stats)`` with ``stats["lower_bound"]`` and ``["gap"]``."""
    t0 = time.perf_counter()
    deadline = t0 + time_limit_s
    p = tb.p
    tb.check_runnable()
    rx = _Relaxation(tb, alpha, norm, members or class_members(p))
    K = rx.K
    g0 = rx.least_bottleneck()
    if not math.isfinite(g0):
        raise InfeasibleError("no plan fits the devices' memory limits")
    vals = rx.part_values()
    best = {"obj": math.inf, "plan": None}

    def offer(seq):
        if seq is None:
            return
        use = np.bincount([b for b, _, _ in seq], minlength=K)
        if (use > rx.sizes).any():
            return
        plan = rx.plan_devices(seq)
        r = evaluate(p, plan, alpha, tables=tb, norm=norm)
        # strictly better only: the first plan found keeps a tie (deterministic visit order)
        if r.objective < best["obj"]:
            best["obj"], best["plan"], best["B"] = r.objective, plan, r.bottleneck_s

    zero = np.zeros(K)
    offer(rx.capacitated(math.inf, zero))
    i_lo = int(np.searchsorted(vals, g0 * (1 - _THR_SLACK), side="left"))
    i_hi = len(vals) - 1
    if alpha > 0 and math.isfinite(best["obj"]):
        # a plan with bottleneck above UB * Tn / alpha cannot beat the best plan
        i_hi = max(i_lo, min(i_hi, int(np.searchsorted(vals, best["obj"] * rx.tn / alpha, side="right"))))
        i_hi = min(i_hi, len(vals) - 1)
    if alpha == 0.0:
        cuts = [i_lo]          # the bottleneck does not count: one interval, only its multipliers matter
    else:
        top = max(vals[i_hi], vals[i_lo])
        grid = np.geomspace(vals[i_lo], top, n_grid + 1)[1:-1] if vals[i_lo] > 0 else \
            np.geomspace(max(top, 1e-300) / 2**n_grid, top, n_grid)[:-1]
        cuts = sorted({i_lo, *(int(np.searchsorted(vals, g)) for g in grid if g > vals[i_lo])})
        cuts = [c for c in cuts if c <= i_hi]
    heap: list = []
    counter = 0

    def push(iv):
        nonlocal counter
        heapq.heappush(heap, (iv.bound, iv.i0, counter, iv))
        counter += 1

    for n, c in enumerate(cuts):
        push(_Interval(c, (cuts[n + 1] - 1) if n + 1 < len(cuts) else i_hi, zero.copy()))
    visits, steps, stopped = 0, 0, "converged"
    lb = -math.inf
    while heap:
        ub = best["obj"]
        # drop intervals that cannot hold a better plan
        while heap and math.isfinite(ub) and heap[0][0] >= ub * (1 - BOUND_SLACK):
            heapq.heappop(heap)
        if not heap:
            lb, stopped = ub, "proved"      # every interval's bound reached the best plan
            break
        lb = heap[0][0]
        if math.isfinite(ub) and ub - lb <= gap_tol * abs(ub):
            stopped = "gap"
            break
        if time.perf_counter() >= deadline:
            stopped = "time"
            break
        if visits >= max_visits:
            stopped = "iterations"
            break
        _, _, _, iv = heapq.heappop(heap)
        visits += 1
        if iv.stalled:
            if alpha == 0.0 or iv.i0 == iv.i1:
                if iv.retries < ATOMIC_RETRIES:
                    iv.retries += 1
                    iv.stalled, iv.mu, iv.miss = False, 1.0, 0
                    push(iv)
                    continue
                push(iv)          # cannot be split and the multipliers no longer move it: the bound is final
                stopped = "converged"
                break
            m = (iv.i0 + iv.i1 + 1) // 2
            for a, b in ((iv.i0, m - 1), (m, iv.i1)):
                child = _Interval(a, b, iv.lam.copy())
                child.bound = iv.bound       # valid for both halves; refined on their first visit
                push(child)
            continue
        improved = _improve(rx, iv, vals, best, offer, steps_per_visit)
        steps += steps_per_visit
        iv.stalled = not improved
        if math.isfinite(iv.bound):
            push(iv)
    if stopped == "converged" and best["plan"] is not None:
        _polish(rx, vals, i_lo, best, offer, deadline)
        ub = best["obj"]
        if heap and heap[0][0] >= ub * (1 - BOUND_SLACK):
            lb, stopped = ub, "proved"
    if best["plan"] is None:
        raise InfeasibleError("no plan found that respects the device counts and memory limits within the "
                              f"time limit ({time_limit_s:g} s)")
    ub = best["obj"]
    lb = min(lb, ub) if math.isfinite(lb) else ub
    lb_cert = lb - BOUND_SLACK * abs(lb)
    gap = 0.0 if ub <= 0 else max(0.0, (ub - lb_cert) / abs(ub))
    stats = {"lower_bound": lb_cert, "gap": gap, "stopped": stopped, "visits": visits, "lagrange_steps": steps,
             "intervals_open": len(heap), "classes": K, "time_limit_s": time_limit_s,
             "bound_s": time.perf_counter() - t0}
    return best["plan"], stats


def _polish(rx: _Relaxation, vals: np.ndarray, i_lo: int, best: dict, offer, deadline: float) -> None:
    """The bound can no longer move; spend the time left on plans: bisect the threshold between the least
    possible bottleneck and the best plan's, asking the capacity-respecting recursion (unpriced, with more
    labels per state) for a plan at each threshold."""
    K, L = rx.K, rx.L
    R = int(min(16, max(2, 8e6 // (L * L * K * K))))
    lo, hi = i_lo, int(np.searchsorted(vals, best["B"], side="right")) - 1
    while lo < hi and time.perf_counter() < deadline:
        mid = (lo + hi) // 2
        seq = rx.capacitated(vals[mid], np.zeros(K), R)
        fits = seq is not None and (np.bincount([b for b, _, _ in seq], minlength=K) <= rx.sizes).all()
        if fits:
            offer(seq)
            hi = mid
        else:
            lo = mid + 1


def _improve(rx: _Relaxation, iv: _Interval, vals: np.ndarray, best: dict, offer, n_steps: int) -> bool:
    """A few subgradient steps on one interval's multipliers; True when its bound rose."""
    start = iv.bound
    floor = rx.alpha * vals[iv.i0] / rx.tn
    thr = vals[iv.i1]
    if iv.visits == 0 and iv.lam.any():
        # inherited multipliers can be worse than none: lambda = 0 is always a valid bound
        v, use, _ = rx.relaxed(thr, np.zeros_like(iv.lam))
        if use is None:
            iv.bound = math.inf
            return True
        iv.bound = max(iv.bound, floor + v)
    for _ in range(n_steps):
        v, use, seq = rx.relaxed(thr, iv.lam)
        if use is None:
            iv.bound = math.inf           # no path at all: the interval holds no plan
            return True
        val = floor + v - float(iv.lam @ rx.sizes)
        if val > iv.bound:
            iv.bound, iv.miss = val, 0
        else:
            iv.miss += 1
            if iv.miss >= 3:
                iv.mu, iv.miss = max(iv.mu / 2, 1e-4), 0
        offer(seq)
        sub = (use - rx.sizes).astype(float)
        # projected step: multipliers of unused-to-capacity classes stay at 0
        sub = np.where((iv.lam <= 0) & (sub < 0), 0.0, sub)
        norm2 = float(sub @ sub)
        if norm2 == 0:
            break                          # this path is optimal for the relaxation at these multipliers
        # aim a little above the best plan: an interval is dropped only once its bound passes that plan
        # (when the relaxation is infeasible the dual is unbounded: keep stepping by half the interval's room)
        if math.isfinite(best["obj"]):
            target = best["obj"] * (1 + OVERSHOOT)
            push = max(target - val, 0.5 * abs(target - floor), 1e-12 * abs(target))
        else:
            push = abs(val) + 1.0
        step = iv.mu * push / norm2
        # capped far above any objective scale so that sums of multipliers never overflow
        iv.lam = np.clip(iv.lam + step * sub, 0.0, LAMBDA_MAX)
    if iv.visits % PRIMAL_EVERY == 0:
        offer(rx.capacitated(thr, iv.lam))
    iv.visits += 1
    if not math.isfinite(start):
        return True
    # "improved" = closed a visible part of this interval's distance to the best plan; slow convergence counts
    # as stalled so that the interval gets split instead
    room = best["obj"] - start if math.isfinite(best["obj"]) else abs(start)
    return iv.bound - start > max(0.01 * room, 1e-9 * abs(start))
