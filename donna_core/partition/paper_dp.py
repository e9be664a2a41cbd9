"""Algorithm 1 of the DONNA paper, as written.

State ``h(i, s, u)``: the first ``i`` units are processed by the device subset ``s`` (a bitmask over devices)
and the output of unit ``i-1`` is to be sent to device ``u`` (not in ``s``). Each state keeps ONE label: the
alpha-weighted normalised cost ``C = alpha * h_t + (1 - alpha) * h_e`` with its ``h_t`` (max of normalised
stage and transfer times, eq. 2) and ``h_e`` (sum of normalised energies, eq. 3); a candidate replaces the label
only when its ``C`` is strictly smaller (lines 24-28). Loop order: ``i`` ascending, ``s`` by bitmask ascending,
``u`` ascending, ``j`` ascending, ``v`` ascending; with strict ``<`` the first candidate found wins a tie.

Keeping one label per state is exact at alpha = 1 (only the max matters) and alpha = 0 (only the sum matters),
but not for 0 < alpha < 1: a partial plan with a smaller weighted cost can lose once a later stage sets the
bottleneck, because ``max`` absorbs the earlier advantage while the energy difference stays. The exact solver
(:mod:`donna_core.partition.exact`) does not have this flaw; ``tests/partition/test_solvers.py`` keeps an instance that
shows it.

Extensions beyond the paper, needed by the problem format: with a ``source`` the initial states
``h(0, {}, u)`` carry the cost of sending the input from the source to ``u`` (the paper starts them at 0); a
stage that exceeds the device's memory, or holds a unit its type may not run, is skipped; a transfer takes the
medium's latency plus bytes / bandwidth. The normalisation constants are the project's
(:func:`donna_core.partition.costs.norm_constants`).
"""
from __future__ import annotations

import numpy as np

from .costs import Tables, norm_constants
from .errors import InfeasibleError


def paper_partition(tb: Tables, alpha: float, norm: dict | None = None) -> list[tuple[int, int, int]]:
    """Run Algorithm 1 and return the plan as ``[(device index, first, last), ...]``."""
    p = tb.p
    tb.check_runnable()
    L, D = p.L, p.D
    norm = norm or norm_constants(p)
    tn, en = norm["time_s"], norm["energy_j"]
    S = 1 << D                               # the size of these tables was checked by guard.estimate (solve)
    H = np.full((L + 1, S, D), np.inf)      # h_{t+e}
    Ht = np.full((L + 1, S, D), np.inf)     # h_t^norm
    He = np.full((L + 1, S, D), np.inf)     # h_e^norm
    prev_i = np.full((L + 1, S, D), -1, dtype=np.int64)
    prev_u = np.full((L + 1, S, D), -1, dtype=np.int64)
    for u in range(D):                       # line 3 (plus the input transfer from a source)
        ins, ine = tb.input_cost(u)
        Ht[0, 0, u], He[0, 0, u] = ins / tn, ine / en
        H[0, 0, u] = alpha * Ht[0, 0, u] + (1 - alpha) * He[0, 0, u]
    cost_opt, index = np.inf, None
    types = p.device_type
    for i in range(L):                                       # line 5
        for s in range(S):                                   # line 6
            for u in range(D):                               # line 7
                if s >> u & 1 or not np.isfinite(H[i, s, u]):
                    continue
                t = types[u]
                js = np.arange(i + 1, L + 1)                 # line 8, all j at once
                fits = tb.fits(t, i, js)
                t_comp = tb.stage_time(t, i, js) / tn
                e_comp = tb.stage_energy(t, i, js) / en
                ht, he = Ht[i, s, u], He[i, s, u]
                # lines 10-17: j == L closes the plan
                if fits[-1]:
                    c = alpha * max(t_comp[-1], ht) + (1 - alpha) * (e_comp[-1] + he)
                    if c < cost_opt:
                        cost_opt, index = c, (i, s, u)
                # lines 18-31: j < L, send to v
                jm = js[:-1]
                if len(jm) == 0:
                    continue
                okm = fits[:-1]
                s2 = s | (1 << u)
                for v in range(D):
                    if s2 >> v & 1:
                        continue
                    t_comm = tb.comm_time(u, v, jm) / tn
                    e_comm = tb.comm_energy(u, v, jm) / en
                    t_cost = np.maximum(np.maximum(t_comp[:-1], t_comm), ht)
                    e_cost = e_comp[:-1] + e_comm + he
                    c = alpha * t_cost + (1 - alpha) * e_cost
                    better = okm & (c < H[jm, s2, v])
                    if better.any():
                        jb = jm[better]
                        H[jb, s2, v] = c[better]
                        Ht[jb, s2, v] = t_cost[better]
                        He[jb, s2, v] = e_cost[better]
                        prev_i[jb, s2, v] = i
                        prev_u[jb, s2, v] = u
    if index is None:
        raise InfeasibleError("no plan fits the devices' memory limits and allowed units")
    # lines 36-43: trace back
    i, s, u = index
    plan = [(u, i, L - 1)]
    while i > 0:
        pi, pu = int(prev_i[i, s, u]), int(prev_u[i, s, u])
        plan.append((pu, pi, i - 1))
        i, s, u = pi, s & ~(1 << pu), pu
    return plan[::-1]
