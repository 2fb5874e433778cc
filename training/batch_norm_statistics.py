"""Batch-norm statistics that fit a generator's weights, recomputed (`v2v export --ema`, `--average-last`).

An averaged generator (its moving average, or a uniform average of checkpoints) also averages its batch norms'
running mean and variance, and those are not the statistics the averaged weights produce: early in a run the
variances are far larger, so an average kept from initialisation renders nearly blank frames in inference mode while
the same weights draw digits with batch statistics (measured on a TGAN digits run: 0 % confident frames vs its
snapshot's 13 %). `recalibrate` throws the stored statistics away and measures them again: the generator draws
`batches` batches from fresh latents in training mode (no gradients, no data needed), each batch norm keeping the
plain average of the batch statistics it saw, as training's running averages would for fixed weights.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn

DEFAULT_BATCHES = 64
"""Batches drawn by `v2v export --recalibrate-bn` unless told otherwise."""


@runtime_checkable
class DrawsRandomClips(Protocol):
    """A generator that can draw a training-like batch from fresh latents (every `generate` family's)."""

    def random_clips(self, batch: int, generator: torch.Generator) -> torch.Tensor: ...


def batch_norms(module: nn.Module) -> list[nn.Module]:
    """Every layer of `module` with running batch statistics (torch's batch norms and families' own variants)."""
    return [layer for layer in module.modules()
            if isinstance(getattr(layer, "running_mean", None), torch.Tensor)
            and isinstance(getattr(layer, "running_var", None), torch.Tensor) and hasattr(layer, "momentum")]


@torch.no_grad()
def recalibrate(generator: nn.Module, batches: int = DEFAULT_BATCHES, batch: int = 16, seed: int = 0) -> int:
    """Re-measure the running statistics of every batch norm of `generator` (a `DrawsRandomClips`) as the plain
    average over `batches` batches of `batch` random clips drawn with `seed`; weights untouched, eval mode after.
    Returns the number of batch norms recalibrated (0: nothing to do, the generator is left as it was)."""
    if not isinstance(generator, DrawsRandomClips):
        raise ValueError(f"{type(generator).__name__} cannot draw random clips: its batch-norm statistics can only be "
                         "recalibrated for generate models")
    if batches < 1 or batch < 2:
        raise ValueError(f"recalibration needs batches >= 1 and batch >= 2, got {batches} and {batch}")
    layers = batch_norms(generator)
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    counters = [getattr(layer, "num_batches_tracked", torch.tensor(0)).clone() for layer in layers]
    for layer in layers:
        layer.running_mean.zero_()
        layer.running_var.fill_(1.0)
    device = next(generator.parameters()).device
    rng = torch.Generator(device=device).manual_seed(seed)
    generator.train()
    try:
        for index in range(batches):
            for layer in layers:
                layer.momentum = 1.0 / (index + 1)  # running = mean of the batch statistics seen so far
            generator.random_clips(batch, rng)
    finally:
        for layer, momentum, counter in zip(layers, momenta, counters, strict=True):
            layer.momentum = momentum
            if hasattr(layer, "num_batches_tracked"):  # training's batch count, not ours
                layer.num_batches_tracked.copy_(counter)
        generator.eval()
    return len(layers)
