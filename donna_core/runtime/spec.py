"""The run specification: a plan checked against a problem, turned into what each stage process needs.

A run spec is a plain JSON-able dict (written to a file every stage process reads, locally or under torchrun):

``{"model", "granularity", "unit_names", "stages": [{"device", "type", "first", "last", "torch_device"}],
"links": [{"medium", "bandwidth_Bps", "latency_s", "time_curve", "shared"} per cut], "emulated": bool, "inputs",
"warmup", "in_flight", "threads", "seed", "check_outputs", "comm_timeout_s", "fault": null | {...}, "problem_name",
"alpha", "predicted": the cost model's numbers for this plan, "print_result": bool,
"weights": null | freeze_model file}``

Carrying the prediction makes the spec self-contained: under torchrun, stage 0 writes the whole comparison.
A spec is data: its ``model`` selects code (``module:function``) only where a command line names it too.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import Any, Sequence

from ..partition.problem import Problem


class RunSpecError(ValueError):
    """A plan the runtime cannot execute (unknown device, unit mismatch, no such hardware): one line."""


def plan_from_json(d: Any, where: str = "plan") -> list[tuple[str, int, int]]:
    """Stages from the JSON that ``donna solve --json`` prints (or a bare list of ``{device, first, last}``)."""
    stages = d.get("stages") if isinstance(d, dict) else d
    if not isinstance(stages, list) or not stages:
        raise RunSpecError(f"{where}: expected an object with a non-empty 'stages' list (donna solve --json)")
    out = []
    for i, s in enumerate(stages):
        if not isinstance(s, dict) or not {"device", "first", "last"} <= set(s):
            raise RunSpecError(f"{where}.stages[{i}]: needs 'device', 'first' and 'last'")
        if not isinstance(s["device"], str) or not all(isinstance(s[k], int) and not isinstance(s[k], bool)
                                                        for k in ("first", "last")):
            raise RunSpecError(f"{where}.stages[{i}]: device must be a string, first/last integers")
        out.append((s["device"], s["first"], s["last"]))
    return out


def is_cuda_type(type_name: str) -> bool:
    return type_name.lower().startswith(("gpu", "cuda"))


def needs_cuda(problem: Problem, plan: Sequence[tuple[str, int, int]]) -> bool:
    """Whether a (checked) plan places a stage on a CUDA device type."""
    return any(is_cuda_type(problem.type_of(problem.device_index(d))) for d, _, _ in plan)


def host_cuda_count() -> int:
    """CUDA devices of this host. On Linux without the NVIDIA driver (no ``/proc/driver/nvidia``) that is 0,
    known at once: importing torch only to hear so takes a second or more."""
    if sys.platform.startswith("linux") and not os.path.exists("/proc/driver/nvidia"):
        return 0
    import torch

    return torch.cuda.device_count()


def torch_devices(problem: Problem, plan: Sequence[tuple[str, int, int]], cuda_count: int) -> list[str]:
    """The torch device of each stage (the i-th CUDA stage on ``cuda:i``); refuses what this host cannot run."""
    out = []
    for dev, _, _ in plan:
        out.append(torch_device_for(problem.type_of(problem.device_index(dev)), sum(d.startswith("cuda")
                                                                                    for d in out), cuda_count))
    return out


def torch_device_for(type_name: str, index: int, cuda_count: int) -> str:
    """Which torch device runs a stage on a device of type ``type_name``.

    By the project's naming: ``gpu*``/``cuda*`` types run on CUDA (the i-th GPU stage on ``cuda:i``), ``cim*``
    types cannot run here (no CIM hardware), everything else runs on the CPU.
    """
    t = type_name.lower()
    if t.startswith("cim"):
        raise RunSpecError(f"device type {type_name!r} is a compute-in-memory accelerator; there is no CIM "
                           "hardware to run it on (its profile is simulated)")
    if is_cuda_type(t):
        if index >= cuda_count:
            raise RunSpecError(f"plan needs {index + 1} CUDA device(s) for type {type_name!r} but this host has "
                               f"{cuda_count}")
        return f"cuda:{index}"
    return "cpu"


# A model reference that names code: ``package.module:function`` (dotted identifiers, then one function name).
CODE_REF = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")


def is_code_ref(ref: str) -> bool:
    return ":" in ref


def _known() -> str:
    from ..profiling.models import MODEL_NAMES

    return ", ".join(MODEL_NAMES) + " or any torchvision classification model name"


def model_ref(problem: Problem, model: str | None, granularity: str | None,
              where: str = "problem") -> tuple[str, str]:
    """The model and granularity to run, and where each may come from.

    The model comes from the command line (``model``: a zoo name, or ``package.module:function`` the user typed)
    or else from the problem's ``meta.model`` -- which is data, so it is only ever a zoo *name*, never imported.
    A command-line model that contradicts ``meta.model`` is refused (the profiles were measured on another model).
    """
    meta_model = problem.meta.get("model")
    gran = granularity or problem.meta.get("granularity")
    if model is not None:
        if not (model in _zoo() or CODE_REF.fullmatch(model)):
            raise RunSpecError(f"--model {model!r}: not a zoo model ({_known()}) nor package.module:function")
        if meta_model is not None and meta_model != model:
            raise RunSpecError(f"--model {model!r} contradicts {where}: meta.model {meta_model!r} (the problem's "
                               "profiles were measured on that model)")
    elif meta_model is None:
        raise RunSpecError(f"{where}: meta has no model (not built by `donna problem`); pass --model")
    elif not isinstance(meta_model, str) or meta_model not in _zoo():
        raise RunSpecError(f"{where}: meta.model {meta_model!r} is not a zoo model ({_known()}); a problem file "
                           "only names a model, it never selects code: pass --model package.module:function")
    else:
        model = meta_model
    if not gran:
        raise RunSpecError(f"{where}: meta has no granularity (not built by `donna problem`); pass --granularity")
    return model, gran


def _zoo() -> tuple[str, ...]:
    """Model *names* a run can build (shipped CNNs/ViT, torchvision classification models; the decoder LLMs are
    profiled, not run): data may name one, never import one."""
    from ..profiling.models import LLM_NAMES, known_names

    return tuple(n for n in known_names() if n not in LLM_NAMES)


def resolve_model(ref: str, code_allowed: bool = False):
    """``(model, example input)`` for a zoo name, or -- only where ``code_allowed`` (the reference was typed on a
    command line) -- for ``package.module:function`` returning that pair."""
    from ..profiling.models import build_model

    if ref in _zoo():
        return build_model(ref)
    if not is_code_ref(ref):
        raise RunSpecError(f"unknown model {ref!r}; give a zoo model ({_known()}) or --model package.module:function")
    if not code_allowed:
        raise RunSpecError(f"model {ref!r} names code; code is imported only when the model is given on the command "
                           "line (--model)")
    return import_model(ref)


def import_model(ref: str):
    """Import and call ``package.module:function`` (named on a command line); every failure is one line."""
    import torch

    if not CODE_REF.fullmatch(ref):
        raise RunSpecError(f"model {ref!r}: expected package.module:function")
    mod, _, fn = ref.partition(":")
    try:
        obj = getattr(importlib.import_module(mod), fn)
    except Exception as exc:  # anything the module raises on import is the model's failure, said in one line
        raise RunSpecError(f"model {ref!r}: cannot load ({type(exc).__name__}: {_first_line(exc)})") from None
    if not callable(obj):
        raise RunSpecError(f"model {ref!r}: {fn} is a {type(obj).__name__}, not a function returning "
                           "(model, example input)")
    try:
        out = obj()
    except Exception as exc:
        raise RunSpecError(f"model {ref!r}: calling it raised {type(exc).__name__}: {_first_line(exc)}") from None
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], torch.nn.Module)
            and isinstance(out[1], torch.Tensor)):
        raise RunSpecError(f"model {ref!r}: returned {type(out).__name__}, expected (torch.nn.Module, example "
                           "input tensor)")
    return out


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:200]


def module_root(ref: str) -> str | None:
    """The ``sys.path`` entry a stage needs to import code model ``ref`` as this process did (None: zoo model)."""
    if not is_code_ref(ref):
        return None
    mod = ref.partition(":")[0]
    spec = importlib.util.find_spec(mod)
    if spec is None or not spec.origin or not os.path.isabs(spec.origin):
        return None
    depth = mod.count(".") + (1 if os.path.basename(spec.origin) == "__init__.py" else 0)
    return str(Path(spec.origin).parents[depth])


def freeze_model(ref: str, path: str | os.PathLike, code_allowed: bool = False) -> str:
    """Build model ``ref`` once and save its weights and example input for the stage processes.

    Initialising a large model's random weights takes seconds per process (VGG19: 143 M parameters on one
    thread); a stage that loads this file builds the module on the ``meta`` device and assigns the saved tensors
    instead (:func:`load_model`) -- the same values, so outputs stay exactly equal (checked every run).
    """
    import torch

    model, x = resolve_model(ref, code_allowed)
    torch.save({"ref": ref, "state": model.state_dict(), "example": x}, path)
    return str(path)


def load_model(ref: str, weights: str | None = None, code_allowed: bool = False):
    """``(model, example input)``: from the :func:`freeze_model` file where given and readable, else built."""
    if not weights or not os.path.exists(weights):  # e.g. another host of a torchrun job: build it here
        return resolve_model(ref, code_allowed)
    import torch

    d = torch.load(weights, mmap=True, weights_only=True)
    if d.get("ref") != ref:
        raise RunSpecError(f"weights file {weights} holds model {d.get('ref')!r}, not {ref!r}")
    with torch.device("meta"):
        model, _ = resolve_model(ref, code_allowed)
    model.load_state_dict(d["state"], assign=True)
    if any(t.is_meta for t in list(model.parameters()) + list(model.buffers())):
        return resolve_model(ref, code_allowed)  # state outside the state_dict (non-persistent buffers): build normally
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, d["example"]


def check_plan(problem: Problem, plan: Sequence[tuple[str, int, int]],
               unit_names: Sequence[str] | None = None) -> None:
    """The plan's devices exist, it tiles the problem's units, and those are the model's units (where given)."""
    if unit_names is not None and tuple(unit_names) != tuple(problem.unit_names):
        diff = next((i for i, (a, b) in enumerate(zip(unit_names, problem.unit_names)) if a != b),
                    min(len(unit_names), problem.L))
        raise RunSpecError(f"the model has {len(unit_names)} units but the problem {problem.L}; first difference "
                           f"at unit {diff}: model {list(unit_names)[diff:diff + 1]} vs problem "
                           f"{list(problem.unit_names)[diff:diff + 1]} (wrong model or granularity?)")
    expect, seen = 0, set()
    for i, (dev, first, last) in enumerate(plan):
        if dev not in problem.device_names:
            raise RunSpecError(f"plan stage {i}: device {dev!r} is not in the problem (devices: "
                               f"{list(problem.device_names)})")
        if dev in seen:
            raise RunSpecError(f"plan stage {i}: device {dev!r} used twice")
        if first != expect or last < first or last >= problem.L:
            raise RunSpecError(f"plan stage {i}: units {first}..{last} do not continue the plan at unit {expect} "
                               f"(L = {problem.L})")
        seen.add(dev)
        expect = last + 1
    if expect != problem.L:
        raise RunSpecError(f"plan covers units 0..{expect - 1} but the model has {problem.L} units")


