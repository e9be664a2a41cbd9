"""The interactive α explorer (notebook 05, ``make app``): pure functions over plain data, plus a thin widget UI.

The functions (:func:`plan_view`, :func:`alpha_intervals`, :func:`unit_table`, …) take plain values and return
plain data, so they are tested without a kernel. The exact Pareto front of a setting is computed once; every
α-optimum is then a minimum over its points (the weighted objective increases in both bottleneck and energy, so
its optimum lies on the front) and every front point can be picked directly, so moving α or picking a point
never needs a solve. Only a change of model, medium or devices does, and the UI runs that solve in a forked,
memory-capped child process on a latest-only worker (:mod:`.background`): superseded settings are cancelled,
a blow-up is reported in one line, and the kernel survives.
"""
from __future__ import annotations

import collections
import functools
import html
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import scenarios as sc
from .background import DEFAULT_MEMORY_BYTES

DEFAULT_DIR = str(sc.DEFAULT_PROFILES_DIR)
# Settings above this many exact-solver states (count vectors x classes x (L+1), donna_core.partition.guard) are
# flagged as slow: ResNet-152 2cpu+1gpu+1cim (5 652) solves its front in < 1 s here, 3cpu+2gpu+2cim (16 956) in
# 4-18 s, 4cpu+4gpu+4cim on PCIe-5 (58 875) in ~114 s (2-core VM at load ~5).
LARGE_FRONT_STATES = 15000
SOLVE_MEMORY_BYTES = DEFAULT_MEMORY_BYTES   # the child process's address-space limit (background.py)
SOLVE_TIMEOUT_S = 300.0
BOUNDED_TIME_S = 10.0  # time limit of the bounded solver used when the exact front does not fit the budget
PRERENDER_NEIGHBOURS = 24  # front points around the shown one drawn ahead (~0.1-0.3 s each on this machine)
ALPHA_TIE_RTOL = 1e-12  # objectives equal to 12 significant digits tie (as in the exact solver)


class ExploreError(ValueError):
    """An explorer setting is invalid (e.g. no devices selected)."""


def _counts(n_cpu: int, n_gpu: int, n_cim: int) -> tuple[tuple[str, int], ...]:
    if any(int(n) < 0 for n in (n_cpu, n_gpu, n_cim)):
        raise ExploreError(f"device counts must be >= 0, got cpu={n_cpu}, gpu={n_gpu}, cim={n_cim}")
    counts = tuple((r, int(n)) for r, n in (("cpu", n_cpu), ("gpu", n_gpu), ("cim", n_cim)) if int(n) > 0)
    if not counts:
        raise ExploreError("select at least one device (all counts are 0)")
    return counts


def split_model(name: str) -> tuple[str, str]:
    """``"resnet152"`` → (resnet152, layer); ``"gpt2/prefill"`` → (gpt2, prefill): the explorer's model names carry
    the profile granularity (an LLM phase) when it is not ``layer``."""
    model, _, granularity = str(name).partition("/")
    return model, granularity or "layer"


@functools.lru_cache(maxsize=16)
def cached_profiles(model: str, cpu: str = "paper", profiles_dir: str = DEFAULT_DIR,
                    cpu_power_w: float | None = None) -> dict:
    """Role → TypeProfile for ``model`` (see :func:`split_model`; cached: files are read once per session)."""
    name, granularity = split_model(model)
    files = sc.device_files(cpu)
    assume = {"cpu": float(cpu_power_w)} if cpu_power_w is not None else None
    return sc.load_model_profiles(name, files, granularity, profiles_dir, assume_power_w=assume)


@functools.lru_cache(maxsize=128)
def cached_problem(model: str, medium: str, counts: tuple, cpu: str = "paper", profiles_dir: str = DEFAULT_DIR,
                   cpu_power_w: float | None = None):
    """(problem dict, Problem) for a cluster given as ``((role, n), …)``."""
    from ..partition.problem import problem_from_dict

    d = sc.make_problem(cached_profiles(model, cpu, profiles_dir, cpu_power_w), dict(counts), links=medium)
    return d, problem_from_dict(d)


@functools.lru_cache(maxsize=128)
def cached_front(model: str, medium: str, counts: tuple, cpu: str = "paper", profiles_dir: str = DEFAULT_DIR,
                 cpu_power_w: float | None = None):
    """The exact Pareto front (list of Results, bottleneck ascending) of the cached problem, in this process."""
    from ..partition.solve import pareto_front

    return pareto_front(cached_problem(model, medium, counts, cpu, profiles_dir, cpu_power_w)[1])


