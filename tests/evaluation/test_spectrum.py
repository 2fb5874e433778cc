"""The periodic-grid measure sees a checkerboard from a transposed convolution and not a smooth or natural clip."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from evaluation.spectrum import grid_excess_db, grid_scores


def _smooth_clip(seed: int = 0) -> np.ndarray:
    """(4, 64, 128, 3) uint8: blurred random blobs drifting, nothing periodic."""
    rng = np.random.default_rng(seed)
    base = rng.random((16, 32, 3))
    frames = []
    for t in range(4):
        big = np.kron(np.roll(base, t, axis=1), np.ones((4, 4, 1)))  # (64, 128, 3)
        blurred = (big + np.roll(big, 1, 0) + np.roll(big, 1, 1) + np.roll(big, 2, 0)) / 4  # soften block edges
        frames.append(blurred * 255)
    return np.stack(frames).astype(np.uint8)


def test_an_added_period_8_pattern_is_measured_at_period_8_only():
    clip = _smooth_clip().astype(np.float64)
    yy, xx = np.mgrid[:64, :128]
    pattern = 12.0 * ((yy % 8 < 4) ^ (xx % 8 < 4))  # a period-8 checkerboard, 12 grey levels
    gridded = np.clip(clip + pattern[None, :, :, None], 0, 255)
    clean, dirty = grid_scores(clip), grid_scores(gridded)
    assert dirty[8] - clean[8] > 6.0
    assert abs(grid_excess_db(clip, clip)) < 1e-9
    assert grid_excess_db(gridded, clip) > 6.0


def test_a_transposed_conv_decoder_imprints_a_grid_that_resize_conv_does_not():
    """Even with a uniform (blurring) kernel, a 3x3 stride-2 transposed conv gives alternate pixels 1 and 2 taps per
    axis: a structural period-2 pattern. Nearest-upsample + conv has none with the same kernel."""
    from models.families.vid2vid.layers import up_block

    torch.manual_seed(0)
    x = torch.randn(4, 8, 8, 16)  # (T, C, H/8, W/8), upsampled 8x by three stages

    def render(kind: str) -> np.ndarray:
        net = nn.Sequential(*[up_block(8, 8, "none", kind) for _ in range(3)], nn.Conv2d(8, 3, 1))
        for m in net.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                nn.init.constant_(m.weight, 0.1)
                nn.init.zeros_(m.bias)
        with torch.no_grad():
            y = net(x)  # (T, 3, H, W)
        y = (y - y.min()) / (y.max() - y.min()) * 255
        return y.permute(0, 2, 3, 1).numpy()  # (T, H, W, 3)

    transpose, resize = grid_scores(render("transpose")), grid_scores(render("resize"))
    assert transpose[2] > 10.0 and transpose[4] > 10.0
    assert resize[2] < 1.0 and resize[4] < 4.0


def test_bilinear_resize_conv_leaves_less_2_pixel_grid_than_nearest_with_any_kernels():
    """With kernels that are not uniform (as trained ones are not), the convs after nearest up-sampling read which
    corner of its 2x2 block a pixel is in and print a 2-pixel grid; bilinear up-sampling leaves no blocks. Means over
    eight random decoders, same weights for both kinds (their parameters are the same)."""
    from models.families.vid2vid.layers import up_block

    x = torch.randn(4, 8, 8, 16, generator=torch.Generator().manual_seed(0))  # (T, C, H/8, W/8)

    def period_2_peak(kind: str, seed: int) -> float:
        torch.manual_seed(seed)
        net = nn.Sequential(*[up_block(8, 8, "none", kind) for _ in range(3)], nn.Conv2d(8, 3, 1))
        with torch.no_grad():
            y = net(x)  # (T, 3, H, W)
        y = (y - y.min()) / (y.max() - y.min()) * 255
        return grid_scores(y.permute(0, 2, 3, 1).numpy())[2]

    nearest = np.mean([period_2_peak("resize", s) for s in range(8)])
    bilinear = np.mean([period_2_peak("bilinear", s) for s in range(8)])
    assert nearest > 5.0
    assert bilinear < nearest - 3.0