def build_run_spec(problem: Problem, plan: Sequence[tuple[str, int, int]], model: str, granularity: str,
                   unit_names: Sequence[str], *, alpha: float, inputs: int, warmup: int, emulate_links: bool,
                   in_flight: int = 2, threads: int = 1, seed: int = 0, check_outputs: int | None = None,
                   comm_timeout_s: float = 300.0, cuda_count: int = 0, fault: dict | None = None,
                   weights: str | None = None) -> dict:
    check_plan(problem, plan, unit_names)
    if warmup < 0:
        raise RunSpecError(f"--warmup must be >= 0, got {warmup}")
    if inputs < warmup + 2:
        raise RunSpecError(f"--inputs must be at least warm-up + 2 = {warmup + 2} to measure a steady rate, "
                           f"got {inputs}")
    if in_flight < 1:
        raise RunSpecError(f"in_flight must be >= 1, got {in_flight}")
    stages = [{"device": dev, "type": problem.type_of(problem.device_index(dev)), "first": first, "last": last,
               "torch_device": td} for (dev, first, last), td in zip(plan, torch_devices(problem, plan, cuda_count))]
    links = []
    for a, b in zip(plan, plan[1:]):
        u, v = problem.device_index(a[0]), problem.device_index(b[0])
        med = problem.media.get(problem.link_medium[u][v])
        curve = None if med is None or med.time_curve is None else [list(pt) for pt in med.time_curve]
        links.append({"medium": problem.link_medium[u][v], "bandwidth_Bps": float(problem.link_bw[u, v]),
                      "latency_s": float(problem.link_lat[u, v]), "time_curve": curve,
                      "shared": bool(med is not None and med.shared)})
    from .report import predicted

    return {"problem_name": problem.name, "alpha": float(alpha), "predicted": predicted(problem, plan, alpha),
            "model": model, "granularity": granularity, "unit_names": list(unit_names), "stages": stages,
            "links": links, "emulated": bool(emulate_links), "inputs": int(inputs), "warmup": int(warmup),
            "in_flight": int(in_flight), "threads": int(threads), "seed": int(seed),
            "check_outputs": inputs if check_outputs is None else int(min(check_outputs, inputs)),
            "comm_timeout_s": float(comm_timeout_s), "fault": fault, "print_result": False, "weights": weights}


def checked_indices(n_inputs: int, n_check: int) -> list[int]:
    """Which outputs are compared with the single-process model: evenly spread, always the first and last."""
    if n_check <= 0:
        return []
    if n_check >= n_inputs:
        return list(range(n_inputs))
    if n_check == 1:
        return [n_inputs - 1]
    return sorted({round(i * (n_inputs - 1) / (n_check - 1)) for i in range(n_check)})
