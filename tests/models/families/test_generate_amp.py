"""bf16 autocast training of the GAN generate recipes (MoCoGAN, VGAN; TGAN in test_tgan_run_options): the first
step's losses agree with fp32 to bf16's precision, weights stay fp32, and a resumed bf16 run repeats an
uninterrupted one exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from models.families.mocogan.recipe import MoCoGANRecipe
from models.families.vgan.recipe import VGANRecipe
from tests.models.families.mocogan_helpers import tiny_actions, tiny_run_config
from tests.models.families.predict_helpers import assert_same_weights, fit_whole_and_resumed
from tests.models.families.test_vgan_serving import run_config as vgan_run_config
from training.loop import TrainingLoop


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_actions(tmp_path_factory.mktemp("actions"), train=8, test=0)


def _mocogan(data: Path, out: Path, steps: int = 3, **values: Any) -> MoCoGANRecipe:
    return MoCoGANRecipe(tiny_run_config(data, out, steps, **values))


def _vgan(data: Path, out: Path, steps: int = 3, **values: Any) -> VGANRecipe:
    return VGANRecipe(vgan_run_config(data, out, steps, **values))


@pytest.mark.parametrize("build", [_mocogan, _vgan], ids=["mocogan", "vgan"])
def test_bf16_training_agrees_keeps_fp32_weights_and_resumes_exactly(build: Any, data: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    fp32 = TrainingLoop(build(data, tmp_path / "fp32", steps=1))
    bf16 = TrainingLoop(build(data, tmp_path / "bf16", steps=1, amp="bf16"))
    assert fp32.recipe.amp_dtype is None and bf16.recipe.amp_dtype == torch.bfloat16
    (first,), (lowered,) = fp32.fit(), bf16.fit()
    for key, value in first.losses.items():  # same weights, same draws: one step apart only by bf16's rounding
        assert lowered.losses[key] == pytest.approx(value, rel=0.05, abs=0.02), key
    assert all(p.dtype == torch.float32 for m in bf16.recipe.modules().values() for p in m.parameters())
    whole, resumed = fit_whole_and_resumed(lambda out, **v: build(data, out, amp="bf16", **v), tmp_path / "resume")
    assert_same_weights(whole, resumed)
