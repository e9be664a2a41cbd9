"""Runtime: executes a plan as a real pipeline of processes (torch.distributed, gloo) and measures it.

Entry points: ``build_run_spec`` (plan → what each stage runs), ``launch`` (one process per stage, local),
``comparison`` (measured vs the cost model), ``fit_latency_bandwidth`` (the link model from measured transfers).
"""
from ..lazy import lazy_exports

__all__ = ["build_run_spec", "RunSpecError", "launch", "StageFailed", "comparison", "fit_latency_bandwidth"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "build_run_spec": "spec", "RunSpecError": "spec", "launch": "launch", "StageFailed": "launch",
    "comparison": "report", "fit_latency_bandwidth": "calibrate"})
