"""The label stems' gather path (models/families/vid2vid/label_gather.py) computes what the convolution computes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from models.families.vid2vid import label_gather
from models.families.vid2vid.generator import Vid2VidConfig, Vid2VidGenerator
from models.families.vid2vid.label_gather import gathered_convs, label_stacks, one_hot_codes


def _labels(batch: int, frames: int, classes: int, h: int, w: int, edge: bool, seed: int = 0,
            block: int = 1) -> torch.Tensor:
    """(B, T·C, H, W) one-hot frames of classes in `block`-pixel squares (+ a sparse binary edge channel)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, classes, (batch, frames, -(-h // block), -(-w // block)), generator=g)
    ids = ids.repeat_interleave(block, 2).repeat_interleave(block, 3)[:, :, :h, :w]  # (B, T, H, W)
    x = torch.nn.functional.one_hot(ids, classes).permute(0, 1, 4, 2, 3).float()  # (B, T, K, H, W)
    if edge:
        bits = (torch.rand(batch, frames, 1, h, w, generator=g) < 0.2).float()
        x = torch.cat([x, bits], dim=2)
    return x.flatten(1, 2)


@pytest.mark.parametrize("edge", [False, True])
def test_codes_recognise_one_hot_frames_and_nothing_else(edge: bool) -> None:
    labels = _labels(2, 3, 5, 6, 7, edge)
    codes = one_hot_codes(labels, 3)
    assert codes is not None and codes.classes == 5 and codes.edge == edge
    frames = labels.view(2, 3, -1, 6, 7)
    expected = frames[:, :, :5].argmax(2) + (5 * frames[:, :, 5].long() if edge else 0)
    assert torch.equal(codes.codes.long(), expected)

    assert one_hot_codes(torch.nn.functional.avg_pool2d(labels, 2), 3) is None  # a coarser scale's mixtures
    assert one_hot_codes(labels * 0.5, 3) is None
    two_hot = labels.clone()
    two_hot[:, 0] = 1.0  # channel 0 of frame 0 lit everywhere: two classes at once where another was lit
    assert one_hot_codes(two_hot, 3) is None
    assert one_hot_codes(labels, 4) is None  # the channels do not split into 4 frames


@pytest.mark.parametrize("edge", [False, True])
def test_gathered_convolutions_equal_the_dense_ones(edge: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    labels = _labels(2, 3, 6, 13, 11, edge)
    convs = [nn.Conv2d(labels.shape[1], 8, 7), nn.Conv2d(labels.shape[1], 4, 7, bias=False)]
    codes = one_hot_codes(labels, 3)
    assert codes is not None
    padded = nn.ReflectionPad2d(3)(labels)
    monkeypatch.setattr(label_gather, "INDEX_BUDGET", 11 * 147 * 2)  # bands of two output rows
    with torch.no_grad():
        for conv, gathered in zip(convs, gathered_convs(convs, 3, codes), strict=True):
            assert gathered.shape == (2, conv.out_channels, 13, 11)
            torch.testing.assert_close(gathered, conv(padded), atol=2e-6, rtol=1e-5)


def test_label_stacks_run_the_rest_of_each_stack() -> None:
    from models.families.vid2vid.layers import conv7_block, down_block

    torch.manual_seed(1)
    labels = _labels(1, 2, 4, 16, 16, True)
    stacks = [nn.Sequential(conv7_block(10, 6, "instance"), down_block(6, 12, "instance")),
              nn.Sequential(conv7_block(10, 3, "instance"))]
    with torch.no_grad():
        dense = label_stacks(stacks, labels, None)
        gathered = label_stacks(stacks, labels, one_hot_codes(labels, 2))
    for d, g in zip(dense, gathered, strict=True):
        torch.testing.assert_close(g, d, atol=1e-5, rtol=1e-4)


def test_a_stream_with_the_gather_is_within_fp32_rounding_of_the_dense_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two scales with the foreground branch (only the finest scale's labels are one-hot: the coarser one averages),
    real first frames: against a float64 run of the same weights, the gathered fp32 stream errs no more than the
    convolving fp32 stream does, and the same holds under bf16 autocast (the gather stays fp32 there)."""
    import copy

    import models.families.vid2vid.generator as generator_module

    config = Vid2VidConfig(label_channels=21, ngf=8, n_downsample=2, n_blocks=2, n_blocks_local=1, norm="instance",
                           n_scales_spatial=2, use_fg=True, fg_labels=(1,))
    torch.manual_seed(2)
    gen = Vid2VidGenerator(config).eval()
    clip = _labels(1, 6, 20, 32, 32, True, block=8).view(1, 6, 21, 32, 32)
    first = torch.rand(1, 2, 3, 32, 32) * 2 - 1
    gathers: list[int] = []
    original = label_gather.gathered_convs
    monkeypatch.setattr(label_gather, "gathered_convs", lambda *a: gathers.append(1) or original(*a))

    def stream(g: Vid2VidGenerator, dtype: torch.dtype, bf16: bool = False) -> list[torch.Tensor]:
        state, frames = g.start(1, 32, 32, first.to(dtype), clip[:, :2].to(dtype)), []
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            for t in range(2, 6):
                out, state = g.step(clip[:, t].to(dtype), state)
                frames.append(out.frame.double())
        return frames

    exact = stream(copy.deepcopy(gen).double(), torch.float64)
    assert gathers == []  # float64: no fast path
    fast, fast_bf16 = stream(gen, torch.float32), stream(gen, torch.float32, bf16=True)
    assert len(gathers) == 8  # one gather per frame (label and foreground stems together), finest scale only
    monkeypatch.setattr(generator_module, "fast_path_applies", lambda x: False)
    dense, dense_bf16 = stream(gen, torch.float32), stream(gen, torch.float32, bf16=True)
    assert len(gathers) == 8
    for f, d, e in zip(fast, dense, exact, strict=True):
        assert (f - e).abs().max() <= 1.5 * (d - e).abs().max() + 1e-6
    for f, d, e in zip(fast_bf16, dense_bf16, exact, strict=True):
        assert (f - e).abs().max() <= 1.5 * (d - e).abs().max() + 1e-6


def test_training_convolves() -> None:
    x = _labels(1, 2, 3, 4, 4, False)
    assert label_gather.fast_path_applies(x) is False  # grad mode on: training keeps the dense convolution
    with torch.no_grad():
        assert label_gather.fast_path_applies(x) is True
        assert label_gather.fast_path_applies(x.double()) is False
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert label_gather.fast_path_applies(x) is True  # bf16 serving gathers in fp32
