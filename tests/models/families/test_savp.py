"""SAVP networks and objectives: shapes, parameter counts, masks, streaming determinism, learning."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from models.core.discriminators import with_motion
from models.families.savp.config import PRESETS, SavpConfig
from models.families.savp.discriminator import VideoDiscriminator, random_clip_starts, take_clips
from models.families.savp.layers import ConvPool, apply_cdna, normalise_cdna_kernels, symmetric_pad
from models.families.savp.losses import (
    Critique,
    discriminator_loss,
    generator_loss,
    kl_penalty,
    kl_to_standard_normal,
    kl_weight_at,
    learning_rate_at,
    optimiser_settings,
    scheduled_sampling_probability,
)
from models.families.savp.networks import RecurrentStage, SavpGenerator, SavpState
from tests.models.families.predict_helpers import moving_squares, random_sequences, redraw, stream, stream_resumed

TINY = PRESETS["savp-tiny"]


def _count(module: torch.nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def _model(config: SavpConfig, seed: int = 0) -> SavpGenerator:
    """Eval-mode generator with weights re-drawn wide enough that z visibly changes the frames."""
    torch.manual_seed(seed)
    model = SavpGenerator(config).eval()
    redraw(model.parameters(), 0.2)
    return model


def test_inconsistent_configs_rejected() -> None:
    with pytest.raises(ValueError, match="variant"):
        SavpConfig(variant="nonsense")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="latent_dim"):
        SavpConfig(variant="deterministic")
    with pytest.raises(ValueError, match="GAN weights"):
        SavpConfig(variant="vae", kl_weight=1e-5)


@pytest.mark.parametrize(
    ("name", "generator", "posterior", "discriminator"),
    [
        ("savp-paper", 6_683_193, 666_832, 5_144_001),  # §5.1, §5.2, §5.4 (nz 8)
        ("savp-paper-deterministic", 6_397_177, 0, 5_144_001),  # nz 0
        ("savp-paper-vae", 6_683_193, 666_832, 5_144_001),
    ],
)
def test_paper_parameter_counts(name: str, generator: int, posterior: int, discriminator: int) -> None:
    with torch.device("meta"):
        model = SavpGenerator(PRESETS[name])
        critic = VideoDiscriminator(PRESETS[name])
    assert abs(_count(model.cell) - generator) <= 0.01 * generator
    assert _count(model.posterior) == posterior
    assert abs(_count(critic) - discriminator) <= 0.01 * discriminator


def test_nz32_generator_count() -> None:
    with torch.device("meta"):
        model = SavpGenerator(SavpConfig(latent_dim=32))
    assert _count(model.cell) == 7_547_385


@pytest.mark.parametrize("name", ["savp-tiny", "savp-tiny-vae", "savp-tiny-gan", "savp-tiny-deterministic"])
def test_training_forward_shapes_per_variant(name: str) -> None:
    config = PRESETS[name]
    out = SavpGenerator(config).train()(random_sequences(config), torch.Generator().manual_seed(0), 0.5)
    expected = (2, config.sequence_frames - 1, 3, config.image_size, config.image_size)
    assert (out.posterior_branch is not None) == config.uses_posterior
    assert (out.prior_branch is not None) == config.uses_prior_branch
    for branch in (out.posterior_branch, out.prior_branch):
        if branch is not None:
            assert branch.shape == expected and 0 <= branch.min() and branch.max() <= 1
    assert out.posterior_mean.shape == (
        2,
        config.sequence_frames - 1,
        config.latent_dim if config.uses_posterior else 0,
    )


def test_small_preset_cell_and_discriminator_shapes() -> None:
    config = PRESETS["savp-small"]
    model = SavpGenerator(config).eval()
    video = stream(model, random_sequences(config, batch=1)[:, :2], n_future=2, seed=0)
    assert video.shape == (1, 2, 3, 32, 32)
    clip = torch.rand(2, 3, config.discriminator_clip_frames, 32, 32)
    judged = VideoDiscriminator(config)(clip)
    assert judged.logits.shape == (2,) and len(judged.features) == 7


def test_motion_channels_are_the_scaled_frame_differences_and_off_by_default() -> None:
    clip = moving_squares(TINY, batch=2, seed=0).transpose(1, 2)[:, :, :4]  # (B, C, 4, S, S)
    channels = clip.shape[1]
    frozen = clip[:, :, :1].expand_as(clip)
    assert with_motion(clip, 0.0) is clip
    moving = with_motion(clip, 10.0)  # (B, 2C, 4, S, S)
    assert moving.shape == (2, 2 * channels, *clip.shape[2:])
    assert torch.equal(moving[:, :channels], clip)
    assert torch.allclose(moving[:, channels:, 1:], 10 * (clip[:, :, 1:] - clip[:, :, :-1]))
    assert not moving[:, channels:, 0].any() and not with_motion(frozen, 10.0)[:, channels:].any()
    paper, ours = VideoDiscriminator(TINY), VideoDiscriminator(dataclasses.replace(TINY, discriminator_motion_scale=10))
    assert paper.layers[0][0].in_channels == channels and ours.layers[0][0].in_channels == 2 * channels
    assert ours(clip).logits.shape == (2,)
    with pytest.raises(ValueError, match="discriminator_motion_scale"):
        dataclasses.replace(TINY, discriminator_motion_scale=-1.0)


def test_discriminator_with_motion_channels_tells_a_frozen_clip_from_a_moving_one() -> None:
    """The case the paper's discriminator fails on our people clips (scripts/probe_savp_discriminator.py)."""
    torch.manual_seed(0)
    config = dataclasses.replace(TINY, discriminator_motion_scale=10.0)
    critic = VideoDiscriminator(config)
    optimiser = torch.optim.Adam(critic.parameters(), lr=2e-4, betas=(0.5, 0.999))
    for step in range(60):
        real = moving_squares(config, batch=8, seed=step, background=0.5, square=0.6).transpose(1, 2)[:, :, :4]
        frozen = real[:, :, :1].expand_as(real)
        loss = discriminator_loss(config, Critique(critic(real), critic(frozen))) / config.discriminator_weight
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.25  # chance: 0.5


