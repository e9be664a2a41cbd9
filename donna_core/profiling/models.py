"""Model zoo: the paper's three CNNs plus ViT-B/16 (the paper's transformer future work), randomly initialised.

No weights are ever downloaded (``weights=None``): timing and energy of a forward pass do not depend on the
values of the weights for dense fp32 inference, and the CIM simulator only needs the layer geometry.
"""
from __future__ import annotations

import torch
from torch import nn

MODEL_NAMES: tuple[str, ...] = ("vgg8", "vgg19", "resnet152", "vit_b_16")
# Decoder LLMs (built and split by ``llm.py``; profiled per phase, prefill / decode, not per layer/block).
LLM_NAMES: tuple[str, ...] = ("gpt2", "tinyllama")
ALL_MODEL_NAMES: tuple[str, ...] = MODEL_NAMES + LLM_NAMES

# Seed used for every model's random initialisation and example input: builds are deterministic.
MODEL_SEED = 0


class UnknownModelError(ValueError):
    """A model name that is not in the zoo."""


class VGG8(nn.Module):
    """The CIFAR-10 VGG8 that DNN+NeuroSim V1.3 simulates (input 1x3x32x32).

    conv 3->128, conv 128->128 + maxpool, conv 128->256, conv 256->256 + maxpool, conv 256->512,
    conv 512->512 + maxpool (all 3x3, stride 1, pad 1, ReLU), fc 8192->1024 + ReLU, fc 1024->10.
    Layers carry no bias: a CIM crossbar maps only the weight matrix (our choice; a bias would add <0.1 % MACs).
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        cfg = [128, 128, "M", 256, 256, "M", 512, 512, "M"]
        layers: list[nn.Module] = []
        c_in = 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(c_in, v, kernel_size=3, stride=1, padding=1, bias=False), nn.ReLU(inplace=True)]
                c_in = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(8192, 1024, bias=False), nn.ReLU(inplace=True), nn.Linear(1024, num_classes, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


# (input shape, constructor) per model; inputs are a batch of one image, as the paper profiles.
_INPUT_SHAPES = {
    "vgg8": (1, 3, 32, 32),
    "vgg19": (1, 3, 224, 224),
    "resnet152": (1, 3, 224, 224),
    "vit_b_16": (1, 3, 224, 224),
}


def build_model(name: str, seed: int = MODEL_SEED) -> tuple[nn.Module, torch.Tensor]:
    """Return ``(model in eval mode, example input)`` for ``name`` in :data:`MODEL_NAMES`, deterministically."""
    if name in LLM_NAMES:
        raise UnknownModelError(f"{name!r} is a decoder LLM: build it with donna_core.profiling.llm.build_llm")
    if name not in MODEL_NAMES:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(ALL_MODEL_NAMES)}")
    gen_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        if name == "vgg8":
            model: nn.Module = VGG8()
        else:
            import torchvision

            model = getattr(torchvision.models, name)(weights=None)
        x = torch.randn(*_INPUT_SHAPES[name])
    finally:
        # Building a model must not perturb the caller's random stream.
        torch.random.set_rng_state(gen_state)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, x


def input_bytes(name: str) -> int:
    """Bytes of ``name``'s fp32 example input (batch 1), without building the model."""
    if name not in MODEL_NAMES:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(MODEL_NAMES)}")
    n = 4
    for s in _INPUT_SHAPES[name]:
        n *= s
    return n
