"""Few-shot fine-tuning on the references (reference §3.9): only `finetune_parameters()` move, the reconstruction of
the references improves, and the result depends only on the seed. fs_vid2vid-tiny at 32x32."""

from __future__ import annotations

import copy

import pytest
import torch

from models.families.fs_vid2vid.finetune import finetune_on_references
from models.families.fs_vid2vid.generator import PRESETS, FewShotGenerator

SIZE = 32


def _references(k: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    refs = torch.rand(1, k, 3, SIZE, SIZE, generator=g) * 2 - 1  # (1, K, 3, H, W)
    labels = torch.rand(1, k, 3, SIZE, SIZE, generator=g) * 2 - 1  # (1, K, C, H, W)
    return refs, labels


def _reference_error(gen: FewShotGenerator, refs: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean L1 of rendering each reference j from its label, conditioned on the other references."""
    k = refs.shape[1]
    errors = []
    with torch.inference_mode():
        for j in range(k):
            others = [i for i in range(k) if i != j] or [j]
            out, _ = gen.step(labels[:, j], gen.start(refs[:, others], labels[:, others]), single_frame=True)
            errors.append((out.frame - refs[:, j]).abs().mean().item())
    return sum(errors) / k


@pytest.fixture(scope="module")
def base() -> FewShotGenerator:
    torch.manual_seed(0)
    return FewShotGenerator(PRESETS["fs_vid2vid-tiny"]).eval()


@pytest.fixture(scope="module")
def tuned(base: FewShotGenerator) -> tuple[FewShotGenerator, float, float]:
    """A copy fine-tuned 20 steps on K = 2 references, with the reference error before and after."""
    refs, labels = _references(2)
    gen = copy.deepcopy(base)
    before = _reference_error(gen, refs, labels)
    finetune_on_references(gen, refs, labels, steps=20, seed=0)
    return gen, before, _reference_error(gen, refs, labels)


def test_only_finetune_parameters_change(base: FewShotGenerator, tuned: tuple[FewShotGenerator, float, float]) -> None:
    gen = tuned[0]
    trainable = {id(p) for p in gen.finetune_parameters()}
    moved, frozen = 0, 0
    for (name, p0), p1 in zip(base.named_parameters(), gen.parameters(), strict=True):
        if id(p1) in trainable:
            moved += int(not torch.equal(p0, p1))
        else:
            frozen += 1
            assert torch.equal(p0, p1), f"{name} changed but is not a fine-tuned parameter"
    assert moved > 0 and frozen > 0
    for (name, b0), b1 in zip(base.named_buffers(), gen.buffers(), strict=True):
        assert torch.equal(b0, b1), f"buffer {name} changed"  # eval mode: no BN / spectral-norm updates
    assert not gen.training and all(p.requires_grad for p in gen.parameters())  # flags restored


def test_finetuning_lowers_the_reference_reconstruction_error(tuned: tuple[FewShotGenerator, float, float]) -> None:
    _, before, after = tuned
    assert after < before * 0.97, (before, after)


def test_finetuning_is_deterministic_given_the_seed(base: FewShotGenerator) -> None:
    refs, labels = _references(1, seed=3)
    a, b = copy.deepcopy(base), copy.deepcopy(base)
    rng_before = torch.get_rng_state()
    finetune_on_references(a, refs, labels, steps=4, seed=7)
    finetune_on_references(b, refs, labels, steps=4, seed=7)
    assert torch.equal(torch.get_rng_state(), rng_before)  # the global RNG is not used
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_zero_steps_is_a_no_op_and_negative_is_refused(base: FewShotGenerator) -> None:
    refs, labels = _references(1)
    gen = copy.deepcopy(base)
    finetune_on_references(gen, refs, labels, steps=0)
    assert all(torch.equal(p0, p1) for p0, p1 in zip(base.parameters(), gen.parameters(), strict=True))
    with pytest.raises(ValueError):
        finetune_on_references(gen, refs, labels, steps=-1)
