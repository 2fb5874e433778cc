"""VGAN networks, presets and losses (reference §1, §10)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from models.families.vgan.config import PRESETS, VGANConfig
from models.families.vgan.losses import (
    MASK_SPARSITY_WEIGHT,
    OPTIMISER,
    discriminator_loss,
    generator_loss,
    mask_sparsity,
)
from models.families.vgan.networks import VGANDiscriminator, VGANGenerator, count_parameters
from tests.models.families.video_targets import fit_losses, seeded, wave_video


@pytest.mark.parametrize("preset", ["vgan-tiny", "vgan-small"])
def test_shapes_and_ranges(preset: str) -> None:
    cfg = PRESETS[preset]
    gen, disc = VGANGenerator(cfg, seeded(0)), VGANDiscriminator(cfg, seeded(1))
    latents = gen.sample_latents(2, seeded(2))
    assert latents.code.shape == (2, cfg.latent_dim)
    out = gen(latents)
    clip_shape = (2, cfg.channels, cfg.num_frames, cfg.image_size, cfg.image_size)
    assert out.video.shape == clip_shape and out.foreground.shape == clip_shape
    assert out.mask.shape == (2, 1, cfg.num_frames, cfg.image_size, cfg.image_size)
    assert out.background.shape == (2, cfg.channels, cfg.image_size, cfg.image_size)
    for tensor in (out.video, out.foreground, out.background):
        assert tensor.min() >= -1 and tensor.max() <= 1
    assert out.mask.min() >= 0 and out.mask.max() <= 1
    assert disc(out.video).shape == (2, 1)
    assert disc.eval()(out.video[:1]).shape == (1, 1)


def test_composition_and_static_background() -> None:
    cfg = PRESETS["vgan-tiny"]
    gen = VGANGenerator(cfg, seeded(0)).eval()
    latents = gen.sample_latents(2, seeded(1))
    out = gen(latents)
    assert torch.allclose(out.video, out.mask * out.foreground + (1 - out.mask) * out.background[:, :, None])
    with torch.no_grad():
        gen.mask_head[0].bias.fill_(-100.0)  # mask ≈ 0: every frame is the background, which cannot move
    still = gen(latents)
    assert still.mask.max() < 1e-6
    for t in range(cfg.num_frames):
        assert torch.allclose(still.video[:, :, t], still.background, atol=1e-5)


def test_paper_parameter_counts() -> None:
    """Reference §1.1-1.2: G 16,245,383 (static 3,577,667; foreground + heads 12,667,716); D 11,057,858."""
    cfg = PRESETS["vgan-paper"]
    with torch.device("meta"):
        gen, disc = VGANGenerator(cfg), VGANDiscriminator(cfg)
    foreground = sum(count_parameters(m) for m in (gen.foreground_trunk, gen.foreground_head, gen.mask_head))
    assert count_parameters(gen) == 16_245_383
    assert count_parameters(gen.background) == 3_577_667
    assert foreground == 12_667_716
    # The text counts the code's two softmax logits; one sigmoid logit has 512·32 + 1 fewer parameters.
    assert count_parameters(disc) == pytest.approx(11_057_858, rel=0.01)
    assert count_parameters(disc) == 11_057_858 - (512 * 2 * 4 * 4 + 1)
    assert cfg.base_frames == 2


def test_same_seed_same_video_and_weights() -> None:
    cfg = PRESETS["vgan-tiny"]
    gen, again = VGANGenerator(cfg, seeded(0)).eval(), VGANGenerator(cfg, seeded(0)).eval()
    assert all(torch.equal(a, b) for a, b in zip(gen.state_dict().values(), again.state_dict().values(), strict=True))
    first, second = gen(gen.sample_latents(3, seeded(4))), gen(gen.sample_latents(3, seeded(4)))
    assert torch.equal(first.video, second.video) and torch.equal(first.mask, second.mask)
    assert not torch.allclose(first.video, gen(gen.sample_latents(3, seeded(5))).video)


def test_initialisation() -> None:
    gen = VGANGenerator(PRESETS["vgan-small"], seeded(0))
    weights = torch.cat([m.weight.flatten() for m in gen.modules() if isinstance(m, nn.ConvTranspose3d)])
    assert weights.std().item() == pytest.approx(0.01, rel=0.05) and abs(weights.mean().item()) < 1e-3
    scales = torch.cat([m.weight for m in gen.modules() if isinstance(m, nn.BatchNorm2d | nn.BatchNorm3d)])
    assert scales.mean().item() == pytest.approx(1.0, abs=0.01) and scales.std().item() == pytest.approx(0.02, rel=0.3)
    assert all(not m.bias.any() for m in gen.modules() if isinstance(m, nn.ConvTranspose3d | nn.ConvTranspose2d))


def test_losses() -> None:
    zero_mask = torch.zeros(2, 1, 4, 8, 8)
    assert mask_sparsity(zero_mask).item() == 0.0
    logits = torch.tensor([[0.3], [-1.2]])
    loss = generator_loss(logits, zero_mask)
    assert loss.mask_sparsity.item() == 0.0 and torch.equal(loss.total, loss.adversarial)
    half_mask = torch.full((2, 1, 4, 8, 8), 0.5)
    loss = generator_loss(logits, half_mask)
    assert loss.total.item() == pytest.approx(loss.adversarial.item() + MASK_SPARSITY_WEIGHT * 0.5)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    expected = 0.5 * (bce(logits, torch.ones_like(logits)) + bce(-logits, torch.ones_like(logits)))
    assert torch.allclose(discriminator_loss(logits, logits), expected)
    assert (OPTIMISER.lr, OPTIMISER.betas, MASK_SPARSITY_WEIGHT) == (2e-4, (0.5, 0.999), 0.1)


def test_generator_learns_a_fixed_target() -> None:
    cfg = PRESETS["vgan-tiny"]
    gen = VGANGenerator(cfg, seeded(0))
    latents = gen.sample_latents(2, seeded(1))
    target = wave_video(2, cfg.channels, cfg.num_frames, cfg.image_size)
    losses = fit_losses(gen, lambda: gen(latents).video, target)
    assert losses[-1] < 0.5 * losses[0]
    assert all(p.grad is not None for p in gen.parameters())


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"image_size": 24}, "power of two"),
        ({"num_frames": 6}, "multiple of"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"discriminator_bn_eps": 0.0}, "epsilon"),
    ],
)
def test_config_validation(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(PRESETS["vgan-tiny"], **overrides)
    assert VGANConfig().base_frames == 2
