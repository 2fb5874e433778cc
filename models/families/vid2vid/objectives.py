"""Per-clip generator and discriminator objectives of both families, on frames the generator already produced.

Owns `Discriminators` (D_I, optional D_V, VGG, GAN loss: everything the losses need besides the generator) and the
functions that turn one generated clip into named loss terms: `generator_terms` (§2.4 for vid2vid, §3.7 for
few-shot), `image_d_loss` and `temporal_d_losses`. Terms are averaged over the generated frames and returned as
`dict[name, tensor]` so the trainer can log every one of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.core import losses
from models.core.discriminators import ImageDiscriminator, PatchGANConfig, TemporalDiscriminator
from models.core.vgg import VGGLoss
from models.families.vid2vid.schedule import TrainConfig, l1_weight


@dataclass
class GeneratedFrame:
    """What the objectives need of one generated frame (finest scale), family-independent."""

    t: int  # index of the frame in the clip
    frame: torch.Tensor  # (B, 3, H, W) composed output
    raw: torch.Tensor | None  # (B, 3, H, W) hallucinated image (None when it is the frame itself)
    flow: torch.Tensor | None  # (B, 2, H, W) predicted flow to the previous frame
    warped_prev: torch.Tensor | None  # (B, 3, H, W) previous output warped by `flow`
    mask_prev: torch.Tensor | None  # (B, 1, H, W) weight of the hallucination against `warped_prev`
    warped_ref: torch.Tensor | None  # (B, 3, H, W) few-shot: reference warped onto this frame
    mask_ref: torch.Tensor | None  # (B, 1, H, W) few-shot: weight of the hallucination against `warped_ref`
    prev_fake: torch.Tensor | None  # (B, 3, H, W) the previous output (detached), None for the first frame
    ref_index: torch.Tensor | None = None  # (B,) long, few-shot: the reference the generator chose (attention)


@dataclass
class ClipTensors:
    """A batch of clips on the training device, cut to the current length."""

    labels: torch.Tensor  # (B, T, C, H, W)
    frames: torch.Tensor  # (B, T, 3, H, W)
    flows: torch.Tensor  # (B, T, 2, H, W)
    references: torch.Tensor | None  # (B, K, 3, H, W)
    reference_labels: torch.Tensor | None  # (B, K, C, H, W)


@dataclass(frozen=True)
class DiscriminatorStyle:
    """How a recipe's image discriminator is built: vid2vid's plain PatchGAN, or few-shot's spectral-norm one that
    also sees the chosen reference (its norm eps 0.1 as in the reference code)."""

    spectral: bool = False
    norm_eps: float = 1e-5
    with_reference: bool = False


class Discriminators(nn.Module):
    """D_I (+ D_V when the run has temporal scales) and the frozen VGG of one run."""

    def __init__(self, config: TrainConfig, label_channels: int, vgg: VGGLoss | None,
                 style: DiscriminatorStyle = DiscriminatorStyle()) -> None:
        super().__init__()
        d_config = PatchGANConfig(ndf=config.ndf, n_layers=config.n_layers_D, num_D=config.num_D, norm=config.norm_D,
                                  spectral=style.spectral, norm_eps=style.norm_eps, antialias=config.antialias_D)
        self.image = ImageDiscriminator(label_channels, d_config, with_reference=style.with_reference)
        self.temporal = (TemporalDiscriminator(d_config, config.n_frames_D, config.n_scales_temporal)
                         if config.n_scales_temporal > 0 else None)
        self.vgg = vgg
        self.gan = losses.GANLoss(config.gan_mode)

    def judge(self, clip: ClipTensors, t: int, image: torch.Tensor, ref_index: torch.Tensor | None = None
              ) -> list[list[torch.Tensor]]:
        """D_I features of `image` as frame t; few-shot pairs it with reference `ref_index` (B,) (default 0)."""
        refs, ref_labels = clip.references, clip.reference_labels
        if refs is None or ref_labels is None:
            return self.image(clip.labels[:, t], image)
        if ref_index is None:
            ref_index = torch.zeros(refs.shape[0], dtype=torch.long, device=refs.device)
        batch = torch.arange(refs.shape[0], device=refs.device)
        return self.image(clip.labels[:, t], image, reference_label=ref_labels[batch, ref_index],
                          reference_image=refs[batch, ref_index])


def _windows(disc: TemporalDiscriminator, scale: int, first: int, length: int) -> list[int]:
    """End indices of the scale's windows that end on a generated frame (index >= first)."""
    span = disc.span(scale)
    return list(range(max(first, span - 1), length))


def _window(sequence: torch.Tensor, flows: torch.Tensor, disc: TemporalDiscriminator, scale: int, end: int
            ) -> tuple[torch.Tensor, torch.Tensor]:
    stride, span = disc.stride(scale), disc.span(scale)
    start = end - span + 1
    frames = sequence[:, start : end + 1 : stride]  # (B, K, 3, H, W)
    window_flows = flows[:, start : end + 1]  # (B, span, 2, H, W)
    return frames, TemporalDiscriminator.skipped_flows(window_flows, stride)


