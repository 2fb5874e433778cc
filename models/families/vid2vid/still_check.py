"""The still check (ours, no weights: `Vid2VidConfig.still_check`): where the label edges did not move, the previous
frame is taken where it was, whatever the flow network says.

On label clips drawn by hand (flat polygons, a still camera) our flow network puts 0.6–3 px per frame of motion on
the static background, and the warped previous frame slides. The labels can tell: around a pixel, if the previous
label map *unmoved* agrees with the current one at least as well as the previous map moved by the predicted flow,
nothing there moved and the zero flow explains the labels. Compared in a window, so that flat interiors borrow the
verdict of the edges around them; a pixel whose window holds no edge keeps the predicted flow. One-hot labels only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _window_mean(x: torch.Tensor, k: int) -> torch.Tensor:
    """Mean over a k×k window (k odd) at every pixel, ignoring the padding; (B, C, H, W) -> (B, C, H, W). Separable:
    O(k) per pixel, exactly 0 where the window holds only zeros."""
    rows = F.avg_pool2d(x, (k, 1), 1, (k // 2, 0), count_include_pad=False)
    return F.avg_pool2d(rows, (1, k), 1, (0, k // 2), count_include_pad=False)


def still_weight(prev_labels: torch.Tensor, labels: torch.Tensor, warped_prev_labels: torch.Tensor,
                 window: float) -> torch.Tensor:
    """prev_labels, labels, warped_prev_labels (B, C, H, W) one-hot -> (B, 1, H, W) in [0, 1]: 1 where the unmoved
    previous labels explain the current ones at least as well as the warped ones, in a window of `window` · H px
    with at least one label change or misfit in it; a short ramp at the region's border."""
    k = max(3, round(window * labels.shape[-2])) | 1
    miss_still = 1 - (prev_labels * labels).sum(1, keepdim=True).clamp(0, 1)  # (B, 1, H, W)
    miss_warped = 1 - (warped_prev_labels * labels).sum(1, keepdim=True).clamp(0, 1)  # (B, 1, H, W)
    still, moved = _window_mean(miss_still, k), _window_mean(miss_warped, k)  # (B, 1, H, W)
    verdict = ((still <= moved) & (moved > 0)).to(labels.dtype)  # (B, 1, H, W)
    return _window_mean(verdict, 5)


def trusted_previous(prev_frame: torch.Tensor, warped: torch.Tensor, history: torch.Tensor,
                     warped_labels: torch.Tensor, labels: torch.Tensor, window: float, label_gate: bool
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """The previous frame as the composite should see it, and how far to trust it per pixel.

    Two sources: the flow-warped previous frame (with its warped labels) and, with the still check (`window` > 0),
    the unmoved one, weighted by `still_weight`. With the label gate each source counts only where its labels agree
    with the current ones, so neither can carry another class's pixels in; the unmoved source is judged by the
    product of the `history` (B, L, C, H, W) label maps (a class held over all of them), so a strip uncovered one
    frame ago, drawn once by the hallucination, is not frozen as it was drawn. `warped_labels`: the last history map
    warped by the flow.
    Returns: warped (B, 3, H, W) and trust (B, 1, H, W) in [0, 1]; the composite's mask becomes 1 − (1 − m)·trust.
    """
    images, label_maps = [warped], [warped_labels]
    weights = [torch.ones_like(labels[:, :1])]  # (B, 1, H, W) each
    if window:
        still = still_weight(history[:, -1], labels, warped_labels, window)  # (B, 1, H, W)
        held = history.prod(1)  # (B, C, H, W): one-hot where the class held over the history, else 0
        images, label_maps, weights = [warped, prev_frame], [warped_labels, held], [1 - still, still]
    if label_gate:
        weights = [w * (lab * labels).sum(1, keepdim=True).clamp(0, 1) for w, lab in zip(weights, label_maps,
                                                                                      strict=True)]
    trust = torch.stack(weights).sum(0)  # (B, 1, H, W)
    mixed = torch.stack([w * x for w, x in zip(weights, images, strict=True)]).sum(0)  # (B, 3, H, W)
    return mixed / trust.clamp(min=1e-6), trust
