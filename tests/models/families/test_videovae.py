"""VideoVAE networks and objectives: shapes, parameter counts, streaming determinism, learning."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from models.families.videovae.config import PRESETS, VideoVaeConfig
from models.families.videovae.losses import attribute_classification_loss, gaussian_kl, videovae_loss
from models.families.videovae.networks import BLANK_LOOK, VideoVae, VideoVaeState, attribute_vector, blank_looks

TINY = PRESETS["videovae-tiny"]


def _model(config: VideoVaeConfig, seed: int = 0) -> VideoVae:
    """Eval-mode model whose linear weights are re-drawn wide enough (their N(0, 0.001²) initialisation makes every
    Gaussian ≈ N(0, I) regardless of input) that z and the attributes visibly change the frames."""
    torch.manual_seed(seed)
    model = VideoVae(config).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.normal_(0.0, 0.5)
    return model


def _clip(config: VideoVaeConfig, batch: int = 2, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    size = config.image_size
    return torch.rand(batch, config.clip_frames, config.image_channels, size, size, generator=generator) * 2 - 1


def _attributes(config: VideoVaeConfig, batch: int = 2) -> torch.Tensor:
    actions = torch.arange(batch) % config.num_actions
    identities = (torch.arange(batch) + 1) % config.num_identities
    return attribute_vector(actions, identities, config)


def _stream(model: VideoVae, first: torch.Tensor | None, attributes: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        state = model.start(attributes, generator)
        if first is not None:
            state = model.observe(first, state, generator)
        frames = []
        for _ in range(n):
            frame, state = model.predict(state, generator)
            frames.append(frame)
    return torch.stack(frames, 1)


def test_invalid_config_rejected() -> None:
    with pytest.raises(ValueError, match="image_size"):
        VideoVaeConfig(image_size=48)
    with pytest.raises(ValueError, match="conv_plan"):
        VideoVaeConfig(conv_plan="dcgan")
    with pytest.raises(ValueError, match="padded"):
        VideoVaeConfig(decoder_upsampling="resize")  # the port's unpadded sizes are not multiples of the strides
    with pytest.raises(ValueError, match="dropout"):
        VideoVaeConfig(dropout=1.0)
    with pytest.raises(ValueError, match="encoder_widths"):
        VideoVaeConfig(encoder_widths=(1, 2, 3))  # type: ignore[arg-type]


def test_paper_parameter_count() -> None:
    with torch.device("meta"):
        model = VideoVae(PRESETS["videovae-paper"])
    total = sum(p.numel() for p in model.parameters())
    assert abs(total - 9_187_165) <= 0.01 * 9_187_165
    assert sum(p.numel() for p in model.lstm.parameters()) == 4_198_400


@pytest.mark.parametrize(("plan", "upsampling"), [("port", "transposed"), ("padded", "transposed"),
                                                 ("padded", "resize")])
@pytest.mark.parametrize("size", [64, 32])
def test_decoder_mirrors_the_encoder_at_both_sizes(size: int, plan: str, upsampling: str) -> None:
    config = VideoVaeConfig(image_size=size, conv_plan=plan, decoder_upsampling=upsampling,
                            encoder_widths=(2, 4, 4, 8), encoder_hidden=16, feature_dim=8)
    model = VideoVae(config).eval()
    assert model.encoder(torch.zeros(1, 3, size, size), None).shape == (1, 8)
    assert model.decoder(torch.zeros(1, config.latent_dim)).shape == (1, 3, size, size)


@pytest.mark.parametrize("name", ["videovae-tiny", "videovae-small"])
def test_training_forward_and_classifier_shapes(name: str) -> None:
    config = PRESETS[name]
    model = VideoVae(config).train()
    clip, generator = _clip(config), torch.Generator().manual_seed(0)
    out = model(clip, _attributes(config), generator)
    assert out.reconstructions.shape == clip.shape
    assert out.reconstructions.abs().max() <= 1
    assert out.posterior_mean.shape == out.prior_logvar.shape == (2, config.clip_frames, config.latent_dim)
    logits = model.classify(clip.flatten(0, 1), generator)
    assert logits.action.shape == (2 * config.clip_frames, config.num_actions)
    assert logits.identity.shape == (2 * config.clip_frames, config.num_identities)
    with pytest.raises(ValueError, match="generator"):
        model.classify(clip[:, 0], None)


def test_attribute_vector_is_two_one_hots() -> None:
    a = attribute_vector(torch.tensor([2, 0]), torch.tensor([1, 1]), TINY)
    assert a.tolist() == [[0, 0, 1, 0, 1], [1, 0, 0, 0, 1]]


def test_a_blank_look_leaves_the_identity_block_zero_and_blanking_draws_at_its_rate() -> None:
    a = attribute_vector(torch.tensor([2, 0]), torch.tensor([BLANK_LOOK, 0]), TINY)
    assert a.tolist() == [[0, 0, 1, 0, 0], [1, 0, 0, 1, 0]]
    looks = torch.arange(4000) % 3
    assert blank_looks(looks, 0.0, torch.Generator().manual_seed(0)) is looks  # no draw: old runs unchanged
    shown = blank_looks(looks, 0.25, torch.Generator().manual_seed(0))
    assert 0.22 < (shown == BLANK_LOOK).float().mean() < 0.28
    assert torch.equal(shown[shown != BLANK_LOOK], looks[shown != BLANK_LOOK])
    assert torch.equal(shown, blank_looks(looks, 0.25, torch.Generator().manual_seed(0)))


@pytest.mark.parametrize("with_first_frame", [False, True])
def test_same_seed_same_samples_and_different_seed_differs(with_first_frame: bool) -> None:
    model = _model(TINY)
    first = _clip(TINY)[:, 0] if with_first_frame else None
    a = _attributes(TINY)
    video = _stream(model, first, a, 3, seed=5)
    assert video.shape == (2, 3, 3, 32, 32)
    assert torch.equal(video, _stream(model, first, a, 3, seed=5))
    assert (video - _stream(model, first, a, 3, seed=6)).abs().max() > 1e-3


def test_state_round_trip_mid_sequence_continues_identically() -> None:
    model = _model(TINY)
    first, a = _clip(TINY)[:, 0], _attributes(TINY)
    uninterrupted = _stream(model, first, a, 4, seed=3)
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        state = model.observe(first, model.start(a, generator), generator)
        frame, state = model.predict(state, generator)
        saved = {key: value.clone() for key, value in state.to_tensors().items()}
        resumed_generator = torch.Generator()
        resumed_generator.set_state(generator.get_state())
        del state, generator
        state = VideoVaeState.from_tensors(saved)
        frames = [frame]
        for _ in range(3):
            frame, state = model.predict(state, resumed_generator)
            frames.append(frame)
    assert torch.equal(torch.stack(frames, 1), uninterrupted)


def test_attributes_change_the_samples() -> None:
    model = _model(TINY)
    a = _attributes(TINY)
    assert (_stream(model, None, a, 2, seed=1) - _stream(model, None, a.flip(0), 2, seed=1)).abs().max() > 1e-3


def test_kl_zero_when_posterior_equals_prior() -> None:
    mean, logvar = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    assert torch.allclose(gaussian_kl(mean, logvar, mean, logvar), torch.zeros(2, 3, 4), atol=1e-6)
    assert (gaussian_kl(mean, logvar, -mean, logvar + 1) > 0).all()


def test_attribute_classifier_learns_and_vae_reconstruction_falls() -> None:
    torch.manual_seed(0)
    model = VideoVae(TINY).train()
    generator = torch.Generator().manual_seed(0)
    # A clip per sample: a square whose size encodes the identity and whose colour and drift encode the action.
    clips = torch.full((3, TINY.clip_frames, 3, 32, 32), -1.0)
    actions, identities = torch.tensor([0, 1, 2]), torch.tensor([0, 1, 0])
    for b in range(3):
        side = 10 if identities[b] else 6
        for t in range(TINY.clip_frames):
            y = 8 + (t * 3 if actions[b] == 1 else 0)
            x = 8 + (t * 3 if actions[b] == 2 else 0)
            clips[b, t, actions[b], y : y + side, x : x + side] = 1.0

    # Stage 1: classifier + encoder, per frame.
    frames = clips.flatten(0, 1)
    frame_actions = actions.repeat_interleave(TINY.clip_frames)
    frame_identities = identities.repeat_interleave(TINY.clip_frames)
    optimiser = torch.optim.Adam([*model.encoder.parameters(), *model.classifier.parameters()], lr=1e-2)
    ce = []
    for _ in range(120):
        losses = attribute_classification_loss(model.classify(frames, generator), frame_actions, frame_identities)
        ce.append(losses.total.item())
        optimiser.zero_grad()
        losses.total.backward()
        optimiser.step()
    # Judged on the training batch in training mode: eval-mode batch-norm statistics after 120 steps at lr 1e-2 are
    # too unsettled to compare (they made this check depend on the thread count).
    assert min(ce[-5:]) < 0.3 * ce[0]

    # Stage 2: encoder frozen, ELBO.
    model.train()
    model.encoder.eval().requires_grad_(False)
    attributes = attribute_vector(actions, identities, TINY)
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    history = []
    for _ in range(30):
        losses = videovae_loss(model(clips, attributes, generator), clips, TINY.kl_weight)
        optimiser.zero_grad()
        losses.total.backward()
        optimiser.step()
        history.append(losses.reconstruction.item())
    assert history[-1] < 0.5 * history[0]


def test_posterior_logvar_init_starts_every_posterior_at_that_variance_and_still_learns() -> None:
    config = dataclasses.replace(TINY, posterior_logvar_init=-6.0)
    model = VideoVae(config).train()
    clip, generator = _clip(config), torch.Generator().manual_seed(0)
    out = model(clip, _attributes(config), generator)
    assert torch.allclose(out.posterior_logvar, torch.full_like(out.posterior_logvar, -6.0))
    assert not torch.allclose(out.posterior_mean[0], out.posterior_mean[1])  # the means still depend on the frames
    videovae_loss(out, clip, 1.0).total.backward()
    assert model.q_dynamics.net[-1].weight.grad[config.latent_dim:].abs().sum() > 0  # log σ² is learnt from there
    with pytest.raises(ValueError, match="posterior_logvar_init"):
        VideoVaeConfig(posterior_logvar_init=50.0)


def test_context_skips_start_as_a_no_op_and_serve_only_blank_looks() -> None:
    config = dataclasses.replace(PRESETS["videovae-small-resize"], look_dropout=0.5, context_skips=True,
                                 num_actions=3, num_identities=2, latent_dim=8)
    torch.manual_seed(0)
    plain = VideoVae(dataclasses.replace(config, context_skips=False))
    skipped = VideoVae(config)
    skipped.load_state_dict(plain.state_dict(), strict=False)  # the skips alone are new, and start at zero
    skipped.eval(), plain.eval()
    clip = _clip(config, batch=2)
    attributes = attribute_vector(torch.tensor([0, 1]), torch.tensor([1, BLANK_LOOK]), config)

    def futures(model: VideoVae) -> torch.Tensor:
        return _stream(model, clip[:, 0], attributes, 3, seed=4)

    assert torch.equal(futures(plain), futures(skipped))
    with torch.no_grad():
        for conv in skipped.decoder.skips.convs:
            conv.weight.normal_(0, 0.3)
    moved = (futures(skipped) - futures(plain)).abs().amax(dim=(1, 2, 3, 4))  # (2,): per clip
    assert moved[0] == 0 and moved[1] > 1e-2  # the named look decodes as before; the blank one reads the frame
    with torch.no_grad():  # the copy mask wide open: a blank-look future is the observed frame
        skipped.decoder.skips.gate.fill_(1.0)
        skipped.decoder.skips.mask.bias.fill_(30.0)
    copied = futures(skipped)  # (2, 3, C, S, S)
    assert torch.allclose(copied[1], clip[1, :1].expand(3, -1, -1, -1), atol=1e-5)
    assert not torch.allclose(copied[0], clip[0, :1].expand(3, -1, -1, -1), atol=1e-2)
    with pytest.raises(ValueError, match="context_skips"):
        dataclasses.replace(config, look_dropout=0.0)
