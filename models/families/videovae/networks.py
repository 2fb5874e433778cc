"""VideoVAE structured latent model (reference §6.2, §6.4) with an explicit-state streaming API. torch only.
Frames are S×S (64 or 32) in [-1, 1]; attributes a = [one-hot action, one-hot identity] (B, A), constant over a clip.

Per frame t, with LSTM state (h, c) from the previous frame:

    (μ_q, log σ²_q)   = q(x_enc(x_t))
    (μ_a, log σ²_a)   = q_a([μ_q, log σ²_q, a])
    (μ_dy, log σ²_dy) = q_dy([μ_a, log σ²_a, φ(h)])      z_t ~ N(μ_dy, σ²_dy) (training, observed frames)
    (μ_p, log σ²_p)   = p([φ(h), a])                    z_t ~ N(μ_p, σ²_p)   (generated frames)
    x̂_t = Dec(z_t);   (h, c) ← LSTM([z_t, μ_q, log σ²_q], (h, c))

Streaming (§6.4): `start(attributes, generator)` draws h_0, c_0 ~ N(0, I); `observe(frame, ...)` runs the posterior
chain on a given frame (mode 2, "first frame + attributes"); `predict(...)` samples z from the prior, decodes,
re-encodes the generated frame for the LSTM input and returns the frame (mode 1 is `start` then only `predict`).
Training (`forward`) starts from the same N(0, I) state so that training and sampling agree.

Ours (off in the presets): with `look_dropout` an identity block may be blank (BLANK_LOOK: "the look of the frames
observed"); with `context_skips` the decoder of a blank-look frame also reads the latest real frame through zero-
initialised skips (`codecs.ContextSkips`): the clip's first frame in training, the last observed one when streaming.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from models.families.videovae.codecs import (
    AttributeClassifier,
    AttributeLogits,
    FrameDecoder,
    FrameEncoder,
    SkipSources,
    init_videovae_weights,
)
from models.families.videovae.config import VideoVaeConfig


class Gaussian(NamedTuple):
    mean: torch.Tensor  # (B, Z)
    logvar: torch.Tensor  # (B, Z)


class GaussianMlp(nn.Module):
    """Linear → ReLU → Linear to (μ, log σ²)."""

    def __init__(self, input_dim: int, hidden: int, latent_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(input_dim, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent_dim))

    def forward(self, x: torch.Tensor) -> Gaussian:
        mean, logvar = self.net(x).chunk(2, dim=1)
        return Gaussian(mean, logvar)

    def start_logvar_at(self, value: float) -> None:
        """log σ² = value for every input at initialisation: its output weights zero, its bias `value`."""
        head = self.net[-1]
        assert isinstance(head, nn.Linear)
        latent = head.out_features // 2
        with torch.no_grad():
            head.weight[latent:].zero_()
            head.bias[latent:].fill_(value)


def normal_noise(shape: tuple[int, ...], generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """N(0, I) drawn on the generator's device (a job's CPU rng gives the same draws on every device), moved to
    `like`'s device and dtype."""
    return torch.randn(shape, generator=generator, device=generator.device).to(like.device, like.dtype)


def sample_gaussian(gaussian: Gaussian, generator: torch.Generator) -> torch.Tensor:
    noise = normal_noise(tuple(gaussian.mean.shape), generator, gaussian.mean)
    return gaussian.mean + torch.exp(0.5 * gaussian.logvar) * noise  # (B, Z)


BLANK_LOOK = -1
"""An identity label that leaves a's identity block all zero: "the look of the observed frames" (`look_dropout`)."""


def attribute_vector(actions: torch.Tensor, identities: torch.Tensor, config: VideoVaeConfig) -> torch.Tensor:
    """Integer labels (B,) and (B,) → a = [one-hot action, one-hot identity] (B, num_attributes), float; an identity
    of BLANK_LOOK gives an all-zero identity block."""
    known = (identities != BLANK_LOOK).unsqueeze(1)  # (B, 1)
    identity = F.one_hot(identities.clamp(min=0), config.num_identities) * known  # (B, num_identities)
    return torch.cat([F.one_hot(actions, config.num_actions), identity], dim=1).float()