@functools.lru_cache(maxsize=1024)
def _paper_solve(model: str, medium: str, counts: tuple, alpha: float, cpu: str, profiles_dir: str,
                 cpu_power_w: float | None):
    from ..partition.solve import solve

    return solve(cached_problem(model, medium, counts, cpu, profiles_dir, cpu_power_w)[1], alpha=alpha,
                 solver="paper")


# ------------------------------------------------------------------------------------------------ front maths
def exact_index(front: list, alpha: float) -> int:
    """Index into ``front`` of the α-optimum, ties broken like ``solve(..., 'exact')``: fewer stages, device order."""
    from ..partition.costs import objective

    if not front:
        raise ExploreError("the Pareto front is empty (no feasible plan)")
    obj = [objective(alpha, r.bottleneck_s, r.energy_j, r.norm) for r in front]
    lo = min(obj)
    ties = [i for i, o in enumerate(obj) if o <= lo + ALPHA_TIE_RTOL * abs(lo)]
    return min(ties, key=lambda i: (len(front[i].stages), [s.device for s in front[i].stages], obj[i]))


def alpha_intervals(bottleneck_s, energy_j, norm: dict, rtol: float = ALPHA_TIE_RTOL) -> list[tuple | None]:
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
                          "plan": sc.plan_string(f.stages), "n_stages": len(f.stages),
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
    from ..partition.costs import objective

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
        index = exact_index(front, alpha)
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


