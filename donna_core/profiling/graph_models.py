"""The models profiled as graphs: torchvision's branchy CNNs and RandWire networks, randomly initialised.

``googlenet``, ``inception_v3``, ``resnet50`` come from ``torchvision.models.get_model(name, weights=None)``
(auxiliary classifiers off: they only run in training; eval mode).  ``randwire_n<N>_s<seed>`` is a RandWire
network (:mod:`.randwire`) with one random stage of N nodes, 64 channels, 64×64 input; ``randwire_tiny`` (8
nodes, 8 channels, 32×32) is for tests.  Builds are deterministic (seed 0 for the torchvision models).
"""
from __future__ import annotations

import re

import torch
from torch import nn

from .models import frozen, seeded_build
from .randwire import build_randwire

TORCHVISION_GRAPH_MODELS: dict[str, tuple[int, ...]] = {
    "googlenet": (1, 3, 224, 224),
    "inception_v3": (1, 3, 299, 299),  # Inception-v3's native resolution
    "resnet50": (1, 3, 224, 224),
}
# The RandWire graphs profiled and shipped (two sizes, two seeds each).
RANDWIRE_MODELS: tuple[str, ...] = ("randwire_n32_s0", "randwire_n32_s1", "randwire_n64_s0", "randwire_n64_s1")
GRAPH_MODEL_NAMES: tuple[str, ...] = tuple(TORCHVISION_GRAPH_MODELS) + RANDWIRE_MODELS + ("randwire_tiny",)

# 64 channels: NeuroSim's floor plan (and so the CIM estimator) needs >= 64 output channels for 3x3 layers
# mapped the "novel" way (4 columns per 8-bit weight x 64 = two 128-column sub-arrays).
RANDWIRE_CHANNELS = 64
RANDWIRE_IMAGE = 64
_RANDWIRE = re.compile(r"^randwire_n(\d{1,3})_s(\d{1,6})$")
# Extra constructor arguments: auxiliary heads off (eval-only models), explicit init (silences a warning).
_TV_KWARGS = {"googlenet": {"aux_logits": False, "init_weights": True},
              "inception_v3": {"aux_logits": False, "init_weights": True}}


class UnknownGraphModelError(ValueError):
    """A name that is not a graph model."""


def is_graph_model(name: str) -> bool:
    return name in GRAPH_MODEL_NAMES or _RANDWIRE.match(name) is not None


def build_graph_model(name: str, seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    """``(model in eval mode, example input, batch 1)`` for a graph model name, deterministically."""
    if name == "randwire_tiny":
        return build_randwire(8, 8, seed, image=32)
    m = _RANDWIRE.match(name)
    if m:
        n, s = int(m.group(1)), int(m.group(2))
        if not 8 <= n <= 256:
            raise UnknownGraphModelError(f"{name}: RandWire node count must be in 8..256, got {n}")
        return build_randwire(n, RANDWIRE_CHANNELS, s, image=RANDWIRE_IMAGE)
    if name not in TORCHVISION_GRAPH_MODELS:
        raise UnknownGraphModelError(f"unknown graph model {name!r}; known: {', '.join(GRAPH_MODEL_NAMES)} "
                                     "(or randwire_n<N>_s<seed>)")
    import torchvision

    model, x = seeded_build(seed, lambda: (
        torchvision.models.get_model(name, weights=None, **_TV_KWARGS.get(name, {})),
        torch.randn(*TORCHVISION_GRAPH_MODELS[name])))
    return frozen(model), x
