"""Flow warping and image pyramids shared by both generator families.

Flow is in pixels, channel 0 = x, channel 1 = y, and *backward*: `warp(img, flow)(p) = img(p + flow(p))`
(bilinear `grid_sample`, `align_corners=True`, border padding). Pyramids use AvgPool2d(3, stride 2, padding 1,
count_include_pad=False), which turns a one-hot label map into soft labels at coarse levels. torch only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def base_grid(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """Identity sampling grid in [-1, 1], (1, H, W, 2) with (x, y) order, on `like`'s device and dtype."""
    ys = torch.linspace(-1.0, 1.0, height, device=like.device, dtype=like.dtype)  # (H,)
    xs = torch.linspace(-1.0, 1.0, width, device=like.device, dtype=like.dtype)  # (W,)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")  # (H, W) each
    return torch.stack((grid_x, grid_y), dim=-1).unsqueeze(0)  # (1, H, W, 2)


def warp(image: torch.Tensor, flow: torch.Tensor, divided: bool = False) -> torch.Tensor:
    """Backward-warp `image` by `flow` (pixels): out(p) = image(p + flow(p)).

    Args:
        image: (B, C, H, W).
        flow: (B, 2, H, W) in pixels, channel 0 = x, channel 1 = y.
        divided: normalise the flow as the original vid2vid / few-shot code does (flow / ((size - 1) / 2), added to
            the grid in (B, 2, H, W) layout): the same function, rounded bit for bit like the original; the
            default multiplies by 2 / (size - 1) (what our own models were trained with).
    Returns:
        (B, C, H, W), sampled bilinearly with border padding and align_corners=True.
    """
    b, _, h, w = image.shape
    if flow.shape[0] != b or flow.shape[1] != 2 or flow.shape[2:] != image.shape[2:]:
        raise ValueError(f"flow {tuple(flow.shape)} does not match image {tuple(image.shape)}")
    if image.dtype in (torch.float16, torch.bfloat16):  # the sampling grid needs fp32: bf16 spacing near 1 is 2^-7,
        return warp(image.float(), flow.float(), divided).to(image.dtype)  # 8 pixels at a width of 2048
    flow = flow.to(image.dtype)
    if divided:
        normalised = torch.cat([flow[:, 0:1] / ((w - 1.0) / 2.0), flow[:, 1:2] / ((h - 1.0) / 2.0)], dim=1)
        grid = (base_grid(h, w, image).permute(0, 3, 1, 2) + normalised).permute(0, 2, 3, 1)  # (B, H, W, 2)
        return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)
    scale_x = 2.0 / max(w - 1, 1)
    scale_y = 2.0 / max(h - 1, 1)
    offset = torch.stack((flow[:, 0] * scale_x, flow[:, 1] * scale_y), dim=-1)  # (B, H, W, 2)
    grid = base_grid(h, w, image) + offset  # (B, H, W, 2)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def downsample(x: torch.Tensor) -> torch.Tensor:
    """Halve the resolution with AvgPool2d(3, stride 2, padding 1, count_include_pad=False).

    (B, C, H, W) -> (B, C, ceil(H/2), ceil(W/2)).
    """
    return F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)


def image_pyramid(x: torch.Tensor, n: int) -> list[torch.Tensor]:
    """`n` levels, finest first: [x, downsample(x), downsample²(x), ...].

    Args:
        x: (B, C, H, W).
        n: number of levels (>= 1).
    Returns:
        list of n tensors; level i is (B, C, H / 2^i, W / 2^i).
    """
    if n < 1:
        raise ValueError(f"a pyramid needs at least one level, got {n}")
    levels = [x]
    for _ in range(n - 1):
        levels.append(downsample(levels[-1]))
    return levels


def resize_flow(flow: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinearly resize a pixel flow (B, 2, h, w) to (B, 2, height, width), rescaling its magnitudes."""
    _, _, h, w = flow.shape
    resized = F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=True)  # (B, 2, H, W)
    scale = torch.tensor(
        [(width - 1) / max(w - 1, 1), (height - 1) / max(h - 1, 1)], dtype=flow.dtype, device=flow.device
    )
    return resized * scale.view(1, 2, 1, 1)
