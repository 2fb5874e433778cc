"""`compile_networks` (the worker's `--compile`): vid2vid's compiled scales and few-shot's compiled step give the
eager frames within rounding, in fp32 (vid2vid: label stems as a gather) and under bf16 autocast, and compile once per
frame size, not again as the stream advances."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
from torch._dynamo.utils import counters

from models.families.vid2vid.generator import Vid2VidConfig, Vid2VidGenerator

CONFIG = Vid2VidConfig(label_channels=5, ngf=8, n_downsample=2, n_blocks=2, n_blocks_local=1, norm="instance",
                       n_scales_spatial=2)


def _clip(frames: int, h: int, w: int) -> torch.Tensor:
    """(T, 1, 5, H, W) one-hot frames of 5 classes."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 5, (frames, 1, h, w), generator=g)
    return torch.nn.functional.one_hot(ids, 5).permute(0, 1, 4, 2, 3).float()


def _stream(gen: Vid2VidGenerator, clip: torch.Tensor, bf16: bool = False, first: bool = True) -> list[torch.Tensor]:
    """Frames 2.. of the clip; `first`: frames 0, 1 given (random pictures), else an empty history. (An empty history
    is an all-zero previous frame: its instance norms normalise constant maps, which amplifies any change of rounding
    without bound, so frames of two implementations are compared only from given first frames.)"""
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    frames = []
    h, w = clip.shape[-2:]
    pictures = torch.rand(1, 2, 3, h, w, generator=torch.Generator().manual_seed(1)) * 2 - 1  # (1, 2, 3, H, W)
    with torch.inference_mode(), autocast:
        state = gen.start(1, h, w, pictures, clip[:2].transpose(0, 1)) if first else gen.start(1, h, w)
        for labels in clip[2:]:
            out, state = gen.step(labels, state)
            frames.append(out.frame.float())
    return frames


def _compiled(gen: Vid2VidGenerator, clip: torch.Tensor, bf16: bool) -> list[torch.Tensor]:
    """Compile, run a stream from an empty history (it fills, then is full), then the compared stream, asserting
    that the second stream compiled nothing new."""
    torch._dynamo.reset()
    counters.clear()
    assert gen.compile_networks() == ["scales.0", "scales.1"]
    _stream(gen, clip, bf16, first=False)
    graphs = counters["stats"]["unique_graphs"]
    assert graphs > 0
    frames = _stream(gen, clip, bf16)
    assert counters["stats"]["unique_graphs"] == graphs  # a whole new stream of that size: nothing recompiles
    return frames


def test_compiled_scales_give_the_eager_frames_and_compile_once_per_size() -> None:
    """fp32 (label stems as a gather): the rounding of fused kernels, through the flow head (x20 per scale) and the
    warp, compounding as the stream runs on its own frames."""
    torch.manual_seed(1)
    gen = Vid2VidGenerator(CONFIG).eval()
    clip = _clip(6, 32, 32)
    eager = _stream(gen, clip)
    compiled = _compiled(gen, clip, bf16=False)
    assert float((compiled[0] - eager[0]).abs().max()) < 1e-3
    for c, e in zip(compiled, eager, strict=True):
        assert float((c - e).abs().mean()) < 2e-4 and float((c - e).abs().max()) < 2e-2


def test_compiled_bf16_is_as_close_to_fp32_as_eager_bf16() -> None:
    torch.manual_seed(1)
    gen = Vid2VidGenerator(CONFIG).eval()
    clip = _clip(6, 32, 32)
    exact, eager = _stream(gen, clip), _stream(gen, clip, bf16=True)
    compiled = _compiled(gen, clip, bf16=True)
    for c, e, x in zip(compiled, eager, exact, strict=True):
        assert float((c - x).abs().mean()) <= 2 * float((e - x).abs().mean()) + 1e-3


def test_the_worker_runner_compiles_what_the_family_allows(tmp_path: Path) -> None:
    from tests.workers.helpers import write_manifest
    from workers.worker import load_runners

    manifest = write_manifest(tmp_path / "checkpoints", people=True)  # "tiny" (vid2vid) and "tiny-people"
    runners = load_runners(manifest, torch.device("cpu"), compile_networks=True)
    assert runners["tiny"].compiled and all(name.startswith("scales.") for name in runners["tiny"].compiled)
    assert runners["tiny-people"].compiled == ["step"]  # few-shot: the whole step
    assert load_runners(manifest, torch.device("cpu"), only=["tiny"])["tiny"].compiled == []  # off by default


def test_a_compiled_few_shot_step_gives_the_eager_frames_and_compiles_once() -> None:
    """Few-shot compiles its whole `step` (the state is tensors only): one graph for the first frame, one for the
    later ones, none as the stream goes on; frames within fp32 rounding of eager."""
    from models.core.baking import bake_parametrizations
    from models.families.fs_vid2vid.generator import PRESETS, FewShotGenerator

    torch.manual_seed(3)
    gen = bake_parametrizations(FewShotGenerator(PRESETS["fs_vid2vid-tiny"]).eval())
    g = torch.Generator().manual_seed(0)
    refs = torch.rand(1, 2, 3, 32, 32, generator=g) * 2 - 1  # (1, K, 3, H, W)
    ref_labels = torch.rand(1, 2, 3, 32, 32, generator=g) * 2 - 1
    clip = torch.rand(4, 1, 3, 32, 32, generator=g) * 2 - 1  # (T, 1, C, H, W)

    def stream() -> list[torch.Tensor]:
        with torch.inference_mode():
            state, frames = gen.start(references=refs, reference_labels=ref_labels), []
            for labels in clip:
                out, state = gen.step(labels, state, with_raw=False)
                frames.append(out.frame.clone())
        return frames

    eager = stream()
    torch._dynamo.reset()
    counters.clear()
    assert gen.compile_networks() == ["step"]
    compiled = stream()
    graphs = counters["stats"]["unique_graphs"]
    assert 0 < graphs <= 2
    again = stream()
    assert counters["stats"]["unique_graphs"] == graphs
    for c, a, e in zip(compiled, again, eager, strict=True):
        assert torch.equal(c, a)  # compiled code is deterministic: a resumed job gets the same frames
        assert float((c - e).abs().mean()) < 2e-4 and float((c - e).abs().max()) < 1e-2  # fused-kernel rounding
