"""The interactive α explorer (notebook 05): callbacks as plain functions, plus a thin ipywidgets UI.

The callbacks (:func:`plan_view`, :func:`profile_view`) take plain values and return plain data, so they are
tested without a kernel. Problems and exact Pareto fronts are cached per (model, medium, device counts, CPU
choice, profiles dir); with the front cached, the exact α-optimum is a minimum over its points (the weighted
objective is increasing in both bottleneck and energy, so its optimum lies on the front), which keeps the α
slider responsive. The paper's DP is solved on demand and cached per α.
"""
from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd

from . import scenarios as sc

DEFAULT_DIR = str(sc.DEFAULT_PROFILES_DIR)


class ExploreError(ValueError):
    """An explorer setting is invalid (e.g. no devices selected)."""


def _counts(n_cpu: int, n_gpu: int, n_cim: int) -> tuple[tuple[str, int], ...]:
    if any(int(n) < 0 for n in (n_cpu, n_gpu, n_cim)):
        raise ExploreError(f"device counts must be >= 0, got cpu={n_cpu}, gpu={n_gpu}, cim={n_cim}")
    counts = tuple((r, int(n)) for r, n in (("cpu", n_cpu), ("gpu", n_gpu), ("cim", n_cim)) if int(n) > 0)
    if not counts:
        raise ExploreError("select at least one device (all counts are 0)")
    return counts


@functools.lru_cache(maxsize=16)
def cached_profiles(model: str, cpu: str = "paper", profiles_dir: str = DEFAULT_DIR,
                    cpu_power_w: float | None = None) -> dict:
    """Role → TypeProfile for ``model`` (cached: profile files are read once per session)."""
    return sc.load_paper_profiles([model], cpu, profiles_dir, cpu_power_w)[model]


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
    """The exact Pareto front (list of Results) of the cached problem."""
    from ..partition.solve import pareto_front

    return pareto_front(cached_problem(model, medium, counts, cpu, profiles_dir, cpu_power_w)[1])


@functools.lru_cache(maxsize=1024)
def _paper_solve(model: str, medium: str, counts: tuple, alpha: float, cpu: str, profiles_dir: str,
                 cpu_power_w: float | None):
    from ..partition.solve import solve

    return solve(cached_problem(model, medium, counts, cpu, profiles_dir, cpu_power_w)[1], alpha=alpha,
                 solver="paper")


def exact_from_front(front: list, alpha: float):
    """The α-optimum among front Results, ties broken like ``solve(..., 'exact')``: fewer stages, device order."""
    from ..partition.costs import objective

    if not front:
        raise ExploreError("the Pareto front is empty (no feasible plan)")
    return min(front, key=lambda r: (objective(alpha, r.bottleneck_s, r.energy_j, r.norm), len(r.stages),
                                     [s.device for s in r.stages]))


def stages_table(result, problem: dict) -> pd.DataFrame:
    """One row per stage: device, role, unit range (indices and names), compute and transfer costs."""
    roles = sc.device_roles(problem)
    names = [u["name"] for u in problem["units"]]
    return pd.DataFrame([{"device": s.device, "role": roles[s.device], "first": s.first, "last": s.last,
                          "first_unit": names[s.first], "last_unit": names[s.last], "n_units": s.last - s.first + 1,
                          "compute_s": s.compute_s, "compute_j": s.compute_j, "comm_out_s": s.comm_out_s,
                          "comm_out_j": s.comm_out_j} for s in result.stages])


def plan_view(model: str, medium: str, n_cpu: int, n_gpu: int, n_cim: int, alpha: float, solver: str = "exact",
              cpu: str = "paper", profiles_dir: str = DEFAULT_DIR, cpu_power_w: float | None = None) -> dict:
    """Everything the explorer shows for one setting.

    Returns ``{"summary": dict (costs, plan string, participating), "stages": DataFrame, "front": DataFrame
    (throughput_ips, energy_j, plan per front point), "current": {"throughput_ips", "energy_j"}, "title": str}``.
    """
    from ..partition.costs import objective

    if not 0.0 <= float(alpha) <= 1.0:
        raise ExploreError(f"alpha must lie in [0, 1], got {alpha}")
    counts = _counts(n_cpu, n_gpu, n_cim)
    profiles_dir = str(profiles_dir)
    d, _ = cached_problem(model, medium, counts, cpu, profiles_dir, cpu_power_w)
    front = cached_front(model, medium, counts, cpu, profiles_dir, cpu_power_w)
    if solver == "exact":
        r = exact_from_front(front, float(alpha))
    elif solver == "paper":
        r = _paper_solve(model, medium, counts, float(alpha), cpu, profiles_dir, cpu_power_w)
    else:
        raise ExploreError(f"solver must be 'exact' or 'paper', got {solver!r}")
    summary = sc.result_row(r, d)
    # front Results were costed at α=1; the objective shown is the one for the slider's α
    summary["objective"] = float(objective(float(alpha), r.bottleneck_s, r.energy_j, r.norm))
    front_df = pd.DataFrame([{"throughput_ips": f.throughput_ips, "energy_j": f.energy_j,
                              "bottleneck_s": f.bottleneck_s, "plan": sc.plan_string(f.stages)} for f in front])
    title = (f"{model}, {sc.cluster_name(dict(counts))}, {sc.MEDIUM_LABELS.get(medium, medium)}, α={float(alpha):.2f}, "
             f"{solver}: {summary['throughput_ips']:.4g} inf/s, {summary['energy_j']:.4g} J")
    return {"summary": summary, "stages": stages_table(r, d), "front": front_df,
            "current": {"throughput_ips": summary["throughput_ips"], "energy_j": summary["energy_j"]},
            "title": title}


