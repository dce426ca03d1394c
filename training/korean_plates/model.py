"""The Korean plate recogniser's network: a small convolutional CTC model (about 340 k weights,
1.4 MB as ONNX). Plates are short strings under a strict grammar, so a few convolutions along
the row, with no recurrent layer, see enough context; the model stays fast on a CPU and exports
to plain ONNX operators."""

from __future__ import annotations

import torch
from torch import nn


def _conv(cin: int, cout: int, kernel=3, padding=1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=padding, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class PlateNet(nn.Module):
    """(N, 1, 32, W) grey in [-1, 1] -> (N, W / 4, classes) logits, class 0 the CTC blank."""

    def __init__(self, classes: int, width: int = 160):
        super().__init__()
        self.features = nn.Sequential(
            _conv(1, 16),
            nn.MaxPool2d(2),  # 16 x W/2
            _conv(16, 32),
            nn.MaxPool2d(2),  # 8 x W/4
            _conv(32, 64),
            _conv(64, 64),
            nn.MaxPool2d((2, 1)),  # 4 x W/4
            _conv(64, 128),
            nn.MaxPool2d((2, 1)),  # 2 x W/4
            _conv(128, width, kernel=(2, 1), padding=0),  # 1 x W/4
        )
        self.context = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(width, width, 3, padding=1, bias=False), nn.BatchNorm1d(width), nn.ReLU(inplace=True)
            )
            for _ in range(2)
        )
        self.classify = nn.Conv1d(width, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x).squeeze(2)  # (N, width, T)
        for layer in self.context:
            x = x + layer(x)
        return self.classify(x).permute(0, 2, 1)