def test_masks_sum_to_one_over_candidates_and_output_is_their_blend() -> None:
    model = _model(TINY)
    frames = random_sequences(TINY)
    state = model.start(frames[:, 0])
    z = torch.randn(2, TINY.latent_dim)
    out = model.cell(frames[:, 1], state.first_frame, z, state.conv_lstm, state.latent_lstm)
    assert out.masks.shape == (2, TINY.cdna_kernels + 3, 16, 16)
    assert torch.allclose(out.masks.sum(1), torch.ones(2, 16, 16), atol=1e-5)
    assert torch.allclose(out.frame, (out.masks[:, :, None] * out.candidates).sum(1), atol=1e-6)
    assert torch.equal(out.candidates[:, TINY.cdna_kernels], frames[:, 1])  # the current image itself
    assert torch.equal(out.candidates[:, TINY.cdna_kernels + 1], frames[:, 0])  # the first frame


def test_bounded_mask_logits_keep_every_candidate_alive() -> None:
    """Ours (`mask_logit_bound`): a mask head pushed hard towards one candidate saturates the paper's softmax (the
    others get ~0 weight and ~0 gradient); with the bound b every weight stays >= 1 / (1 + (K + 2) e^(2b))."""
    frames = random_sequences(TINY)
    weights = {}
    for bound in (0.0, 2.0):
        model = _model(dataclasses.replace(TINY, mask_logit_bound=bound))
        with torch.no_grad():
            model.cell.masks.bias.zero_()
            model.cell.masks.bias[TINY.cdna_kernels] = 40.0  # "copy the current image"
        state = model.start(frames[:, 0])
        out = model.cell(frames[:, 1], state.first_frame, torch.randn(2, TINY.latent_dim), state.conv_lstm,
                         state.latent_lstm)
        weights[bound] = out.masks
    candidates = TINY.cdna_kernels + 3
    assert float(weights[0.0][:, TINY.cdna_kernels].min()) > 1 - 1e-6  # saturated
    floor = 1 / (1 + (candidates - 1) * torch.exp(torch.tensor(4.0)))
    assert float(weights[2.0].min()) >= float(floor) - 1e-6 and float(weights[2.0].min()) > 1e-3
    assert torch.allclose(weights[2.0].sum(1), torch.ones(2, 16, 16), atol=1e-5)
    with pytest.raises(ValueError, match="mask_logit_bound"):
        dataclasses.replace(TINY, mask_logit_bound=-1.0)