def blank_looks(identities: torch.Tensor, probability: float, generator: torch.Generator) -> torch.Tensor:
    """Identity labels (B,) with each replaced by BLANK_LOOK with `probability` (no draw when it is 0)."""
    if probability <= 0:
        return identities
    blank = torch.rand(identities.shape, generator=generator, device=generator.device) < probability  # (B,)
    return torch.where(blank.to(identities.device), torch.full_like(identities, BLANK_LOOK), identities)


@dataclass
class VideoVaeState:
    """LSTM state and the requested attributes of a stream; with `context_skips`, what the encoder's convs read from
    the latest observed frame (the skips' sources, kept from observing it)."""

    h: torch.Tensor  # (B, lstm_size)
    c: torch.Tensor  # (B, lstm_size)
    attributes: torch.Tensor  # (B, A)
    skip_inputs: list[torch.Tensor] | None = None  # the frame (B, C, S, S), then three conv outputs; None: no skips

    def to_tensors(self) -> dict[str, torch.Tensor]:
        skips = {f"skip_{i}": x for i, x in enumerate(self.skip_inputs or [])}
        return {"h": self.h, "c": self.c, "attributes": self.attributes, **skips}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> VideoVaeState:
        skips = [tensors[f"skip_{i}"] for i in range(sum(k.startswith("skip_") for k in tensors))]
        return cls(h=tensors["h"], c=tensors["c"], attributes=tensors["attributes"], skip_inputs=skips or None)


class PredictedFrame(NamedTuple):
    frame: torch.Tensor  # (B, C, S, S) in [-1, 1]
    state: VideoVaeState


@dataclass
class VideoVaeTrainingOutput:
    reconstructions: torch.Tensor  # (B, T, C, S, S)
    posterior_mean: torch.Tensor  # (B, T, Z): q_dy
    posterior_logvar: torch.Tensor  # (B, T, Z)
    prior_mean: torch.Tensor  # (B, T, Z): p([φ(h), a])
    prior_logvar: torch.Tensor  # (B, T, Z)
    features: torch.Tensor  # (B, T, feature_dim): x_enc of every frame (for attribute terms on a trained encoder)