def generator_terms(config: TrainConfig, d: Discriminators, clip: ClipTensors, generated: list[GeneratedFrame],
                    fake_sequence: torch.Tensor, no_first_frame: bool = False, few_shot_masks: bool = False
                    ) -> dict[str, torch.Tensor]:
    """Named G loss terms (already weighted), averaged over generated frames. `few_shot_masks`: the previous-frame
    mask is scored as few-shot does (against the warped previous frame, §3.7), else vid2vid's no-first-frame mask
    term applies when `no_first_frame`.

    Args:
        fake_sequence: (B, T, 3, H, W) the clip as the generator saw it: observed real first frames followed by the
            generated frames (only the generated ones carry gradients).
    """
    terms: dict[str, torch.Tensor] = {}

    def add(name: str, value: torch.Tensor) -> None:
        terms[name] = terms.get(name, torch.zeros((), device=value.device)) + value / len(generated)

    lambda_l1 = l1_weight(config)
    for g in generated:
        real = clip.frames[:, g.t]  # (B, 3, H, W)
        with torch.no_grad():
            real_feats = d.judge(clip, g.t, real, g.ref_index)
        for name, image in (("frame", g.frame), ("raw", g.raw)):
            if image is None:
                continue
            fake_feats = d.judge(clip, g.t, image, g.ref_index)
            add(f"G_gan_{name}", d.gan.generator(fake_feats))
            add(f"G_feat_{name}", config.lambda_feat * losses.feature_matching_loss(real_feats, fake_feats))
            if d.vgg is not None:
                add(f"G_vgg_{name}", config.lambda_vgg * d.vgg(image, real))
            if lambda_l1 > 0:
                add(f"G_l1_{name}", lambda_l1 * (image.float() - real.float()).abs().mean())
        if g.warped_ref is not None:  # few-shot: the warped reference must match the target
            add("G_warp_ref", config.lambda_flow * (g.warped_ref.float() - real.float()).abs().mean())
            if g.mask_ref is not None:
                add("G_mask_ref", config.lambda_mask * losses.few_shot_mask_loss(g.mask_ref, g.warped_ref, real))
        if g.t == 0:
            continue
        flow_gt = clip.flows[:, g.t]  # (B, 2, H, W)
        real_prev = clip.frames[:, g.t - 1]  # (B, 3, H, W)
        conf = losses.flow_confidence(real, real_prev, flow_gt)  # (B, 1, H, W)
        if g.flow is not None:
            add("G_flow_l1", config.lambda_flow * losses.flow_l1_loss(g.flow, flow_gt, conf))
            add("G_warp_real", config.lambda_warp * losses.warp_loss_real(g.flow, real_prev, real, conf))
        if g.prev_fake is not None:
            add("G_warp_fake", config.lambda_warp * losses.warp_loss_fake(g.frame, g.prev_fake, flow_gt, conf))
        if g.mask_prev is not None and config.lambda_mask > 0:
            if few_shot_masks and g.warped_prev is not None:
                add("G_mask_prev", config.lambda_mask * losses.few_shot_mask_loss(g.mask_prev, g.warped_prev, real))
            elif no_first_frame:
                add("G_mask", config.lambda_mask * losses.mask_loss_no_first_frame(g.mask_prev, conf))
    if d.temporal is not None:
        first = generated[0].t
        for s in d.temporal.usable_scales(fake_sequence.shape[1]):
            ends = _windows(d.temporal, s, first, fake_sequence.shape[1])
            for end in ends:
                fake_frames, flows = _window(fake_sequence, clip.flows, d.temporal, s, end)
                real_frames, _ = _window(clip.frames, clip.flows, d.temporal, s, end)
                fake_feats = d.temporal(s, fake_frames, flows)
                with torch.no_grad():
                    real_feats = d.temporal(s, real_frames, flows)
                scale = config.lambda_temporal / len(ends)
                zero = torch.zeros((), device=fake_sequence.device)
                gan_term = scale * d.gan.generator(fake_feats)
                terms[f"G_gan_temporal{s}"] = terms.get(f"G_gan_temporal{s}", zero) + gan_term
                terms[f"G_feat_temporal{s}"] = terms.get(f"G_feat_temporal{s}", zero) + (
                    scale * config.lambda_feat * losses.feature_matching_loss(real_feats, fake_feats))
    return terms


def image_d_loss(d: Discriminators, clip: ClipTensors, generated: list[GeneratedFrame]) -> torch.Tensor:
    """D_I loss on composed and raw frames (detached), averaged over generated frames."""
    total = torch.zeros((), device=clip.frames.device)
    for g in generated:
        real_feats = d.judge(clip, g.t, clip.frames[:, g.t], g.ref_index)
        for image in (g.frame, g.raw):
            if image is not None:
                fake_feats = d.judge(clip, g.t, image.detach(), g.ref_index)
                total = total + d.gan.discriminator(real_feats, fake_feats) / len(generated)
    return total


def temporal_d_losses(d: Discriminators, clip: ClipTensors, first: int, fake_sequence: torch.Tensor
                      ) -> dict[int, torch.Tensor]:
    """One D_V loss per usable temporal scale, over the windows that end on generated frames."""
    out: dict[int, torch.Tensor] = {}
    if d.temporal is None:
        return out
    fake_sequence = fake_sequence.detach()
    for s in d.temporal.usable_scales(fake_sequence.shape[1]):
        ends = _windows(d.temporal, s, first, fake_sequence.shape[1])
        total = torch.zeros((), device=fake_sequence.device)
        for end in ends:
            fake_frames, flows = _window(fake_sequence, clip.flows, d.temporal, s, end)
            real_frames, _ = _window(clip.frames, clip.flows, d.temporal, s, end)
            total = total + d.gan.discriminator(d.temporal(s, real_frames, flows),
                                                d.temporal(s, fake_frames, flows)) / len(ends)
        out[s] = total
    return out
