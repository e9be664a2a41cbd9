"""``donna profile`` (measure a per-unit profile) and ``donna problem`` (profiles -> problem file) sub-commands.

:func:`register` imports nothing heavy (``donna --help`` must not load torch): the model name is checked when
``donna profile`` runs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# The repository's profiles, found next to the package, so `donna problem` works from any directory.
DEFAULT_PROFILE_ROOT = str(Path(__file__).resolve().parents[2] / "data" / "profiles")


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


def _granularity(args: argparse.Namespace) -> str:
    """A decoder LLM is profiled per phase (--phase), the CNNs per --granularity; the phase names the folder."""
    from ..profiling.models import LLM_NAMES

    if args.model in LLM_NAMES:
        if args.phase is None:
            raise CliArgumentError(f"--model {args.model} is a decoder LLM: give --phase prefill or --phase decode")
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


def cmd_profile(args: argparse.Namespace) -> int:
    from ..profiling.models import ALL_MODEL_NAMES

    if args.model not in ALL_MODEL_NAMES:
        raise CliArgumentError(f"--model: unknown model {args.model!r}; choose one of {list(ALL_MODEL_NAMES)}")
    from ..profiling.profiler import profile_model
    from ..profiling.profiles import profile_path, write_profile

    gran = _granularity(args)
    # the output directory is checked before profiling (minutes), not after; the device type defaults as in
    # profile_model
    device_type = args.device_type or ("cpu-host" if args.device.startswith("cpu") else "gpu-host")
    _writable_dir(profile_path(args.out, args.model, gran, device_type).parent, "--out")
    prof = profile_model(args.model, device=args.device, granularity=gran, repeats=args.repeats,
                         warmup=args.warmup, threads=args.threads, device_type=args.device_type,
                         progress=not args.quiet, whole_repeats=args.whole_repeats, notes=args.notes or "",
                         order=args.order, context=args.context)
    path = profile_path(args.out, args.model, gran, prof.device_type)
    write_profile(prof, path)
    m = prof.meta
    energy = "energy unavailable" if m["energy_source"] == "unavailable" else f"energy via {m['energy_source']}"
    print(f"wrote {path}: {m['n_units']} units, sum of unit medians {m['sum_unit_median_s'] * 1e3:.2f} ms, "
          f"whole model {m['whole_model_median_s'] * 1e3:.2f} ms (ratio {m['sum_to_whole_ratio']:.3f}), {energy}")
    return 0


def cmd_problem(args: argparse.Namespace) -> int:
    from ..atomic import write_json_atomic
    from ..profiling.problem_builder import DEFAULT_ALIASES, ProblemBuildError, build_problem, parse_cluster
    from ..profiling.profiles import load_profiles

    if args.output not in (None, "-") and Path(args.output).is_dir():    # before reading any profile
        raise CliArgumentError(f"-o/--output: {args.output} is a directory; give a file name")
    aliases = {**DEFAULT_ALIASES, **_parse_types(args.types)}
    cluster = parse_cluster(args.cluster, aliases)
    # an LLM's profiles sit under its phase; no model lookup here (it would import torch into `donna problem`)
    gran = "graph" if getattr(args, "graph", False) else args.phase or args.granularity
    profiles = load_profiles(args.profiles, args.model, gran)
    memory = "realistic" if args.memory == ["realistic"] else _parse_kv(args.memory, "--memory", "DEVICE_TYPE=BYTES")
    power = _parse_kv(args.assume_power, "--assume-power", "DEVICE_TYPE=WATTS")
    try:
        if gran == "graph":
            problem = _graph_problem(args, profiles, cluster, memory, power)
        else:
            problem = build_problem(profiles, cluster, args.medium, source=args.source, memory_bytes=memory,
                                    name=args.name, assume_power_w=power)
    except ProblemBuildError as exc:
        # the profiles disagree with each other or with the arguments: say where they were read from
        raise CliArgumentError(f"{Path(args.profiles) / args.model / gran}: {exc}") from None
    if args.output in (None, "-"):
        sys.stdout.write(json.dumps(problem, indent=2, allow_nan=False) + "\n")   # all or nothing
    else:
        write_json_atomic(args.output, problem)
        print(f"wrote {args.output}: {problem['name']} ({len(problem['units'])} units, "
              f"{len(problem['devices'])} devices)", file=sys.stderr)
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
            x = float(val)
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
                   help="model to profile: vgg8, vgg19, resnet152, vit_b_16, ... (profiling.models.MODEL_NAMES), "
                        "or a decoder LLM with --phase: gpt2, tinyllama (profiling.models.LLM_NAMES)")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1 (default cpu)")
    p.add_argument("--device-type", default=None,
                   help="device-type name in the profile (default cpu-host / gpu-host)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--repeats", type=int, default=100, help="timed runs per unit (default 100, as the paper)")
    p.add_argument("--warmup", type=int, default=10, help="untimed warm-up runs per unit (default 10)")
    p.add_argument("--whole-repeats", type=int, default=None,
                   help="timed runs of the whole model (default: --repeats)")
    p.add_argument("--granularity", choices=("layer", "block"), default="layer")
    p.add_argument("--phase", choices=("prefill", "decode"), default=None,
                   help="decoder LLMs (gpt2, tinyllama): prefill of --context prompt tokens, or decode of one "
                        "token against a KV cache of --context tokens")
    p.add_argument("--context", type=int, default=None, help="LLM context length S (default 128)")
    p.add_argument("--order", choices=("blocked", "interleaved"), default="blocked",
                   help="blocked: all repeats of one unit, then the next (the paper's method; measures energy); "
                        "interleaved: round-robin over units and the whole model, robust to drifting background "
                        "load, time only (default blocked)")
    p.add_argument("--out", default=DEFAULT_PROFILE_ROOT,
                   help="profile root (default: the repository's data/profiles)")
    p.add_argument("--notes", default=None, help="free text stored in the metadata (e.g. machine was shared)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_profile)

    q = subparsers.add_parser("problem", help="build a problem file from profiles, a cluster and a medium",
                              description="Combine per-device-type profiles into a problem JSON for the solvers.")
    q.add_argument("--model", required=True)
    q.add_argument("--cluster", required=True, help="e.g. 2cpu+2gpu, 4cim+1gpu")
    q.add_argument("--medium", required=True, help="medium preset for all links: pcie5, hb-wcc, lb-wcc")
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
                   help="DEVICE_TYPE=BYTES memory capacity, or 'realistic' (8 GB CPU/GPU, CIM on-chip weights)")
    q.add_argument("--assume-power", action="append", default=None,
                   help="DEVICE_TYPE=WATTS: model energy as WATTS x measured time for a profile without energy "
                        "(recorded as modelled in the problem's meta)")
    q.add_argument("--profiles", default=DEFAULT_PROFILE_ROOT,
                   help="profile root (default: the repository's data/profiles, whatever the working directory)")
    q.add_argument("--name", default=None)
    q.add_argument("-o", "--output", default=None, help="output JSON path (default stdout)")
    q.set_defaults(func=cmd_problem)
