"""VideoVAE frame encoder, decoder and attribute classifier (reference §6.1). torch only. Frames are 64×64 (or
32×32, our CPU scale) in [-1, 1].

Encoder: unpadded bias-free convs 9×9 s1, 7×7 s3, 5×5 s1, 3×3 s3 (64 → 56 → 17 → 13 → 4), each BN + ReLU, 2-D
dropout, fc + ReLU, fc → x_enc. Decoder: fc + ReLU, fc, reshape, then ConvTs mirroring the encoder, tanh. At 32×32
the same four convs use 5×5 s1, 4×4 s2, 4×4 s1, 3×3 s2 (32 → 28 → 13 → 10 → 4: our scaling, not the port's).
`conv_plan` "padded" (ours) swaps the geometry for padded 4×4 s2 convs (DCGAN-like: 32 → 16 → 8 → 4, then a 3×3
s1; at 64 four 4×4 s2): measured here, a plain autoencoder of 8 fixed 10-frame people clips with the port's geometry
reached L1 375 per frame after 180 Adam steps (lr 1e-3), no better than each clip's mean colour (391), while a
padded one reached 123. `decoder_upsampling` "resize" (ours) mirrors each conv by nearest upsampling + 3×3 conv
instead of a ConvT (`_resize_stages`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.core.extensions import ZeroInitExtension
from models.families.videovae.config import VideoVaeConfig

CONV_PLANS: dict[tuple[str, int], tuple[tuple[int, int, int], ...]] = {
    ("port", 64): ((9, 1, 0), (7, 3, 0), (5, 1, 0), (3, 3, 0)),  # the port: 64 → 56 → 17 → 13 → 4
    ("port", 32): ((5, 1, 0), (4, 2, 0), (4, 1, 0), (3, 2, 0)),  # ours: 32 → 28 → 13 → 10 → 4
    ("padded", 64): ((4, 2, 1), (4, 2, 1), (4, 2, 1), (4, 2, 1)),  # 64 → 32 → 16 → 8 → 4
    ("padded", 32): ((4, 2, 1), (4, 2, 1), (4, 2, 1), (3, 1, 1)),  # 32 → 16 → 8 → 4 → 4
}
"""(kernel, stride, padding) of the four encoder convs per (conv_plan, frame size); the decoder's ConvTs mirror
them."""
_FINAL_SIZE = 4


def _mirror_output_padding(size: int, kernel: int, stride: int, padding: int) -> tuple[int, int]:
    """(input size, output padding) of the ConvT that undoes a conv (kernel, stride, padding) on `size` pixels."""
    small = (size + 2 * padding - kernel) // stride + 1
    return small, size - ((small - 1) * stride - 2 * padding + kernel)


def plan_of(config: VideoVaeConfig) -> tuple[tuple[int, int, int], ...]:
    return CONV_PLANS[(config.conv_plan, config.image_size)]


def init_videovae_weights(module: nn.Module, linear_std: float | None = 0.001, conv_kaiming: bool = True) -> None:
    """Conv and ConvT weights Kaiming normal (fan-out), biases 0; linear weights N(0, linear_std²), biases 0 (the
    port's 0.001). `linear_std` None and `conv_kaiming` False keep torch's default initialisation."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d) and conv_kaiming:
        nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Linear) and linear_std is not None:
        nn.init.normal_(module.weight, 0.0, linear_std)
        nn.init.zeros_(module.bias)


