"""Named seeds of `generate` streams: the checks and draws every generate family's pipeline shares.

A family names the seeds it understands (e.g. MoCoGAN's "content" and "motion"); a job may fix any of them, and
each one it leaves out is drawn per sample from the job's generator, so a stream is a pure function of the job's
seed and the fixed ones. A job's truncation ψ scales every latent drawn from a seed (`check_truncation`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from models.core.family import InputError

MAX_SEED = 2**31
"""Seeds are in 0..MAX_SEED - 1."""


def refuse_unknown_seeds(family: str, seeds: Mapping[str, int], names: Sequence[str]) -> None:
    """InputError naming the seeds of `seeds` that the family does not have, and those it has."""
    unknown = sorted(set(seeds) - set(names))
    if unknown:
        raise InputError(f"{family} has no seeds {unknown} (seeds: {', '.join(names)})")


def draw_seeds(rng: torch.Generator, *shape: int) -> torch.Tensor:
    """Fresh seeds from the job's generator: int64 of `shape`."""
    return torch.randint(0, MAX_SEED, shape, generator=rng).long()


def check_truncation(psi: float) -> float:
    """ψ itself when it is a number in (0, 1]; InputError otherwise."""
    if isinstance(psi, bool) or not isinstance(psi, int | float) or not 0 < psi <= 1:
        raise InputError(f"truncation must be a number in (0, 1], got {psi!r}")
    return float(psi)


def fixed_or_drawn(value: int | None, drawn: torch.Tensor) -> torch.Tensor:
    """`drawn` (int64 (B,)) where the job fixed no seed, else `value` for every sample; InputError out of range."""
    if value is None:
        return drawn.long()
    if not 0 <= int(value) < MAX_SEED:
        raise InputError(f"seeds must be in 0..{MAX_SEED - 1}, got {value}")
    return torch.full_like(drawn, int(value)).long()
