"""SVG-LP / SVG-FP networks and objective: shapes, parameter counts, streaming determinism, learning."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from models.families.svg_lp.config import PRESETS, SvgLpConfig
from models.families.svg_lp.losses import gaussian_kl, svg_lp_loss
from models.families.svg_lp.networks import SvgLp, SvgLpState
from tests.models.families.predict_helpers import moving_squares, random_sequences, redraw, stream, stream_resumed

TINY = PRESETS["svg_lp-tiny"]


def _model(config: SvgLpConfig, seed: int = 0) -> SvgLp:
    """An eval-mode model whose weights are re-drawn wide enough that z visibly changes the frames (at the
    N(0, 0.02²) initialisation its effect is ~1e-7)."""
    torch.manual_seed(seed)
    model = SvgLp(config).eval()
    redraw(model.parameters(), 0.3)
    return model


def test_unknown_variant_and_inconsistent_latent_rejected() -> None:
    with pytest.raises(ValueError, match="variant"):
        SvgLpConfig(variant="nonsense")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="latent_dim"):
        SvgLpConfig(variant="deterministic")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("svg_lp-paper", 12_614_057),  # §4.2: E 3,805,376 + D 6,558,529 + predictor + posterior + prior
        ("svg_lp-bair", 22_831_747),  # §4.3 VGG-64
    ],
)
def test_paper_parameter_counts(name: str, expected: int) -> None:
    with torch.device("meta"):
        model = SvgLp(PRESETS[name])
    assert abs(sum(p.numel() for p in model.parameters()) - expected) <= 0.01 * expected


def test_paper_component_counts() -> None:
    with torch.device("meta"):
        model = SvgLp(PRESETS["svg_lp-paper"])
    counts = {
        name: sum(p.numel() for p in module.parameters())
        for name, module in (
            ("encoder", model.encoder),
            ("decoder", model.decoder),
            ("predictor", model.predictor),
            ("posterior", model.posterior),
            ("prior", model.prior),
        )
    }
    assert counts == {
        "encoder": 3_805_376,
        "decoder": 6_558_529,
        "predictor": 1_121_152,
        "posterior": 564_500,
        "prior": 564_500,
    }


@pytest.mark.parametrize("name", ["svg_lp-tiny", "svg_lp-small", "svg_lp-tiny-fp", "svg_lp-tiny-deterministic"])
def test_training_forward_shapes(name: str) -> None:
    config = PRESETS[name]
    model = _model(config).train()
    frames = random_sequences(config)
    out = model(frames, torch.Generator().manual_seed(0))
    t = config.sequence_frames
    assert out.reconstructions.shape == (2, t - 1, config.image_channels, config.image_size, config.image_size)
    assert out.posterior_mean.shape == out.prior_logvar.shape == (2, t - 1, config.latent_dim)
    assert 0 <= out.reconstructions.min() and out.reconstructions.max() <= 1
    losses = svg_lp_loss(out, frames, config.kl_weight)
    assert losses.total.isfinite() and losses.kl >= 0


def test_vgg_codec_stream_shapes() -> None:
    config = dataclasses.replace(
        PRESETS["svg_lp-bair"], codec_widths=(4, 8, 8, 16), frame_dim=8, rnn_size=8, latent_dim=2
    )
    model = _model(config)
    video = stream(model, random_sequences(config, batch=1)[:, :2], n_future=2, seed=0)
    assert video.shape == (1, 2, 3, 64, 64)


def test_same_seed_same_samples_and_different_seed_differs() -> None:
    model = _model(TINY)
    context = random_sequences(TINY)[:, : TINY.context_frames]
    first = stream(model, context, 4, seed=7)
    assert torch.equal(first, stream(model, context, 4, seed=7))
    assert (first - stream(model, context, 4, seed=8)).abs().max() > 1e-3


@pytest.mark.parametrize("name", ["svg_lp-tiny", "svg_lp-tiny-fp"])
def test_state_round_trip_mid_sequence_continues_identically(name: str) -> None:
    model = _model(PRESETS[name])
    context = random_sequences(PRESETS[name])[:, : PRESETS[name].context_frames]
    uninterrupted = stream(model, context, 5, seed=3)
    assert torch.equal(stream_resumed(model, SvgLpState, context, 5, seed=3), uninterrupted)


def test_deterministic_variant_ignores_generator() -> None:
    model = _model(PRESETS["svg_lp-tiny-deterministic"])
    context = random_sequences(TINY)[:, : TINY.context_frames]
    assert torch.equal(stream(model, context, 3, seed=0), stream(model, context, 3, seed=123))
    assert model.posterior is None and model.prior is None
    assert "posterior.0.h" not in model.start(context[:, 0]).to_tensors()


def test_kl_is_zero_when_posterior_equals_prior_and_positive_otherwise() -> None:
    mean, logvar = torch.randn(3, 4, 5), torch.randn(3, 4, 5)
    assert torch.allclose(gaussian_kl(mean, logvar, mean, logvar), torch.zeros(3, 4, 5), atol=1e-6)
    assert (gaussian_kl(mean, logvar, mean + 1, logvar - 0.5) > 0).all()
    # Closed form against N(0, I): -½ Σ (1 + log σ² - μ² - σ²)
    zeros = torch.zeros_like(mean)
    fixed = -0.5 * (1 + logvar - mean**2 - logvar.exp())
    assert torch.allclose(gaussian_kl(mean, logvar, zeros, zeros), fixed, atol=1e-5)


def test_a_few_dozen_adam_steps_reduce_reconstruction() -> None:
    torch.manual_seed(0)
    model = SvgLp(TINY).train()
    frames = moving_squares(TINY, batch=4, seed=5)
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3, betas=(0.9, 0.999))
    generator = torch.Generator().manual_seed(0)
    history = []
    for _ in range(40):
        losses = svg_lp_loss(model(frames, generator), frames, TINY.kl_weight)
        optimiser.zero_grad()
        losses.total.backward()
        optimiser.step()
        history.append(losses.reconstruction.item())
    assert history[-1] < 0.5 * history[0]


def test_refinement_starts_as_the_papers_decoder_loads_weights_without_it_and_then_learns() -> None:
    from models.core.extensions import extension_tensor_names

    refined_config = dataclasses.replace(TINY, refine_channels=4)
    plain, refined = _model(TINY), SvgLp(refined_config).eval()
    missing, unexpected = refined.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and set(missing) == extension_tensor_names(refined) != set()
    context = random_sequences(TINY)[:, : TINY.context_frames]
    assert torch.equal(stream(refined, context, 3, seed=1), stream(plain, context, 3, seed=1))  # zero at the start
    frames = moving_squares(TINY, batch=4, seed=5)
    optimiser = torch.optim.Adam(refined.decoder.refine.parameters(), lr=1e-2)
    before = svg_lp_loss(refined.train()(frames, torch.Generator().manual_seed(0)), frames, 0.0).reconstruction
    for _ in range(30):
        losses = svg_lp_loss(refined(frames, torch.Generator().manual_seed(0)), frames, 0.0)
        optimiser.zero_grad()
        losses.total.backward()
        optimiser.step()
    assert losses.reconstruction.item() < 0.8 * before.item()  # the refinement alone lowers the error
    with pytest.raises(ValueError, match="refine_channels"):
        SvgLpConfig(codec="vgg", refine_channels=8)
