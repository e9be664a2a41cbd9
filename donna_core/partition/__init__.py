"""Partitioning: the problem file, the cost model and the solvers (the paper's DP and the exact one).

Entry points: ``load_problem``/``problem_from_dict`` → ``Problem``; ``solve``, ``pareto_front``; ``evaluate``.
"""
from ..lazy import lazy_exports

__all__ = ["Problem", "ProblemError", "load_problem", "problem_from_dict", "save_problem", "Result", "evaluate",
           "PlanError", "solve", "pareto_front", "SOLVERS", "InfeasibleError", "MEDIA_PRESETS"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "Problem": "problem", "ProblemError": "problem", "load_problem": "problem", "problem_from_dict": "problem",
    "save_problem": "problem", "Result": "costs", "evaluate": "costs", "PlanError": "costs", "solve": "solve",
    "pareto_front": "solve", "SOLVERS": "solve", "InfeasibleError": "errors", "MEDIA_PRESETS": "media"})