def plan_view(model: str, medium: str, n_cpu: int, n_gpu: int, n_cim: int, alpha: float, solver: str = "exact",
              cpu: str = "paper", profiles_dir: str = DEFAULT_DIR, cpu_power_w: float | None = None,
              point: int | None = None) -> dict:
    """Everything the explorer shows for one setting, solved in this process (cached).

    Returns ``{"summary": dict (costs, plan, bottleneck, objective at α, α interval), "stages": DataFrame,
    "front": DataFrame (one row per front point with its α interval), "index": front index of the plan shown (None
    for a dominated paper plan), "current": {"throughput_ips", "energy_j"}, "title": str}``.
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise ExploreError(f"alpha must lie in [0, 1], got {alpha}")
    if solver not in ("exact", "paper"):
        raise ExploreError(f"solver must be 'exact' or 'paper', got {solver!r}")
    counts = _counts(n_cpu, n_gpu, n_cim)
    profiles_dir = str(profiles_dir)
    d, _ = cached_problem(model, medium, counts, cpu, profiles_dir, cpu_power_w)
    front = cached_front(model, medium, counts, cpu, profiles_dir, cpu_power_w)
    paper = None
    if solver == "paper" and point is None:
        paper = _paper_solve(model, medium, counts, float(alpha), cpu, profiles_dir, cpu_power_w)
    label = f"{setting_label(model, medium, counts)}, α={float(alpha):.2f}, {solver}"
    return make_view(d, front, alpha, solver, point, paper, label)


# ------------------------------------------------------------------------------------------------ size guard
def size_check(problem, solver: str = "exact", alpha: float | None = None,
               memory_bytes: int = SOLVE_MEMORY_BYTES) -> tuple[bool, str]:
    """(within the memory budget, one-line message) for solving ``problem`` (alpha None: the Pareto front).

    Memory: the solvers' own estimate, ``donna_core.partition.guard.estimate``, against ``memory_bytes`` (for the
    front a floor: the search checks the budget again as it grows). Time: settings with more than
    :data:`LARGE_FRONT_STATES` exact-solver states are flagged ("large: ..."), since their fronts take from
    seconds to minutes. A wrong guess costs time, never the kernel: the UI solves in a memory-capped child.
    """
    from ..partition import guard

    est = guard.estimate(problem, alpha=alpha, solver=solver, budget=int(memory_bytes))
    if not est.feasible_in_budget:
        return False, str(est.message)
    if solver != "paper" and est.states > LARGE_FRONT_STATES:
        return True, (f"large: {est.states:,} exact-solver states (> {LARGE_FRONT_STATES:,}); the exact front may "
                      f"take from seconds to minutes (ResNet-152 with 4+4+4 devices on PCIe-5: ~2 min here) — "
                      f"fewer devices solve in seconds; changing any control cancels the solve")
    return True, str(est.message)


# ------------------------------------------------------------------------------------------------ inspector
def _role_profiles(model: str, roles, cpu: str, profiles_dir, cpu_power_w) -> dict:
    profs = cached_profiles(model, cpu, str(profiles_dir), cpu_power_w)
    unknown = [r for r in roles if r not in profs]
    if unknown:
        raise ExploreError(f"unknown device role(s) {unknown}; available: {sorted(profs)}")
    if not roles:
        raise ExploreError("select at least one device type")
    return profs


def profile_view(model: str, roles=("cpu", "gpu", "cim"), metric: str = "time_s", cpu: str = "paper",
                 profiles_dir: str = DEFAULT_DIR, cpu_power_w: float | None = None) -> pd.DataFrame:
    """Per-unit profile of ``model`` on the chosen device roles (long table, as for Fig. 2a-b)."""
    if metric not in ("time_s", "energy_j"):
        raise ExploreError(f"metric must be 'time_s' or 'energy_j', got {metric!r}")
    profs = _role_profiles(model, roles, cpu, profiles_dir, cpu_power_w)
    long = sc.profile_long_table({model: {r: profs[r] for r in roles}})
    return long[["model", "role", "label", "unit_index", "unit", "kind", metric]]


UNIT_COLUMNS = ("unit_index", "unit", "kind", "role", "time_s", "energy_j", "out_bytes", "source")


def unit_table(model: str, roles=("cpu", "gpu", "cim"), sort_by: str = "unit_index", descending: bool = False,
               cpu: str = "paper", profiles_dir: str = DEFAULT_DIR, cpu_power_w: float | None = None) -> pd.DataFrame:
    """One row per (unit, device role): time, energy, output bytes and the data source, sorted by ``sort_by``.

    The sort is stable, so ties keep unit order, then the order of ``roles``.
    """
    if sort_by not in UNIT_COLUMNS:
        raise ExploreError(f"sort_by must be one of {list(UNIT_COLUMNS)}, got {sort_by!r}")
    profs = _role_profiles(model, roles, cpu, profiles_dir, cpu_power_w)
    frames = []
    for r in roles:
        t = profs[r].table
        frames.append(pd.DataFrame({
            "unit_index": np.arange(len(t)), "unit": t["unit"].astype(str),
            "kind": t["kind"].astype(str) if "kind" in t.columns else "", "role": r,
            "time_s": t["time_s"].astype(float), "energy_j": t["energy_j"].astype(float),
            "out_bytes": t["out_bytes"].astype("int64"),
            "source": f"{profs[r].device_type}, {profs[r].source_kind}"}))
    df = pd.concat(frames, ignore_index=True).sort_values(["unit_index"], kind="stable")
    return df.sort_values(sort_by, ascending=not descending, kind="stable").reset_index(drop=True)


def available_models(profiles_dir: str = DEFAULT_DIR, cpu: str = "paper") -> list[str]:
    """Models found under ``profiles_dir`` (discovered, not listed): every ``<model>/<granularity>`` directory with
    a profile for each device role, except ``block`` (a coarser view of the same layers). Layer profiles are named
    by the model (``resnet152``), others with their granularity, e.g. an LLM phase (``gpt2/prefill``)."""
    files = sc.device_files(cpu)
    root = Path(profiles_dir)
    if not root.is_dir():
        return []
    found = []
    for m in sorted(p for p in root.iterdir() if p.is_dir()):
        for g in sorted(p.name for p in m.iterdir() if p.is_dir() and p.name != "block"):
            if all(sc.profile_path(m.name, f, g, root).is_file() for f in files.values()):
                found.append(m.name if g == "layer" else f"{m.name}/{g}")
    return found


# ------------------------------------------------------------------------------------------------ HTML
def _fixed(v, digits: int = 4) -> str:
    """Fixed-point text (never scientific notation): the tables stay readable across orders of magnitude."""
    if isinstance(v, (float, np.floating)):
        return "" if np.isnan(v) else f"{v:,.{digits}f}"
    if isinstance(v, (int, np.integer)):
        return f"{v:,d}"
    return html.escape(str(v))


def table_html(df: pd.DataFrame, css_class: str = "donna-table") -> str:
    head = "".join(f"<th style='padding:2px 8px;text-align:right;white-space:nowrap'>{html.escape(str(c))}</th>"
                   for c in df.columns)
    rows = "".join("<tr>" + "".join(f"<td style='padding:1px 8px;text-align:right;white-space:nowrap'>{_fixed(v)}</td>"
                                    for v in row)
                   + "</tr>" for row in df.itertuples(index=False))
    return (f"<table class='{css_class}' style='border-collapse:collapse;font-size:12px;font-family:monospace'>"
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")


def stages_html(stages: pd.DataFrame) -> str:
    """The plan's stages in ms and mJ, fixed point."""
    df = pd.DataFrame({"device": stages["device"], "units": [f"{f}-{l}" for f, l in zip(stages["first"], stages["last"])],
                       "first unit": stages["first_unit"], "last unit": stages["last_unit"],
                       "n units": stages["n_units"], "compute [ms]": stages["compute_s"] * 1e3,
                       "compute [mJ]": stages["compute_j"] * 1e3, "transfer out [ms]": stages["comm_out_s"] * 1e3,
                       "transfer out [mJ]": stages["comm_out_j"] * 1e3})
    return table_html(df, "donna-stages")