def test_cdna_kernels_normalised_and_identity_kernel_copies_the_image() -> None:
    kernels = normalise_cdna_kernels(torch.randn(3, 4, 5, 5))
    assert (kernels > 0).all() and torch.allclose(kernels.sum((2, 3)), torch.ones(3, 4))
    image = torch.rand(3, 3, 8, 8)
    identity = normalise_cdna_kernels(torch.zeros(3, 2, 5, 5))
    assert torch.allclose(apply_cdna(image, identity), image[:, None].expand(3, 2, 3, 8, 8), atol=1e-6)
    row = torch.arange(4.0).view(1, 1, 1, 4)
    assert symmetric_pad(row.expand(1, 1, 4, 4), 2)[0, 0, 0].tolist() == [1, 0, 0, 1, 2, 3, 3, 2]


def test_softmax_cdna_kernels_start_half_on_the_centre_and_every_tap_learns() -> None:
    raw = torch.zeros(2, 3, 5, 5, requires_grad=True)
    kernels = normalise_cdna_kernels(raw, "softmax")
    assert torch.allclose(kernels.sum((2, 3)), torch.ones(2, 3)) and (kernels > 0).all()
    assert torch.allclose(kernels[:, :, 2, 2], torch.full((2, 3), 0.5))
    shifted = torch.zeros(5, 5)
    shifted[2, 3] = 1.0  # a target one pixel to the side: every tap must move towards it
    (kernels - shifted).pow(2).sum().backward()
    assert (raw.grad != 0).all()
    relu_raw = torch.full((1, 1, 5, 5), -2.0, requires_grad=True)  # every off-centre tap below zero
    (normalise_cdna_kernels(relu_raw) - shifted).pow(2).sum().backward()
    assert (relu_raw.grad.flatten()[torch.arange(25) != 12] == 0).all()  # the paper's ReLU: dead taps


def test_same_seed_same_samples_and_different_seed_differs() -> None:
    model = _model(TINY)
    context = random_sequences(TINY)[:, : TINY.context_frames]
    first = stream(model, context, 3, seed=7)
    assert torch.equal(first, stream(model, context, 3, seed=7))
    assert (first - stream(model, context, 3, seed=8)).abs().max() > 1e-3


def test_state_round_trip_mid_sequence_continues_identically() -> None:
    model = _model(TINY)
    context = random_sequences(TINY)[:, : TINY.context_frames]
    uninterrupted = stream(model, context, 4, seed=3)
    assert torch.equal(stream_resumed(model, SavpState, context, 4, seed=3), uninterrupted)


def test_deterministic_variant_ignores_generator() -> None:
    model = _model(PRESETS["savp-tiny-deterministic"])
    context = random_sequences(TINY)[:, : TINY.context_frames]
    assert torch.equal(stream(model, context, 3, seed=0), stream(model, context, 3, seed=99))
    assert "latent_lstm.h" not in model.start(context[:, 0]).to_tensors()


def test_kl_zero_at_prior_and_schedules() -> None:
    assert kl_to_standard_normal(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4)).item() == 0.0
    assert kl_to_standard_normal(torch.ones(2, 3, 4), torch.zeros(2, 3, 4)).item() == pytest.approx(2.0)
    paper = PRESETS["savp-paper"]
    assert [kl_weight_at(s, paper) for s in (0, 50_000, 75_000, 100_000, 200_000)] == [0, 0, 0.5, 1.0, 1.0]
    assert scheduled_sampling_probability(6_000, 900) == pytest.approx(0.5, abs=0.05)
    assert scheduled_sampling_probability(10_000, 900) == pytest.approx(0.013, abs=0.005)
    assert scheduled_sampling_probability(20_000, 900) == 0.0
    settings = optimiser_settings(paper)
    assert settings.learning_rate == 2e-4 and settings.betas == (0.5, 0.999)
    assert learning_rate_at(250_000, settings) == pytest.approx(1e-4) and learning_rate_at(300_000, settings) == 0
    assert optimiser_settings(PRESETS["savp-paper-deterministic"]).learning_rate == 1e-3


