"""PSNR / SSIM on known pairs, warping error with exact flow."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from evaluation.metrics import WarpingErrorMeter, psnr, ssim, visible_mask, warping_error


def _image(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v, u = np.mgrid[0:h, 0:w]
    img = np.stack([u * 3.0, v * 4.0, 128 + 60 * np.sin(u / 5.0) * np.cos(v / 7.0)], -1)
    img = img + rng.normal(0, 5, img.shape)
    return img.clip(0, 255).astype(np.uint8)  # (H, W, 3)


def test_identical_images() -> None:
    img = _image()
    assert psnr(img, img) == math.inf
    assert ssim(img, img) == pytest.approx(1.0, abs=1e-9)


def test_psnr_known_noise_level() -> None:
    rng = np.random.default_rng(1)
    clean = np.full((64, 64, 3), 128, np.uint8)
    noisy = (clean + rng.normal(0, 10, clean.shape)).round().clip(0, 255).astype(np.uint8)
    assert psnr(clean, noisy) == pytest.approx(20 * math.log10(255 / 10), abs=0.3)  # 28.13 dB
    assert psnr(clean, noisy) > psnr(clean, (clean + rng.normal(0, 20, clean.shape)).clip(0, 255).astype(np.uint8))


def test_uint8_and_tensor_inputs_agree() -> None:
    a, b = _image(seed=0), _image(seed=1)
    ta = torch.from_numpy(a).permute(2, 0, 1).float() / 127.5 - 1
    tb = torch.from_numpy(b).permute(2, 0, 1).float() / 127.5 - 1
    assert psnr(ta, tb) == pytest.approx(psnr(a, b), abs=1e-3)
    assert ssim(ta[None], tb[None]) == pytest.approx(ssim(a, b), abs=1e-4)


def test_ssim_of_constant_images_matches_the_formula() -> None:
    a = np.full((32, 32, 3), 100, np.uint8)
    b = np.full((32, 32, 3), 120, np.uint8)
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 120 + c1) / (100**2 + 120**2 + c1)  # variances are 0: only the luminance term
    assert ssim(a, b) == pytest.approx(expected, abs=1e-9)


def test_ssim_drops_with_noise_and_is_symmetric() -> None:
    rng = np.random.default_rng(2)
    img = _image()
    small = (img + rng.normal(0, 5, img.shape)).clip(0, 255).astype(np.uint8)
    large = (img + rng.normal(0, 30, img.shape)).clip(0, 255).astype(np.uint8)
    assert 1.0 > ssim(img, small) > ssim(img, large) > 0.0
    assert ssim(img, large) == pytest.approx(ssim(large, img), abs=1e-12)


def test_warping_error_is_zero_for_a_translation_with_its_exact_flow() -> None:
    big = _image(64, 96)
    prev = big[8:56, 10:74]  # (48, 64, 3)
    cur = big[5:53, 13:77]  # content moved: cur(p) = prev(p + (3, -3))
    flow = np.zeros((48, 64, 2))
    flow[..., 0], flow[..., 1] = 3.0, -3.0
    assert warping_error(prev, cur, flow) == pytest.approx(0.0, abs=1e-9)
    assert warping_error(prev, cur, np.zeros_like(flow)) > 0.02
    meter = WarpingErrorMeter()
    meter.update(prev, cur, prev, cur, flow)
    result = meter.result()
    assert result["generated"] == pytest.approx(0.0, abs=1e-9) and result["pairs"] == 1
    # A flickering "generated" video scores worse than the ground truth on the same pixels.
    meter.update(prev, np.clip(cur.astype(int) + 20, 0, 255).astype(np.uint8), prev, cur, flow)
    assert meter.result()["generated"] > meter.result()["ground_truth"]


def test_visible_mask_excludes_out_of_frame_and_inconsistent_pixels() -> None:
    prev = _image()
    cur = prev.copy()
    cur[10:20, 10:20] = 255 - cur[10:20, 10:20]  # something appears that the flow cannot explain
    flow = np.zeros((48, 64, 2))
    flow[:, 60:, 0] = 10.0  # points past the right border
    mask = visible_mask(prev, cur, flow)[0]
    assert not mask[:, 60:].any() and not mask[12:18, 12:18].any()
    assert mask[30:40, 30:40].all()
