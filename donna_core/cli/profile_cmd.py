"""``donna profile`` (measure a per-unit profile) and ``donna problem`` (profiles -> problem file) sub-commands.

:func:`register` imports nothing heavy (``donna --help`` must not load torch): the model name is checked when
``donna profile`` runs.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from pathlib import Path

from ..config import profiles_root
from ..untrusted import parse_float, terminal_safe
from .arg_types import int_at_least


class CliArgumentError(ValueError):
    """A command-line argument that is syntactically fine but makes no sense (user error, exit code 2)."""


def _parse_types(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        for part in item.split(","):
            if not part.strip():
                continue
            key, sep, val = part.partition("=")
            if not sep or not key.strip() or not val.strip():
                raise CliArgumentError(f"--types expects ALIAS=DEVICE_TYPE (e.g. cpu=cpu-host), got {part!r}")
            out[key.strip()] = val.strip()
    return out


@contextlib.contextmanager
def _model_reference(name: str):
    """A ``module:function`` --model must name a callable returning a ``torch.nn.Module``; whatever else it
    names (``math:pi``, ``json:loads``) fails inside the resolver or the profiler with an arbitrary exception,
    reported here as one line. Zoo names are not wrapped: their errors are the profiler's own."""
    if ":" not in name:
        yield
        return
    try:
        yield
    except (ImportError, AttributeError, TypeError) as exc:
        first = (str(exc).splitlines() or [""])[0][:200]
        raise CliArgumentError(f"--model {name!r}: not a reference to a callable returning a torch.nn.Module "
                               f"({type(exc).__name__}: {first})") from None


def _check_context(args: argparse.Namespace, phase: str) -> None:
    """Before anything is built: a context beyond the model's positions would fail (or allocate terabytes)
    deep inside the model."""
    if args.context is None:
        return
    from ..profiling.llm import max_context

    most = max_context(args.model, phase)
    if args.context > most:
        raise CliArgumentError(f"--context {args.context}: {args.model} takes at most {most} tokens of context "
                               f"in {phase} (its configuration's maximum positions)")


def _granularity(args: argparse.Namespace) -> str:
    """A decoder LLM is profiled per phase (--phase), the CNNs per --granularity; the phase names the folder."""
    from ..profiling.models import LLM_NAMES

    if args.model in LLM_NAMES:
        if args.phase is None:
            raise CliArgumentError(f"--model {args.model} is a decoder LLM: give --phase prefill or --phase decode")
        _check_context(args, args.phase)
        return args.phase
    if args.phase is not None or getattr(args, "context", None) is not None:
        raise CliArgumentError(f"--phase/--context apply to the decoder LLMs only, not --model {args.model}")
    return args.granularity


def _writable_dir(path: Path, flag: str) -> None:
    """Create ``path`` (and parents) now, before a long run, and check we may write there."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise CliArgumentError(f"{flag}: {path} exists and is not a directory") from None
    except OSError as exc:
        raise CliArgumentError(f"{flag}: cannot create directory {exc.filename or path}: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise CliArgumentError(f"{flag}: directory {path} is not writable")


def _slug(text: str) -> str:
    words = re.sub(r"\((R|TM|tm|r)\)|\bCPU\b|\bProcessor\b|@.*$|\b\d+-Core\b", " ", text)
    return "-".join(re.findall(r"[a-z0-9]+", words.lower()))[:40].strip("-")


def host_cpu_name() -> str:
    """This host's CPU model ('' when unknown); read without importing torch."""
    from ..host import cpu_model

    return cpu_model()


def default_device_type(device: str, hardware_name: str) -> str:
    """``cpu-<this CPU's model>`` / ``gpu-<this GPU's name>``: a profile of your hardware gets its own file and never
    lands on the shipped ``cpu-host`` (the measurement the modelled Xeon is calibrated on)."""
    kind = "cpu" if device.startswith("cpu") else "gpu"
    slug = _slug(hardware_name) or "unknown"
    name = f"{kind}-{slug}"
    return f"{name}-mine" if name in SHIPPED_MEASURED_TYPES else name


