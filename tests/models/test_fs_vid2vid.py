"""Behaviour of the few-shot vid2vid generator: streaming API, attention, caching, state round trip, gradients,
composition and the paper-scale parameter count (on the meta device). Tiny configs, 32x32 frames."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from models import build_generator
from models.families.fs_vid2vid.blocks import upsample_2x
from models.families.fs_vid2vid.generator import PRESETS, FewShotConfig, FewShotGenerator, FewShotState
from models.families.fs_vid2vid.weights import AttentionModule

SIZE = 32
TINY = PRESETS["fs_vid2vid-tiny"]


def _inputs(b: int, k: int, frames: int = 3, seed: int = 0, size: int = SIZE, c: int = 3
            ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    refs = torch.rand(b, k, 3, size, size, generator=g) * 2 - 1  # (B, K, 3, H, W)
    ref_labels = torch.rand(b, k, c, size, size, generator=g) * 2 - 1  # (B, K, C, H, W)
    labels = [torch.rand(b, c, size, size, generator=g) * 2 - 1 for _ in range(frames)]  # (B, C, H, W) each
    return refs, ref_labels, labels


def _build(config: FewShotConfig, seed: int = 0) -> FewShotGenerator:
    torch.manual_seed(seed)
    return FewShotGenerator(config)


@pytest.fixture(scope="module")
def tiny() -> FewShotGenerator:
    return _build(TINY)


def test_presets_are_the_agreed_names() -> None:
    assert set(PRESETS) == {"fs_vid2vid-tiny", "fs_vid2vid-people-small", "fs_vid2vid-pose-256", "fs_vid2vid-face-256"}
    people = PRESETS["fs_vid2vid-people-small"]
    assert people.label_channels == 3 and people.max_references == 8
    assert people.spade_combine and people.warp_reference
    assert isinstance(build_generator("fs_vid2vid-tiny", n_fc_layers=2), FewShotGenerator)


@pytest.mark.parametrize("k", [1, 2, 4, 8])
def test_step_shapes_for_k_references(tiny: FewShotGenerator, k: int) -> None:
    tiny.eval()
    refs, ref_labels, labels = _inputs(2, k, frames=2)
    with torch.inference_mode():
        state = tiny.start(refs, ref_labels)
        first, state = tiny.step(labels[0], state)
        second, state = tiny.step(labels[1], state)
    for out in (first, second):
        assert out.frame.shape == (2, 3, SIZE, SIZE) and out.frame.abs().max() <= 1
        assert out.raw is not None and out.raw.shape == (2, 3, SIZE, SIZE)
        assert out.flow_ref is not None and out.flow_ref.shape == (2, 2, SIZE, SIZE)
        assert out.mask_ref is not None and out.mask_ref.shape == (2, 1, SIZE, SIZE)
        assert out.warped_ref is not None and out.warped_ref.shape == (2, 3, SIZE, SIZE)
        assert out.ref_index.shape == (2,) and out.ref_index.dtype == torch.long
        assert ((out.ref_index >= 0) & (out.ref_index < k)).all()
    # the first step of a sequence has no previous frame: reference path only
    assert first.flow_prev is None and first.mask_prev is None and first.warped_prev is None
    assert second.flow_prev is not None and second.flow_prev.shape == (2, 2, SIZE, SIZE)
    assert second.warped_prev is not None and second.mask_prev is not None
    if k == 1:
        assert first.attention is None
    else:
        assert second.attention is not None
        h = SIZE // 2**TINY.n_downsample_attention
        assert second.attention.shape == (2, k * h * h, h * h)


def test_attention_sums_to_one_over_references_and_picks_a_reference(tiny: FewShotGenerator) -> None:
    tiny.eval()
    refs, ref_labels, labels = _inputs(1, 3, frames=1, seed=1)
    with torch.inference_mode():
        out, _ = tiny.step(labels[0], tiny.start(refs, ref_labels))
    assert out.attention is not None
    torch.testing.assert_close(out.attention.sum(dim=1), torch.ones(1, out.attention.shape[2]))
    mass = out.attention.view(1, 3, -1).sum(dim=2)  # (B, K)
    assert out.ref_index.item() == mass.argmax(dim=1).item()
    # the warped reference is the chosen one: identical references make the choice irrelevant
    same = refs[:, :1].expand(1, 3, 3, SIZE, SIZE).contiguous()
    same_labels = ref_labels[:, :1].expand(1, 3, 3, SIZE, SIZE).contiguous()
    with torch.inference_mode():
        a, _ = tiny.step(labels[0], tiny.start(same, same_labels))
        b, _ = tiny.step(labels[0], tiny.start(same[:, :1], same_labels[:, :1]))
    torch.testing.assert_close(a.warped_ref, b.warped_ref)


def test_nearest_label_choice_warps_the_reference_with_the_closest_pose(tiny: FewShotGenerator) -> None:
    nearest = _build(dataclasses.replace(TINY, reference_choice="nearest_label"))
    nearest.load_state_dict(tiny.state_dict())
    nearest.eval()
    refs, ref_labels, labels = _inputs(2, 3, frames=1, seed=2)
    ref_labels[0, 2] = labels[0][0] + 0.01  # sample 0: reference 2 has (almost) the target's pose
    ref_labels[1, 1] = labels[0][1]  # sample 1: reference 1 has exactly the target's pose
    with torch.inference_mode():
        out, _ = nearest.step(labels[0], nearest.start(refs, ref_labels))
        single, _ = nearest.step(labels[0][:1], nearest.start(refs[:1, 2:3], ref_labels[:1, 2:3]))
    assert out.ref_index.tolist() == [2, 1]
    torch.testing.assert_close(out.warped_ref[:1], single.warped_ref, atol=1e-3, rtol=0)  # it warped reference 2


def test_k1_start_caches_generated_weights(tiny: FewShotGenerator) -> None:
    tiny.eval()
    refs, ref_labels, _ = _inputs(2, 1)
    with torch.inference_mode():
        state = tiny.start(refs, ref_labels)
    ch = TINY.channels
    assert state.cache["bottleneck"].shape == (2, ch[-1], SIZE // 8, SIZE // 8)
    assert state.cache["weights.0.norm_0.weight"].shape == (2, 2 * ch[1], ch[0])  # γ|β rows over ch[0] maps
    assert state.cache["weights.1.embed.weight"].shape == (2, ch[1], ch[2])


@pytest.mark.parametrize("k", [1, 3])
def test_cached_encoding_gives_the_same_frames_as_recomputing_every_step(tiny: FewShotGenerator, k: int) -> None:
    tiny.eval()
    refs, ref_labels, labels = _inputs(2, k, frames=3, seed=2)
    with torch.inference_mode():
        cached = recomputed = tiny.start(refs, ref_labels)
        for labels_t in labels:
            a, cached = tiny.step(labels_t, cached)
            b, recomputed = tiny.step(labels_t, tiny.refresh(recomputed))
            assert torch.equal(a.frame, b.frame)


@pytest.mark.parametrize("k", [1, 2])
def test_state_round_trip_gives_identical_next_frames(tiny: FewShotGenerator, k: int) -> None:
    tiny.eval()
    refs, ref_labels, labels = _inputs(1, k, frames=3, seed=3)
    with torch.inference_mode():
        state = tiny.start(refs, ref_labels)
        for labels_t in labels[:2]:
            _, state = tiny.step(labels_t, state)
        restored = FewShotState.from_tensors(load_safetensors(save_safetensors(state.to_tensors())))
        expected, _ = tiny.step(labels[2], state)
        actual, _ = tiny.step(labels[2], restored)
    assert torch.equal(expected.frame, actual.frame)
    fresh = FewShotState.from_tensors(tiny.start(refs, ref_labels).to_tensors())
    assert fresh.prev_frame is None and fresh.num_references == k


@pytest.mark.parametrize("k", [1, 2])
def test_gradients_reach_weight_generation_and_reference_encoder(k: int) -> None:
    gen = _build(TINY, seed=4)
    gen.train()
    refs, ref_labels, labels = _inputs(2, k, frames=2, seed=4)
    state = gen.start(refs, ref_labels)
    out, state = gen.step(labels[0], state)
    out, state = gen.step(labels[1], gen.refresh(state))  # fresh graph for the second frame, as a trainer does
    assert out.raw is not None and out.warped_prev is not None
    (out.frame.square().mean() + out.raw.square().mean() + out.warped_prev.mean()).backward()
    for name in ("weight_generator", "reference_encoder.img_down", "reference_encoder.label_down",
                 "reference_encoder.img_up", "label_embedding", "flow_network_ref", "img_ref_embedding",
                 "img_prev_embedding", "up", "conv_img"):
        module = gen.get_submodule(name)
        grads = [p.grad for p in module.parameters()]
        assert all(g is not None for g in grads), name
        assert sum(g.abs().sum().item() for g in grads if g is not None) > 0, name
    if k > 1:
        assert all(p.grad is not None for p in gen.get_submodule("reference_encoder.attention").parameters())
    assert state.prev_frame is not None and not state.prev_frame.requires_grad  # previous frame is detached


def test_single_frame_ignores_the_previous_frame(tiny: FewShotGenerator) -> None:
    tiny.eval()
    refs, ref_labels, labels = _inputs(1, 1, frames=2, seed=5)
    with torch.inference_mode():
        start = tiny.start(refs, ref_labels)
        _, state = tiny.step(labels[0], start)
        single, _ = tiny.step(labels[1], state, single_frame=True)
        first, _ = tiny.step(labels[1], start)
    assert single.flow_prev is None
    assert torch.equal(single.frame, first.frame)


def test_mask_composition_without_spade_combine() -> None:
    gen = _build(dataclasses.replace(TINY, spade_combine=False), seed=6).eval()
    refs, ref_labels, labels = _inputs(1, 2, frames=2, seed=6)
    with torch.inference_mode():
        _, state = gen.step(labels[0], gen.start(refs, ref_labels))
        out, _ = gen.step(labels[1], state)
    assert out.raw is not None and out.mask_ref is not None and out.warped_ref is not None
    assert out.mask_prev is not None and out.warped_prev is not None
    x = out.raw * out.mask_ref + out.warped_ref * (1 - out.mask_ref)
    torch.testing.assert_close(out.frame, x * out.mask_prev + out.warped_prev * (1 - out.mask_prev))


def test_learned_blend_starts_as_the_plain_frame_and_learns_to_take_the_warped_images() -> None:
    """`blend_reference` and `blend_previous` add two zero-initialised heads: the plain weights give the same
    frames with them; training only the heads toward the warped reference moves the output there."""
    plain = _build(TINY, seed=7).eval()
    blended = FewShotGenerator(dataclasses.replace(TINY, blend_reference=True, blend_previous=True))
    missing = blended.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(k.startswith(("blend_ref.", "blend_prev.")) for k in missing)
    blended.eval()
    refs, ref_labels, labels = _inputs(1, 1, frames=2, seed=7)
    with torch.inference_mode():
        a, state_a = plain.step(labels[0], plain.start(refs, ref_labels))
        b, state_b = blended.step(labels[0], blended.start(refs, ref_labels))
        a2, _ = plain.step(labels[1], state_a)
        b2, _ = blended.step(labels[1], state_b)
    torch.testing.assert_close(b.frame, a.frame)
    torch.testing.assert_close(b2.frame, a2.frame)  # the previous-frame blend too

    heads = [p for n, p in blended.named_parameters() if n.startswith("blend_")]
    optimiser = torch.optim.Adam(heads, lr=1e-3)
    errors = []
    for _ in range(30):
        out, _ = blended.step(labels[0], blended.start(refs, ref_labels))
        assert out.warped_ref is not None
        loss = (out.frame - out.warped_ref.detach()).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        errors.append(loss.item())
    assert errors[-1] < 0.5 * errors[0]


def test_bilinear_upsampling_keeps_the_weights_and_leaves_no_2x2_blocks() -> None:
    """`upsample="bilinear"` is the same network (nearest weights load as they are) whose decoders, label embeddings
    and flow networks no longer copy pixels into 2x2 blocks: their outputs change, and an up-sampled map no longer
    repeats each value along a row."""
    nearest = _build(TINY, seed=8).eval()
    bilinear = _build(dataclasses.replace(TINY, upsample="bilinear"), seed=9).eval()
    bilinear.load_state_dict(nearest.state_dict())
    refs, ref_labels, labels = _inputs(1, 1, frames=2, seed=8)
    flow_in = torch.cat([labels[0], ref_labels[:, 0], refs[:, 0]], dim=1)  # (B, 2C + 3, H, W)
    embed_in = torch.cat([refs[:, 0], refs[:, 0, :1]], dim=1)  # (B, 4, H, W): an image and a mask
    with torch.inference_mode():
        frames = [gen.step(labels[0], gen.start(refs, ref_labels))[0].frame for gen in (nearest, bilinear)]
        flows = [gen.flow_network_ref(flow_in).flow for gen in (nearest, bilinear)]  # type: ignore[misc]
        embeds = [gen.img_prev_embedding(embed_in)[0] for gen in (nearest, bilinear)]  # type: ignore[misc]
    for a, b in (frames, flows, embeds):
        assert not torch.allclose(a, b, atol=1e-4)
    coarse = torch.rand(1, 2, 4, 4)
    assert torch.equal(upsample_2x(coarse, "nearest")[..., 0::2], upsample_2x(coarse, "nearest")[..., 1::2])
    assert not torch.allclose(upsample_2x(coarse, "bilinear")[..., 0::2], upsample_2x(coarse, "bilinear")[..., 1::2])


def test_street_setting_has_only_a_temporal_flow_network() -> None:
    config = dataclasses.replace(TINY, spade_combine=False, warp_reference=False, max_references=1)
    gen = _build(config, seed=7).eval()
    refs, ref_labels, labels = _inputs(1, 1, frames=2, seed=7)
    with torch.inference_mode():
        first, state = gen.step(labels[0], gen.start(refs, ref_labels))
        second, _ = gen.step(labels[1], state)
    assert gen.flow_network_ref is None and gen.flow_network_temp is not None
    assert first.flow_ref is None and torch.equal(first.frame, first.raw)
    assert second.flow_prev is not None


def test_eval_is_deterministic_and_inputs_are_checked(tiny: FewShotGenerator) -> None:
    tiny.eval()
    refs, ref_labels, labels = _inputs(1, 2, frames=1, seed=8)
    with torch.inference_mode():
        a, _ = tiny.step(labels[0], tiny.start(refs, ref_labels))
        b, _ = tiny.step(labels[0], tiny.start(refs, ref_labels))
        assert torch.equal(a.frame, b.frame)
        with pytest.raises(ValueError, match="1..8 references"):
            tiny.start(torch.zeros(1, 9, 3, SIZE, SIZE), torch.zeros(1, 9, 3, SIZE, SIZE))
        with pytest.raises(ValueError, match="multiples of 8"):
            tiny.start(torch.zeros(1, 1, 3, 36, 36), torch.zeros(1, 1, 3, 36, 36))
    k1 = _build(dataclasses.replace(TINY, max_references=1))
    with pytest.raises(ValueError, match="1..1 references"):
        k1.start(refs, ref_labels)


def test_finetune_parameters_are_fc_up_and_conv_img(tiny: FewShotGenerator) -> None:
    chosen = {id(p) for p in tiny.finetune_parameters()}
    names = {n.split(".")[0] for n, p in tiny.named_parameters() if id(p) in chosen}
    assert names == {"weight_generator", "up", "conv_img"}
    assert all(id(p) in chosen for p in tiny.weight_generator.parameters())


def test_pose_preset_matches_the_reference_parameter_count() -> None:
    # Reference §3.10: 112.1 M with K = 1 (we leave out the unused ref_{img,label}_up_0: -37 k); K = 3 adds ~0.19 M.
    config = PRESETS["fs_vid2vid-pose-256"]
    with torch.device("meta"):
        k1 = FewShotGenerator(config)
        attention = AttentionModule(config.label_channels, config.channels, config.n_downsample_attention)
    n1 = sum(p.numel() for p in k1.parameters())
    assert abs(n1 - 112.1e6) / 112.1e6 < 0.01
    assert k1.reference_encoder.attention is None  # built only when max_references > 1
    n_attention = sum(p.numel() for p in attention.parameters())
    assert abs(n_attention - 0.19e6) / 0.19e6 < 0.05
    assert k1.flow_network_temp is None  # one flow network serves the reference and the previous frame
    # The reference's flow network: stem/down/up convs without bias (each followed by BN); the legacy layout of our
    # first models had those 704 biases.
    assert k1.flow_network_ref is not None and sum(p.numel() for p in k1.flow_network_ref.parameters()) == 7_867_843
    with torch.device("meta"):
        legacy = FewShotGenerator(dataclasses.replace(PRESETS["fs_vid2vid-pose-256"], flow_layout="legacy"))
    assert legacy.flow_network_ref is not None
    assert sum(p.numel() for p in legacy.flow_network_ref.parameters()) == 7_868_547


def test_people_preset_is_small_and_runs_at_256x128() -> None:
    gen = _build(PRESETS["fs_vid2vid-people-small"]).eval()
    assert 1e6 < sum(p.numel() for p in gen.parameters()) < 8e6
    refs, ref_labels, _ = _inputs(1, 2, frames=0)
    refs, ref_labels = (torch.nn.functional.interpolate(t[0], size=(256, 128))[None] for t in (refs, ref_labels))
    with torch.inference_mode():
        out, _ = gen.step(torch.zeros(1, 3, 256, 128), gen.start(refs, ref_labels), with_raw=False)
    assert out.frame.shape == (1, 3, 256, 128) and out.raw is None


def test_served_pipeline_bakes_spectral_norms_bit_for_bit_and_fine_tunes_under_them() -> None:
    """`FewShotPipeline`: the served generator computes W / σ once (no parametrizations left) and streams the very
    frames of the parametrized generator; a job's fine-tuning starts from a fresh parametrized load."""
    from torch.nn.utils import parametrize

    from models.core.family import TranslateStart
    from models.families.fs_vid2vid.pipeline import FewShotPipeline

    config = dataclasses.replace(TINY, spectral_norm="everywhere")
    loads: list[FewShotGenerator] = []

    def load() -> FewShotGenerator:
        loads.append(_build(config, seed=3).eval())
        return loads[-1]

    reference = _build(config, seed=3).eval()
    pipeline = FewShotPipeline(load)
    assert not any(parametrize.is_parametrized(m) for m in pipeline.generator.modules())
    assert any(parametrize.is_parametrized(m) for m in reference.modules())
    refs, ref_labels, labels = _inputs(1, 2, frames=3, seed=4)
    rng = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        state = pipeline.start(TranslateStart(SIZE, SIZE, refs, ref_labels), rng)
        expected = reference.start(references=refs, reference_labels=ref_labels)
        for x in labels:
            out, state = pipeline.step(state, x, rng)
            want, expected = reference.step(x, expected, with_raw=False)
            assert torch.equal(out.frames[:, 0], want.frame)

    class Hooks:
        saved: dict[str, torch.Tensor] = {}

        def on_step(self, done: int) -> None:
            tuned_is_parametrized.append(any(parametrize.is_parametrized(m) for m in loads[-1].modules()))

        def load_tensors(self, name: str, settings: object) -> None:
            return None

        def save_tensors(self, name: str, tensors: dict[str, torch.Tensor], settings: object) -> None:
            Hooks.saved = dict(tensors)

    tuned_is_parametrized: list[bool] = []
    tuned = pipeline.adapt(TranslateStart(SIZE, SIZE, refs, ref_labels), {"finetune_steps": 2}, seed=1, hooks=Hooks())
    assert tuned_is_parametrized == [True, True] and len(loads) == 2  # trained under spectral norm, on a fresh load
    assert any(".parametrizations.weight.original" in name for name in Hooks.saved)
    assert tuned is not pipeline and not any(parametrize.is_parametrized(m) for m in tuned.generator.modules())