class VideoVae(nn.Module):
    """Encoder, attribute classifier, decoder, φ, the four Gaussian MLPs and the LSTM."""

    def __init__(self, config: VideoVaeConfig) -> None:
        super().__init__()
        self.config = config
        z, h, m, a = config.latent_dim, config.lstm_size, config.mlp_hidden, config.num_attributes
        self.encoder = FrameEncoder(config)
        self.classifier = AttributeClassifier(config)
        self.decoder = FrameDecoder(config)
        self.phi = nn.Sequential(nn.Linear(h, m), nn.ReLU(), nn.Linear(m, h))
        self.q_frame = GaussianMlp(config.feature_dim, m, z)
        self.q_attributes = GaussianMlp(2 * z + a, m, z)
        self.q_dynamics = GaussianMlp(2 * z + h, m, z)
        self.prior = GaussianMlp(h + a, m, z)
        self.lstm = nn.LSTMCell(3 * z, h)
        for module in self.modules():
            if not isinstance(module, nn.LSTMCell):
                init_videovae_weights(module, config.linear_init_std, config.conv_init_kaiming)
        if config.posterior_logvar_init is not None:
            self.q_dynamics.start_logvar_at(config.posterior_logvar_init)

    def classify(self, frames: torch.Tensor, generator: torch.Generator | None) -> AttributeLogits:
        """Per-frame attribute logits for frames (N, C, S, S); the generator drives dropout in training mode."""
        return self.classifier(self.encoder(frames, generator))

    # ---- one step -----------------------------------------------------------------------------------------------

    def _frame_gaussian(self, frame: torch.Tensor, generator: torch.Generator | None) -> Gaussian:
        return self.q_frame(self.encoder(frame, generator))  # (μ_q, log σ²_q)

    def _posterior(self, frame_q: Gaussian, state: VideoVaeState) -> Gaussian:
        q_a = self.q_attributes(torch.cat([frame_q.mean, frame_q.logvar, state.attributes], 1))
        return self.q_dynamics(torch.cat([q_a.mean, q_a.logvar, self.phi(state.h)], 1))  # q_dy

    def _prior(self, state: VideoVaeState) -> Gaussian:
        return self.prior(torch.cat([self.phi(state.h), state.attributes], 1))

    def _advance(self, z: torch.Tensor, frame_q: Gaussian, state: VideoVaeState) -> VideoVaeState:
        h, c = self.lstm(torch.cat([z, frame_q.mean, frame_q.logvar], 1), (state.h, state.c))
        return VideoVaeState(h, c, state.attributes, state.skip_inputs)

    def _skip_sources(self, inputs: list[torch.Tensor] | None, attributes: torch.Tensor) -> SkipSources | None:
        """The context skips' sources (the encoder's conv inputs of the latest real frame), used where the look is
        blank."""
        if self.decoder.skips is None or inputs is None:
            return None
        blank = attributes[:, self.config.num_actions:].sum(1) == 0  # (B,)
        return SkipSources(inputs, blank.to(inputs[0].dtype))

    # ---- streaming ----------------------------------------------------------------------------------------------

    def start(self, attributes: torch.Tensor, generator: torch.Generator) -> VideoVaeState:
        """h_0, c_0 ~ N(0, I) for attributes (B, A)."""
        shape = (attributes.shape[0], self.config.lstm_size)
        h = normal_noise(shape, generator, attributes)  # (B, lstm_size)
        c = normal_noise(shape, generator, attributes)  # (B, lstm_size)
        return VideoVaeState(h, c, attributes)

    def observe(self, frame: torch.Tensor, state: VideoVaeState, generator: torch.Generator) -> VideoVaeState:
        """A given frame (B, C, S, S) through the posterior chain: z ~ q_dy, then the LSTM step."""
        features, conv_inputs = self.encoder.encode(frame, generator)
        frame_q = self.q_frame(features)
        z = sample_gaussian(self._posterior(frame_q, state), generator)
        state = self._advance(z, frame_q, state)
        skip_inputs = conv_inputs if self.decoder.skips is not None else None
        return VideoVaeState(state.h, state.c, state.attributes, skip_inputs)

    def predict(self, state: VideoVaeState, generator: torch.Generator) -> PredictedFrame:
        """z ~ p([φ(h), a]), x̂ = Dec(z) (with the skips from the latest observed frame), then the LSTM step on
        [z, q(x_enc(x̂))]."""
        z = sample_gaussian(self._prior(state), generator)
        frame = self.decoder(z, self._skip_sources(state.skip_inputs, state.attributes))  # (B, C, S, S)
        return PredictedFrame(frame, self._advance(z, self._frame_gaussian(frame, generator), state))

    # ---- training -----------------------------------------------------------------------------------------------

    def forward(
        self, frames: torch.Tensor, attributes: torch.Tensor, generator: torch.Generator
    ) -> VideoVaeTrainingOutput:
        """Clip (B, T, C, S, S) with attributes (B, A): z_t from q_dy at every frame, reconstructions and both
        Gaussians per frame."""
        b, t = frames.shape[:2]
        flat_features, conv_inputs = self.encoder.encode(frames.flatten(0, 1), generator)  # (B·T, feature_dim)
        features = flat_features.view(b, t, -1)  # (B, T, feature_dim)
        state = self.start(attributes, generator)
        latents, posteriors, priors = [], [], []
        for i in range(t):
            frame_q = self.q_frame(features[:, i])
            posterior = self._posterior(frame_q, state)
            priors.append(self._prior(state))
            z = sample_gaussian(posterior, generator)
            state = self._advance(z, frame_q, state)
            latents.append(z)
            posteriors.append(posterior)
        firsts = [x.view(b, t, *x.shape[1:])[:, 0] for x in conv_inputs]  # each (B, c_i, s_i, s_i): the clip's first
        sources = self._skip_sources(firsts, attributes)  # every frame's skips read the clip's first frame
        if sources is not None:
            sources = SkipSources([x.repeat_interleave(t, 0) for x in sources.inputs], sources.use.repeat_interleave(t))
        images = self.decoder(torch.stack(latents, 1).flatten(0, 1), sources)  # (B·T, C, S, S)
        return VideoVaeTrainingOutput(
            reconstructions=images.view(b, t, *images.shape[1:]),
            posterior_mean=torch.stack([g.mean for g in posteriors], 1),
            posterior_logvar=torch.stack([g.logvar for g in posteriors], 1),
            prior_mean=torch.stack([g.mean for g in priors], 1),
            prior_logvar=torch.stack([g.logvar for g in priors], 1),
            features=features,
        )
