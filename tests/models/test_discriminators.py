"""Discriminator shapes and feature lists (models/discriminators.py)."""

from __future__ import annotations

import pytest
import torch

from evaluation.spectrum import grid_peak_db, mean_power_spectrum
from models.core.discriminators import (
    BinomialBlur,
    ImageDiscriminator,
    MultiscaleDiscriminator,
    NLayerDiscriminator,
    PatchGANConfig,
    TemporalDiscriminator,
    few_shot_image_discriminator,
)
from models.families.vid2vid.objectives import Discriminators
from models.families.vid2vid.schedule import TrainConfig


def test_nlayer_returns_every_activation_and_a_patch_map() -> None:
    d = NLayerDiscriminator(6, PatchGANConfig(ndf=8, n_layers=3, num_D=1))
    feats = d(torch.randn(2, 6, 32, 32))
    assert len(feats) == 5  # 3 strided + 1 stride-1 conv + prediction
    assert [f.shape[1] for f in feats] == [8, 16, 32, 64, 1]
    assert feats[-1].shape == (2, 1, 7, 7)  # padding 2: 32 -> 17 -> 9 -> 5 -> 6 -> 7

@pytest.mark.parametrize("num_d", [1, 2, 3])
def test_multiscale_has_one_feature_list_per_scale_at_halving_sizes(num_d: int) -> None:
    d = MultiscaleDiscriminator(4, PatchGANConfig(ndf=8, n_layers=2, num_D=num_d, norm="instance"))
    out = d(torch.randn(1, 4, 64, 64))
    assert len(out) == num_d
    assert all(len(scale) == 4 for scale in out)
    widths = [scale[0].shape[-1] for scale in out]
    assert widths[0] == 33
    for a, b in zip(widths, widths[1:], strict=False):
        assert b < a  # each scale sees a 2x smaller input


def test_image_discriminator_concatenates_labels_and_image() -> None:
    d = ImageDiscriminator(5, PatchGANConfig(ndf=8, n_layers=2, num_D=2))
    out = d(torch.randn(2, 5, 32, 32), torch.randn(2, 3, 32, 32))
    assert len(out) == 2 and out[0][-1].shape[:2] == (2, 1)
    assert d.net.scales[0].blocks[0][0].in_channels == 8


def test_few_shot_discriminator_judges_reference_pairs_with_spectral_norm() -> None:
    d = few_shot_image_discriminator(3)
    assert d.net.scales[0].blocks[0][0].in_channels == 12
    first, second = d.net.scales[0].blocks[0][0], d.net.scales[0].blocks[1][0]
    assert not hasattr(first, "parametrizations")  # first conv plain
    assert hasattr(second, "parametrizations")  # then spectral norm
    assert d.net.scales[0].blocks[1][1].eps == pytest.approx(0.1)
    x = torch.randn(1, 3, 32, 32)
    out = d(x, x, reference_label=x, reference_image=x)
    assert len(out) == 1 and len(out[0]) == 6 and out[0][-1].shape[1] == 1
    with pytest.raises(ValueError):
        d(x, x)


def test_temporal_discriminator_scales_strides_and_flow_chaining() -> None:
    d = TemporalDiscriminator(PatchGANConfig(ndf=8, n_layers=2, num_D=1), n_frames=3, n_scales_temporal=3)
    assert [d.stride(s) for s in range(3)] == [1, 3, 9]
    assert d.usable_scales(6) == [0] and d.usable_scales(7) == [0, 1]
    frames = torch.randn(2, 3, 3, 32, 32)
    flows = torch.randn(2, 2, 2, 32, 32)
    out = d(1, frames, flows)
    assert out[0][0].shape[0] == 2 and d.scales[0].scales[0].blocks[0][0].in_channels == 13
    # constant per-frame shifts compose additively
    per_frame = torch.zeros(1, 7, 2, 16, 16)
    per_frame[:, 1:, 0] = 1.5
    skipped = TemporalDiscriminator.skipped_flows(per_frame, 3)
    assert skipped.shape == (1, 2, 2, 16, 16)
    assert torch.allclose(skipped[:, :, 0], torch.full((1, 2, 16, 16), 4.5))


def _input_gradient_grid_db(antialias: bool) -> dict[int, float]:
    """Periodic peaks (dB over their surroundings) of the generator-side gradient a fresh PatchGAN hands back."""
    torch.manual_seed(0)
    d = NLayerDiscriminator(3, PatchGANConfig(ndf=16, antialias=antialias))
    x = torch.nn.functional.avg_pool2d(torch.rand(4, 3, 64, 64), 5, 1, 2).requires_grad_(True)  # smooth images
    ((d(x)[-1] - 1) ** 2).mean().backward()
    power = mean_power_spectrum(x.grad.permute(0, 2, 3, 1).numpy())
    return {period: grid_peak_db(power, period) for period in (2, 4)}


def test_antialiased_patchgan_hands_back_no_stride_lattice() -> None:
    plain, blurred = _input_gradient_grid_db(False), _input_gradient_grid_db(True)
    assert plain[2] > 3.0 and plain[4] > 3.0  # the strided convs' lattice in the plain D's gradient
    assert blurred[2] < 1.5 and blurred[4] < 2.0
    x = torch.randn(2, 3, 32, 32)
    shapes = [f.shape for f in NLayerDiscriminator(3, PatchGANConfig(ndf=8, antialias=True))(x)]
    assert shapes == [f.shape for f in NLayerDiscriminator(3, PatchGANConfig(ndf=8))(x)]


def test_binomial_blur_keeps_constants_and_removes_the_nyquist_checkerboard() -> None:
    blur = BinomialBlur(2)
    assert torch.allclose(blur(torch.full((1, 2, 6, 6), 0.7)), torch.full((1, 2, 6, 6), 0.7))
    checker = (torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2 * 2.0 - 1.0  # (8, 8) of ±1
    out = blur(checker.expand(1, 2, 8, 8))
    assert out[..., 1:-1, 1:-1].abs().max() < 1e-6  # interior: zero response at (π, π)
    assert not list(blur.state_dict())  # nothing to save or load


def test_a_vid2vid_run_with_antialias_d_blurs_both_discriminators() -> None:
    config = TrainConfig(family="vid2vid", preset="vid2vid-street-small", data="unused", out="unused", ndf=8,
                         antialias_D=True)
    discs = Discriminators(config, label_channels=4, vgg=None)
    blurs_image = sum(isinstance(m, BinomialBlur) for m in discs.image.modules())
    blurs_video = sum(isinstance(m, BinomialBlur) for m in discs.temporal.modules())
    assert blurs_image == config.num_D * config.n_layers_D  # every stride-2 conv of every scale
    assert blurs_video == config.n_scales_temporal * config.num_D * config.n_layers_D
    plain = Discriminators(config.replace(antialias_D=False), label_channels=4, vgg=None)
    assert not any(isinstance(m, BinomialBlur) for m in plain.modules())
