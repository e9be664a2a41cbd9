"""Bounds for the exact front search: which labels can still reach the Pareto front (:class:`FrontBound`) or
beat a known plan's alpha-objective (:class:`ObjectiveBound`), and which stages are worth building at all.

Every bound is a :class:`LabelBound`; the search (:func:`.exact_search.pareto_labels`) calls only the methods
declared there. A bound may drop only labels that cannot reach what is sought, so results are unchanged.
"""
from __future__ import annotations

import numpy as np

from .exact_context import SolverContext

# Bounds compare with a relative slack so that labels equal to the bound up to rounding (the same plan's
# costs summed in another order) are never dropped.
SLACK = 1e-9
WIN = 1e-9     # windows are widened by this (relative) so they only ever skip stages the bound would drop


class LabelBound:
    """A label filter ``bound(B, E_low) -> mask`` plus :meth:`windows`: for labels about to append a stage
    starting at unit ``j``, the largest ``k`` worth building. Stage time ``st[j, k]`` grows with ``k``, and so
    does the energy lower bound ``se[j, k] + e_rest[k]`` (the stage's type costs at least the cheapest type per
    unit); a window ends where either passes the cap that :meth:`caps` derives from the label. Only a necessary
    condition, so the filter is still applied to every built label and results are unchanged.

    Subclasses define :meth:`__call__`, :meth:`caps` and :meth:`learn`; :meth:`joint` is optional."""

    def __call__(self, B, E_low) -> np.ndarray:
        """Mask of labels (bottleneck ``B``, lower bound ``E_low`` on the energy of any completion) to keep."""
        raise NotImplementedError

    def caps(self, B, E_low) -> tuple[np.ndarray, np.ndarray]:
        """Per label, the largest bottleneck and energy a kept extension may have."""
        raise NotImplementedError

    def learn(self, B, E) -> None:
        """Complete plans (bottleneck ``B``, energy ``E``) the search has found: known plans to beat."""
        raise NotImplementedError

    def joint(self, B, E, rem, j) -> np.ndarray:
        """Mask of labels whose joint (bottleneck, energy) completion bound keeps them (energy so far ``E``,
        remaining count vector code ``rem``, next unit ``j``); by default every label."""
        return np.ones(len(B), dtype=bool)

    def windows(self, ctx: SolverContext, t: int, j, B, E_low, E_pair=None):
        """``E_low``: the label's energy + the cheapest types' energy of units ``j..`` (what the energy window
        adds stage increments to); ``E_pair`` (optional, >= E_low): a tighter lower bound on the energy of
        every candidate built from this label and class, used for the caps and to drop the pair outright."""
        E_pair = E_low if E_pair is None else E_pair
        b_cap, e_cap = self.caps(B, E_pair)
        pt, pe = ctx.tb.pt[t], ctx.h_energy[t]
        with np.errstate(invalid="ignore"):
            kb = np.searchsorted(pt, pt[j] + b_cap * (1 + WIN) + WIN * np.abs(pt[j]), side="right") - 1
            ke = np.searchsorted(pe, pe[j] + (e_cap - E_low) + WIN * (np.abs(e_cap) + np.abs(pe[j])),
                                 side="right") - 1
        k = np.minimum(kb, ke)
        with np.errstate(invalid="ignore"):
            live = (B <= b_cap * (1 + WIN)) & (E_pair <= e_cap * (1 + WIN) + WIN * np.abs(E_pair))
        return np.where(live, k, j)


class FrontBound(LabelBound):
    def __init__(self, b_max, e_max, staircase):
        self.bm, self.em = b_max * (1 + SLACK), e_max * (1 + SLACK)
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
            keep &= ~((i >= 0) & (E_low > e_thr[np.maximum(i, 0)] * (1 + SLACK)))
        return keep

    def caps(self, B, E_low):
        b_cap = np.full(np.shape(B), self.bm)
        e_cap = np.full(np.shape(B), self.em)
        if self.stairs is not None:
            thr, e_thr = self.stairs
            lim = e_thr * (1 + SLACK)
            # energy: a later B is >= this B, so its threshold's least energy is at most this one's
            i = np.searchsorted(thr, B, side="right") - 1
            e_cap = np.where(i >= 0, np.minimum(e_cap, lim[np.maximum(i, 0)]), e_cap)
            # bottleneck: stay below the first threshold whose least energy is already beaten by E_low
            first = np.searchsorted(-lim, -E_low, side="right")    # lim is non-increasing
            b_cap = np.where(first < len(thr), np.minimum(b_cap, thr[np.minimum(first, len(thr) - 1)]), b_cap)
        return b_cap, e_cap


class ObjectiveBound(LabelBound):
    def __init__(self, alpha, norm, ub):
        self.alpha, self.tn, self.en, self.lim = alpha, norm["time_s"], norm["energy_j"], ub * (1 + SLACK)
        self.thetas = self.H_theta = self.H_all = None      # the joint bound is off until set_completion

    def learn(self, B, E):
        """A complete plan found during the search lowers the objective a label must beat."""
        obj = self.alpha * np.asarray(B) / self.tn + (1 - self.alpha) * np.asarray(E) / self.en
        self.lim = min(self.lim, float(obj.min()) * (1 + SLACK))

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
        if self.thetas is None or len(B) == 0:
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
    return FrontBound(b_max, e_max, staircase)


def objective_bound(alpha: float, norm: dict, ub: float):
    """Labels whose objective lower bound does not exceed ``ub`` (the objective of a known plan)."""
    return ObjectiveBound(alpha, norm, ub)

