"""The model resolver: one place that turns a ``--model`` value into a model, used by every command.

A model is named by

* a shipped name: the paper's CNNs and ViT-B/16 (:data:`MODEL_NAMES`; ``vgg8`` is the CIFAR-10 net NeuroSim
  simulates), or a decoder LLM (:data:`LLM_NAMES`, built and split by ``llm.py``);
* any torchvision classification model by name (``resnet50``, ``mobilenet_v3_small``, ``efficientnet_b0``, ...;
  ``torchvision.models.resnet50`` is accepted too), its input ``1x3xSxS`` with S the crop size of torchvision's
  default weights (``inception_v3``: 299, ``efficientnet_b4``: 380);
* a reference ``package.module:function`` to a callable that returns an ``nn.Module`` (or a pair
  ``(module, example input)``).

:func:`resolve_model` checks the name without importing torch (an unknown name fails in well under a second,
with one line); :func:`build_model` builds it. No weights are ever downloaded (``weights=None``): time and
energy of a dense fp32 forward pass do not depend on the weights' values, and the CIM models need only the
layer geometry. Builds are deterministic (seed :data:`MODEL_SEED`) and leave the caller's random stream alone.
"""
from __future__ import annotations

import difflib
import importlib
import re
from dataclasses import dataclass
from typing import Any

from .torchvision_zoo import TORCHVISION_INPUT_SIZES, TORCHVISION_VERSION

MODEL_NAMES: tuple[str, ...] = ("vgg8", "vgg19", "resnet152", "vit_b_16")
# Decoder LLMs (built and split by ``llm.py``; profiled per phase, prefill / decode, not per layer/block).
LLM_NAMES: tuple[str, ...] = ("gpt2", "tinyllama")
ALL_MODEL_NAMES: tuple[str, ...] = MODEL_NAMES + LLM_NAMES
TORCHVISION_NAMES: tuple[str, ...] = tuple(TORCHVISION_INPUT_SIZES)

# Seed used for every model's random initialisation and example input: builds are deterministic.
MODEL_SEED = 0
# Input of a referenced function that returns a bare nn.Module and no --input-shape was given (an ImageNet image).
DEFAULT_REFERENCE_SHAPE: tuple[int, ...] = (1, 3, 224, 224)
_TV_PREFIX = "torchvision.models."
_REFERENCE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class UnknownModelError(ValueError):
    """A ``--model`` value that names no model (or a reference that does not give one)."""


@dataclass(frozen=True)
class ModelRef:
    """A resolved ``--model``: ``name`` is the profile folder (``data/profiles/<name>/...``) and what
    :func:`build_model` accepts again; ``kind`` is ``zoo`` | ``torchvision`` | ``llm`` | ``reference``;
    ``input_shape`` is the example input's shape (``None``: the LLM's own, or a pair returned by a reference)."""

    name: str
    kind: str
    input_shape: tuple[int, ...] | None

    def describe(self) -> str:
        where = {"zoo": "shipped model", "torchvision": f"torchvision {TORCHVISION_VERSION} model, random weights",
                 "llm": "decoder LLM", "reference": "user function"}[self.kind]
        shape = "" if self.input_shape is None else f", input {'x'.join(map(str, self.input_shape))}"
        return f"{self.name} ({where}{shape})"


_ZOO_SHAPES = {"vgg8": (1, 3, 32, 32), "vgg19": (1, 3, 224, 224), "resnet152": (1, 3, 224, 224),
               "vit_b_16": (1, 3, 224, 224)}


def known_names() -> tuple[str, ...]:
    """Every name :func:`resolve_model` accepts (references aside), shipped ones first."""
    return ALL_MODEL_NAMES + tuple(n for n in TORCHVISION_NAMES if n not in ALL_MODEL_NAMES)


def parse_input_shape(text: str | None) -> tuple[int, ...] | None:
    """``"1x3x160x160"`` (or commas) -> ``(1, 3, 160, 160)``; ``None`` stays ``None``."""
    if text is None:
        return None
    parts = [p for p in re.split(r"[x,\s]+", str(text).strip()) if p]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if not shape or any(s < 1 for s in shape):
        raise UnknownModelError(f"--input-shape expects positive integers like 1x3x224x224, got {text!r}")
    return shape


