"""Training losses of both families (reference doc §2.4 and §3.7), as small pure functions over tensors.

Owns: the GAN objectives (LSGAN, hinge, original BCE; the mode flag really selects the objective), discriminator
feature matching, the flow/warp/mask terms that tie frames together, and the occlusion confidence mask. The VGG
perceptual loss lives in `models.core.vgg` (it needs a user-supplied weights file). torch only; masks and targets that
must not carry gradients are detached here, so callers cannot forget it.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from models.core.discriminators import MultiscaleFeatures
from models.core.warp import warp

GanMode = Literal["ls", "hinge", "original"]
GAN_MODES: tuple[str, ...] = ("ls", "hinge", "original")


class GANLoss:
    """Adversarial objective on multi-scale discriminator outputs (the last tensor of each scale), summed over scales.

    - "ls" (vid2vid default): G: MSE(D(fake), 1); D: 0.5 [MSE(D(real), 1) + MSE(D(fake), 0)].
    - "hinge" (few-shot default): G: -mean D(fake); D: 0.5 [mean relu(1 - D(real)) + mean relu(1 + D(fake))].
    - "original": the same with binary cross-entropy on logits.
    """

    def __init__(self, mode: GanMode = "ls") -> None:
        if mode not in GAN_MODES:
            raise ValueError(f"unknown GAN mode {mode!r}; valid: {', '.join(GAN_MODES)}")
        self.mode = mode

    def _term(self, prediction: torch.Tensor, real: bool, for_discriminator: bool) -> torch.Tensor:
        p = prediction.float()
        if self.mode == "ls":
            return F.mse_loss(p, torch.full_like(p, 1.0 if real else 0.0))
        if self.mode == "original":
            return F.binary_cross_entropy_with_logits(p, torch.full_like(p, 1.0 if real else 0.0))
        if not for_discriminator:  # hinge, generator side
            return -p.mean()
        return F.relu(1.0 - p).mean() if real else F.relu(1.0 + p).mean()

    def generator(self, fake: MultiscaleFeatures) -> torch.Tensor:
        """Loss that pushes G's frames to be judged real."""
        return sum((self._term(scale[-1], True, False) for scale in fake), torch.zeros(()))

    def discriminator(self, real: MultiscaleFeatures, fake: MultiscaleFeatures) -> torch.Tensor:
        """0.5 (real term + fake term); `fake` must come from detached generator outputs."""
        total = torch.zeros(())
        for real_scale, fake_scale in zip(real, fake, strict=True):
            total = total + 0.5 * (self._term(real_scale[-1], True, True) + self._term(fake_scale[-1], False, True))
        return total


def feature_matching_loss(real: MultiscaleFeatures, fake: MultiscaleFeatures) -> torch.Tensor:
    """Σ_scales Σ_layers (all but the prediction) L1(D_l(fake), D_l(real)) · 4/(n_layers_D+1) · 1/num_D (§2.4).

    A PatchGAN scale with n_layers_D strided convs returns n_layers_D + 2 tensors, so n_layers_D + 1 = len - 1.
    Real features are detached (they are targets).
    """
    num_d = len(fake)
    total = torch.zeros(())
    for real_scale, fake_scale in zip(real, fake, strict=True):
        layer_weight = 4.0 / (len(fake_scale) - 1)
        for r, f in zip(real_scale[:-1], fake_scale[:-1], strict=True):
            total = total + F.l1_loss(f.float(), r.detach().float()) * layer_weight / num_d
    return total


def masked_l1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """mean(|a - b| · mask) over every element (mask broadcast over channels), as the reference's L1(a·m, b·m)."""
    return ((a.float() - b.float()).abs() * mask.float()).mean()


def flow_confidence(real_t: torch.Tensor, real_prev: torch.Tensor, flow_gt: torch.Tensor,
                    threshold: float = 0.02) -> torch.Tensor:
    """conf = [‖x_t − warp(x_{t−1}, w_gt)‖² < threshold]: 1 where the ground-truth flow explains the pixel.

    Args:
        real_t, real_prev: (B, 3, H, W) real frames in [-1, 1].
        flow_gt: (B, 2, H, W) ground-truth backward flow t -> t-1 in pixels.
    Returns:
        (B, 1, H, W) float {0, 1}, no gradient.
    """
    with torch.no_grad():
        warped = warp(real_prev.float(), flow_gt.float())  # (B, 3, H, W)
        error = (real_t.float() - warped).pow(2).sum(dim=1, keepdim=True)  # (B, 1, H, W)
        return (error < threshold).float()


def flow_l1_loss(flow: torch.Tensor, flow_gt: torch.Tensor, conf: torch.Tensor) -> torch.Tensor:
    """Masked L1 between the predicted and ground-truth flows (B, 2, H, W), pixels (λ_F)."""
    return masked_l1(flow, flow_gt.detach(), conf.detach())


def warp_loss_real(flow: torch.Tensor, real_prev: torch.Tensor, real_t: torch.Tensor,
                   conf: torch.Tensor) -> torch.Tensor:
    """Masked L1(warp(x_{t−1}, w), x_t): the predicted flow must carry the *real* previous frame onto the real
    current one (λ_T)."""
    return masked_l1(warp(real_prev.detach(), flow), real_t.detach(), conf.detach())


def warp_loss_fake(fake_t: torch.Tensor, fake_prev: torch.Tensor, flow_gt: torch.Tensor,
                   conf: torch.Tensor) -> torch.Tensor:
    """Masked L1(x̃_t, stop_grad(warp(x̃_{t−1}, w_gt))): the generated frame must agree with the previous generated
    frame moved by the true motion (λ_T)."""
    target = warp(fake_prev.detach(), flow_gt.detach()).detach()  # (B, 3, H, W)
    return masked_l1(fake_t, target, conf.detach())


def mask_loss_no_first_frame(mask: torch.Tensor, conf: torch.Tensor) -> torch.Tensor:
    """vid2vid `--no_first_img`: masked L1(m, 0; conf) pushes the composition toward the warped frame where the
    motion is reliable. mask: (B, 1, H, W), weight of the hallucinated image."""
    return masked_l1(mask, torch.zeros_like(mask), conf.detach())


def warp_confidence(warped: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Few-shot soft confidence clamp(1 − Σ_c |warped − target|, 0, 1), (B, 1, H, W), no gradient (§3.7)."""
    with torch.no_grad():
        return (1.0 - (warped.float() - target.float()).abs().sum(dim=1, keepdim=True)).clamp(0.0, 1.0)


def few_shot_mask_loss(mask: torch.Tensor, warped: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1(m·conf, 0) + L1(m·(1−conf), 1−conf) with conf = `warp_confidence(warped, target)`: use the warped image
    (m → 0) where it matches the target, hallucinate (m → 1) where it does not. mask: (B, 1, H, W)."""
    conf = warp_confidence(warped, target)  # (B, 1, H, W)
    m = mask.float()
    return (m * conf).abs().mean() + (m * (1.0 - conf) - (1.0 - conf)).abs().mean()
