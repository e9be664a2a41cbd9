"""The explorer's graph-placement data: the graph problem of a setting (cached) and :func:`graph_plan_view`
(everything shown for one graph setting, solved in this process).

A graph model's problem is built from its ``graph`` profiles and their ``edges.csv`` exactly as notebook 08
builds it (:func:`..graph_study.graph_problem_dict`), so the explorer and the study cost the same plan alike.
"""
from __future__ import annotations

import functools
from pathlib import Path

from .data import DEFAULT_DIR, cached_profiles, split_model
from .graph_views import GRAPH_OBJECTIVES, GRAPH_SOLVERS, graph_view, is_graph_model
from .views import ExploreError, device_counts, setting_label

# The graph solve's time limit in the explorer: long enough for HiGHS to prove most α-settings of the bundled
# graphs (ResNet-50 / GoogLeNet / RandWire-32 at α = 0.5 in < 1 s here), short enough to stay interactive; when
# it is reached the explorer shows the best plan found and its certified gap.
GRAPH_TIME_LIMIT_S = 5.0


def _check(model: str, objective: str, solver: str) -> None:
    if not is_graph_model(model):
        raise ExploreError(f"{model!r} is not a graph model (its granularity is not 'graph')")
    if objective not in dict(GRAPH_OBJECTIVES).values():
        raise ExploreError(f"objective must be one of {[v for _, v in GRAPH_OBJECTIVES]}, got {objective!r}")
    if solver not in dict(GRAPH_SOLVERS).values():
        raise ExploreError(f"graph solver must be one of {[v for _, v in GRAPH_SOLVERS]}, got {solver!r}")


@functools.lru_cache(maxsize=64)
def cached_graph_problem(model: str, medium: str, counts: tuple, types="paper", profiles_dir: str = DEFAULT_DIR,
                         cpu_power_w: float | None = None):
    """(graph problem dict, Problem) of a graph model for a cluster given as ``((role, n), …)``."""
    from ...partition.problem import problem_from_dict
    from ...profiling.graph_profiles import read_edges
    from ...profiling.profiles import EDGES_FILE
    from ..graph_study import graph_problem_dict

    name, granularity = split_model(model)
    edges = read_edges(Path(profiles_dir) / name / granularity / EDGES_FILE)
    d = graph_problem_dict(cached_profiles(model, types, profiles_dir, cpu_power_w), edges, dict(counts), medium)
    return d, problem_from_dict(d)


def solve_graph_setting(problem, alpha: float, objective: str, solver: str, time_limit_s: float):
    """The graph solve the explorer shows (in this process; the app runs it in the isolated child)."""
    from ...partition.graph_solve import solve_graph

    return solve_graph(problem, float(alpha), solver, objective=objective, time_limit_s=float(time_limit_s))


def graph_plan_view(model: str, medium: str, n_cpu: int, n_gpu: int, n_cim: int, alpha: float,
                    objective: str = "alpha", solver: str = "exact", time_limit_s: float = GRAPH_TIME_LIMIT_S,
                    types="paper", profiles_dir: str = DEFAULT_DIR, cpu_power_w: float | None = None) -> dict:
    """Everything the explorer shows for one graph setting, solved in this process (see
    :func:`.graph_views.graph_view`)."""
    if not 0.0 <= float(alpha) <= 1.0:
        raise ExploreError(f"alpha must lie in [0, 1], got {alpha}")
    _check(model, objective, solver)
    counts = device_counts(n_cpu, n_gpu, n_cim)
    d, p = cached_graph_problem(model, medium, counts, types, str(profiles_dir), cpu_power_w)
    r = solve_graph_setting(p, alpha, objective, solver, time_limit_s)
    return graph_view(d, r, alpha, objective, solver, time_limit_s, setting_label(model, medium, counts))