def test_legacy_weights_carry_onto_the_corrected_layout() -> None:
    """`layout.legacy_to_original`: every layer computes what it computed in the legacy model, except the flow
    network's residual blocks, whose convolutions and middle norm move to their new places."""
    from models.families.fs_vid2vid.layout import legacy_to_original

    legacy = dataclasses.replace(TINY, flow_layout="legacy", spectral_norm="everywhere")
    parametrized, baked = _build(legacy, seed=5).eval(), _build(legacy, seed=5).eval()
    target = _build(dataclasses.replace(TINY, flow_layout="original", spectral_norm="original"), seed=6).eval()
    untouched = {k: v.clone() for k, v in target.state_dict().items()}
    target.load_state_dict(legacy_to_original(parametrized, baked, target))
    from torch.nn.utils import parametrize

    assert not parametrize.is_parametrized(target.conv_img) and parametrize.is_parametrized(parametrized.conv_img)
    image = torch.rand(1, target.img_ref_embedding.conv_first.in_channels, SIZE, SIZE) * 2 - 1
    with torch.no_grad():  # layers plain in the original: their weights are the legacy layers' W / sigma
        for got, want in zip(target.img_ref_embedding(image), parametrized.img_ref_embedding(image), strict=True):
            torch.testing.assert_close(got, want)
        x = torch.rand(1, target.conv_img.in_channels, SIZE, SIZE)
        torch.testing.assert_close(target.conv_img(x), parametrized.conv_img(x))
    state, old = target.state_dict(), parametrized.state_dict()
    sn = "parametrizations.weight.original"
    assert torch.equal(state[f"reference_encoder.img_first.0.{sn}"], old[f"reference_encoder.img_first.0.{sn}"])
    block = "flow_network_ref.blocks.0.body"
    assert torch.equal(state[f"{block}.2.{sn}"], old[f"{block}.0.{sn}"])  # conv0 moved from 0 to 2
    assert torch.equal(state[f"{block}.5.{sn}"], old[f"{block}.3.{sn}"])  # conv1 moved from 3 to 5
    assert torch.equal(state[f"{block}.3.weight"], old[f"{block}.1.weight"])  # the norm after conv0
    assert torch.equal(state[f"{block}.0.weight"], untouched[f"{block}.0.weight"])  # the new input norm: its own
