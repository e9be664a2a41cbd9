"""The run specification: a plan checked against a problem, turned into what each stage process needs.

A run spec is a plain JSON-able dict (written to a file every stage process reads, locally or under torchrun):

``{"model", "granularity", "unit_names", "stages": [{"device", "type", "first", "last", "torch_device"}],
"links": [{"medium", "bandwidth_Bps", "latency_s"} per cut], "emulated": bool, "inputs", "warmup",
"in_flight", "threads", "seed", "check_outputs", "comm_timeout_s", "fault": null | {...}, "problem_name", "alpha",
"predicted": the cost model's numbers for this plan, "print_result": bool, "weights": null | freeze_model file}``

Carrying the prediction makes the spec self-contained: under torchrun, stage 0 writes the whole comparison.
"""
from __future__ import annotations

import os
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


def torch_device_for(type_name: str, index: int, cuda_count: int) -> str:
    """Which torch device runs a stage on a device of type ``type_name``.

    By the project's naming: ``gpu*``/``cuda*`` types run on CUDA (the i-th GPU stage on ``cuda:i``), ``cim*``
    types cannot run here (no CIM hardware), everything else runs on the CPU.
    """
    t = type_name.lower()
    if t.startswith("cim"):
        raise RunSpecError(f"device type {type_name!r} is a compute-in-memory accelerator; there is no CIM "
                           "hardware to run it on (its profile is simulated)")
    if t.startswith(("gpu", "cuda")):
        if index >= cuda_count:
            raise RunSpecError(f"plan needs {index + 1} CUDA device(s) for type {type_name!r} but this host has "
                               f"{cuda_count}")
        return f"cuda:{index}"
    return "cpu"


def model_ref(problem: Problem, model: str | None, granularity: str | None) -> tuple[str, str]:
    """The model and granularity to run: given explicitly, else from the problem's ``meta`` (donna problem)."""
    model = model or problem.meta.get("model")
    granularity = granularity or problem.meta.get("granularity")
    if not model or not granularity:
        raise RunSpecError("problem meta has no model/granularity (not built by `donna problem`); "
                           "pass --model and --granularity")
    return model, granularity


def resolve_model(ref: str):
    """``(model, example input)`` for anything ``profiling.models.resolve_model`` accepts (a shipped or torchvision
    name, or ``package.module:function`` returning a module or a (module, input) pair)."""
    from ..profiling.models import build_model

    return build_model(ref)


def freeze_model(ref: str, path: str | os.PathLike) -> str:
    """Build model ``ref`` once and save its weights and example input for the stage processes.

    Initialising a large model's random weights takes seconds per process (VGG19: 143 M parameters on one
    thread); a stage that loads this file builds the module on the ``meta`` device and assigns the saved tensors
    instead (:func:`load_model`) -- the same values, so outputs stay exactly equal (checked every run).
    """
    import torch

    model, x = resolve_model(ref)
    torch.save({"ref": ref, "state": model.state_dict(), "example": x}, path)
    return str(path)


def load_model(ref: str, weights: str | None = None):
    """``(model, example input)``: from the :func:`freeze_model` file where given and readable, else built."""
    if not weights or not os.path.exists(weights):  # e.g. another host of a torchrun job: build it here
        return resolve_model(ref)
    import torch

    d = torch.load(weights, mmap=True, weights_only=True)
    if d.get("ref") != ref:
        raise RunSpecError(f"weights file {weights} holds model {d.get('ref')!r}, not {ref!r}")
    with torch.device("meta"):
        model, _ = resolve_model(ref)
    model.load_state_dict(d["state"], assign=True)
    if any(t.is_meta for t in list(model.parameters()) + list(model.buffers())):
        return resolve_model(ref)  # state outside the state_dict (non-persistent buffers): build normally
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, d["example"]


def check_plan(problem: Problem, plan: Sequence[tuple[str, int, int]], unit_names: Sequence[str]) -> None:
    """The plan's devices exist, it tiles the problem's units, and those are the model's units."""
    if tuple(unit_names) != tuple(problem.unit_names):
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
    stages, gpu_i = [], 0
    for dev, first, last in plan:
        t = problem.type_of(problem.device_index(dev))
        td = torch_device_for(t, gpu_i, cuda_count)
        gpu_i += td.startswith("cuda")
        stages.append({"device": dev, "type": t, "first": first, "last": last, "torch_device": td})
    links = []
    for a, b in zip(plan, plan[1:]):
        u, v = problem.device_index(a[0]), problem.device_index(b[0])
        med = problem.media[problem.link_medium[u][v]]
        links.append({"medium": problem.link_medium[u][v], "bandwidth_Bps": float(problem.link_bw[u, v]),
                      "latency_s": float(problem.link_lat[u, v]),
                      **({"time_curve": [list(pt) for pt in med.time_curve]} if med.time_curve else {})})
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
