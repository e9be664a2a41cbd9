"""Device models: CIM costs from DNN+NeuroSim runs and the CIM estimator; GPU/CPU spec-sheet models.

Entry points: ``load_run``/``parse_log_file`` (NeuroSim), ``CimEstimator``, ``DeviceSpec``/``predict``,
``make_profile`` (writes the modelled/simulated device profiles).
"""
from ..lazy import lazy_exports

__all__ = ["load_run", "parse_log_file", "CimEstimator", "DeviceSpec", "predict", "make_profile"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "load_run": "neurosim", "parse_log_file": "neurosim", "CimEstimator": "cim_estimator",
    "DeviceSpec": "specmodel", "predict": "specmodel", "make_profile": "device_profiles"})
