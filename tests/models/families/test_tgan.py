"""TGAN networks, presets, WGAN losses and singular value clipping (reference §2, §10)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from models.families.tgan.config import PRESETS, TGANConfig
from models.families.tgan.losses import (
    OPTIMISER,
    clip_critic_weights,
    clip_singular_values,
    critic_loss,
    generator_loss,
    singular_value_clip,
)
from models.families.tgan.networks import ScaleOnlyBatchNorm, TGANCritic, TGANGenerator, count_parameters
from tests.models.families.video_targets import fit_losses, seeded, wave_video


@pytest.mark.parametrize("preset", ["tgan-tiny", "tgan-small", "tgan-mnist-small"])
def test_shapes_and_ranges(preset: str) -> None:
    cfg = PRESETS[preset]
    gen, critic = TGANGenerator(cfg, seeded(0)), TGANCritic(cfg, seeded(1))
    latents = gen.sample_latents(2, seeded(2))
    assert latents.clip_code.shape == (2, cfg.latent_dim)
    assert latents.clip_code.min() >= -1 and latents.clip_code.max() <= 1
    codes = gen.temporal_codes(latents.clip_code)
    assert codes.shape == (2, cfg.num_frames, cfg.frame_code_dim) and codes.abs().max() <= 1
    video = gen(latents)
    assert video.shape == (2, cfg.channels, cfg.num_frames, cfg.image_size, cfg.image_size)
    assert video.min() >= -1 and video.max() <= 1
    assert critic(video).shape == (2, cfg.critic_frames_left)


def test_paper_parameter_counts() -> None:
    """Reference §2.1-2.2: G0 825,444; G1 3,622,691 (G 4.45 M); critic 11,032,449 (incl. 64 unused γ)."""
    cfg = PRESETS["tgan-paper"]
    with torch.device("meta"):
        gen, critic = TGANGenerator(cfg), TGANCritic(cfg)
    assert count_parameters(gen.temporal) == pytest.approx(825_444, rel=0.01)
    assert count_parameters(gen.image) == pytest.approx(3_622_691, rel=0.01)
    assert count_parameters(gen) == pytest.approx(4_448_135, rel=0.01)
    assert count_parameters(critic) == pytest.approx(11_032_449, rel=0.01)
    assert count_parameters(critic) == 11_032_449 - 64  # the exact count without the never-applied bn0
    assert cfg.num_frames == 16 and cfg.critic_frames_left == 1
    norms = [m for m in gen.temporal.modules() if isinstance(m, ScaleOnlyBatchNorm)]
    assert len(norms) == 4 and all(not hasattr(m, "bias") for m in norms)  # "BN(no β)"


def test_same_seed_same_video_and_weights() -> None:
    cfg = PRESETS["tgan-tiny"]
    gen = TGANGenerator(cfg, seeded(0)).eval()
    again = TGANGenerator(cfg, seeded(0)).eval()
    assert all(torch.equal(a, b) for a, b in zip(gen.state_dict().values(), again.state_dict().values(), strict=True))
    first, second = gen(gen.sample_latents(3, seeded(5))), gen(gen.sample_latents(3, seeded(5)))
    assert torch.equal(first, second)
    assert not torch.allclose(first, gen(gen.sample_latents(3, seeded(6))))


def test_frame_by_frame_equals_whole_clip() -> None:
    cfg = PRESETS["tgan-tiny"]
    gen = TGANGenerator(cfg, seeded(0)).eval()
    latents = gen.sample_latents(2, seeded(1))
    clip = gen(latents)
    codes = gen.temporal_codes(latents.clip_code)  # the stream's whole state
    for t in range(cfg.num_frames):
        assert torch.allclose(gen.render_frame(latents.clip_code, codes[:, t]), clip[:, :, t], atol=1e-5)


def test_init_schemes() -> None:
    cfg = dataclasses.replace(PRESETS["tgan-small"], temporal_init="uniform", critic_init="uniform")
    gen, critic = TGANGenerator(cfg, seeded(0)), TGANCritic(cfg, seeded(0))
    for module in (gen, critic):
        for layer in module.modules():
            if isinstance(layer, nn.Conv3d | nn.Conv2d | nn.ConvTranspose1d | nn.ConvTranspose2d | nn.Linear):
                assert layer.weight.abs().max() <= 0.01
                assert layer.bias is None or not layer.bias.any()
    lecun = TGANCritic(PRESETS["tgan-small"], seeded(0))
    conv = lecun.features[2]
    assert isinstance(conv, nn.Conv3d)
    assert conv.weight.std().item() == pytest.approx(conv.weight[0].numel() ** -0.5, rel=0.05)


def test_singular_value_clipping_bounds_every_weight() -> None:
    cfg = PRESETS["tgan-tiny"]
    critic = TGANCritic(cfg, seeded(0))
    with torch.no_grad():
        for parameter in critic.parameters():
            parameter.mul_(50.0)  # singular values far above 1
        critic.features[3].running_var.fill_(4.0)  # σ = 2 for the first BN
    weighted = [m for m in critic.modules() if isinstance(m, nn.Conv3d | nn.Conv2d)]
    assert max(torch.linalg.svdvals(m.weight.reshape(m.weight.shape[0], -1)).max() for m in weighted) > 2
    singular_value_clip(critic)
    for layer in weighted:
        assert layer.weight.dim() >= 4
        singular = torch.linalg.svdvals(layer.weight.reshape(layer.weight.shape[0], -1))
        assert singular.max() <= 1 + 1e-5
    for norm in (m for m in critic.modules() if isinstance(m, ScaleOnlyBatchNorm)):
        sigma = norm.running_var.sqrt()
        assert bool((norm.weight <= sigma + 1e-6).all()) and bool((norm.weight >= 0.01 * sigma - 1e-6).all())
    assert torch.allclose(critic.features[3].weight, torch.full_like(critic.features[3].weight, 2.0))


def test_singular_value_clipping_keeps_small_singular_values() -> None:
    """Only singular values above 1 change: a (2, 3, 2, 2, 1) kernel with spectrum (3, 0.5) becomes (1, 0.5)."""
    left, _ = torch.linalg.qr(torch.randn(2, 2, generator=seeded(0)))
    right, _ = torch.linalg.qr(torch.randn(12, 2, generator=seeded(1)))
    kernel = (left @ torch.diag(torch.tensor([3.0, 0.5])) @ right.T).view(2, 3, 2, 2, 1)  # (out, in, kt, kh, kw)
    clip_singular_values(kernel)
    expected = (left @ torch.diag(torch.tensor([1.0, 0.5])) @ right.T).view(2, 3, 2, 2, 1)
    assert torch.allclose(kernel, expected, atol=1e-5)


def test_wasserstein_losses_and_weight_clipping() -> None:
    real, fake = torch.tensor([[1.0], [3.0]]), torch.tensor([[0.5], [-0.5]])
    assert critic_loss(real, fake).item() == pytest.approx(0.0 - 2.0)
    assert generator_loss(fake).item() == pytest.approx(0.0)
    critic = TGANCritic(PRESETS["tgan-tiny"], seeded(0))
    clip_critic_weights(critic)
    assert max(p.abs().max().item() for p in critic.parameters()) <= 0.01
    assert (OPTIMISER.lr, OPTIMISER.alpha, OPTIMISER.eps, OPTIMISER.svc_interval) == (5e-5, 0.99, 1e-8, 5)


def test_generator_learns_a_fixed_target() -> None:
    cfg = PRESETS["tgan-tiny"]
    gen = TGANGenerator(cfg, seeded(0))
    latents = gen.sample_latents(2, seeded(1))
    target = wave_video(2, cfg.channels, cfg.num_frames, cfg.image_size)
    losses = fit_losses(gen, lambda: gen(latents), target)
    assert losses[-1] < 0.5 * losses[0]
    assert all(p.grad is not None for p in gen.temporal.parameters())


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"image_size": 40}, "power of two"),
        ({"temporal_widths": (8,)}, "multiple of"),
        ({"critic_init": "xavier"}, "critic_init"),
        ({"ndf": 0}, "ndf"),
    ],
)
def test_config_validation(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(PRESETS["tgan-tiny"], **overrides)
    assert TGANConfig().num_frames == 16
