"""Classifier two-sample test (C2ST, reference §9.2): can a small 3-D CNN tell real clips from generated ones?

Generic (any family, any kind: generated clips, or predicted futures with their context): given real and generated
clips of the same shape (N, T, 3, H, W) in [-1, 1], take the same number of each (the smaller count, so the classes
are balanced), split each side in half at random (train / held out), train a small 3-D CNN (real = 1, generated = 0)
from a fixed seed for `steps` Adam steps on balanced batches of the training halves, and report its accuracy on the
held-out halves. 0.5 means the classifier cannot tell them apart; 1.0 that it always can. The standard error is the
binomial one, sqrt(p (1 - p) / n_test). `two_sample_tests` repeats with several seeds (new split, new network) and
reports the mean, as the reference asks (3 seeds). Clips larger than `max_size` are area-resized down first (speed).
Deterministic for a given seed; the global RNG is not touched. torch only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

DEFAULT_STEPS = 300
DEFAULT_BATCH = 32
DEFAULT_MAX_SIZE = 32


class ClipCritic(nn.Module):
    """Three strided Conv3d + LReLU(0.2), global average pool, one logit: (B, C, T, H, W) -> (B,)."""

    def __init__(self, channels: int = 3, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv3d(channels, width, 3, (1, 2, 2), 1), nn.LeakyReLU(0.2),
            nn.Conv3d(width, 2 * width, 3, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv3d(2 * width, 4 * width, 3, 2, 1), nn.LeakyReLU(0.2),
        )
        self.head = nn.Linear(4 * width, 1)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        features = self.features(clips).mean(dim=(2, 3, 4))  # (B, 4w)
        return self.head(features).squeeze(1)  # (B,)


def prepare_clips(clips: torch.Tensor, max_size: int) -> torch.Tensor:
    """(N, T, C, H, W) -> (N, C, T, h, w) float32, area-resized so that max(h, w) <= max_size."""
    if clips.ndim != 5:
        raise ValueError(f"clips must be (N, T, C, H, W), got shape {tuple(clips.shape)}")
    x = clips.float()
    n, t, c, h, w = x.shape
    scale = max(h, w) / max_size
    if scale > 1:
        size = (max(1, round(h / scale)), max(1, round(w / scale)))
        x = F.interpolate(x.flatten(0, 1), size=size, mode="area").view(n, t, c, *size)
    return x.transpose(1, 2).contiguous()  # (N, C, T, h, w)


def two_sample_test(real: torch.Tensor, fake: torch.Tensor, seed: int = 0, steps: int = DEFAULT_STEPS,
                    batch: int = DEFAULT_BATCH, max_size: int = DEFAULT_MAX_SIZE, lr: float = 1e-3
                    ) -> dict[str, float]:
    """Held-out accuracy of a real-vs-generated classifier: {"accuracy", "stderr", "train_accuracy", "n_train",
    "n_test"} (n_* count clips of both sides together). real, fake: (N, T, 3, H, W) in [-1, 1], same T, C, H, W."""
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(f"real {tuple(real.shape)} and generated {tuple(fake.shape)} clips differ in shape")
    n = min(len(real), len(fake))
    if n < 4:
        raise ValueError(f"need at least 4 clips per side, got {len(real)} real and {len(fake)} generated")
    rng = torch.Generator().manual_seed(seed)
    real_x = prepare_clips(real[torch.randperm(len(real), generator=rng)[:n]], max_size)  # (n, C, T, h, w)
    fake_x = prepare_clips(fake[torch.randperm(len(fake), generator=rng)[:n]], max_size)
    half = n // 2
    train_x = torch.cat([real_x[:half], fake_x[:half]])  # (2h, C, T, h, w)
    train_y = torch.cat([torch.ones(half), torch.zeros(half)])  # (2h,)
    test_x = torch.cat([real_x[half:], fake_x[half:]])
    test_y = torch.cat([torch.ones(n - half), torch.zeros(n - half)])

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        critic = ClipCritic(channels=real_x.shape[1])
    opt = torch.optim.Adam(critic.parameters(), lr=lr)
    per_side = max(1, min(batch // 2, half))
    critic.train()
    for _ in range(steps):
        pick_real = torch.randint(0, half, (per_side,), generator=rng)  # balanced: as many of each side
        pick_fake = half + torch.randint(0, half, (per_side,), generator=rng)
        pick = torch.cat([pick_real, pick_fake])
        loss = F.binary_cross_entropy_with_logits(critic(train_x[pick]), train_y[pick])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    critic.eval()
    with torch.no_grad():
        accuracy = _accuracy(critic, test_x, test_y)
        train_accuracy = _accuracy(critic, train_x, train_y)
    n_test = len(test_y)
    return {"accuracy": accuracy, "stderr": math.sqrt(accuracy * (1 - accuracy) / n_test),
            "train_accuracy": train_accuracy, "n_train": float(len(train_y)), "n_test": float(n_test)}


def _accuracy(critic: ClipCritic, x: torch.Tensor, y: torch.Tensor) -> float:
    logits = torch.cat([critic(x[i:i + 64]) for i in range(0, len(x), 64)])  # (N,)
    return float(((logits > 0).float() == y).float().mean())


def two_sample_tests(real: torch.Tensor, fake: torch.Tensor, seeds: Sequence[int] = (0, 1, 2),
                     steps: int = DEFAULT_STEPS, **kwargs: int) -> dict[str, float]:
    """`two_sample_test` for each seed: {"accuracy": mean, "stderr": standard error of that mean (binomial, the
    runs taken as independent), "accuracy_min", "accuracy_max", "runs"}."""
    runs = [two_sample_test(real, fake, seed=s, steps=steps, **kwargs) for s in seeds]
    accuracies = [r["accuracy"] for r in runs]
    mean = sum(accuracies) / len(runs)
    stderr = math.sqrt(sum(r["stderr"] ** 2 for r in runs)) / len(runs)
    return {"accuracy": mean, "stderr": stderr, "accuracy_min": min(accuracies), "accuracy_max": max(accuracies),
            "runs": float(len(runs))}


def two_sample_report(real: torch.Tensor, fake: torch.Tensor, config: Any) -> dict[str, Any]:
    """`two_sample_tests` over `config.two_sample_seeds` seeds from `config.seed` and `config.two_sample_steps`
    steps, rounded for a report; or why it was skipped. real, fake: (N, T, 3, H, W) in [-1, 1]."""
    runs, steps = int(getattr(config, "two_sample_seeds", 3)), int(getattr(config, "two_sample_steps", DEFAULT_STEPS))
    if runs <= 0:
        return {"skipped": "--two-sample-seeds 0"}
    if min(len(real), len(fake)) < 4:
        return {"skipped": f"needs at least 4 clips on each side, got {len(real)} and {len(fake)}"}
    seed = int(getattr(config, "seed", 0))
    result = two_sample_tests(real, fake, seeds=tuple(range(seed, seed + runs)), steps=steps)
    return {**{k: round(float(v), 4) for k, v in result.items()}, "steps": steps}
