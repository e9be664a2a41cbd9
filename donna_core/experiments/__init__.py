"""Experiments: the paper's scenarios, the claims report, the interactive explorer and the plots.

What the notebooks call. Entry points: ``sweep``, ``single_gpu_comparison``, ``edge_vs_cloud``,
``build_claims``, ``build_ui``.
"""
from ..lazy import lazy_exports

__all__ = ["sweep", "single_gpu_comparison", "edge_vs_cloud", "build_claims", "build_ui"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "sweep": "scenarios", "single_gpu_comparison": "scenarios", "edge_vs_cloud": "scenarios",
    "build_claims": "claims", "build_ui": "explore"})
