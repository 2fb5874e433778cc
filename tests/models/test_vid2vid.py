"""vid2vid generator: shapes per scale, composition, first frames, streaming state, paper param counts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from models.core.checkpoints import load_state, save_state
from models.core.family import TranslateStart
from models.families.vid2vid.generator import PRESETS, Vid2VidConfig, Vid2VidGenerator, Vid2VidState
from models.families.vid2vid.layers import count_parameters
from models.families.vid2vid.pipeline import Vid2VidPipeline
from models.families.vid2vid.single import SingleImageConfig, SingleImageGenerator, first_frames_from_single_image

H, W = 32, 32


def _gen(**overrides: object) -> Vid2VidGenerator:
    torch.manual_seed(0)
    return Vid2VidGenerator(dataclasses.replace(PRESETS["vid2vid-tiny"], **overrides))


def _one_hot_labels(b: int, c: int, h: int = H, w: int = W) -> torch.Tensor:
    ids = torch.randint(0, c, (b, h, w))
    return torch.nn.functional.one_hot(ids, c).permute(0, 3, 1, 2).float()  # (B, C, H, W)


@pytest.mark.parametrize("n_scales", [1, 2, 3])
@pytest.mark.parametrize("use_fg", [False, True])
@pytest.mark.parametrize("upsample", ["transpose", "resize", "bilinear"])
def test_output_shapes_per_scale(n_scales: int, use_fg: bool, upsample: str) -> None:
    gen = _gen(n_scales_spatial=n_scales, use_fg=use_fg, fg_labels=(2,), upsample=upsample)
    state = gen.start(2, H, W)
    out, state = gen.step(_one_hot_labels(2, 4), state)
    assert out.frame.shape == out.raw.shape == (2, 3, H, W)
    assert out.flow is not None and out.flow.shape == (2, 2, H, W)
    assert out.mask is not None and out.mask.shape == (2, 1, H, W)
    assert [o.frame.shape[-1] for o in out.scales] == [W // 2 ** (n_scales - 1 - s) for s in range(n_scales)]
    assert (out.fg_mask is not None) == use_fg
    assert out.frame.abs().max() <= 1
    assert [f.shape for f in state.frames] == [
        (2, 2, 3, o.frame.shape[2], o.frame.shape[3]) for o in out.scales
    ]


def test_resize_upsampling_keeps_every_parameter_count_and_drops_transposed_convs() -> None:
    """The small presets' resize-convolution decoders are a drop-in for the papers' transposed convs: same
    parameters per scale, no ConvTranspose2d left; loading weights of the other kind fails on the keys."""
    transpose = _gen(n_scales_spatial=2, use_fg=True, fg_labels=(2,))
    resize = _gen(n_scales_spatial=2, use_fg=True, fg_labels=(2,), upsample="resize")
    assert resize.parameter_counts() == transpose.parameter_counts()
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in resize.modules())
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in transpose.modules())
    with pytest.raises(RuntimeError, match="Missing key"):
        resize.load_state_dict(transpose.state_dict())


def test_bilinear_decoders_load_nearest_resize_weights() -> None:
    """"bilinear" is "resize" with another parameter-free interpolation: the weights load as they are, and the
    interpolation really changes (the outputs differ)."""
    resize = _gen(n_scales_spatial=2, upsample="resize").eval()
    bilinear = _gen(n_scales_spatial=2, upsample="bilinear").eval()
    bilinear.load_state_dict(resize.state_dict())
    assert sum(isinstance(m, torch.nn.Upsample) and m.mode == "bilinear" for m in bilinear.modules()) > 0
    with torch.no_grad():
        varying = _one_hot_labels(1, 4)
        a, _ = resize.step(varying, resize.start(1, H, W))
        b, _ = bilinear.step(varying, bilinear.start(1, H, W))
    assert not torch.allclose(a.frame, b.frame, atol=1e-4)


def test_label_skip_starts_as_a_no_op_and_paints_class_colours_once_trained() -> None:
    """`label_skip` adds one zero-initialised conv per scale: the plain weights give the same frames with it, and
    training only the skip takes the raw frame to a per-class colour (which the plain head must learn through the
    bottleneck)."""
    plain = _gen(n_scales_spatial=2).eval()
    skip = _gen(n_scales_spatial=2, label_skip=True).eval()
    missing = skip.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert sorted(missing) == ["scales.0.label_skip.weight", "scales.1.label_skip.weight"]
    labels = _one_hot_labels(1, 4)
    with torch.no_grad():
        a, _ = plain.step(labels, plain.start(1, H, W))
        b, _ = skip.step(labels, skip.start(1, H, W))
    assert torch.equal(a.raw, b.raw)

    colours = torch.tensor([[0.8, -0.6, 0.2], [-0.7, 0.5, 0.9], [0.1, 0.9, -0.8], [-0.4, -0.4, -0.4]])  # (4, 3)
    target = torch.einsum("bchw,cd->bdhw", labels, colours)  # (1, 3, H, W)
    weights = [p for n, p in skip.named_parameters() if "label_skip" in n]
    optimiser = torch.optim.Adam(weights, lr=2e-3)
    errors = []
    for _ in range(60):
        out, _ = skip.step(labels, skip.start(1, H, W))
        loss = (out.raw - target).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        errors.append(loss.item())
    assert errors[-1] < 0.25 * errors[0]


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_norms_train_and_eval(norm: str) -> None:
    gen = _gen(norm=norm, n_scales_spatial=2)
    labels = _one_hot_labels(2, 4)
    out, _ = gen.step(labels, gen.start(2, H, W))
    out.frame.mean().backward()
    assert all(p.grad is not None for p in gen.scales[1].image_head.parameters())
    with torch.inference_mode():
        out, _ = gen.eval().step(labels, gen.start(2, H, W))
    assert torch.isfinite(out.frame).all()


def test_pose_like_continuous_inputs() -> None:
    gen = _gen(label_channels=6, n_scales_spatial=2)
    state = gen.start(1, H, 64)
    for _ in range(3):
        out, state = gen.step(torch.rand(1, 6, H, 64) * 2 - 1, state)
    assert out.frame.shape == (1, 3, H, 64) and state.frame_index == 3 and state.history == 2


def _force_heads(gen: Vid2VidGenerator, mask_logit: float, flow_px: tuple[float, float]) -> None:
    """Make the coarsest scale predict a constant mask and a constant flow (in pixels)."""
    net = gen.scales[0]
    with torch.no_grad():
        net.mask_head[1].weight.zero_()
        net.mask_head[1].bias.fill_(mask_logit)
        net.flow_head[1].weight.zero_()
        net.flow_head[1].bias.copy_(torch.tensor(flow_px) / net.flow_scale)


def test_mask_zero_uses_the_warped_previous_frame() -> None:
    gen = _gen()
    _force_heads(gen, mask_logit=-1e4, flow_px=(2.0, 0.0))
    previous = torch.rand(1, 2, 3, H, W) * 2 - 1
    state = gen.start(1, H, W, first_frames=previous, first_labels=_one_hot_labels(2, 4).unsqueeze(0))
    out, _ = gen.step(_one_hot_labels(1, 4), state)
    assert not out.raw_only
    assert torch.allclose(out.frame[..., :-2], previous[:, -1, :, :, 2:], atol=1e-5)  # shifted by 2 px in x
    assert torch.allclose(out.warped, out.frame)


def test_mask_one_uses_the_hallucination() -> None:
    gen = _gen()
    _force_heads(gen, mask_logit=1e4, flow_px=(0.0, 0.0))
    state = gen.start(
        1, H, W, first_frames=torch.rand(1, 2, 3, H, W), first_labels=_one_hot_labels(2, 4).unsqueeze(0)
    )
    out, _ = gen.step(_one_hot_labels(1, 4), state)
    assert torch.allclose(out.frame, out.raw)


def test_label_gate_keeps_the_warp_only_where_the_warped_labels_agree() -> None:
    """A flow of 2 px carries the previous class-1 block 2 px left; where the current labels say class 0 there (the
    block's trailing edge moved on), the gated frame is the hallucination; elsewhere the paper's composite."""
    previous_labels = torch.zeros(1, 2, 4, H, W)
    previous_labels[:, :, 0] = 1
    previous_labels[:, :, 0, :, 8:16], previous_labels[:, :, 1, :, 8:16] = 0, 1  # class 1 in columns 8..15
    current = torch.zeros(1, 4, H, W)
    current[:, 0] = 1
    current[:, 0, :, 4:12], current[:, 1, :, 4:12] = 0, 1  # the block moved 4 px left; the flow says 2
    previous = torch.rand(1, 2, 3, H, W) * 2 - 1
    outputs = {}
    for gate in (False, True):
        gen = _gen(label_gate=gate)
        _force_heads(gen, mask_logit=-1e4, flow_px=(2.0, 0.0))
        outputs[gate], _ = gen.step(current, gen.start(1, H, W, first_frames=previous, first_labels=previous_labels))
    plain, gated = outputs[False], outputs[True]
    assert torch.equal(plain.frame, plain.warped)  # mask 0: the paper's composite copies the warp everywhere
    assert torch.allclose(gated.frame[..., 12:14], gated.raw[..., 12:14])  # warped class 1 lands on class 0
    assert torch.allclose(gated.frame[..., 4:6], gated.raw[..., 4:6])  # warped class 0 lands on class 1
    agree = [*range(0, 3), *range(7, 11), *range(15, 29)]  # columns whose warped class is the current one
    assert torch.allclose(gated.frame[..., agree], plain.frame[..., agree], atol=1e-6)
    assert torch.equal(gated.mask[..., 12:14], torch.ones(1, 1, H, 2))


def test_foreground_mask_selects_the_fg_branch() -> None:
    gen = _gen(use_fg=True, fg_labels=(3,))
    labels = torch.zeros(1, 4, H, W)
    labels[:, 3, :, : W // 2] = 1  # left half is foreground
    labels[:, 0, :, W // 2 :] = 1
    out, _ = gen.step(labels, gen.start(1, H, W))
    fg_image = gen.scales[0].fg(torch.cat([labels] * 3, dim=1))  # (B, 3, H, W), tanh inside
    assert torch.allclose(out.frame[..., : W // 2], fg_image[..., : W // 2], atol=1e-5)
    assert torch.equal(out.fg_mask[..., W // 2 :], torch.zeros(1, 1, H, W // 2))


def test_no_flow_outputs_the_hallucination() -> None:
    gen = _gen(no_flow=True)
    state = gen.start(1, H, W)
    for _ in range(2):
        out, state = gen.step(_one_hot_labels(1, 4), state)
    assert out.flow is None and out.mask is None and torch.equal(out.frame, out.raw)


def test_zeros_mode_first_frame_is_raw_then_warps() -> None:
    gen = _gen()
    state = gen.start(1, H, W)
    assert state.history == 0 and all(f.abs().sum() == 0 for f in state.frames)
    first, state = gen.step(_one_hot_labels(1, 4), state)
    assert first.raw_only and torch.equal(first.frame, first.raw)
    second, state = gen.step(_one_hot_labels(1, 4), state)
    assert not second.raw_only and not torch.equal(second.frame, second.raw)
    assert torch.equal(state.frames[0][:, 0], first.frame) and torch.equal(
        state.frames[0][:, 1], second.frame
    )


def test_temporal_option_0_draws_every_frame_from_its_labels_alone() -> None:
    pipeline = Vid2VidPipeline(_gen().eval())
    start, rng = TranslateStart(H, W), torch.Generator()
    assert pipeline.adapt(start, {"temporal": 1}, 0, None) is pipeline  # type: ignore[arg-type]
    alone = pipeline.adapt(start, {"temporal": 0}, 0, None)  # type: ignore[arg-type]
    a, b = _one_hot_labels(1, 4), _one_hot_labels(1, 4)

    def stream(p: Vid2VidPipeline) -> list[torch.Tensor]:
        state, frames = p.start(start, rng), []
        for labels in (a, b, a):
            out, state = p.step(state, labels, rng)
            frames.append(out.frames)  # (1, 1, 3, H, W)
        return frames

    with torch.no_grad():
        first, _, third = stream(alone)
        temporal = stream(pipeline)
    assert torch.equal(first, third)  # the same labels give the same frame, whatever came before
    assert torch.equal(first, temporal[0])  # = the temporal stream's first frame (the raw hallucination)
    assert not torch.equal(temporal[0], temporal[2])  # while the temporal stream builds on its history


def test_real_first_frames_fill_every_scale() -> None:
    gen = _gen(n_scales_spatial=2)
    frames = torch.rand(2, 2, 3, H, W)
    state = gen.start(2, H, W, first_frames=frames, first_labels=torch.rand(2, 2, 4, H, W))
    assert state.history == 2 and state.frame_index == 2
    assert torch.equal(state.frames[1], frames)  # finest scale holds the given frames
    assert state.frames[0].shape == (2, 2, 3, H // 2, W // 2)
    with pytest.raises(ValueError, match="together"):
        gen.start(2, H, W, first_frames=frames)


def test_single_image_first_frames() -> None:
    config = dataclasses.replace(
        PRESETS["vid2vid-tiny"],
        label_channels=5,
        first_frame="single_image",
        single_image=SingleImageConfig(input_channels=4, ngf=4, n_downsample=2, n_blocks=1),
    )
    gen = Vid2VidGenerator(config)
    assert config.single_image is not None
    single = SingleImageGenerator(config.single_image)
    first_labels = torch.rand(1, 2, 5, H, W)  # 4 classes + instance edges; the single G uses the first 4
    first = first_frames_from_single_image(single, first_labels)
    assert torch.allclose(first[:, 1], single(first_labels[:, 1, :4]), atol=1e-5)
    out, _ = gen.step(
        torch.rand(1, 5, H, W), gen.start(1, H, W, first_frames=first, first_labels=first_labels)
    )
    assert out.frame.shape == (1, 3, H, W) and not out.raw_only
    with pytest.raises(ValueError, match="single_image"):
        Vid2VidConfig(label_channels=4, first_frame="single_image")


def test_restored_state_gives_bit_identical_frames(tmp_path: Path) -> None:
    gen = _gen(n_scales_spatial=2, use_fg=True, fg_labels=(1,)).eval()
    labels = [_one_hot_labels(1, 4) for _ in range(4)]
    with torch.inference_mode():
        state = gen.start(1, H, W)
        for t in range(2):
            _, state = gen.step(labels[t], state)
        save_state(state, tmp_path / "state.safetensors")
        expected = []
        for t in range(2, 4):
            out, state = gen.step(labels[t], state)
            expected.append(out.frame)
        state = load_state(Vid2VidState, tmp_path / "state.safetensors")
        for t in range(2, 4):
            out, state = gen.step(labels[t], state)
            assert torch.equal(out.frame, expected[t - 2])


def test_training_step_with_detached_history() -> None:
    gen = _gen()
    state = gen.start(1, H, W)
    for _ in range(2):
        out, state = gen.step(_one_hot_labels(1, 4), state)
        (out.frame.mean() + out.raw.mean()).backward()
        state = state.detach()
        assert not any(t.requires_grad for t in state.frames)


def test_bad_inputs_fail_clearly() -> None:
    gen = _gen(n_scales_spatial=2)
    with pytest.raises(ValueError, match="multiples of 8"):
        gen.start(1, 36, 32)
    with pytest.raises(ValueError, match="label channels"):
        gen.step(torch.rand(1, 3, H, W), gen.start(1, H, W))


def test_cityscapes_2048_parameter_counts_match_the_paper_model() -> None:
    with torch.device("meta"):
        gen = Vid2VidGenerator(PRESETS["vid2vid-cityscapes-2048"])
        single = SingleImageGenerator(SingleImageConfig(input_channels=35, ngf=64, n_downsample=4))
    counts = gen.parameter_counts()
    for measured, reference in zip(counts, [411.3e6, 2.88e6, 0.86e6], strict=True):
        assert abs(measured - reference) / reference < 0.01
    assert abs(count_parameters(single) - 182.5e6) / 182.5e6 < 0.01  # the 1024 first-frame generator
    config = PRESETS["vid2vid-cityscapes-2048"].single_image
    assert config is not None and config.kind == "local"
    with torch.device("meta"):
        local = SingleImageGenerator(config)
    assert abs(count_parameters(local) - 182.85e6) / 182.85e6 < 0.001  # NVIDIA's 2048 first-frame G: pix2pixHD local
    assert (
        gen.scales[0].label_encoder[0][1].in_channels == 108
        and gen.scales[0].prev_encoder[0][1].in_channels == 6
    )


def test_paper_presets_build_on_meta() -> None:
    for name in ("vid2vid-cityscapes-1024", "vid2vid-pose-512", "vid2vid-face-512"):
        with torch.device("meta"):
            gen = Vid2VidGenerator(PRESETS[name])
        assert len(gen.scales) == gen.config.n_scales_spatial


def test_flow_and_mask_heads_run_as_one_convolution_with_each_heads_result() -> None:
    from models.families.vid2vid.blocks import flow_and_mask
    from models.families.vid2vid.layers import conv7_head

    torch.manual_seed(5)
    flow_head, mask_head, features = conv7_head(6, 2), conv7_head(6, 1), torch.randn(2, 6, 12, 10)
    flow, mask = flow_and_mask(flow_head, mask_head, 2.5, features)
    torch.testing.assert_close(flow, flow_head(features) * 2.5, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(mask, torch.sigmoid(mask_head(features)), atol=1e-6, rtol=1e-5)
    flow.sum().backward()  # trains the heads' own weights
    assert flow_head[1].weight.grad is not None and mask_head[1].weight.grad is not None
