"""``donna devices``: write a model's modelled GPU/Xeon and CIM profiles (``devices.model_profiles``)."""
from __future__ import annotations

import argparse

from ..config import profiles_root


def cmd_devices(args: argparse.Namespace) -> int:
    from ..profiling.models import resolve_model

    ref = resolve_model(args.model, args.input_shape)     # a typo fails before torch or pandas are imported
    from ..devices.model_profiles import build_for_model
    from ..profiling.profiles import read_profile

    written = build_for_model(ref.name, args.granularity, args.out, force=args.force,
                              input_shape=ref.input_shape, progress=not args.quiet)
    for p in written:
        meta = read_profile(p).meta
        flags = meta.get("model_params", {}).get("extrapolation") or []
        blocked = meta.get("not_allowed", {}).get("units", [])
        print(f"wrote {p}: {meta['n_units']} units, {meta['source_kind']}"
              + (f"; extrapolated: {'; '.join(flags)}" if flags else "")
              + (f"; {len(blocked)} unit(s) not allowed on this device (reason in the metadata)" if blocked else ""))
    return 0


def register(sub) -> None:
    d = sub.add_parser("devices", help="write a model's modelled GPU/Xeon profiles and its CIM profile",
                       description="Model the RTX 3070 Ti and Xeon W-3323 (spec-sheet model) and the CIM chip "
                                   "(NeuroSim run or the calibrated CIM estimator) for any model and write "
                                   "<out>/<model>/<granularity>/{gpu-rtx3070ti,cpu-xeon-w3323,cim}.csv with "
                                   "provenance, next to the profiles you measured with `donna profile`.")
    d.add_argument("--model", required=True, help="as for `donna profile`: a shipped or torchvision model name, "
                                                   "or package.module:function")
    d.add_argument("--input-shape", default=None, metavar="1x3xHxW", help="example input shape (default: the model's)")
    d.add_argument("--granularity", choices=("layer", "block"), default="layer")
    d.add_argument("--out", default=str(profiles_root()),
                   help="profile root (default: $DONNA_PROFILES or the repository's data/profiles)")
    d.add_argument("--force", action="store_true", help="replace existing profiles")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=cmd_devices)
