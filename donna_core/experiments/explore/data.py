"""The explorer's data: what settings and device types exist, cached profiles, problems and fronts of a setting,
the size guard, the unit inspector's tables and :func:`plan_view` (everything shown for one setting, solved in this
process).

A setting's device types are given as ``types``: a preset of :func:`..scenarios.device_files` (``"paper"``: the
modelled Xeon W-3323, ``"host"``: ``cpu-host``) or ``((role, profile file stem), ...)`` for every role, e.g.
``(("cpu", "cpu-mine"), ("gpu", "gpu-rtx3070ti"), ("cim", "cim"))`` (hashable: it is part of the cache keys).
"""
from __future__ import annotations

import functools
from typing import Mapping

import numpy as np
import pandas as pd

from ... import config
from ...profiling.catalog import ROLES, ProfileEntry, complete_settings, device_type_choices, profile_catalog
from .. import scenario_profiles as sp
from .. import scenarios as sc
from ..background import DEFAULT_MEMORY_BYTES
from .views import ExploreError, device_counts, make_view, setting_label

# $DONNA_PROFILES or the repository's data/profiles, when this module was imported (the app reads it when built)
DEFAULT_DIR = str(config.profiles_root())
# Settings above this many exact-solver states (count vectors x classes x (L+1), donna_core.partition.guard) are
# flagged as slow: ResNet-152 2cpu+1gpu+1cim (5 652) solves its front in < 1 s here, 3cpu+2gpu+2cim (16 956) in
# 4-18 s, 4cpu+4gpu+4cim on PCIe-5 (58 875) in ~114 s (2-core VM at load ~5).
LARGE_FRONT_STATES = 15000
# Settings up to this many states are solved in the app's worker thread rather than the isolated child: the
# child's fork server costs seconds to start (it imports the solver stack), the default ResNet-152 2+1+1 setting
# (5 652 states, a few MB) solves in < 1 s, and the solver's own memory budget still applies.
INLINE_FRONT_STATES = 8000
SOLVE_MEMORY_BYTES = DEFAULT_MEMORY_BYTES   # the child process's address-space limit (background.py)


def split_model(name: str) -> tuple[str, str]:
    """``"resnet152"`` → (resnet152, layer); ``"gpt2/prefill"`` → (gpt2, prefill): the explorer's model names carry
    the profile granularity (block, or an LLM phase) when it is not ``layer``."""
    model, _, granularity = str(name).partition("/")
    return model, granularity or "layer"


def setting_name(model: str, granularity: str) -> str:
    """The inverse of :func:`split_model`: ``model`` at layer granularity, else ``model/granularity``."""
    return model if granularity == "layer" else f"{model}/{granularity}"


def type_files(types) -> dict[str, str]:
    """Role → profile file stem of ``types`` (a preset name or role/stem pairs, see the module docstring)."""
    if isinstance(types, str):
        try:
            return sp.device_files(types)
        except sc.ScenarioError as exc:
            raise ExploreError(str(exc)) from None
    files = dict(types)
    if sorted(files) != sorted(ROLES) or not all(isinstance(v, str) and v for v in files.values()):
        raise ExploreError(f"device types must name a profile for each of {list(ROLES)}, got {files}")
    return files


def types_key(files: Mapping[str, str]) -> tuple:
    """Role/stem pairs in role order: the hashable form of a choice of device types."""
    return tuple((r, str(files[r])) for r in ROLES)


def available_models(profiles_dir: str = DEFAULT_DIR) -> list[str]:
    """Models found under ``profiles_dir`` (discovered, not listed), sorted by name: every ``<model>/<granularity>``
    with a profile for each device role (any type name; see ``profiling.catalog.complete_settings``), named by
    :func:`setting_name` (``resnet152``, ``resnet152/block``, ``gpt2/prefill``)."""
    return sorted(setting_name(m, g) for m, g in complete_settings(profile_catalog(profiles_dir)))


def type_choices(entries: list[ProfileEntry], model: str) -> dict[str, list[ProfileEntry]]:
    """Role → the profiles that can fill it for explorer model ``model`` (a picker's options, with provenance)."""
    return device_type_choices(entries, *split_model(model))


def pick_types(choices: Mapping[str, list[ProfileEntry]], *preferred: Mapping[str, str]) -> dict[str, str]:
    """Role → file stem: per role the first of the ``preferred`` stems the choices hold, else the first choice."""
    out = {}
    for r in ROLES:
        stems = [e.device_type for e in choices.get(r, [])]
        if not stems:
            raise ExploreError(f"no {r} profile among the choices")
        out[r] = next((p[r] for p in preferred if p.get(r) in stems), stems[0])
    return out


@functools.lru_cache(maxsize=16)
def cached_profiles(model: str, types="paper", profiles_dir: str = DEFAULT_DIR,
                    cpu_power_w: float | None = None) -> dict:
    """Role → TypeProfile for ``model`` (see :func:`split_model`) on device ``types`` (cached: files are read once
    per session)."""
    name, granularity = split_model(model)
    files = type_files(types)
    assume = {"cpu": float(cpu_power_w)} if cpu_power_w is not None else None
    return sp.load_model_profiles(name, files, granularity, profiles_dir, assume_power_w=assume)


@functools.lru_cache(maxsize=128)
def cached_problem(model: str, medium: str, counts: tuple, types="paper", profiles_dir: str = DEFAULT_DIR,
                   cpu_power_w: float | None = None):
    """(problem dict, Problem) for a cluster given as ``((role, n), …)``."""
    from ...partition.problem import problem_from_dict

    d = sc.make_problem(cached_profiles(model, types, profiles_dir, cpu_power_w), dict(counts), links=medium)
    return d, problem_from_dict(d)