def channel_dropout(x: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """2-D dropout with an explicit generator: zero whole channels of x (B, C, H, W) with probability p."""
    keep = torch.rand(x.shape[0], x.shape[1], 1, 1, generator=generator, device=x.device, dtype=x.dtype) >= p
    return x * keep / (1.0 - p)


class FrameEncoder(nn.Module):
    """(B, C, S, S) → x_enc (B, feature_dim), S = config.image_size."""

    def __init__(self, config: VideoVaeConfig) -> None:
        super().__init__()
        channels = (config.image_channels, *config.encoder_widths)
        self.convs = nn.Sequential(
            *(
                nn.Sequential(nn.Conv2d(c_in, c_out, k, s, p, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())
                for c_in, c_out, (k, s, p) in zip(channels[:-1], channels[1:], plan_of(config), strict=True)
            )
        )
        self.dropout = config.dropout
        self.fc = nn.Sequential(
            nn.Linear(channels[-1] * _FINAL_SIZE**2, config.encoder_hidden),
            nn.ReLU(),
            nn.Linear(config.encoder_hidden, config.feature_dim),
        )

    def encode(self, frames: torch.Tensor, generator: torch.Generator | None
               ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x_enc (B, feature_dim) of frames (B, C, S, S), and what each of the four convs read: the frames, then
        each conv's output but the last (the context skips' sources). `generator` drives the dropout and is required
        in training mode."""
        inputs, x = [], frames
        for conv in self.convs:
            inputs.append(x)
            x = conv(x)  # (B, width_i, size_i, size_i); finally (B, w3, 4, 4)
        if self.training and self.dropout > 0:
            if generator is None:
                raise ValueError("FrameEncoder in training mode needs a generator for its dropout")
            x = channel_dropout(x, self.dropout, generator)
        return self.fc(x.flatten(1)), inputs  # (B, feature_dim), four maps

    def forward(self, frames: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return self.encode(frames, generator)[0]  # (B, feature_dim)


class ContextSkips(ZeroInitExtension):
    """Ours (`context_skips`): per encoder conv i, a zero-initialised 3×3 conv from what conv i reads (the frame, or
    conv i-1's output) to the width of the decoder stage that mirrors conv i, whose output it is added to; and a copy
    mask: the decoded frame x̂ becomes x̂ + g·σ(m)·(frame - x̂), m a 3×3 conv of the last stage's features, the gate g
    starting at 0."""

    def __init__(self, config: VideoVaeConfig) -> None:
        super().__init__()
        widths = config.encoder_widths
        self.convs = nn.ModuleList(nn.Conv2d(c_in, c_out, 3, 1, 1)
                                   for c_in, c_out in zip((config.image_channels, *widths[:3]), widths, strict=True))
        for conv in self.convs:
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
        self.mask = nn.Conv2d(widths[0], 1, 3, 1, 1)
        self.gate = nn.Parameter(torch.zeros(()))

    def forward(self, index: int, source: torch.Tensor, use: torch.Tensor) -> torch.Tensor:
        """The term for the stage mirroring encoder conv `index`: source (B, c_in, s, s), use (B,) 1 or 0."""
        return self.convs[index](source) * use.view(-1, 1, 1, 1)  # (B, c_out, s, s)

    def copy(self, decoded: torch.Tensor, features: torch.Tensor, frame: torch.Tensor, use: torch.Tensor
             ) -> torch.Tensor:
        """decoded, frame (B, C, S, S); features (B, w0, S, S): the last stage's output."""
        weight = self.gate * torch.sigmoid(self.mask(features)) * use.view(-1, 1, 1, 1)  # (B, 1, S, S)
        return decoded + weight * (frame - decoded)  # (B, C, S, S)


@dataclass
class SkipSources:
    """The encoder's conv inputs of each decoded frame's latest real frame (`FrameEncoder.encode`) and which
    frames use them (B,): 1 where the look is blank."""

    inputs: list[torch.Tensor]
    use: torch.Tensor


class FrameDecoder(nn.Module):
    """z (B, latent_dim) → frame (B, C, S, S) in [-1, 1]; with `context_skips`, the skips' terms on the way."""

    def __init__(self, config: VideoVaeConfig) -> None:
        super().__init__()
        w3 = config.encoder_widths[3]
        self.width = w3
        self.fc = nn.Sequential(
            nn.Linear(config.latent_dim, config.encoder_hidden),
            nn.ReLU(),
            nn.Linear(config.encoder_hidden, w3 * _FINAL_SIZE**2),
        )
        self.convs = _resize_stages(config) if config.decoder_upsampling == "resize" else _transposed_stages(config)
        self.skips = ContextSkips(config) if config.context_skips else None

    def forward(self, z: torch.Tensor, sources: SkipSources | None = None) -> torch.Tensor:
        x = self.fc(z).view(z.shape[0], self.width, _FINAL_SIZE, _FINAL_SIZE)  # (B, w3, 4, 4)
        if self.skips is None or sources is None:
            return self.convs(x)  # (B, C, S, S)
        mirrored = len(sources.inputs)  # the stage after the j-th ReLU mirrors encoder conv 3 - j
        features = x
        for layer in self.convs:
            x = layer(x)
            if isinstance(layer, nn.ReLU):
                mirrored -= 1
                x = features = x + self.skips(mirrored, sources.inputs[mirrored], sources.use)
        return self.skips.copy(x, features, sources.inputs[0], sources.use)  # (B, C, S, S)


def _transposed_stages(config: VideoVaeConfig) -> nn.Sequential:
    """The port's decoder convs: ConvTs mirroring the encoder, BN + ReLU between, tanh at the end."""
    w0, w1, w2, w3 = config.encoder_widths
    plan, extra, size = plan_of(config), [], config.image_size
    for kernel, stride, padding in plan:  # follow the encoder's sizes; each mirror's output padding restores them
        size, output_padding = _mirror_output_padding(size, kernel, stride, padding)
        extra.append(output_padding)
    (k0, s0, p0), (k1, s1, p1), (k2, s2, p2), (k3, s3, p3) = plan
    o0, o1, o2, o3 = extra
    return nn.Sequential(
        nn.ConvTranspose2d(w3, w2, k3, s3, p3, output_padding=o3), nn.BatchNorm2d(w2), nn.ReLU(),  # port: 13²
        nn.ConvTranspose2d(w2, w1, k2, s2, p2, output_padding=o2), nn.BatchNorm2d(w1), nn.ReLU(),  # 17²
        nn.ConvTranspose2d(w1, w0, k1, s1, p1, output_padding=o1), nn.BatchNorm2d(w0), nn.ReLU(),  # 56²
        nn.ConvTranspose2d(w0, config.image_channels, k0, s0, p0, output_padding=o0, bias=False), nn.Tanh(),  # S²
    )  # fmt: skip


def _resize_stages(config: VideoVaeConfig) -> nn.Sequential:
    """Ours: each encoder conv mirrored by nearest upsampling (its stride) + 3×3 conv + BN + ReLU, widths w3, w3,
    w2, w1, w0 (one stage wider than the ConvTs at each size: measured, narrower stages learned half as fast), then a
    3×3 conv to colour and tanh."""
    w0, w1, w2, w3 = config.encoder_widths
    layers: list[nn.Module] = []
    for (_, stride, _), c_in, c_out in zip(reversed(plan_of(config)), (w3, w3, w2, w1), (w3, w2, w1, w0), strict=True):
        if stride > 1:
            layers.append(nn.Upsample(scale_factor=stride, mode="nearest"))
        layers += [nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
    return nn.Sequential(*layers, nn.Conv2d(w0, config.image_channels, 3, 1, 1), nn.Tanh())  # (B, C, S, S)


@dataclass
class AttributeLogits:
    action: torch.Tensor  # (B, num_actions)
    identity: torch.Tensor  # (B, num_identities)


class AttributeClassifier(nn.Module):
    """x_enc → fc + ReLU → action and identity logits. Trained first (cross-entropy per frame) with the encoder,
    which is then frozen."""

    def __init__(self, config: VideoVaeConfig) -> None:
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(config.feature_dim, config.classifier_hidden), nn.ReLU())
        self.action = nn.Linear(config.classifier_hidden, config.num_actions)
        self.identity = nn.Linear(config.classifier_hidden, config.num_identities)

    def forward(self, features: torch.Tensor) -> AttributeLogits:
        hidden = self.hidden(features)  # (B, classifier_hidden)
        return AttributeLogits(self.action(hidden), self.identity(hidden))
