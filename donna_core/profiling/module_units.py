"""Units for any model: torch.fx units where fx can trace the model, else its child modules in order.

fx cannot trace a ``forward`` with data-dependent control flow. Such a model is often still a chain of child
modules (``features`` then ``classifier``, or the layers of an ``nn.Sequential``); then each child (containers
``nn.Sequential`` expanded) is one opaque unit of kind ``module``: no geometry, its MACs counted from the
conv/linear modules inside it. The chain is accepted only when running the children in order reproduces the
model's output exactly on the example input; otherwise the model cannot be split and the error says why.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from .units import UnitError, UnitPlan, derive_units


class _Chain(nn.Module):
    """Calls ``model``'s children ``names`` one after the other (what the fallback traces)."""

    def __init__(self, model: nn.Module, names: list[str]):
        super().__init__()
        self.model = model
        self.names = list(names)

    def forward(self, x):
        for name in self.names:
            x = self.model.get_submodule(name)(x)
        return x


def chain_children(model: nn.Module, prefix: str = "") -> list[str]:
    """Qualified names of ``model``'s children in registration order, ``nn.Sequential`` containers expanded."""
    out = []
    for name, child in model.named_children():
        q = f"{prefix}{name}"
        if isinstance(child, nn.Sequential):
            out += chain_children(child, q + ".")
        else:
            out.append(q)
    return out


def _run_chain(model: nn.Module, names: list[str], x: Any) -> Any:
    for name in names:
        x = model.get_submodule(name)(x)
    return x


def derive_units_any(model: nn.Module, example_input: Any, granularity: str = "layer") -> tuple[UnitPlan, str | None]:
    """``(plan, note)``: fx units, or module-boundary units with ``note`` saying why and how (else UnitError)."""
    try:
        return derive_units(model, example_input, granularity), None
    except UnitError as exc:
        if "not traceable" not in str(exc):
            raise
        reason = str(exc).splitlines()[0]
    names = chain_children(model)
    if not names or isinstance(example_input, (tuple, list)):
        raise UnitError(f"{reason}; no module-boundary fallback (it has no child modules or takes several inputs)")
    with torch.no_grad():
        try:
            same = bool(torch.equal(_run_chain(model, names, example_input), model(example_input)))
        except Exception:  # noqa: BLE001 - a chain that does not even run is just "not a chain"
            same = False
    if not same:
        raise UnitError(f"{reason}; module-boundary fallback impossible: running its {len(names)} child modules in "
                        "order does not reproduce its output")
    plan = derive_units(_Chain(model, names), example_input, granularity,
                        opaque=frozenset(f"model.{n}" for n in names))
    # name units after the user's model, not the wrapper (its children sit under "model.")
    plan.units = [dataclasses.replace(u, name=u.name.removeprefix("model.") or u.name) for u in plan.units]
    note = (f"torch.fx cannot trace it ({reason}); units fall back to its {len(names)} child modules in order "
            "(checked to reproduce its output exactly), kind 'module', no geometry")
    return plan, note