@functools.lru_cache(maxsize=128)
def cached_front(model: str, medium: str, counts: tuple, types="paper", profiles_dir: str = DEFAULT_DIR,
                 cpu_power_w: float | None = None):
    """The exact Pareto front (list of Results, bottleneck ascending) of the cached problem, in this process."""
    from ...partition.solve import pareto_front

    return pareto_front(cached_problem(model, medium, counts, types, profiles_dir, cpu_power_w)[1])


@functools.lru_cache(maxsize=1024)
def _paper_solve(model: str, medium: str, counts: tuple, alpha: float, types, profiles_dir: str,
                 cpu_power_w: float | None):
    from ...partition.solve import solve

    return solve(cached_problem(model, medium, counts, types, profiles_dir, cpu_power_w)[1], alpha=alpha,
                 solver="paper")


def plan_view(model: str, medium: str, n_cpu: int, n_gpu: int, n_cim: int, alpha: float, solver: str = "exact",
              types="paper", profiles_dir: str = DEFAULT_DIR, cpu_power_w: float | None = None,
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
    counts = device_counts(n_cpu, n_gpu, n_cim)
    profiles_dir = str(profiles_dir)
    d, _ = cached_problem(model, medium, counts, types, profiles_dir, cpu_power_w)
    front = cached_front(model, medium, counts, types, profiles_dir, cpu_power_w)
    paper = None
    if solver == "paper" and point is None:
        paper = _paper_solve(model, medium, counts, float(alpha), types, profiles_dir, cpu_power_w)
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
    from ...partition import guard

    est = guard.estimate(problem, alpha=alpha, solver=solver, budget=int(memory_bytes))
    if not est.feasible_in_budget:
        return False, str(est.message)
    if solver != "paper" and est.states > LARGE_FRONT_STATES:
        return True, (f"large: {est.states:,} exact-solver states (> {LARGE_FRONT_STATES:,}); the exact front may "
                      f"take from seconds to minutes (ResNet-152 with 4+4+4 devices on PCIe-5: ~2 min here) — "
                      f"fewer devices solve in seconds; changing any control cancels the solve")
    return True, str(est.message)


def front_states(problem) -> int:
    """Exact-solver states of ``problem``'s Pareto front (``donna_core.partition.guard.estimate``)."""
    from ...partition import guard

    return int(guard.estimate(problem, alpha=None, solver="exact").states)


# ------------------------------------------------------------------------------------------------ inspector
def _role_profiles(model: str, roles, types, profiles_dir, cpu_power_w) -> dict:
    profs = cached_profiles(model, types, str(profiles_dir), cpu_power_w)
    unknown = [r for r in roles if r not in profs]
    if unknown:
        raise ExploreError(f"unknown device role(s) {unknown}; available: {sorted(profs)}")
    if not roles:
        raise ExploreError("select at least one device type")
    return profs


def may_run(profile) -> np.ndarray:
    """Per unit of a role's profile: whether that role may run it (the problem builder's rule: CIM types run only
    weight-stationary units; their cost rows for the others are placeholders no plan can pay)."""
    from ...profiling.problem_builder import is_weight_stationary_type, weight_stationary_units

    t = profile.table
    if is_weight_stationary_type(profile.device_type) and "kind" in t.columns:
        return np.asarray(weight_stationary_units(t), dtype=bool)
    return np.ones(len(t), dtype=bool)


def profile_view(model: str, roles=("cpu", "gpu", "cim"), metric: str = "time_s", types="paper",
                 profiles_dir: str = DEFAULT_DIR, cpu_power_w: float | None = None) -> pd.DataFrame:
    """Per-unit profile of ``model`` on the chosen device roles (long table, as for Fig. 2a-b)."""
    if metric not in ("time_s", "energy_j"):
        raise ExploreError(f"metric must be 'time_s' or 'energy_j', got {metric!r}")
    profs = _role_profiles(model, roles, types, profiles_dir, cpu_power_w)
    long = sp.profile_long_table({model: {r: profs[r] for r in roles}})
    long["may_run"] = np.concatenate([may_run(profs[r]) for r in roles])
    return long[["model", "role", "label", "unit_index", "unit", "kind", metric, "may_run"]]


UNIT_COLUMNS = ("unit_index", "unit", "kind", "role", "time_s", "energy_j", "out_bytes", "may_run", "source")


def unit_table(model: str, roles=("cpu", "gpu", "cim"), sort_by: str = "unit_index", descending: bool = False,
               types="paper", profiles_dir: str = DEFAULT_DIR, cpu_power_w: float | None = None) -> pd.DataFrame:
    """One row per (unit, device role): time, energy, output bytes and the data source, sorted by ``sort_by``.

    The sort is stable, so ties keep unit order, then the order of ``roles``.
    """
    if sort_by not in UNIT_COLUMNS:
        raise ExploreError(f"sort_by must be one of {list(UNIT_COLUMNS)}, got {sort_by!r}")
    profs = _role_profiles(model, roles, types, profiles_dir, cpu_power_w)
    frames = []
    for r in roles:
        t = profs[r].table
        frames.append(pd.DataFrame({
            "unit_index": np.arange(len(t)), "unit": t["unit"].astype(str),
            "kind": t["kind"].astype(str) if "kind" in t.columns else "", "role": r,
            "time_s": t["time_s"].astype(float), "energy_j": t["energy_j"].astype(float),
            "out_bytes": t["out_bytes"].astype("int64"), "may_run": may_run(profs[r]),
            "source": f"{profs[r].device_type}, {profs[r].source_kind}"}))
    df = pd.concat(frames, ignore_index=True).sort_values(["unit_index"], kind="stable")
    return df.sort_values(sort_by, ascending=not descending, kind="stable").reset_index(drop=True)
