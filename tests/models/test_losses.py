"""Loss values on known inputs (models/losses.py, models/vgg.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from models.core import losses
from models.core.vgg import VGG19Features, VGGLoss
from models.core.warp import warp


def _const(value: float) -> list[list[torch.Tensor]]:
    return [[torch.zeros(1, 4, 3, 3), torch.full((1, 1, 3, 3), value)]]


def test_lsgan_values_on_constants() -> None:
    gan = losses.GANLoss("ls")
    assert gan.generator(_const(0.5)).item() == pytest.approx(0.25)
    # 0.5 * [(0.5-1)^2 + 0.25^2]
    assert gan.discriminator(_const(0.5), _const(0.25)).item() == pytest.approx(0.5 * (0.25 + 0.0625))


def test_hinge_values_on_constants_differ_from_lsgan() -> None:
    gan = losses.GANLoss("hinge")
    assert gan.generator(_const(0.5)).item() == pytest.approx(-0.5)
    # 0.5 * [relu(1 - 0.5) + relu(1 + 0.25)]
    assert gan.discriminator(_const(0.5), _const(0.25)).item() == pytest.approx(0.5 * (0.5 + 1.25))
    assert gan.discriminator(_const(2.0), _const(-2.0)).item() == 0.0  # beyond the margins


def test_gan_losses_sum_over_scales_and_reject_unknown_modes() -> None:
    two_scales = _const(0.0) + _const(0.0)
    assert losses.GANLoss("ls").generator(two_scales).item() == pytest.approx(2.0)
    with pytest.raises(ValueError):
        losses.GANLoss("wgan")  # type: ignore[arg-type]


def test_feature_matching_weights_layers_and_scales() -> None:
    real = [[torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4), torch.zeros(1, 1, 2, 2)]] * 2
    fake = [[torch.ones(1, 2, 4, 4), torch.ones(1, 2, 4, 4), torch.ones(1, 1, 2, 2)]] * 2
    # 2 scales x 2 layers x L1 1.0 x 4/2 x 1/2 = 4; the prediction itself is not matched
    assert losses.feature_matching_loss(real, fake).item() == pytest.approx(4.0)


def test_warp_losses_vanish_for_a_perfectly_warped_pair() -> None:
    torch.manual_seed(0)
    prev = torch.rand(1, 3, 16, 16) * 2 - 1
    flow = torch.zeros(1, 2, 16, 16)
    flow[:, 0] = 2.0  # integer shift: bilinear sampling is exact
    current = warp(prev, flow)
    conf = losses.flow_confidence(current, prev, flow)
    assert conf.shape == (1, 1, 16, 16) and conf.min().item() == 1.0
    assert losses.warp_loss_real(flow, prev, current, conf).item() == pytest.approx(0.0, abs=1e-7)
    assert losses.warp_loss_fake(current, prev, flow, conf).item() == pytest.approx(0.0, abs=1e-7)
    assert losses.flow_l1_loss(flow, flow, conf).item() == 0.0
    wrong = torch.zeros_like(flow)
    assert losses.warp_loss_real(wrong, prev, current, conf).item() > 0.05


def test_confidence_mask_drops_pixels_the_flow_does_not_explain() -> None:
    prev = torch.zeros(1, 3, 8, 8)
    current = torch.zeros(1, 3, 8, 8)
    current[:, :, 2, 3] = 1.0  # an occluding object appears
    conf = losses.flow_confidence(current, prev, torch.zeros(1, 2, 8, 8))
    assert conf[0, 0, 2, 3].item() == 0.0 and conf.sum().item() == 63


def test_fake_warp_loss_does_not_backprop_into_the_previous_frame() -> None:
    prev = torch.rand(1, 3, 8, 8, requires_grad=True)
    current = torch.rand(1, 3, 8, 8, requires_grad=True)
    losses.warp_loss_fake(current, prev, torch.zeros(1, 2, 8, 8), torch.ones(1, 1, 8, 8)).backward()
    assert prev.grad is None and current.grad is not None


def test_mask_losses() -> None:
    m = torch.full((1, 1, 4, 4), 0.5)
    assert losses.mask_loss_no_first_frame(m, torch.ones(1, 1, 4, 4)).item() == pytest.approx(0.5)
    assert losses.mask_loss_no_first_frame(m, torch.zeros(1, 1, 4, 4)).item() == 0.0
    target = torch.zeros(1, 3, 4, 4)
    # perfect warp: conf 1 -> loss = mean(m) ; useless warp: conf 0 -> loss = mean(|m - 1|)
    assert losses.few_shot_mask_loss(m, target, target).item() == pytest.approx(0.5)
    assert losses.few_shot_mask_loss(torch.ones(1, 1, 4, 4), target + 1, target).item() == pytest.approx(0.0)


def test_vgg_loss_loads_a_local_state_dict(tmp_path: Path) -> None:
    torch.manual_seed(0)
    state = {f"features.{k}": v.clone() for k, v in VGG19Features().features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # ignored
    path = tmp_path / "vgg19.safetensors"
    save_file(state, str(path))
    vgg = VGGLoss.from_state_dict(load_file(str(path)))
    assert torch.equal(vgg.vgg.features[0].weight, state["features.0.weight"])
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert vgg(x, x).item() == 0.0
    y = x.clone().requires_grad_(True)
    value = vgg(y, torch.rand(1, 3, 32, 32))
    value.backward()
    assert value.item() > 0 and y.grad is not None
    assert all(p.grad is None for p in vgg.parameters())
    with pytest.raises(RuntimeError):
        VGGLoss.from_state_dict({"features.0.weight": state["features.0.weight"]})
