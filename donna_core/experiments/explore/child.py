"""What the explorer runs in its isolated, memory-capped child process (:func:`..background.run_isolated`).

Module-level functions, so the forkserver child imports them by name."""
from __future__ import annotations


def front_in_child(problem, memory_bytes: int | None = None):
    """Runs in the isolated child: the front, or why there is none — no plan fits memory ("infeasible"), or the
    search would exceed the memory budget ("too-large") — as a normal answer, not a crash."""
    from ...partition.guard import SolverSizeError
    from ...partition.solve import InfeasibleError, pareto_front

    try:
        return "ok", pareto_front(problem, memory_budget=memory_bytes)
    except InfeasibleError as exc:
        return "infeasible", str(exc)
    except SolverSizeError as exc:
        return "too-large", str(exc)


def bounded_in_child(problem, alpha, time_limit_s):
    from ...partition.solve import solve

    return solve(problem, alpha=alpha, solver="bounded", time_limit_s=time_limit_s)


def paper_in_child(problem, alpha):
    from ...partition.solve import solve

    return solve(problem, alpha=alpha, solver="paper")



def graph_in_child(problem, alpha, objective, solver, time_limit_s):
    """The graph solve, or why there is none (no device may run some unit: "infeasible") as a normal answer."""
    from ...partition.errors import InfeasibleError
    from .graph_data import solve_graph_setting

    try:
        return "ok", solve_graph_setting(problem, alpha, objective, solver, time_limit_s)
    except InfeasibleError as exc:
        return "infeasible", str(exc)
