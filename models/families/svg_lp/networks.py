"""SVG-LP / SVG-FP networks (reference §4): frame predictor, posterior and prior LSTMs, and the whole model with a
streaming API whose state is an explicit set of tensors. torch only. Frames are in [0, 1].

Streaming (§4.5), with BatchNorm in inference mode (`model.eval()`):

    state = model.start(context[0])
    for frame in context[1:]:
        state = model.observe(frame, state, generator)      # z from the posterior, prior LSTM kept warm
    for _ in range(n_future):
        frame, state = model.predict(state, generator)      # z from the prior, own output fed back

Skips: the decoder uses the skip maps of the **last observed** frame for every predicted frame (the paper's choice;
the public code used the second-to-last context frame, §4.4). Training (`forward`) follows the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from models.families.svg_lp.codecs import build_codec, init_svg_weights
from models.families.svg_lp.config import SvgLpConfig


@dataclass
class LstmState:
    """Hidden and cell state of one LSTM cell."""

    h: torch.Tensor  # (B, R)
    c: torch.Tensor  # (B, R)


def zero_lstm_states(layers: int, batch: int, size: int, like: torch.Tensor) -> tuple[LstmState, ...]:
    return tuple(LstmState(like.new_zeros(batch, size), like.new_zeros(batch, size)) for _ in range(layers))


def _run_cells(cells: nn.ModuleList, x: torch.Tensor, states: tuple[LstmState, ...]) -> tuple[LstmState, ...]:
    new_states = []
    for cell, state in zip(cells, states, strict=True):
        h, c = cell(x, (state.h, state.c))  # (B, R) each
        new_states.append(LstmState(h, c))
        x = h
    return tuple(new_states)


class FramePredictor(nn.Module):
    """Linear(g + z → R) → stacked LSTM cells → Linear(R → g) → tanh."""

    def __init__(self, input_dim: int, rnn_size: int, layers: int, output_dim: int) -> None:
        super().__init__()
        self.embed = nn.Linear(input_dim, rnn_size)
        self.cells = nn.ModuleList(nn.LSTMCell(rnn_size, rnn_size) for _ in range(layers))
        self.out = nn.Sequential(nn.Linear(rnn_size, output_dim), nn.Tanh())

    def forward(self, x: torch.Tensor, states: tuple[LstmState, ...]) -> tuple[torch.Tensor, tuple[LstmState, ...]]:
        states = _run_cells(self.cells, self.embed(x), states)
        return self.out(states[-1].h), states  # (B, g)


class GaussianStep(NamedTuple):
    mean: torch.Tensor  # (B, z)
    logvar: torch.Tensor  # (B, z)
    states: tuple[LstmState, ...]


class GaussianLstm(nn.Module):
    """Posterior q_φ or learned prior p_ψ: Linear(g → R) → LSTM cells → heads μ and log σ² (each R → z)."""

    def __init__(self, input_dim: int, rnn_size: int, layers: int, latent_dim: int) -> None:
        super().__init__()
        self.embed = nn.Linear(input_dim, rnn_size)
        self.cells = nn.ModuleList(nn.LSTMCell(rnn_size, rnn_size) for _ in range(layers))
        self.mean = nn.Linear(rnn_size, latent_dim)
        self.logvar = nn.Linear(rnn_size, latent_dim)

    def forward(self, x: torch.Tensor, states: tuple[LstmState, ...]) -> GaussianStep:
        states = _run_cells(self.cells, self.embed(x), states)
        return GaussianStep(self.mean(states[-1].h), self.logvar(states[-1].h), states)


def sample_gaussian(mean: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """mean + σ·ε with ε drawn from `generator` on the generator's own device (a CPU generator serves a CUDA model:
    the draw is moved after drawing, so samples do not depend on the device)."""
    noise = torch.randn(mean.shape, generator=generator, device=generator.device).to(mean.device, mean.dtype)
    return mean + torch.exp(0.5 * logvar) * noise  # (B, z)


@dataclass
class SvgLpState:
    """Everything a stream needs between frames. `posterior` is None for the deterministic variant, `prior` is None
    unless the prior is learned."""

    predictor: tuple[LstmState, ...]
    posterior: tuple[LstmState, ...] | None
    prior: tuple[LstmState, ...] | None
    last_code: torch.Tensor  # (B, g): code of the last frame, observed or predicted
    skips: tuple[torch.Tensor, ...]  # decoder skips of the last observed frame

    def to_tensors(self) -> dict[str, torch.Tensor]:
        tensors = {"last_code": self.last_code}
        tensors.update({f"skips.{i}": skip for i, skip in enumerate(self.skips)})
        for name, states in (("predictor", self.predictor), ("posterior", self.posterior), ("prior", self.prior)):
            for i, state in enumerate(states or ()):
                tensors[f"{name}.{i}.h"] = state.h
                tensors[f"{name}.{i}.c"] = state.c
        return tensors

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> SvgLpState:
        def lstm(name: str) -> tuple[LstmState, ...] | None:
            layers = sum(1 for key in tensors if key.startswith(f"{name}.") and key.endswith(".h"))
            if layers == 0:
                return None
            return tuple(LstmState(tensors[f"{name}.{i}.h"], tensors[f"{name}.{i}.c"]) for i in range(layers))

        num_skips = sum(1 for key in tensors if key.startswith("skips."))
        predictor = lstm("predictor")
        if predictor is None:
            raise KeyError("state has no predictor.* tensors")
        return cls(
            predictor=predictor,
            posterior=lstm("posterior"),
            prior=lstm("prior"),
            last_code=tensors["last_code"],
            skips=tuple(tensors[f"skips.{i}"] for i in range(num_skips)),
        )


class PredictedFrame(NamedTuple):
    frame: torch.Tensor  # (B, C, H, W) in [0, 1]
    state: SvgLpState


@dataclass
class SvgLpTrainingOutput:
    """Teacher-forced predictions of frames 1..T-1 and the Gaussians of each step (z width 0 if deterministic)."""

    reconstructions: torch.Tensor  # (B, T-1, C, H, W)
    posterior_mean: torch.Tensor  # (B, T-1, z)
    posterior_logvar: torch.Tensor  # (B, T-1, z)
    prior_mean: torch.Tensor  # (B, T-1, z); zeros for SVG-FP
    prior_logvar: torch.Tensor  # (B, T-1, z); zeros for SVG-FP


class SvgLp(nn.Module):
    """Encoder, decoder, frame predictor, posterior (stochastic variants) and learned prior (LP only)."""

    def __init__(self, config: SvgLpConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder, self.decoder = build_codec(config)
        g, z, r = config.frame_dim, config.latent_dim, config.rnn_size
        self.predictor = FramePredictor(g + z, r, config.predictor_layers, g)
        self.posterior = GaussianLstm(g, r, config.posterior_layers, z) if config.is_stochastic else None
        self.prior = GaussianLstm(g, r, config.prior_layers, z) if config.variant == "learned_prior" else None
        for module in (self.predictor, self.posterior, self.prior):
            if module is not None:
                for layer in module.modules():
                    if isinstance(layer, nn.Linear):
                        init_svg_weights(layer)

    # ---- shared pieces ------------------------------------------------------------------------------------------

    def _zero_state(self, code: torch.Tensor, skips: tuple[torch.Tensor, ...]) -> SvgLpState:
        b, cfg = code.shape[0], self.config
        return SvgLpState(
            predictor=zero_lstm_states(cfg.predictor_layers, b, cfg.rnn_size, code),
            posterior=zero_lstm_states(cfg.posterior_layers, b, cfg.rnn_size, code) if self.posterior else None,
            prior=zero_lstm_states(cfg.prior_layers, b, cfg.rnn_size, code) if self.prior else None,
            last_code=code,
            skips=skips,
        )

    def _posterior_z(
        self, target_code: torch.Tensor, states: tuple[LstmState, ...] | None, generator: torch.Generator
    ) -> tuple[torch.Tensor, GaussianStep | None]:
        """z ~ q(z | target frame) and the posterior step; an empty z for the deterministic variant."""
        if self.posterior is None or states is None:
            return target_code.new_zeros(target_code.shape[0], 0), None
        step = self.posterior(target_code, states)
        return sample_gaussian(step.mean, step.logvar, generator), step

    # ---- streaming ----------------------------------------------------------------------------------------------

    def start(self, first_frame: torch.Tensor) -> SvgLpState:
        """Reset every LSTM and encode the first context frame (B, C, H, W)."""
        encoded = self.encoder(first_frame)
        return self._zero_state(encoded.code, encoded.skips)

    def observe(self, frame: torch.Tensor, state: SvgLpState, generator: torch.Generator) -> SvgLpState:
        """Feed the next context frame: z from the posterior on it, predictor and prior stepped, skips refreshed."""
        encoded = self.encoder(frame)
        z, posterior_step = self._posterior_z(encoded.code, state.posterior, generator)
        prior_states = self.prior(state.last_code, state.prior).states if self.prior and state.prior else None
        _, predictor_states = self.predictor(torch.cat([state.last_code, z], 1), state.predictor)
        return SvgLpState(
            predictor=predictor_states,
            posterior=posterior_step.states if posterior_step else None,
            prior=prior_states,
            last_code=encoded.code,
            skips=encoded.skips,
        )

    def predict(self, state: SvgLpState, generator: torch.Generator) -> PredictedFrame:
        """One future frame: z from the prior (learned: p_ψ; fixed: N(0, I); none if deterministic)."""
        code, prior_states = state.last_code, state.prior
        if self.prior is not None and prior_states is not None:
            step = self.prior(code, prior_states)
            z, prior_states = sample_gaussian(step.mean, step.logvar, generator), step.states
        elif self.config.variant == "fixed_prior":
            z = torch.randn(code.shape[0], self.config.latent_dim, generator=generator, device=generator.device)
            z = z.to(code.device, code.dtype)  # (B, z)
        else:
            z = code.new_zeros(code.shape[0], 0)
        predicted_code, predictor_states = self.predictor(torch.cat([code, z], 1), state.predictor)
        frame = self.decoder(predicted_code, state.skips)  # (B, C, H, W)
        next_state = SvgLpState(
            predictor=predictor_states,
            posterior=state.posterior,
            prior=prior_states,
            last_code=self.encoder(frame).code,
            skips=state.skips,
        )
        return PredictedFrame(frame, next_state)

    # ---- training -----------------------------------------------------------------------------------------------

    def forward(self, frames: torch.Tensor, generator: torch.Generator) -> SvgLpTrainingOutput:
        """Teacher-forced pass over a whole sequence (B, T, C, H, W) (§4.4); the first `context_frames` refresh
        the skips."""
        b, t = frames.shape[:2]
        encoded = self.encoder(frames.flatten(0, 1))
        codes = encoded.code.view(b, t, -1)  # (B, T, g)
        state = self._zero_state(codes[:, 0], ())
        predicted, q_means, q_logvars, p_means, p_logvars = [], [], [], [], []
        for i in range(1, t):
            z, posterior_step = self._posterior_z(codes[:, i], state.posterior, generator)
            if posterior_step is not None:
                q_means.append(posterior_step.mean)
                q_logvars.append(posterior_step.logvar)
                state.posterior = posterior_step.states
            if self.prior is not None and state.prior is not None:
                prior_step = self.prior(codes[:, i - 1], state.prior)
                p_means.append(prior_step.mean)
                p_logvars.append(prior_step.logvar)
                state.prior = prior_step.states
            code, state.predictor = self.predictor(torch.cat([codes[:, i - 1], z], 1), state.predictor)
            predicted.append(code)
        # Step i decodes with the skips of frame min(i - 1, n_past - 1): the last context frame once it is seen.
        skip_frames = [min(i - 1, self.config.context_frames - 1) for i in range(1, t)]
        step_skips = tuple(
            s.view(b, t, *s.shape[1:])[:, skip_frames].flatten(0, 1) for s in encoded.skips
        )  # each (B·(T-1), w, h, w)
        images = self.decoder(torch.stack(predicted, 1).flatten(0, 1), step_skips)
        empty = codes.new_zeros(b, t - 1, self.config.latent_dim)
        q_mean = torch.stack(q_means, 1) if q_means else empty
        q_logvar = torch.stack(q_logvars, 1) if q_logvars else empty
        return SvgLpTrainingOutput(
            reconstructions=images.view(b, t - 1, *frames.shape[2:]),
            posterior_mean=q_mean,
            posterior_logvar=q_logvar,
            prior_mean=torch.stack(p_means, 1) if p_means else torch.zeros_like(q_mean),
            prior_logvar=torch.stack(p_logvars, 1) if p_logvars else torch.zeros_like(q_logvar),
        )
