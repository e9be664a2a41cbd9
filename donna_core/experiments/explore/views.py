"""The explorer's pure front maths and views: plain values in, plain data out (tested without a kernel).

The exact Pareto front of a setting is computed once; every α-optimum is then a point of it (the weighted
objective increases in both bottleneck and energy), picked by :func:`donna_core.partition.front_select.select_on_front`
with the solver's own tie rule, and every front point can be picked directly, so moving α or picking a point
never needs a solve.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...partition.ties import TIE_RTOL
from ...partition.front_select import select_on_front
from ...partition.plan_format import plan_string
from .. import scenarios as sc


class ExploreError(ValueError):
    """An explorer setting is invalid (e.g. no devices selected)."""


def device_counts(n_cpu: int, n_gpu: int, n_cim: int) -> tuple[tuple[str, int], ...]:
    if any(int(n) < 0 for n in (n_cpu, n_gpu, n_cim)):
        raise ExploreError(f"device counts must be >= 0, got cpu={n_cpu}, gpu={n_gpu}, cim={n_cim}")
    counts = tuple((r, int(n)) for r, n in (("cpu", n_cpu), ("gpu", n_gpu), ("cim", n_cim)) if int(n) > 0)
    if not counts:
        raise ExploreError("select at least one device (all counts are 0)")
    return counts



def exact_index(front: list, alpha: float, device_names) -> int:
    """Index into ``front`` of the α-optimum, with the tie rule of ``solve(..., "exact")`` (devices compared by
    their index in ``device_names``, the problem's device order)."""
    if not front:
        raise ExploreError("the Pareto front is empty (no feasible plan)")
    order = {n: i for i, n in enumerate(device_names)}
    return select_on_front(front, alpha, front[0].norm, order.__getitem__)


def alpha_intervals(bottleneck_s, energy_j, norm: dict, rtol: float = TIE_RTOL) -> list[tuple | None]:
    """For each front point, the closed α interval on which it minimises the objective, or None.

    The objective of point i is a line in α, ``f_i(α) = e_i + α (t_i − e_i)`` with ``t_i = B_i / norm.time_s`` and
    ``e_i = E_i / norm.energy_j``; point i is α-optimal where its line is on the lower envelope, i.e. where
    ``f_i(α) <= f_j(α)`` for every j — an intersection of half-lines, so one interval (possibly a single α where
    several lines meet) or empty. Points of a non-convex stretch of the front are optimal for no α: only picking
    them directly reaches them. Values within ``rtol`` of the minimum count as equal (ties), so neighbouring
    intervals share their end point.
    """
    t = np.asarray(bottleneck_s, dtype=float) / float(norm["time_s"])
    e = np.asarray(energy_j, dtype=float) / float(norm["energy_j"])
    if t.shape != e.shape or t.ndim != 1:
        raise ExploreError("bottleneck_s and energy_j must be 1-D and of equal length")
    slope = t - e
    tol = rtol * float(np.max(np.abs(np.concatenate([t, e])), initial=1.0))
    out: list[tuple | None] = []
    for i in range(len(t)):
        c = e[i] - e            # f_i - f_j = c + α d  must be <= tol for every j
        d = slope[i] - slope
        flat = np.abs(d) <= 1e-15 * np.maximum(1.0, np.abs(slope))
        if np.any(flat & (c > tol)):
            out.append(None)
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = (tol - c) / d
        hi = min(1.0, float(np.min(bound[(d > 0) & ~flat], initial=np.inf)))
        lo = max(0.0, float(np.max(bound[(d < 0) & ~flat], initial=-np.inf)))
        out.append((lo, hi) if lo <= hi else None)
    return out


def front_table(front: list) -> pd.DataFrame:
    """One row per front point (front order: bottleneck ascending) with its α interval (NaN when none)."""
    if not front:
        return pd.DataFrame(columns=["throughput_ips", "energy_j", "bottleneck_s", "plan", "n_stages",
                                     "alpha_lo", "alpha_hi"])
    iv = alpha_intervals([f.bottleneck_s for f in front], [f.energy_j for f in front], front[0].norm)
    return pd.DataFrame([{"throughput_ips": f.throughput_ips, "energy_j": f.energy_j, "bottleneck_s": f.bottleneck_s,
                          "plan": plan_string(f.stages), "n_stages": len(f.stages),
                          "alpha_lo": np.nan if v is None else v[0], "alpha_hi": np.nan if v is None else v[1]}
                         for f, v in zip(front, iv)])


def nearest_point(pixels, x: float, y: float, max_px: float = 12.0) -> int | None:
    """Index of the point in ``pixels`` (n x 2) nearest to the click ``(x, y)``, or None when none lies within
    ``max_px``; ties go to the lower index."""
    pixels = np.asarray(pixels, dtype=float)
    if pixels.size == 0:
        return None
    d = np.hypot(pixels[:, 0] - float(x), pixels[:, 1] - float(y))
    i = int(np.argmin(d))
    return i if d[i] <= max_px else None


def interval_text(lo: float, hi: float) -> str:
    if np.isnan(lo):
        return "optimal for no α (a non-convex stretch of the front): reachable only by picking it"
    if hi - lo <= 1e-9:
        return f"optimal only at α = {lo:.4f} (a tie with its neighbours)"
    return f"optimal for α ∈ [{lo:.4f}, {hi:.4f}]"


def bottleneck_part(result, problem: dict) -> str:
    """What sets the bottleneck: a stage's compute, a transfer between stages, or the input transfer.

    Ties go to the earliest part in pipeline order (input, then each stage's compute before its transfer out).
    """
    names = [u["name"] for u in problem["units"]]
    parts = [(result.input_s, "input transfer from the source")]
    for k, s in enumerate(result.stages):
        parts.append((s.compute_s, f"stage {k + 1} compute on {s.device} (units {s.first}-{s.last}: "
                                   f"{names[s.first]} … {names[s.last]})"))
        if k + 1 < len(result.stages):
            parts.append((s.comm_out_s, f"transfer {s.device} → {result.stages[k + 1].device} after unit "
                                        f"{s.last} ({names[s.last]})"))
    best = max(v for v, _ in parts)
    return next(text for v, text in parts if v == best)


def stages_table(result, problem: dict) -> pd.DataFrame:
    """One row per stage: device, role, unit range (indices and names), compute and transfer costs."""
    roles = sc.device_roles(problem)
    names = [u["name"] for u in problem["units"]]
    return pd.DataFrame([{"device": s.device, "role": roles[s.device], "first": s.first, "last": s.last,
                          "first_unit": names[s.first], "last_unit": names[s.last], "n_units": s.last - s.first + 1,
                          "compute_s": s.compute_s, "compute_j": s.compute_j, "comm_out_s": s.comm_out_s,
                          "comm_out_j": s.comm_out_j} for s in result.stages])


def _front_index_of(front: list, result) -> int | None:
    plan = result.plan()
    return next((i for i, f in enumerate(front) if f.plan() == plan), None)


def make_view(problem: dict, front: list, alpha: float, solver: str = "exact", point: int | None = None,
              paper_result=None, label: str = "") -> dict:
    """The explorer's view of one setting from a computed front (pure: no solving except what is passed in).

    ``point`` picks a front point directly (index into ``front``); otherwise the α-optimum is shown: for
    ``solver="exact"`` taken from the front, for ``"paper"`` the given ``paper_result``.
    """
    from ...partition.costs import objective

    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ExploreError(f"alpha must lie in [0, 1], got {alpha}")
    if solver not in ("exact", "paper"):
        raise ExploreError(f"solver must be 'exact' or 'paper', got {solver!r}")
    if not front:
        raise ExploreError("the Pareto front is empty (no feasible plan)")
    ftab = front_table(front)
    if point is not None:
        if not 0 <= int(point) < len(front):
            raise ExploreError(f"front point {point} does not exist (the front has {len(front)} points)")
        index, r, how = int(point), front[int(point)], "picked on the front"
    elif solver == "exact":
        index = exact_index(front, alpha, [dv["name"] for dv in problem["devices"]])
        r, how = front[index], f"exact optimum at α = {alpha:.2f}"
    else:
        if paper_result is None:
            raise ExploreError("solver 'paper' needs its result (paper_result)")
        r, how = paper_result, f"paper's DP (Algorithm 1) at α = {alpha:.2f}"
        index = _front_index_of(front, r)
    summary = sc.result_row(r, problem)
    # front Results were costed at α=1; the objective shown is the one for the slider's α
    summary["objective"] = float(objective(alpha, r.bottleneck_s, r.energy_j, r.norm))
    summary["bottleneck"] = bottleneck_part(r, problem)
    summary["how"] = how
    if index is None:
        summary["alpha_interval"] = "not on the exact front (dominated: the exact solver does better)"
    else:
        summary["alpha_interval"] = interval_text(ftab["alpha_lo"].iloc[index], ftab["alpha_hi"].iloc[index])
    title = f"{label}: {summary['throughput_ips']:.4g} inf/s, {summary['energy_j']:.4g} J per inference"
    return {"summary": summary, "stages": stages_table(r, problem), "front": ftab, "index": index,
            "n_units": len(problem["units"]),
            "current": {"throughput_ips": summary["throughput_ips"], "energy_j": summary["energy_j"]},
            "title": title}


def bounded_view(problem: dict, result, alpha: float, label: str = "") -> dict:
    """The view of a bounded-solver plan (no front: the exact front did not fit the memory budget)."""
    summary = sc.result_row(result, problem)
    summary["bottleneck"] = bottleneck_part(result, problem)
    summary["gap"] = float(result.stats.get("gap", float("nan")))
    summary["how"] = f"bounded solver at α = {float(alpha):.2f} (certified gap {summary['gap']:.3%})"
    summary["alpha_interval"] = "unknown (no exact front)"
    return {"summary": summary, "stages": stages_table(result, problem), "front": front_table([]), "index": None,
            "n_units": len(problem["units"]),
            "current": {"throughput_ips": summary["throughput_ips"], "energy_j": summary["energy_j"]},
            "title": f"{label}: {summary['throughput_ips']:.4g} inf/s, {summary['energy_j']:.4g} J per inference"}


def setting_label(model: str, medium: str, counts: tuple) -> str:
    return f"{model}, {sc.cluster_name(dict(counts))}, {sc.MEDIUM_LABELS.get(medium, medium)}"

