"""Profiling: model → partition units → measured per-unit profiles (CSV with provenance) → problem file.

Entry points: ``build_model``, ``derive_units``, ``profile_model``, ``read_profile``/``write_profile``,
``build_problem``.
"""
from ..lazy import lazy_exports

__all__ = ["build_model", "MODEL_NAMES", "derive_units", "profile_model", "Profile", "read_profile",
           "write_profile", "load_profiles", "build_problem", "parse_cluster"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "build_model": "models", "MODEL_NAMES": "models", "derive_units": "units", "profile_model": "profiler",
    "Profile": "profiles", "read_profile": "profiles", "write_profile": "profiles", "load_profiles": "profiles",
    "build_problem": "problem_builder", "parse_cluster": "problem_builder"})
