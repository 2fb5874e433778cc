"""A convolution over one-hot labels is a gather of kernel columns: the label stems' fast path at inference.

vid2vid's label stems (ReflPad3, Conv7x7 over the last `n_frames_G` label maps, each one-hot over K classes, with an
optional binary instance-edge channel last) spend 49 · T · C multiply-adds per output channel and pixel on inputs
that are almost all zeros. Each pixel of each frame holds one *code* (class, or class + K when its edge bit is set),
so the convolution is a sum of T · 49 table rows, one per frame and kernel tap: `F.embedding_bag` over a table built
from the same weights. Exact up to fp32 summation order; the stems of one input (label encoder and foreground
branch) share one gather.

`one_hot_codes` recognises such an input (any other, e.g. the averaged labels of coarser scales, edge maps or pose
renderings, gives None and the dense convolution runs); `label_stacks` runs stacks whose first block is a
`conv7_block` on the labels either way. Used at inference on CPU, in fp32 and under bf16 autocast, where it was measured
to pay (benchmarks/). The coarser scales' averaged labels (a few lit channels per pixel) were tried as a weighted
gather of their lit channels: slower than their bf16 convolutions (0.92x per 2048-structure frame), so they convolve.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

INDEX_BUDGET = 1 << 23
"""Most gather indices built at once (int32: 32 MiB); larger frames are gathered in bands of rows."""


@dataclass(frozen=True)
class OneHotCodes:
    """Per-pixel codes of a label input of `frames` one-hot frames: code = class (+ classes when the edge bit)."""

    codes: torch.Tensor  # (B, T, H, W) int32
    classes: int  # K one-hot channels per frame
    edge: bool  # one binary channel after the K classes

    @property
    def per_frame(self) -> int:
        """Distinct codes of one frame."""
        return 2 * self.classes if self.edge else self.classes


def fast_path_applies(x: torch.Tensor) -> bool:
    """Inference (no autograd) on CPU with fp32 labels, with or without bf16 autocast (the gather then stays fp32):
    where it was measured to beat the convolution (benchmarks/bench_savings.py)."""
    return not torch.is_grad_enabled() and x.device.type == "cpu" and x.dtype == torch.float32


def one_hot_codes(labels: torch.Tensor, frames: int) -> OneHotCodes | None:
    """The codes of labels (B, T·C, H, W) when every frame is one-hot over its C channels, or over its first C - 1
    with a binary last channel; else None.

    One pass of a small matmul finds each pixel's channel sum and its class (Σ c·x_c); non-negative values that sum
    to 1 with a 1 at that class are one-hot (per-channel max and sum passes took 6x as long at 256x512)."""
    b, tc, h, w = labels.shape
    if tc % frames:
        return None
    x = labels.reshape(b, frames, tc // frames, h * w)  # (B, T, C, HW)
    if float(x.amin()) < 0:
        return None
    for classes in (x.shape[2], x.shape[2] - 1):  # the same reading for every frame of a stream: no recompiles
        if classes == 0:
            continue
        part = x[:, :, :classes]  # (B, T, K, HW)
        probe = torch.stack([torch.ones(classes), torch.arange(classes, dtype=torch.float32)])  # (2, K)
        sums, weighted = (probe @ part).unbind(2)  # (B, T, HW) each
        if not bool((sums == 1).all()):
            continue
        codes = weighted.round().long().clamp_(0, classes - 1)  # (B, T, HW)
        if not bool((part.gather(2, codes.unsqueeze(2)) == 1).all()):
            continue
        edge = classes < x.shape[2]
        if edge:
            bits = x[:, :, classes]  # (B, T, HW)
            if not bool(((bits == 0) | (bits == 1)).all()):
                return None
            codes = codes + classes * bits.long()
        return OneHotCodes(codes.to(torch.int32).view(b, frames, h, w), classes, edge)
    return None


def _reflect(n: int, pad: int) -> torch.Tensor:
    """Source index of each position of a length-n axis reflection-padded by `pad` (ReflectionPad2d's rule)."""
    i = torch.arange(-pad, n + pad).abs()
    return torch.where(i >= n, 2 * (n - 1) - i, i)


def _table(conv: nn.Conv2d, codes: OneHotCodes, frames: int) -> torch.Tensor:
    """(T · taps · codes, out) rows: row (t, tap, code) = the kernel column that code lights up at that tap."""
    out_ch, taps = conv.out_channels, conv.kernel_size[0] * conv.kernel_size[1]
    weight = conv.weight.view(out_ch, frames, -1, taps)  # (O, T, C, taps)
    columns = weight[:, :, : codes.classes]  # (O, T, K, taps)
    if codes.edge:
        columns = torch.cat([columns, columns + weight[:, :, codes.classes:codes.classes + 1]], dim=2)  # (O,T,2K,taps)
    return columns.permute(1, 3, 2, 0).reshape(-1, out_ch)  # (T·taps·codes, O)


def gathered_convs(convs: Sequence[nn.Conv2d], pad: int, codes: OneHotCodes) -> list[torch.Tensor]:
    """`conv(ReflectionPad2d(pad)(labels))` for each conv (stride 1, no padding of its own), from the codes alone."""
    first = convs[0]
    kh, kw = first.kernel_size
    if any(c.kernel_size != (kh, kw) or c.stride != (1, 1) or c.padding != (0, 0) or c.dilation != (1, 1)
           or c.groups != 1 for c in convs):
        raise ValueError("gathered convolutions need plain stride-1 convolutions of one kernel size")
    b, frames, h, w = codes.codes.shape
    table = torch.cat([_table(c, codes, frames) for c in convs], dim=1)  # (T·taps·codes, ΣO)
    padded = codes.codes[:, :, _reflect(h, pad)][:, :, :, _reflect(w, pad)].contiguous()  # (B, T, H+2p, W+2p)
    h_pad, w_pad = padded.shape[-2:]
    oh, ow = h_pad - kh + 1, w_pad - kw + 1
    base = (torch.arange(frames * kh * kw, dtype=torch.int32) * codes.per_frame).view(frames, kh, kw)
    bag = frames * kh * kw
    rows = max(1, INDEX_BUDGET // (ow * bag))  # output rows per gather: bounds the index tensor's memory
    results = []
    for item in padded:  # (T, H+2p, W+2p)
        chunks = []
        for top in range(0, oh, rows):
            n = min(rows, oh - top)
            band = item[:, top:top + n + kh - 1]  # (T, n + kh - 1, W+2p)
            windows = band.unfold(1, kh, 1).unfold(2, kw, 1).permute(1, 2, 0, 3, 4)  # (n, ow, T, kh, kw)
            indices = (windows + base).reshape(-1)  # (n·ow·T·kh·kw,) one bag per output pixel
            offsets = torch.arange(0, n * ow * bag, bag, dtype=torch.int32)
            chunks.append(F.embedding_bag(indices, table, offsets, mode="sum"))  # (n·ow, ΣO)
        results.append(torch.cat(chunks) if len(chunks) > 1 else chunks[0])  # (oh·ow, ΣO)
    # (B, ΣO, oh, ow) in channels_last memory: the gathered rows as they are, no transposing copy
    rows_out = results[0].unsqueeze(0) if b == 1 else torch.stack(results)  # (B, oh·ow, ΣO)
    stacked = rows_out.view(b, oh, ow, -1).permute(0, 3, 1, 2)
    outs, start = [], 0
    for c in convs:
        part = stacked[:, start:start + c.out_channels]
        outs.append(part + c.bias.view(1, -1, 1, 1) if c.bias is not None else part)
        start += c.out_channels
    return outs


def label_stacks(stacks: Sequence[nn.Sequential], labels: torch.Tensor,
                 codes: OneHotCodes | None) -> list[torch.Tensor]:
    """Each stack applied to `labels`. Every stack starts with a `conv7_block` (ReflPad, Conv, Norm, ReLU); with
    `codes` their convolutions are one gather, and the rest of each stack runs as usual."""
    if codes is None:
        return [stack(labels) for stack in stacks]
    blocks = [stack[0] for stack in stacks]
    pads = {block[0].padding for block in blocks}
    if len(pads) != 1 or not all(isinstance(block[0], nn.ReflectionPad2d) for block in blocks):
        raise ValueError("label stacks must start with one reflection padding")
    pad = blocks[0][0].padding[0]
    convolved = gathered_convs([block[1] for block in blocks], pad, codes)
    return [stack[1:](block[2:](y)) for stack, block, y in zip(stacks, blocks, convolved, strict=True)]
