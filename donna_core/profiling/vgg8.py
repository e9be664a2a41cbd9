"""The CIFAR-10 VGG8 that DNN+NeuroSim V1.3 simulates (input 1x3x32x32), the only zoo model torchvision lacks."""
from __future__ import annotations

import torch
from torch import nn


class VGG8(nn.Module):
    """conv 3->128, conv 128->128 + maxpool, conv 128->256, conv 256->256 + maxpool, conv 256->512,
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
