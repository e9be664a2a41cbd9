"""``donna devices``: the modelled GPU/Xeon profiles and the CIM profile of any model, written next to its
measured ones (what ``scripts/build_device_profiles.py`` does for the shipped models, as a library call).

* ``cim`` -- simulated from a shipped NeuroSim run where one exists (vgg8, vgg19, resnet152), else modelled by
  the CIM estimator fitted on the three shipped runs, with its extrapolation flags in the metadata; grouped /
  depthwise convolutions and module-boundary units are not allowed on CIM (reason in the metadata);
* ``gpu-rtx3070ti`` -- the spec-sheet model (assumed efficiencies, see ``specmodel.rtx3070ti``);
* ``cpu-xeon-w3323`` -- the spec-sheet model with the calibration stored in the shipped
  ``resnet152/layer/cpu-xeon-w3323.csv`` (fitted on this project's measured host profiles).

Nothing is overwritten without ``force``: every target is checked before anything is computed.
"""
from __future__ import annotations

from pathlib import Path

from .. import config
from . import device_profiles as dp

# The repository's profiles: where the Xeon calibration is read from, whatever the output folder.
SHIPPED_PROFILES = config.DATA / "profiles"


class DevicesError(ValueError):
    """A target exists (and no force), or the model cannot be modelled: one line."""


def targets(out_root, model: str, granularity: str) -> dict[str, Path]:
    from ..profiling.profiles import profile_path

    return {d: profile_path(out_root, model, granularity, d) for d in dp.DEVICE_TYPES}


def build_for_model(model: str, granularity: str = "layer", out_root=SHIPPED_PROFILES, force: bool = False,
                    input_shape=None, progress: bool = True) -> list[Path]:
    """Derive ``model``'s units, model its device profiles at ``granularity`` and write them; returns the paths."""
    from tqdm.auto import tqdm

    from ..profiling.models import resolve_model
    from ..profiling.profiles import write_profile

    ref = resolve_model(model, input_shape)
    if ref.kind == "llm":
        raise DevicesError(f"--model {ref.name}: the LLMs' device profiles come from scripts/build_llm_profiles.py")
    if granularity not in ("layer", "block"):
        raise DevicesError(f"--granularity must be layer or block, got {granularity!r}")
    paths = targets(out_root, ref.name, granularity)
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not force:
        raise DevicesError(f"{existing[0]} exists ({len(existing)} of the {len(paths)} targets); pass --force to "
                           "replace them or --out to write elsewhere")
    steps = tqdm(total=4, desc=f"{ref.name} device profiles", unit="step", disable=not progress)
    from ..profiling.models import build_model
    from ..profiling.module_units import derive_units_any
    from ..profiling.units import unit_table

    m, x = build_model(ref)
    layer, note = derive_units_any(m, x, "layer")
    block = derive_units_any(m, x, "block")[0] if granularity == "block" else None
    steps.update()
    from . import cim_estimator

    est = cim_estimator.CimEstimator.fit(cim_estimator.shipped_runs())
    xeon = dp.xeon_from_shipped(SHIPPED_PROFILES)
    steps.update()
    extra = {"built_by": "donna devices (donna_core/devices/model_profiles.py)", "input_shape": list(x.shape),
             "input_bytes": layer.input_bytes}
    if note:
        extra["units_note"] = note
    profs = dp.model_device_profiles(ref.name, unit_table(layer.units), None if block is None else
                                     unit_table(block.units), dp.unit_op_counts(layer), layer.input_bytes,
                                     dp.attention_embed_dims(layer), est, xeon, granularity, dp.today(), extra)
    steps.update()
    written = [write_profile(profs[d], paths[d]) for d in dp.DEVICE_TYPES]
    steps.update()
    steps.close()
    return written