def profile_view(model: str, roles=("cpu", "gpu", "cim"), metric: str = "time_s", cpu: str = "paper",
                 profiles_dir: str = DEFAULT_DIR, cpu_power_w: float | None = None) -> pd.DataFrame:
    """Per-unit profile of ``model`` on the chosen device roles (long table, as for Fig. 2a-b)."""
    if metric not in ("time_s", "energy_j"):
        raise ExploreError(f"metric must be 'time_s' or 'energy_j', got {metric!r}")
    profs = cached_profiles(model, cpu, str(profiles_dir), cpu_power_w)
    unknown = [r for r in roles if r not in profs]
    if unknown:
        raise ExploreError(f"unknown device role(s) {unknown}; available: {sorted(profs)}")
    if not roles:
        raise ExploreError("select at least one device type")
    long = sc.profile_long_table({model: {r: profs[r] for r in roles}})
    return long[["model", "role", "label", "unit_index", "unit", "kind", metric]]


def available_models(profiles_dir: str = DEFAULT_DIR, cpu: str = "paper") -> list[str]:
    """Models that have a layer profile for every device role."""
    files = sc.device_files(cpu)
    root = Path(profiles_dir)
    if not root.is_dir():
        return []
    return sorted(m.name for m in root.iterdir()
                  if all(sc.profile_path(m.name, f, "layer", root).is_file() for f in files.values()))


# ------------------------------------------------------------------------------------------------ UI
def build_ui(profiles_dir: str = DEFAULT_DIR, cpu: str = "paper", max_count: int = 4,
             cpu_power_w: float | None = None):
    """The explorer widget (needs a Jupyter front end to be seen); all logic is in the functions above."""
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    from . import plotting

    models = available_models(profiles_dir, cpu)
    if not models:
        raise ExploreError(f"no model under {profiles_dir} has profiles for all of {sc.device_files(cpu)}")
    model = w.Dropdown(options=models, value="resnet152" if "resnet152" in models else models[0], description="model")
    medium = w.Dropdown(options=[(sc.MEDIUM_LABELS[m], m) for m in sc.PAPER_MEDIA], value="hb-wcc",
                        description="medium")
    n = {r: w.IntSlider(value=v, min=0, max=max_count, description=f"# {r}")
         for r, v in (("cpu", 2), ("gpu", 1), ("cim", 1))}
    alpha = w.FloatSlider(value=1.0, min=0.0, max=1.0, step=0.05, description="α", continuous_update=True)
    solver = w.ToggleButtons(options=["exact", "paper"], value="exact", description="solver")
    out = w.Output()

    def redraw(*_):
        with out:
            out.clear_output(wait=True)
            try:
                v = plan_view(model.value, medium.value, n["cpu"].value, n["gpu"].value, n["cim"].value,
                              alpha.value, solver.value, cpu, profiles_dir, cpu_power_w)
            except ValueError as exc:  # a user setting we cannot solve: say why instead of a traceback
                print(f"cannot solve: {exc}")
                return
            fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 3.8))
            plotting.plot_stage_bars(a1, v["stages"], "stages (compute, transfer out)")
            plotting.plot_front(a2, v["front"], v["current"], v["title"])
            fig.tight_layout()
            display(fig)
            plt.close(fig)
            display(v["stages"][["device", "first_unit", "last_unit", "n_units", "compute_s", "compute_j",
                                 "comm_out_s", "comm_out_j"]])

    for wd in (model, medium, alpha, solver, *n.values()):
        wd.observe(redraw, names="value")

    p_model = w.Dropdown(options=models, value=model.value, description="model")
    p_roles = w.SelectMultiple(options=["cpu", "gpu", "cim"], value=("cpu", "gpu", "cim"), description="devices")
    p_metric = w.Dropdown(options=[("time", "time_s"), ("energy", "energy_j")], value="time_s", description="metric")
    p_out = w.Output()

    def redraw_profile(*_):
        with p_out:
            p_out.clear_output(wait=True)
            try:
                long = profile_view(p_model.value, tuple(p_roles.value), p_metric.value, cpu, profiles_dir,
                                    cpu_power_w)
            except ValueError as exc:
                print(exc)
                return
            fig = plotting.plot_profiles(long, p_metric.value, log=True)
            display(fig)
            plt.close(fig)

    for wd in (p_model, p_roles, p_metric):
        wd.observe(redraw_profile, names="value")
    redraw()
    redraw_profile()
    planner = w.VBox([w.HBox([model, medium, solver]), w.HBox(list(n.values())), alpha, out])
    inspector = w.VBox([w.HBox([p_model, p_roles, p_metric]), p_out])
    tabs = w.Tab(children=[planner, inspector])
    tabs.set_title(0, "plan explorer")
    tabs.set_title(1, "profile inspector")
    return tabs
