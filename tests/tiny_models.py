"""Small models for the runtime and bring-your-own-model tests, importable by stage processes as
``tiny_models:NAME`` (the tests' directory is on their PYTHONPATH)."""
from __future__ import annotations

import torch
from torch import nn



class TinyResNet(nn.Module):
    """stem conv -> y; a residual block z = c3(relu(c2(y))); relu(z + y) -> fc. The cut after c2 carries the
    block's inner tensor AND the skip tensor y, so a pipeline cut there must send both."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1)
        self.c3 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 16 * 16, 10)

    def forward(self, x):
        y = torch.relu(self.c1(x))
        z = self.c3(torch.relu(self.c2(y)))
        return self.fc(torch.flatten(torch.relu(z + y), 1))


class Branchy(nn.Module):
    """fx cannot trace the data-dependent branch, but the model is a chain of its children."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8 * 6 * 6, 4))

    def forward(self, x):
        y = self.features(x) if x.sum() > 0 else self.features(x)
        return self.head(y)


def _seeded(make, shape):
    """(model, example input), deterministic: the same weights in every process."""
    g = torch.random.get_rng_state()
    try:
        torch.manual_seed(1)
        model = make().eval()
        x = torch.randn(*shape)
    finally:
        torch.random.set_rng_state(g)
    for p in model.parameters():
        p.requires_grad_(False)
    return model, x


def tiny_resnet():
    return _seeded(TinyResNet, (1, 3, 16, 16))


def branchy():
    """An untraceable model (units from module boundaries), for ``donna run``."""
    return _seeded(Branchy, (1, 3, 8, 8))