def summary_html(view: dict, alpha: float, sources: str) -> str:
    s = view["summary"]
    n = len(view["front"])
    point = "—" if view["index"] is None else f"{n - view['index']} of {n} (1 = most frugal)"
    rows = [("plan", s["how"]), ("throughput", f"{s['throughput_ips']:,.4f} inferences/s"),
            ("energy per inference", f"{s['energy_j']:,.6f} J"), ("bottleneck", s["bottleneck"]),
            (f"objective at α = {alpha:.2f}", f"{s['objective']:.6f} (normalised)"),
            ("α interval", s["alpha_interval"]), ("front point", point),
            ("stages", f"{s['n_stages']} ({s['participating']}): {s['plan']}"),
            ("numbers", f"cost model over the profiles of: {sources}")]
    body = "".join(f"<tr><th style='text-align:left;padding:1px 10px 1px 0'>{html.escape(k)}</th>"
                   f"<td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table class='donna-summary' style='font-size:13px'>{body}</table>"


def _status_html(kind: str, text: str) -> str:
    colour = {"busy": "#fff3cd", "error": "#f8d7da", "warn": "#ffe8cc", "ok": "#e7f5e9"}[kind]
    icon = {"busy": "⏳", "error": "⛔", "warn": "⚠", "ok": "✓"}[kind]
    return (f"<div class='donna-status donna-status-{kind}' style='background:{colour};padding:3px 8px;"
            f"border-radius:4px;font-size:13px'>{icon} {html.escape(text)}</div>")


# ------------------------------------------------------------------------------------------------ UI
def _front_in_child(problem, memory_bytes: int | None = None):
    """Runs in the isolated child: the front, or why there is none — no plan fits memory ("infeasible"), or the
    search would exceed the memory budget ("too-large") — as a normal answer, not a crash."""
    from ..partition.guard import SolverSizeError
    from ..partition.solve import InfeasibleError, pareto_front

    try:
        return "ok", pareto_front(problem, memory_budget=memory_bytes)
    except InfeasibleError as exc:
        return "infeasible", str(exc)
    except SolverSizeError as exc:
        return "too-large", str(exc)


def _bounded_in_child(problem, alpha, time_limit_s):
    from ..partition.solve import solve

    return solve(problem, alpha=alpha, solver="bounded", time_limit_s=time_limit_s)


def _paper_in_child(problem, alpha):
    from ..partition.solve import solve

    return solve(problem, alpha=alpha, solver="paper")


class Explorer:
    """The widget app. Control changes only record a request; a latest-only worker computes and draws it.

    ``inline=True`` computes synchronously in the caller and in this process (tests, scripts).
    """

    def __init__(self, profiles_dir: str = DEFAULT_DIR, cpu: str = "paper", max_count: int = 4,
                 cpu_power_w: float | None = None, inline: bool = False, memory_bytes: int = SOLVE_MEMORY_BYTES,
                 timeout_s: float = SOLVE_TIMEOUT_S, model: str | None = None):
        import ipywidgets as w

        from .background import LatestOnly

        self.profiles_dir, self.cpu, self.cpu_power_w = str(profiles_dir), cpu, cpu_power_w
        self.inline, self.memory_bytes, self.timeout_s = inline, memory_bytes, timeout_s
        models = available_models(self.profiles_dir, cpu)
        if not models:
            raise ExploreError(f"no model under {self.profiles_dir} has profiles for all of "
                               f"{sorted(sc.device_files(cpu).values())}")
        self._fronts: dict = {}          # setting key -> ("ok", [Result]) | ("infeasible" | "error", message)
        self._warnings: dict = {}        # setting key -> size warning shown with its plans
        self._paper: dict = {}           # (setting key, α) -> Result
        self._png: collections.OrderedDict = collections.OrderedDict()  # (key, plan, paper?) -> PNG bytes
        self._front_imgs: collections.OrderedDict = collections.OrderedDict()  # key -> plotting.FrontImage
        self._render_lock = threading.Lock()  # matplotlib is not thread-safe across figures' text rendering
        self._syncing = False
        self._latest_key = None
        self._shown_front_key = None
        self.timings: collections.deque = collections.deque(maxlen=200)  # (what, seconds) of recent jobs

        lay = w.Layout
        if model is not None and model not in models:
            raise ExploreError(f"model {model!r} has no complete profiles under {self.profiles_dir}; "
                               f"available: {models}")
        first = model or ("resnet152" if "resnet152" in models else models[0])
        self.model = w.Dropdown(options=models, value=first, description="model").add_class("donna-model")
        self.medium = w.Dropdown(options=[(sc.MEDIUM_LABELS[m], m) for m in sc.PAPER_MEDIA], value="hb-wcc",
                                 description="medium").add_class("donna-medium")
        self.solver = w.ToggleButtons(options=["exact", "paper"], value="exact", description="solver",
                                      tooltips=["exact optimum (on the Pareto front)", "the paper's Algorithm 1"])
        self.solver.add_class("donna-solver")
        self.n = {r: w.IntSlider(value=v, min=0, max=max_count, description=f"# {r}", continuous_update=False)
                  .add_class(f"donna-n-{r}") for r, v in (("cpu", 2), ("gpu", 1), ("cim", 1))}
        self.alpha = w.FloatSlider(value=1.0, min=0.0, max=1.0, step=0.01, description="α", readout_format=".2f",
                                   continuous_update=True, layout=lay(width="600px")).add_class("donna-alpha")
        self.point = w.SelectionSlider(options=[("—", -1)], value=-1, description="front point",
                                       continuous_update=True, layout=lay(width="600px")).add_class("donna-point")
        self.status = w.HTML(_status_html("ok", "ready")).add_class("donna-status-box")
        self.summary = w.HTML().add_class("donna-summary-box")
        # widths = figure inches x plotting.EXPLORER_DPI, so the PNGs show at their native size
        self.plan_img = w.Image(format="png", layout=lay(width="576px")).add_class("donna-plan-image")
        self.front_img = w.Image(format="png", layout=lay(width="468px")).add_class("donna-front-image")
        self._clicks = self._watch_clicks(self.front_img)
        self.stages = w.HTML().add_class("donna-stages-box")

        self.roles = w.SelectMultiple(options=["cpu", "gpu", "cim"], value=("cpu", "gpu", "cim"),
                                      description="devices", rows=3).add_class("donna-roles")
        self.metric = w.Dropdown(options=[("time", "time_s"), ("energy", "energy_j")], value="time_s",
                                 description="metric").add_class("donna-metric")
        self.sort_by = w.Dropdown(options=[("unit index", "unit_index"), ("unit name", "unit"), ("kind", "kind"),
                                           ("device role", "role"), ("time", "time_s"), ("energy", "energy_j"),
                                           ("output bytes", "out_bytes"), ("data source", "source")],
                                  value="unit_index", description="sort by").add_class("donna-sort")
        self.descending = w.Checkbox(value=False, description="descending").add_class("donna-desc")
        self.unit_img = w.Image(format="png", layout=lay(width="594px")).add_class("donna-unit-image")
        self.units = w.HTML(layout=lay(max_height="420px", overflow="auto", width="620px")).add_class("donna-units")
        self.i_status = w.HTML().add_class("donna-inspector-status")

        self._planner_jobs = LatestOnly(self._job_failed, inline)
        self._inspector_jobs = LatestOnly(lambda text: self._set_inspector_status("error", text), inline)

        for wd in (self.model, self.medium, self.solver, *self.n.values()):
            wd.observe(lambda _: self.request("setting"), names="value")
        self.alpha.observe(lambda _: self.request("alpha"), names="value")
        self.point.observe(self._point_moved, names="value")
        for wd in (self.model, self.roles, self.metric, self.sort_by, self.descending):
            wd.observe(lambda _: self.request_inspector(), names="value")

        planner = w.VBox([w.HBox([self.medium, self.solver]), w.HBox(list(self.n.values())), self.alpha, self.point,
                          self.status, w.HBox([self.plan_img, self.front_img]), self.summary, self.stages])
        inspector = w.VBox([w.HBox([self.roles, self.metric, w.VBox([self.sort_by, self.descending])]), self.i_status,
                            w.HBox([self.unit_img, self.units], layout=lay(flex_flow="row wrap"))])
        self.tabs = w.Tab(children=[planner, inspector])
        self.tabs.set_title(0, "plan explorer")
        self.tabs.set_title(1, "profile inspector")
        self.widget = w.VBox([self.model, self.tabs]).add_class("donna-explorer")
        self.request("setting")
        self.request_inspector()

    def _watch_clicks(self, image):
        """Clicking a point of the front figure picks it (needs ipyevents; without it the slider still works)."""
        try:
            from ipyevents import Event
        except ImportError:
            return None
        ev = Event(source=image, watched_events=["click"], prevent_default_action=True)
        ev.on_dom_event(self._front_clicked)
        return ev

    def _front_clicked(self, event: dict) -> None:
        key = self._shown_front_key
        fi = self._front_imgs.get(key)
        status, front = self._fronts.get(key, (None, None))
        if fi is None or status != "ok" or "dataX" not in event:
            return
        i = nearest_point(fi.pixels([f.throughput_ips for f in front], [f.energy_j for f in front]),
                          event["dataX"], event["dataY"])
        if i is not None:
            self.point.value = i  # the slider's observer requests the view, like a slider move

    # -------------------------------------------------------------- display / waiting
    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def wait_idle(self, timeout_s: float = 120.0) -> bool:
        return self._planner_jobs.wait_idle(timeout_s) and self._inspector_jobs.wait_idle(timeout_s)

    # -------------------------------------------------------------- requests (control callbacks: record only)
    def _setting(self) -> dict:
        counts = _counts(self.n["cpu"].value, self.n["gpu"].value, self.n["cim"].value)
        return {"model": self.model.value, "medium": self.medium.value, "counts": counts}

    def _key(self, s: dict) -> tuple:
        return (s["model"], s["medium"], s["counts"], self.cpu, self.profiles_dir, self.cpu_power_w)

    def request(self, mode: str = "alpha", point: int | None = None) -> None:
        """Ask for the view of the current controls; ``mode`` "point" shows front point ``point``."""
        if self._syncing:
            return
        try:
            s = self._setting()
        except ExploreError as exc:
            # bind the message now: Python unbinds ``exc`` when the except block ends, before the worker runs
            message = str(exc)
            self._latest_key = None
            self._planner_jobs.submit(lambda stale: self._clear_plan(message))
            return
        s.update(alpha=float(self.alpha.value), solver=self.solver.value, mode=mode, point=point,
                 t0=time.perf_counter())
        key = self._key(s)
        self._latest_key = key
        if key not in self._fronts:
            self._set_status("busy", f"solving the exact front for {setting_label(s['model'], s['medium'], s['counts'])} …")
        self._planner_jobs.submit(lambda stale: self._plan_job(s, stale))

    def _point_moved(self, change) -> None:
        if not self._syncing and change["new"] is not None and change["new"] >= 0:
            self.request("point", int(change["new"]))

    def request_inspector(self) -> None:
        s = {"model": self.model.value, "roles": tuple(self.roles.value), "metric": self.metric.value,
             "sort_by": self.sort_by.value, "descending": bool(self.descending.value), "t0": time.perf_counter()}
        self._inspector_jobs.submit(lambda stale: self._inspector_job(s, stale))

    # -------------------------------------------------------------- jobs (worker thread)
    def _set_status(self, kind: str, text: str) -> None:
        self.status.value = _status_html(kind, text)

    def _set_inspector_status(self, kind: str, text: str) -> None:
        self.i_status.value = _status_html(kind, text) if text else ""

    def _clear_plan(self, message: str) -> None:
        self._set_status("error", message)
        self.plan_img.value = self.front_img.value = b""
        self.summary.value = self.stages.value = ""

    def _job_failed(self, text: str) -> None:
        self._set_status("error", f"cannot show this setting: {text}")

    def _front(self, key: tuple, s: dict, stale) -> tuple:
        """The front of ``key``: cached, or solved now (isolated unless inline), cancelled once superseded."""
        from .background import IsolatedError, run_isolated

        if key in self._fronts:
            return self._fronts[key]
        d, p = cached_problem(*key)
        ok, size_msg = size_check(p, "exact", None, self.memory_bytes)
        label = setting_label(s["model"], s["medium"], s["counts"])
        if not ok:
            found = ("too-large", size_msg)
            self._fronts[key] = found
            return found
        self._set_status("busy", f"solving the exact front for {label} ({size_msg}) …")
        t0 = time.perf_counter()
        try:
            if self.inline:
                found = _front_in_child(p, self.memory_bytes)
            else:
                # the solver's own budget is below the child's hard limit, so it refuses before the OS would
                found = run_isolated(_front_in_child, p, int(self.memory_bytes * 0.8), memory_bytes=self.memory_bytes,
                                     timeout_s=self.timeout_s, is_stale=lambda: self._latest_key != key)
        except IsolatedError as exc:
            found = ("error", f"{label}: the exact front {exc}; choose fewer devices")
        self.timings.append(("front", time.perf_counter() - t0))
        if found[0] == "infeasible":
            found = ("infeasible", f"{label}: nothing fits the devices' memory ({found[1]})")
        if size_msg.startswith("large"):
            self._warnings[key] = size_msg
        self._fronts[key] = found
        return found

    def _paper_result(self, key: tuple, p, alpha: float, stale):
        from .background import IsolatedError, run_isolated

        k = (key, alpha)
        if k not in self._paper:
            self._set_status("busy", f"solving the paper's DP at α = {alpha:.2f} …")
            try:
                self._paper[k] = (_paper_in_child(p, alpha) if self.inline else
                                  run_isolated(_paper_in_child, p, alpha, memory_bytes=self.memory_bytes,
                                               timeout_s=self.timeout_s, is_stale=stale))
            except IsolatedError as exc:
                raise ExploreError(f"the paper's DP {exc}") from None
        return self._paper[k]

    def _plan_job(self, s: dict, stale) -> None:
        key = self._key(s)
        status, front = self._front(key, s, stale)
        if stale():
            return
        if status == "too-large" and s["mode"] != "point":
            self._show_bounded(key, s, front, stale)
            return
        if status != "ok":
            self._clear_plan(front)
            return
        d, p = cached_problem(*key)
        point = s["point"] if s["mode"] == "point" else None
        paper = None
        if s["solver"] == "paper" and point is None:
            paper = self._paper_result(key, p, s["alpha"], stale)
            if stale():
                return
        label = setting_label(s["model"], s["medium"], s["counts"])
        view = make_view(d, front, s["alpha"], s["solver"], point, paper, label)
        plan_png = self._plan_png(key, view, paper is not None)
        front_png = self._front_image(key, view, label).png(view["current"])
        if stale():
            return
        self._show_plan(key, front, view, plan_png, front_png, s)
        self._prerender(key, d, front, label, stale, view["index"])

    def _show_bounded(self, key: tuple, s: dict, why: str, stale) -> None:
        """The exact front does not fit the budget: show the bounded solver's plan at α (with its certified gap)."""
        from .background import IsolatedError, run_isolated

        d, p = cached_problem(*key)
        k = (key, s["alpha"], "bounded")
        if k not in self._paper:
            self._set_status("busy", f"exact front too large; bounded solver at α = {s['alpha']:.2f} "
                                     f"(≤ {BOUNDED_TIME_S:g} s) …")
            try:
                self._paper[k] = (_bounded_in_child(p, s["alpha"], BOUNDED_TIME_S) if self.inline else
                                  run_isolated(_bounded_in_child, p, s["alpha"], BOUNDED_TIME_S,
                                               memory_bytes=self.memory_bytes, timeout_s=self.timeout_s,
                                               is_stale=stale))
            except IsolatedError as exc:
                self._clear_plan(f"{why}; the bounded solver failed too: {exc}")
                return
        if stale():
            return
        r = self._paper[k]
        view = bounded_view(d, r, s["alpha"], setting_label(s["model"], s["medium"], s["counts"]))
        png = self._plan_png(key, view, True)
        profs = cached_profiles(s["model"], self.cpu, self.profiles_dir, self.cpu_power_w)
        self._syncing = True
        try:
            self.point.options = [("— (no front)", -1)]
            self._shown_front_key = None
        finally:
            self._syncing = False
        self.plan_img.value = png
        self.front_img.value = b""
        self.summary.value = summary_html(view, s["alpha"], "; ".join(
            pr.label for r_, pr in profs.items() if dict(s["counts"]).get(r_)))
        self.stages.value = stages_html(view["stages"])
        self._set_status("warn", f"{why} — showing the bounded solver's plan at α = {s['alpha']:.2f} instead "
                                 f"(certified gap {view['summary']['gap']:.3%}); front points cannot be picked")
        self.timings.append((s["mode"], time.perf_counter() - s["t0"]))

    def _prerender(self, key: tuple, d: dict, front: list, label: str, stale, center: int | None) -> None:
        """While idle, draw the plans a user reaches next: those some α selects, then the front neighbours of
        the plan shown (nearest first, up to :data:`PRERENDER_NEIGHBOURS`). Stops as soon as a request arrives,
        so it delays that request by one drawing at most."""
        iv = front_table(front)["alpha_lo"].notna().to_numpy()
        order = [i for i in range(len(front)) if iv[i]]
        if center is not None:
            near = sorted(range(len(front)), key=lambda i: (abs(i - center), i))[:PRERENDER_NEIGHBOURS + 1]
            order += [i for i in near if i not in order]
        for i in order:
            if stale():
                return
            self._plan_png(key, make_view(d, front, 1.0, "exact", i, None, label), False)

    def _front_image(self, key: tuple, view: dict, label: str):
        from . import plotting

        if key not in self._front_imgs:
            with self._render_lock:
                self._front_imgs[key] = plotting.FrontImage(view["front"], f"exact Pareto front: {label}")
            while len(self._front_imgs) > 16:
                self._front_imgs.popitem(last=False)
        return self._front_imgs[key]

    def _plan_png(self, key: tuple, view: dict, is_paper: bool) -> bytes:
        from . import plotting

        ck = (key, view["summary"]["plan"], is_paper)
        if ck not in self._png:
            title = (f"{view['summary']['how'] if is_paper else 'plan'}: {view['summary']['throughput_ips']:.4g} "
                     f"inf/s, {view['summary']['energy_j']:.4g} J per inference")
            with self._render_lock:
                self._png[ck] = plotting.png_bytes(plotting.plan_figure(view["stages"], view["n_units"], title))
            while len(self._png) > 512:
                self._png.popitem(last=False)
        return self._png[ck]

    def _show_plan(self, key: tuple, front: list, view: dict, plan_png: bytes, front_png: bytes, s: dict) -> None:
        self._syncing = True
        try:
            if self._shown_front_key != key:
                ftab = view["front"]
                # slider runs from the most frugal (α = 0 end) to the fastest (α = 1 end), like the α slider
                self.point.options = [(f"{i + 1}/{len(ftab)}: {r.throughput_ips:.4g}/s {r.energy_j:.3g} J", k)
                                      for i, k in enumerate(range(len(ftab) - 1, -1, -1))
                                      for r in [ftab.iloc[k]]]
                self._shown_front_key = key
            if view["index"] is not None:
                self.point.value = view["index"]
        finally:
            self._syncing = False
        profs = cached_profiles(s["model"], self.cpu, self.profiles_dir, self.cpu_power_w)
        sources = "; ".join(p.label for r, p in profs.items() if dict(s["counts"]).get(r))
        self.plan_img.value = plan_png
        self.front_img.value = front_png
        self.summary.value = summary_html(view, s["alpha"], sources)
        self.stages.value = stages_html(view["stages"])
        if key in self._warnings:
            self._set_status("warn", f"{setting_label(s['model'], s['medium'], s['counts'])}: exact front of "
                                     f"{len(front)} plans — {self._warnings[key]}")
        else:
            self._set_status("ok", f"{setting_label(s['model'], s['medium'], s['counts'])}: exact front of "
                                   f"{len(front)} plans; pick any point, or move α")
        self.timings.append((s["mode"], time.perf_counter() - s["t0"]))

    def _inspector_job(self, s: dict, stale) -> None:
        from . import plotting

        try:
            table = unit_table(s["model"], s["roles"], s["sort_by"], s["descending"], self.cpu, self.profiles_dir,
                               self.cpu_power_w)
            long = profile_view(s["model"], s["roles"], s["metric"], self.cpu, self.profiles_dir, self.cpu_power_w)
        except ExploreError as exc:
            self._set_inspector_status("error", str(exc))
            self.unit_img.value = b""
            self.units.value = ""
            return
        if stale():
            return
        with self._render_lock:
            png = plotting.png_bytes(plotting.unit_profile_figure(long, s["metric"]))
        if stale():
            return
        shown = table.assign(time_ms=table["time_s"] * 1e3, energy_mj=table["energy_j"] * 1e3)
        shown = shown[["unit_index", "unit", "kind", "role", "time_ms", "energy_mj", "out_bytes", "source"]]
        self.unit_img.value = png
        self.units.value = table_html(shown.rename(columns={"time_ms": "time [ms]", "energy_mj": "energy [mJ]"}),
                                      "donna-unit-table")
        self._set_inspector_status("", "")
        self.timings.append(("inspector", time.perf_counter() - s["t0"]))


def build_ui(profiles_dir: str = DEFAULT_DIR, cpu: str = "paper", max_count: int = 4,
             cpu_power_w: float | None = None, inline: bool = False, model: str | None = None) -> Explorer:
    """The explorer app (display it in a Jupyter front end or serve the notebook with Voilà: ``make app``)."""
    return Explorer(profiles_dir, cpu, max_count, cpu_power_w, inline, model=model)
