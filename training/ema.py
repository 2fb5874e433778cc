"""The exponential moving average of a run's generator (`v2v train --ema DECAY`, `v2v export --ema`).

GAN practice since progressive GANs: serve the running average of the generator's weights rather than its last
snapshot, which carries the noise of the last few updates of a two-player game. The average is kept in fp32 beside
the live generator (module "G" of every recipe), moved towards it after every optimisation step (avg += (1 - decay) *
(w - avg)), written into each checkpoint under the key prefix `G_ema.` with its decay in the checkpoint's JSON, and
restored on `--resume`, so a resumed run's average equals an uninterrupted one's. Integer buffers (BatchNorm's batch
counters) follow the live generator. Training itself is unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

PREFIX = "G_ema"
"""Checkpoint key prefix of the averaged generator (`training.state.module_weights(path, PREFIX)`)."""


class GeneratorAverage:
    """The running average of `generator`'s state, starting from `start` (a stored average) or the live weights."""

    def __init__(self, generator: nn.Module, decay: float, start: dict[str, torch.Tensor] | None = None) -> None:
        self.generator, self.decay = generator, checked_decay(decay)
        live = generator.state_dict()
        source = live if start is None else start
        if source.keys() != live.keys():
            raise ValueError("the stored generator average does not fit the run's generator")
        self.tensors = {key: _copy(source[key], live[key]) for key in live}

    @torch.no_grad()
    def update(self) -> None:
        """Move the average one step towards the live generator."""
        for key, value in self.generator.state_dict().items():
            average = self.tensors[key]
            if average.is_floating_point():
                average.lerp_(value.detach().float(), 1.0 - self.decay)
            else:
                average.copy_(value)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """CPU copies of the averaged tensors (floating ones in fp32), for a checkpoint."""
        return {key: value.detach().cpu().contiguous().clone() for key, value in self.tensors.items()}


def checked_decay(decay: float) -> float:
    """`decay` when it is in (0, 1); else a ValueError saying what is expected."""
    if not 0.0 < decay < 1.0:
        raise ValueError(f"--ema decay must be in (0, 1), e.g. 0.999; got {decay}")
    return decay


def _copy(value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """`value` on `like`'s device, floating tensors in fp32."""
    copied = value.detach().to(like.device).clone()
    return copied.float() if like.is_floating_point() else copied.to(like.dtype)