def test_latent_shift_carries_z_past_the_instance_norms() -> None:
    """The paper tiles z and concatenates it before a convolution, which adds a constant per channel; the IN after it
    subtracts that constant. With 1×1 convolutions (no zero-padded borders) a stage's output does not depend on z at
    all; the latent shift (ours) makes it."""
    for shift in (False, True):
        torch.manual_seed(0)
        stage = RecurrentStage(ConvPool(3 + 4, 8, 1), 8, 4, 1, shift_dim=4 if shift else 0)
        x = torch.rand(2, 3, 8, 8)
        state = stage.lstm.zero_state(2, 4, 4, x)
        first, second = (stage(x, z, state, z).h for z in (torch.randn(2, 4), torch.randn(2, 4)))
        assert torch.allclose(first, second, atol=1e-5) is not shift
    assert SavpGenerator(dataclasses.replace(TINY, latent_shift=True)).cell.last_shift is not None


def test_free_nats_spare_the_kl_below_the_floor_per_step() -> None:
    """Ours (`kl_free_nats`): a step whose batch-mean KL is under the floor pays the floor and sends no gradient to
    the posterior; a step above it pays its own KL, as the paper's term does."""
    mean = torch.zeros(2, 2, 4)
    mean[:, 1] = 1.0  # step 0: KL 0; step 1: KL 4 · 0.5 = 2 nats
    mean.requires_grad_(True)
    logvar = torch.zeros(2, 2, 4)
    penalty = kl_penalty(mean, logvar, free_nats=1.0)
    assert penalty.item() == pytest.approx((1.0 + 2.0) / 2)
    penalty.backward()
    assert mean.grad[:, 0].abs().sum() == 0 and mean.grad[:, 1].abs().sum() > 0
    assert kl_penalty(mean, logvar, 0.0).item() == pytest.approx(kl_to_standard_normal(mean, logvar).item())
    with pytest.raises(ValueError, match="kl_free_nats"):
        dataclasses.replace(TINY, kl_free_nats=-1.0)


def test_clips_share_windows_and_match_the_video() -> None:
    video = torch.arange(2 * 6.0).view(2, 6, 1, 1, 1).expand(2, 6, 3, 4, 4)
    starts = random_clip_starts(2, 6, 4, torch.Generator().manual_seed(0))
    clips = take_clips(video, starts, 4)
    assert clips.shape == (2, 3, 4, 4, 4)
    for b in range(2):
        assert clips[b, 0, :, 0, 0].tolist() == [6.0 * b + starts[b].item() + i for i in range(4)]


def test_full_savp_training_steps_reduce_l1() -> None:
    """Both discriminators, then the generator (§5.6), on a fixed tiny batch: the L1 falls and every loss is used."""
    config = TINY
    torch.manual_seed(0)
    model = SavpGenerator(config).train()
    critics = {"prior": VideoDiscriminator(config), "posterior": VideoDiscriminator(config)}
    g_opt = torch.optim.Adam(model.parameters(), lr=3e-3, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam([p for d in critics.values() for p in d.parameters()], lr=2e-4, betas=(0.5, 0.999))
    frames = moving_squares(config, batch=4, seed=2, background=0.1, square=0.9)
    generator = torch.Generator().manual_seed(0)
    history = []
    for step in range(15):
        out = model(frames, generator)
        starts = random_clip_starts(4, config.sequence_frames - 1, config.discriminator_clip_frames, generator)
        real = take_clips(frames[:, 1:], starts, config.discriminator_clip_frames)
        fakes = {
            "prior": take_clips(out.prior_branch, starts, config.discriminator_clip_frames),
            "posterior": take_clips(out.posterior_branch, starts, config.discriminator_clip_frames),
        }
        d_loss = sum(
            discriminator_loss(config, Critique(critics[k](real), critics[k](fakes[k].detach()))) for k in critics
        )
        d_opt.zero_grad()
        d_loss.backward()
        d_opt.step()
        critiques = {k: Critique(critics[k](real), critics[k](fakes[k])) for k in critics}
        losses = generator_loss(config, step, frames, out, critiques["prior"], critiques["posterior"])
        g_opt.zero_grad()
        losses.total.backward()
        g_opt.step()
        history.append(losses.l1.item())
    assert all(t.isfinite() for t in (losses.kl, losses.gan, losses.vae_gan, losses.feature_matching))
    assert losses.feature_matching > 0 and losses.gan > 0
    assert history[-1] < 0.5 * history[0]
