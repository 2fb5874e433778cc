"""SAVP generator (reference §5.1-§5.3, §5.7): the per-step recurrent cell with CDNA-warped candidate compositing,
the posterior encoder, and the model with an explicit-state streaming API. torch only. Frames are in [0, 1].

Streaming (§5.7):

    state = model.start(context[0])
    for frame in context[1:]:
        state = model.observe(frame, state, generator)   # z from the posterior on (previous, frame)
    for _ in range(n_future):
        frame, state = model.predict(state, generator)   # z ~ N(0, I), own prediction fed back

Training (`forward`) unrolls the cell twice with shared weights (§5.3): the posterior (VAE) branch with z from the
posterior at every step, and the prior (GAN) branch with z from the posterior for the first context_frames - 1
steps and from N(0, I) afterwards. The `vae` variant has only the first, `gan` and `deterministic` only the second
(GAN-only has no posterior encoder, so all its z come from the prior).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from models.families.savp.config import SavpConfig
from models.families.savp.layers import (
    ConvLstm,
    ConvPool,
    LatentLstm,
    LstmState,
    UpConv,
    apply_cdna,
    init_savp_weights,
    instance_norm,
    maybe_shift,
    normalise_cdna_kernels,
    optional_shift,
    with_latent,
)


class RecurrentStage(nn.Module):
    """[conv_pool | up_conv](x ⊕ z̃) → IN (+ z's offset) → ReLU → ConvLSTM(· ⊕ z̃)."""

    def __init__(self, resample: nn.Module, features: int, latent_dim: int, lstm_kernel: int, shift_dim: int) -> None:
        """`shift_dim`: nz of the shifts (`latent_shift`), 0 for none (the paper)."""
        super().__init__()
        self.resample = resample
        self.norm = instance_norm(features)
        self.shift = optional_shift(shift_dim, features)
        self.lstm = ConvLstm(features + latent_dim, features, lstm_kernel, shift_dim)

    def forward(self, x: torch.Tensor, latent: torch.Tensor, state: LstmState, z: torch.Tensor) -> LstmState:
        """`latent` z̃_t (tiled and concatenated), `z` the step's own z_t (the shifts' input)."""
        y = self.norm(self.resample(with_latent(x, latent)))  # (B, F, h, w)
        y = torch.relu(maybe_shift(self.shift, y, z))
        return self.lstm(with_latent(y, latent), state, z)


class CellOutput(NamedTuple):
    frame: torch.Tensor  # (B, C, H, W) in [0, 1]
    masks: torch.Tensor  # (B, K + 3, H, W): softmax over candidates
    candidates: torch.Tensor  # (B, K + 3, C, H, W): K CDNA warps, current image, first frame, scratch image
    conv_lstm: tuple[LstmState, ...]
    latent_lstm: LstmState | None


class SavpCell(nn.Module):
    """One generator step: (current image, first frame, z_t, recurrent states) → next frame."""

    def __init__(self, config: SavpConfig) -> None:
        super().__init__()
        c, g, nz, k = config.image_channels, config.ngf, config.latent_dim, config.convlstm_kernel_size
        self.latent_lstm = LatentLstm(nz) if nz else None
        shift = nz if config.latent_shift else 0  # nz of every z shift; 0: none
        self.stages = nn.ModuleList(
            [
                RecurrentStage(ConvPool(2 * c + nz, g, 5), g, nz, k, shift),  # e0: (B, g, H/2, W/2)
                RecurrentStage(ConvPool(g + nz, 2 * g, 3), 2 * g, nz, k, shift),  # e1: (B, 2g, H/4, W/4)
                RecurrentStage(ConvPool(2 * g + nz, 4 * g, 3), 4 * g, nz, k, shift),  # e2: (B, 4g, H/8, W/8)
                RecurrentStage(UpConv(4 * g + nz, 2 * g, 3), 2 * g, nz, k, shift),  # d0: (B, 2g, H/4, W/4)
                RecurrentStage(UpConv(4 * g + nz, g, 3), g, nz, k, shift),  # d1 on [d0, e1]: (B, g, H/2, W/2)
            ]
        )
        self.last_up = UpConv(2 * g + nz, g, 3)  # d2 on [d1, e0]: (B, g, H, W), no ConvLSTM
        self.last_norm = instance_norm(g)
        self.last_shift = optional_shift(shift, g)
        self.num_kernels, self.kernel_size = config.cdna_kernels, config.cdna_kernel_size
        self.cdna_normalisation = config.cdna_normalisation
        bottleneck = 4 * g * (config.image_size // 8) ** 2
        self.cdna = nn.Linear(bottleneck, self.num_kernels * self.kernel_size**2)
        self.scratch = nn.Sequential(
            nn.Conv2d(g, g, 3, padding=1), instance_norm(g), nn.ReLU(), nn.Conv2d(g, c, 3, padding=1), nn.Sigmoid()
        )
        self.mask_features = nn.Sequential(nn.Conv2d(g, g, 3, padding=1), instance_norm(g), nn.ReLU())
        self.num_candidates = self.num_kernels + 3
        self.mask_logit_bound = config.mask_logit_bound
        self.masks = nn.Conv2d(g + self.num_candidates * c, self.num_candidates, 3, padding=1)

    def zero_states(self, first_frame: torch.Tensor) -> tuple[tuple[LstmState, ...], LstmState | None]:
        b, _, h, w = first_frame.shape
        scales = (2, 4, 8, 4, 2)  # e0, e1, e2, d0, d1
        conv = tuple(
            stage.lstm.zero_state(b, h // s, w // s, first_frame) for stage, s in zip(self.stages, scales, strict=True)
        )
        latent = self.latent_lstm.zero_state(b, first_frame) if self.latent_lstm else None
        return conv, latent

    def forward(
        self,
        image: torch.Tensor,
        first_frame: torch.Tensor,
        z: torch.Tensor,
        conv_lstm: tuple[LstmState, ...],
        latent_lstm: LstmState | None,
    ) -> CellOutput:
        if self.latent_lstm is not None and latent_lstm is not None:
            latent_lstm = self.latent_lstm(z, latent_lstm)
            latent = latent_lstm.h  # z̃_t (B, nz)
        else:
            latent = z  # (B, 0)
        e0 = self.stages[0](torch.cat([image, first_frame], 1), latent, conv_lstm[0], z)
        e1 = self.stages[1](e0.h, latent, conv_lstm[1], z)
        e2 = self.stages[2](e1.h, latent, conv_lstm[2], z)
        d0 = self.stages[3](e2.h, latent, conv_lstm[3], z)
        d1 = self.stages[4](torch.cat([d0.h, e1.h], 1), latent, conv_lstm[4], z)
        d2 = self.last_norm(self.last_up(with_latent(torch.cat([d1.h, e0.h], 1), latent)))  # (B, g, H, W)
        d2 = torch.relu(maybe_shift(self.last_shift, d2, z))

        b = image.shape[0]
        raw = self.cdna(e2.h.flatten(1)).view(b, self.num_kernels, self.kernel_size, self.kernel_size)
        warped = apply_cdna(image, normalise_cdna_kernels(raw, self.cdna_normalisation))  # (B, K, C, H, W)
        candidates = torch.cat(
            [warped, image[:, None], first_frame[:, None], self.scratch(d2)[:, None]], 1
        )  # (B, K + 3, C, H, W)
        logits = self.masks(torch.cat([self.mask_features(d2), candidates.flatten(1, 2)], 1))  # (B, K + 3, H, W)
        if self.mask_logit_bound > 0:
            logits = self.mask_logit_bound * torch.tanh(logits / self.mask_logit_bound)
        masks = torch.softmax(logits, dim=1)
        frame = (masks[:, :, None] * candidates).sum(1)  # (B, C, H, W)
        return CellOutput(frame, masks, candidates, (e0, e1, e2, d0, d1), latent_lstm)


class PosteriorEncoder(nn.Module):
    """q(z_t | x_t, x_{t+1}): three 4×4 stride-2 convs (IN on the last two, LReLU 0.2), global average, μ and
    log σ² heads (log σ² clipped to [-10, 10])."""

    def __init__(self, config: SavpConfig) -> None:
        super().__init__()
        c, n = config.image_channels, config.posterior_ndf
        self.body = nn.Sequential(
            nn.Conv2d(2 * c, n, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(n, 2 * n, 4, 2, 1), instance_norm(2 * n), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * n, 4 * n, 4, 2, 1), instance_norm(4 * n), nn.LeakyReLU(0.2),
        )  # fmt: skip
        self.mean = nn.Linear(4 * n, config.latent_dim)
        self.logvar = nn.Linear(4 * n, config.latent_dim)

    def forward(self, frame: torch.Tensor, next_frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(torch.cat([frame, next_frame], 1)).mean(dim=(2, 3))  # (B, 4n)
        return self.mean(features), self.logvar(features).clamp(-10.0, 10.0)  # (B, nz) each


@dataclass
class SavpState:
    """Everything a stream needs between frames; `latent_lstm` is None for the deterministic variant."""

    first_frame: torch.Tensor  # (B, C, H, W)
    current_frame: torch.Tensor  # (B, C, H, W): last observed or predicted frame
    conv_lstm: tuple[LstmState, ...]  # e0, e1, e2, d0, d1
    latent_lstm: LstmState | None

    def to_tensors(self) -> dict[str, torch.Tensor]:
        tensors = {"first_frame": self.first_frame, "current_frame": self.current_frame}
        for i, state in enumerate(self.conv_lstm):
            tensors[f"conv_lstm.{i}.h"], tensors[f"conv_lstm.{i}.c"] = state.h, state.c
        if self.latent_lstm is not None:
            tensors["latent_lstm.h"], tensors["latent_lstm.c"] = self.latent_lstm.h, self.latent_lstm.c
        return tensors

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> SavpState:
        layers = sum(1 for key in tensors if key.startswith("conv_lstm.") and key.endswith(".h"))
        latent = LstmState(tensors["latent_lstm.h"], tensors["latent_lstm.c"]) if "latent_lstm.h" in tensors else None
        return cls(
            first_frame=tensors["first_frame"],
            current_frame=tensors["current_frame"],
            conv_lstm=tuple(LstmState(tensors[f"conv_lstm.{i}.h"], tensors[f"conv_lstm.{i}.c"]) for i in range(layers)),
            latent_lstm=latent,
        )


class PredictedFrame(NamedTuple):
    frame: torch.Tensor  # (B, C, H, W) in [0, 1]
    state: SavpState


@dataclass
class SavpTrainingOutput:
    """Predictions of frames 1..L-1 per branch (None where the variant has no such branch) and q(z_t)."""

    posterior_branch: torch.Tensor | None  # (B, L-1, C, H, W): x̂^enc, z from the posterior throughout
    prior_branch: torch.Tensor | None  # (B, L-1, C, H, W): x̂, z from N(0, I) after the context
    posterior_mean: torch.Tensor  # (B, L-1, nz); width 0 without a posterior
    posterior_logvar: torch.Tensor  # (B, L-1, nz)


class SavpGenerator(nn.Module):
    """The recurrent cell plus (for `savp` and `vae`) the posterior encoder."""

    def __init__(self, config: SavpConfig) -> None:
        super().__init__()
        self.config = config
        self.cell = SavpCell(config)
        self.posterior = PosteriorEncoder(config) if config.uses_posterior else None
        self.apply(init_savp_weights)

    def _prior_z(self, batch: int, like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        shape = (batch, self.config.latent_dim)  # drawn on the generator's device (a CPU job rng on any model device)
        return torch.randn(shape, generator=generator, device=generator.device, dtype=like.dtype).to(like.device)

    def _step(self, image: torch.Tensor, z: torch.Tensor, state: SavpState) -> CellOutput:
        return self.cell(image, state.first_frame, z, state.conv_lstm, state.latent_lstm)

    # ---- streaming ----------------------------------------------------------------------------------------------

    def start(self, first_frame: torch.Tensor) -> SavpState:
        conv, latent = self.cell.zero_states(first_frame)
        return SavpState(first_frame, first_frame, conv, latent)

    def observe(self, frame: torch.Tensor, state: SavpState, generator: torch.Generator) -> SavpState:
        """Feed the next context frame; the cell steps on the previous one with z from q(z | previous, frame)."""
        if self.posterior is not None:
            mean, logvar = self.posterior(state.current_frame, frame)
            z = mean + torch.exp(0.5 * logvar) * self._prior_z(frame.shape[0], frame, generator)
        else:
            z = self._prior_z(frame.shape[0], frame, generator)  # GAN-only: prior; deterministic: width 0
        out = self._step(state.current_frame, z, state)
        return SavpState(state.first_frame, frame, out.conv_lstm, out.latent_lstm)

    def predict(self, state: SavpState, generator: torch.Generator) -> PredictedFrame:
        out = self._step(
            state.current_frame, self._prior_z(state.current_frame.shape[0], state.first_frame, generator), state
        )
        return PredictedFrame(out.frame, SavpState(state.first_frame, out.frame, out.conv_lstm, out.latent_lstm))

    # ---- training -----------------------------------------------------------------------------------------------

    def _unroll(
        self, frames: torch.Tensor, z: torch.Tensor, generator: torch.Generator, ground_truth_probability: float
    ) -> torch.Tensor:
        """Predict frames 1..L-1 of (B, L, C, H, W) with z (B, L-1, nz); after the context the cell sees its own
        prediction, or (scheduled sampling) the true frame with probability `ground_truth_probability` per sample."""
        b, length = frames.shape[:2]
        state = self.start(frames[:, 0])
        image, predictions = frames[:, 0], []
        for t in range(length - 1):
            if 0 < t < self.config.context_frames:
                image = frames[:, t]
            elif t >= self.config.context_frames and ground_truth_probability > 0:
                use_truth = torch.rand(b, generator=generator, device=frames.device) < ground_truth_probability
                image = torch.where(use_truth[:, None, None, None], frames[:, t], image)
            out = self._step(image, z[:, t], state)
            state = SavpState(state.first_frame, out.frame, out.conv_lstm, out.latent_lstm)
            image = out.frame
            predictions.append(out.frame)
        return torch.stack(predictions, 1)  # (B, L-1, C, H, W)

    def forward(
        self, frames: torch.Tensor, generator: torch.Generator, ground_truth_probability: float = 0.0
    ) -> SavpTrainingOutput:
        """Both branches over a sequence (B, L, C, H, W); see the module docstring."""
        b, length = frames.shape[:2]
        steps, nz = length - 1, self.config.latent_dim
        prior_z = torch.randn((b, steps, nz), generator=generator, device=frames.device, dtype=frames.dtype)
        posterior_branch = None
        if self.posterior is not None:
            mean, logvar = self.posterior(frames[:, :-1].flatten(0, 1), frames[:, 1:].flatten(0, 1))
            mean, logvar = mean.view(b, steps, nz), logvar.view(b, steps, nz)  # (B, L-1, nz)
            noise = torch.randn((b, steps, nz), generator=generator, device=frames.device, dtype=frames.dtype)
            posterior_z = mean + torch.exp(0.5 * logvar) * noise
            posterior_branch = self._unroll(frames, posterior_z, generator, ground_truth_probability)
            context_steps = self.config.context_frames - 1
            prior_z = torch.cat([posterior_z[:, :context_steps], prior_z[:, context_steps:]], 1)
        else:
            mean = logvar = frames.new_zeros(b, steps, 0)
        prior_branch = None
        if self.config.uses_prior_branch:
            prior_branch = self._unroll(frames, prior_z, generator, ground_truth_probability)
        return SavpTrainingOutput(posterior_branch, prior_branch, mean, logvar)