# Measured device types shipped with the repository: never a default target of `donna profile`.
SHIPPED_MEASURED_TYPES = ("cpu-host", "gpu-host")


def cmd_profile(args: argparse.Namespace) -> int:
    from ..profiling.models import resolve_model

    ref = resolve_model(args.model, args.input_shape)     # before torch is imported: a typo fails at once
    gran = _granularity(args)
    from ..profiling.profiles import profile_path

    if args.device_type:
        device_type = args.device_type
    elif args.device.startswith("cpu"):
        device_type = default_device_type(args.device, host_cpu_name())
    else:
        import torch

        name = torch.cuda.get_device_name(args.device) if torch.cuda.is_available() else "unknown"
        device_type = default_device_type(args.device, name)
    path = profile_path(args.out, ref.name, gran, device_type)
    # checked before profiling (minutes), not after
    if path.exists() and not args.force:
        raise CliArgumentError(f"{path} exists; pass --force to replace it, or --device-type/--out to write "
                               "another profile")
    _writable_dir(path.parent, "--out")
    from ..profiling.profiler import profile_model
    from ..profiling.profiles import write_profile

    with _model_reference(args.model):
        prof = profile_model(ref.name, device=args.device, granularity=gran, repeats=args.repeats,
                             warmup=args.warmup, threads=args.threads, device_type=device_type,
                             progress=not args.quiet, whole_repeats=args.whole_repeats, notes=args.notes or "",
                             order=args.order, context=args.context, input_shape=ref.input_shape)
    write_profile(prof, path)
    m = prof.meta
    energy = "energy unavailable" if m["energy_source"] == "unavailable" else f"energy via {m['energy_source']}"
    print(f"wrote {terminal_safe(path, keep='')}: {m['n_units']} units, "
          f"sum of unit medians {m['sum_unit_median_s'] * 1e3:.2f} ms, "
          f"whole model {m['whole_model_median_s'] * 1e3:.2f} ms (ratio {m['sum_to_whole_ratio']:.3f}), {energy}")
    return 0


def cmd_problem(args: argparse.Namespace) -> int:
    from ..atomic import write_json_atomic
    from ..profiling.problem_builder import DEFAULT_ALIASES, ProblemBuildError, build_problem, parse_cluster
    from ..profiling.profiles import load_profiles

    if args.list_types:
        from ..profiling.catalog import format_catalog, profile_catalog

        entries = [e for e in profile_catalog(args.profiles, args.model)
                   if e.granularity == (args.phase or args.granularity)]
        if not entries:
            raise CliArgumentError(f"--profiles: no profiles of {args.model!r} at {args.phase or args.granularity} "
                                   f"under {args.profiles}")
        print(format_catalog(entries))
        return 0
    if not args.cluster or not args.medium:
        raise CliArgumentError("--cluster and --medium are required (or --list-types)")
    if args.output not in (None, "-") and Path(args.output).is_dir():    # before reading any profile
        raise CliArgumentError(f"-o/--output: {args.output} is a directory; give a file name")
    from ..profiling.models import UnknownModelError, resolve_model

    try:  # "torchvision.models.resnet50" names the folder "resnet50"; an unknown name may still be a folder
        args.model = resolve_model(args.model).name
    except UnknownModelError:
        pass
    aliases = {**DEFAULT_ALIASES, **_parse_types(args.types)}
    cluster = parse_cluster(args.cluster, aliases)
    # an LLM's profiles sit under its phase; no model lookup here (it would import torch into `donna problem`)
    gran = "graph" if getattr(args, "graph", False) else args.phase or args.granularity
    skipped: dict[str, str] = {}
    profiles = load_profiles(args.profiles, args.model, gran, skipped)
    for t, why in skipped.items():
        if t in cluster:    # the cluster needs it: say exactly what is wrong with the file
            raise CliArgumentError(why.replace("(skipped)", f"(needed for device type {t!r})"))
    for why in skipped.values():
        print(terminal_safe(f"donna: note: {why}", keep=""), file=sys.stderr)
    presets = [m for m in (args.memory or []) if m == "realistic"]
    overrides = _parse_kv([m for m in (args.memory or []) if m != "realistic"], "--memory", "DEVICE_TYPE=BYTES")
    memory = "realistic" if presets else overrides
    power = _parse_kv(args.assume_power, "--assume-power", "DEVICE_TYPE=WATTS")
    try:
        if gran == "graph":
            problem = _graph_problem(args, profiles, cluster, memory, power)
        else:
            problem = build_problem(profiles, cluster, args.medium, source=args.source, memory_bytes=memory,
                                    memory_overrides=overrides, name=args.name, assume_power_w=power)
    except ProblemBuildError as exc:
        # the profiles disagree with each other or with the arguments: say where they were read from
        raise CliArgumentError(f"{Path(args.profiles) / args.model / gran}: {exc}") from None
    if args.output in (None, "-"):
        sys.stdout.write(json.dumps(problem, indent=2, allow_nan=False) + "\n")   # all or nothing
    else:
        write_json_atomic(args.output, problem)
        print(terminal_safe(f"wrote {args.output}: {problem['name']} ({len(problem['units'])} units, "
                            f"{len(problem['devices'])} devices)", keep=""), file=sys.stderr)
    return 0


