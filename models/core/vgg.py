"""VGG19 perceptual loss from a *local* weights file (never downloaded; no torchvision dependency).

Owns a plain-torch VGG19 feature extractor whose parameter names match the usual `features.<i>.weight` layout of
ImageNet VGG19 state dicts, and the loss of reference doc §2.4: L1 on relu1_1..relu5_1 with weights
1/32, 1/16, 1/8, 1/4, 1, inputs in [-1, 1] without ImageNet normalisation, 2x2 average-downsampled while the width
exceeds 1024. The caller loads the state dict (a tensor mapping) from disk; this module stays pure torch.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

# VGG19 "E" configuration up to conv5_1: channels per conv, "M" = max-pool.
_VGG19_LAYOUT: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                                        512, 512, 512, 512, "M", 512)
_TAPS = (1, 6, 11, 20, 29)  # indices of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 in `features`
LAYER_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)


class VGG19Features(nn.Module):
    """`features` of VGG19 up to relu5_1, returning the five tapped activations."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in _VGG19_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU(inplace=False)]
                channels = int(item)
        self.features = nn.Sequential(*layers)  # 30 modules: indices 0..29

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:  # x: (B, 3, H, W)
        taps = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in _TAPS:
                taps.append(x)
        return taps  # 5 tensors, (B, 64|128|256|512|512, H/2^k, W/2^k)


class VGGLoss(nn.Module):
    """Perceptual L1 loss; frozen weights. Build with `VGGLoss.from_state_dict(tensors)`."""

    def __init__(self) -> None:
        super().__init__()
        self.vgg = VGG19Features()
        self.vgg.requires_grad_(False)
        self.vgg.eval()

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor]) -> VGGLoss:
        """Load the `features.*` tensors of a VGG19 state dict (other keys, e.g. the classifier, are ignored);
        missing feature weights raise."""
        loss = cls()
        features = {k: v for k, v in state.items() if k.startswith("features.") and int(k.split(".")[1]) < 30}
        loss.vgg.load_state_dict(features, strict=True)
        return loss

    def train(self, mode: bool = True) -> VGGLoss:
        super().train(mode)
        self.vgg.eval()  # frozen extractor, always in eval mode
        return self

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) each, in [-1, 1]
        while fake.shape[-1] > 1024:
            fake = F.avg_pool2d(fake, 2)
            real = F.avg_pool2d(real, 2)
        fake_taps = self.vgg(fake)
        with torch.no_grad():
            real_taps = self.vgg(real)
        total = torch.zeros((), device=fake.device)
        for weight, f, r in zip(LAYER_WEIGHTS, fake_taps, real_taps, strict=True):
            total = total + weight * F.l1_loss(f.float(), r.detach().float())
        return total