def resolve_model(spec: str, input_shape: tuple[int, ...] | str | None = None) -> ModelRef:
    """Check ``spec`` and return its :class:`ModelRef` (pure: imports neither torch nor the referenced module)."""
    shape = parse_input_shape(input_shape) if isinstance(input_shape, str) else input_shape
    spec = str(spec).strip()
    if spec in LLM_NAMES:
        if shape is not None:
            raise UnknownModelError(f"--input-shape does not apply to the decoder LLM {spec!r} (use --context)")
        return ModelRef(spec, "llm", None)
    if spec in _ZOO_SHAPES:
        return ModelRef(spec, "zoo", shape or _ZOO_SHAPES[spec])
    name = spec[len(_TV_PREFIX):] if spec.startswith(_TV_PREFIX) else spec
    if name in TORCHVISION_INPUT_SIZES:
        size = TORCHVISION_INPUT_SIZES[name]
        return ModelRef(name, "torchvision", shape or (1, 3, size, size))
    if ":" in spec:
        if not _REFERENCE.match(spec):
            raise UnknownModelError(f"--model {spec!r}: a reference must look like package.module:function")
        return ModelRef(spec, "reference", shape)
    close = difflib.get_close_matches(name, known_names(), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise UnknownModelError(f"--model: unknown model {spec!r}; {hint}give a shipped model ({', '.join(MODEL_NAMES)}), "
                            f"an LLM ({', '.join(LLM_NAMES)}), one of the {len(TORCHVISION_NAMES)} torchvision "
                            "classification models (e.g. resnet50, mobilenet_v3_small) or package.module:function")


def _call_reference(ref: ModelRef):
    from torch import nn

    mod_name, _, attr = ref.name.partition(":")
    try:
        obj: Any = importlib.import_module(mod_name)
    except Exception as exc:  # any failure while importing the user's module is a bad --model, not a crash
        raise UnknownModelError(f"--model {ref.name!r}: cannot import {mod_name} "
                                f"({type(exc).__name__}: {exc})") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UnknownModelError(f"--model {ref.name!r}: module {mod_name} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise UnknownModelError(f"--model {ref.name!r}: {attr} is a {type(obj).__name__}, not a function returning "
                                "an nn.Module")
    try:
        out = obj()
    except Exception as exc:  # noqa: BLE001 - the user's function failing is a bad --model
        raise UnknownModelError(f"--model {ref.name!r}: calling {attr}() failed ({type(exc).__name__}: {exc}); it must "
                                "take no arguments and return an nn.Module") from None
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], nn.Module):
        return out
    if not isinstance(out, nn.Module):
        raise UnknownModelError(f"--model {ref.name!r}: {attr}() returned a {type(out).__name__}, not an nn.Module")
    return out, None


def _build(ref: ModelRef):
    import torch

    if ref.kind == "zoo" and ref.name == "vgg8":
        from .vgg8 import VGG8

        return VGG8(), torch.randn(*ref.input_shape)
    if ref.kind in ("zoo", "torchvision"):
        import torchvision

        kwargs: dict[str, Any] = {}
        if ref.name.startswith("vit_"):  # ViTs build their position embedding for one image size
            kwargs["image_size"] = ref.input_shape[-1]
        return torchvision.models.get_model(ref.name, weights=None, **kwargs), torch.randn(*ref.input_shape)
    model, x = _call_reference(ref)
    if x is None or ref.input_shape is not None:
        x = torch.randn(*(ref.input_shape or DEFAULT_REFERENCE_SHAPE))
    return model, x


def build_model(ref: ModelRef | str, seed: int = MODEL_SEED):
    """``(model in eval mode, example input)`` for a :class:`ModelRef` or a name (resolved first)."""

    ref = resolve_model(ref) if isinstance(ref, str) else ref
    if ref.kind == "llm":
        raise UnknownModelError(f"{ref.name!r} is a decoder LLM: build it with donna_core.profiling.llm.build_llm")
    model, x = seeded_build(seed, lambda: _build(ref))
    return frozen(model), x


def seeded_build(seed: int, build):
    """``build()`` with torch's global RNG seeded by ``seed``; the caller's random stream is restored after (building
    a model must not perturb it), also when ``build`` raises."""
    import torch

    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        return build()
    finally:
        torch.random.set_rng_state(state)


def frozen(model):
    """``model`` in eval mode with every parameter's gradient off (inference only)."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def input_bytes(name: str) -> int:
    """Bytes of ``name``'s fp32 example input (batch 1), without building the model (not for references)."""
    ref = resolve_model(name)
    if ref.input_shape is None or ref.kind == "reference":
        raise UnknownModelError(f"input size of {name!r} is not known without building it")
    n = 4
    for s in ref.input_shape:
        n *= s
    return n


def torchvision_catalog() -> tuple[str, dict[str, int]]:
    """``(torchvision version, {classification model: default input size})`` read from the installed
    torchvision (imports it): the crop size of each model's default weights' transforms."""
    import torchvision
    from torchvision import models

    sizes = {}
    for name in models.list_models(module=models):
        crop = models.get_model_weights(name).DEFAULT.transforms().crop_size
        sizes[name] = int(crop[0])
    return torchvision.__version__, sizes


def write_torchvision_zoo(path=None) -> str:
    """Regenerate ``torchvision_zoo.py`` from the installed torchvision (after upgrading it)."""
    from pathlib import Path

    from ..atomic import write_text_atomic

    version, sizes = torchvision_catalog()
    lines = ['"""torchvision\'s classification models and default input sizes, as data (names are checked before',
             "torch is imported). Generated by ``donna_core.profiling.models.write_torchvision_zoo()``; tested to",
             'equal the installed torchvision\'s list."""', "",
             f"TORCHVISION_VERSION = {version!r}", "TORCHVISION_INPUT_SIZES = {"]
    lines += [f"    {k!r}: {v}," for k, v in sizes.items()] + ["}", ""]
    path = Path(path or Path(__file__).with_name("torchvision_zoo.py"))
    write_text_atomic(path, "\n".join(lines))
    return str(path)