def _graph_problem(args: argparse.Namespace, profiles, cluster, memory, power) -> dict:
    """``donna problem --graph``: graph profiles + their edges file -> a graph problem (``"edges"``)."""
    from ..profiling.graph_profiles import read_edges
    from ..profiling.problem_builder import build_graph_problem
    from ..profiling.profiles import EDGES_FILE

    edges = read_edges(Path(args.profiles) / args.model / "graph" / EDGES_FILE)
    return build_graph_problem(profiles, edges, cluster, args.medium, source=args.source, memory_bytes=memory,
                               name=args.name, assume_power_w=power)


def _parse_kv(items: list[str] | None, flag: str, form: str) -> dict[str, float] | None:
    if not items:
        return None
    out: dict[str, float] = {}
    for item in items:
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise CliArgumentError(f"{flag} expects {form}, got {item!r}")
        try:
            x = parse_float(val.strip())
        except ValueError:
            raise CliArgumentError(f"{flag} expects {form}, got {item!r}") from None
        if not (x > 0 and x != float("inf")):
            raise CliArgumentError(f"{flag} expects a finite positive number in {form}, got {item!r}")
        out[key.strip()] = x
    return out


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``profile`` and ``problem`` sub-commands to the ``donna`` parser."""
    p = subparsers.add_parser("profile", help="measure a per-unit time/energy profile of a model on this host",
                              description="Measure per-unit time (and energy where RAPL/NVML exist) of a model "
                                          "and write data/profiles/<model>/<granularity>/<device_type>.csv.")
    p.add_argument("--model", required=True,
                   help="model to profile: a shipped one (vgg8, vgg19, resnet152, vit_b_16), any torchvision "
                        "classification model (resnet50, mobilenet_v3_small, efficientnet_b0, ...), "
                        "package.module:function returning an nn.Module, or a decoder LLM with --phase (gpt2, "
                        "tinyllama); random weights, nothing is downloaded")
    p.add_argument("--input-shape", default=None, metavar="1x3xHxW",
                   help="example input shape (default: the model's own, e.g. 1x3x299x299 for inception_v3)")
    p.add_argument("--force", action="store_true", help="replace an existing profile file")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1 (default cpu)")
    p.add_argument("--device-type", default=None,
                   help="device-type name in the profile, e.g. cpu-mine (default: cpu-<this CPU's model>, "
                        "gpu-<this GPU's name>; never the shipped cpu-host)")
    p.add_argument("--threads", type=int_at_least(1), default=1, help="torch CPU threads (default 1)")
    p.add_argument("--repeats", type=int_at_least(1), default=100,
                   help="timed runs per unit (default 100, as the paper)")
    p.add_argument("--warmup", type=int_at_least(0), default=10, help="untimed warm-up runs per unit (default 10)")
    p.add_argument("--whole-repeats", type=int_at_least(1), default=None,
                   help="timed runs of the whole model (default: --repeats)")
    p.add_argument("--granularity", choices=("layer", "block"), default="layer")
    p.add_argument("--phase", choices=("prefill", "decode"), default=None,
                   help="decoder LLMs (gpt2, tinyllama): prefill of --context prompt tokens, or decode of one "
                        "token against a KV cache of --context tokens")
    p.add_argument("--context", type=int_at_least(1), default=None,
                   help="LLM context length S (default 128; at most the model's positions: gpt2 1024, "
                        "tinyllama 2048, one less in decode)")
    p.add_argument("--order", choices=("blocked", "interleaved"), default="blocked",
                   help="blocked: all repeats of one unit, then the next (the paper's method; measures energy); "
                        "interleaved: round-robin over units and the whole model, robust to drifting background "
                        "load, time only (default blocked)")
    p.add_argument("--out", default=str(profiles_root()),
                   help="profile root (default: $DONNA_PROFILES or the repository's data/profiles)")
    p.add_argument("--notes", default=None, help="free text stored in the metadata (e.g. machine was shared)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_profile)

    q = subparsers.add_parser("problem", help="build a problem file from profiles, a cluster and a medium",
                              description="Combine per-device-type profiles into a problem JSON for the solvers.")
    q.add_argument("--model", required=True)
    q.add_argument("--cluster", default=None, help="e.g. 2cpu+2gpu, 4cim+1gpu, 1cpu-mine+1cim (any device type "
                                                   "with a profile: see --list-types)")
    q.add_argument("--medium", default=None, help="medium preset for all links: pcie5, hb-wcc, lb-wcc")
    q.add_argument("--list-types", action="store_true",
                   help="list the device types with a profile for --model/--granularity (with provenance) and exit")
    q.add_argument("--types", action="append", default=None,
                   help="ALIAS=DEVICE_TYPE overrides, e.g. cpu=cpu-host (default cpu=cpu-xeon-w3323, "
                        "gpu=gpu-rtx3070ti, cim=cim)")
    q.add_argument("--granularity", choices=("layer", "block"), default="layer")
    q.add_argument("--phase", choices=("prefill", "decode"), default=None, help="decoder LLMs: which phase")
    q.add_argument("--graph", action="store_true",
                   help="a graph problem: the model's graph units (data/profiles/<model>/graph/) and their data "
                        "edges (\"edges\": [[u, v, bytes], ...]) instead of a chain")
    q.add_argument("--source", default=None, help="device holding the input (e.g. cim0)")
    q.add_argument("--memory", action="append", default=None,
                   help="DEVICE_TYPE=BYTES memory capacity, or 'realistic' (8 GB CPU/GPU, CIM on-chip weights); "
                        "repeatable, the preset first then per-type overrides: --memory realistic --memory "
                        "gpu-rtx3070ti=2.5e9")
    q.add_argument("--assume-power", action="append", default=None,
                   help="DEVICE_TYPE=WATTS: model energy as WATTS x measured time for a profile without energy "
                        "(recorded as modelled in the problem's meta)")
    q.add_argument("--profiles", default=str(profiles_root()),
                   help="profile root (default: $DONNA_PROFILES or the repository's data/profiles, whatever the "
                        "working directory)")
    q.add_argument("--name", default=None)
    q.add_argument("-o", "--output", default=None, help="output JSON path (default stdout)")
    q.set_defaults(func=cmd_problem)
