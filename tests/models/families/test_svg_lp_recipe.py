"""SVG-LP's training recipe under the generic loop: it learns, its flags map onto its run config, and a run resumed
from a checkpoint ends with exactly the weights of an uninterrupted one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from corpora.moving_digits import DigitsSpec, write_digits_dataset
from models.families.svg_lp.recipe import Recipe, SvgTrainConfig
from tests.models.families.predict_helpers import assert_same_weights, fit_whole_and_resumed, train_config_from_flags
from training.loop import TrainingLoop


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("digits")
    write_digits_dataset(root, DigitsSpec(size=16, digit_size=8, frames=6, max_speed=1), train_clips=4, test_clips=2)
    return root


def _config(digits: Path, out: Path, **values: Any) -> SvgTrainConfig:
    base = {"data": str(digits), "out": str(out), "preset": "svg_lp-tiny", "batch": 4, "steps": 4, "device": "cpu",
            "progress": False, "checkpoint_every": 0, "sample_every": 0}
    return Recipe.train_config(**{**base, **values})


def test_flags_and_set_values_become_run_config_fields(digits: Path, tmp_path: Path) -> None:
    flags = ["svg_lp", "--data", str(digits), "--preset", "svg_lp-tiny", "--out", str(tmp_path)]
    config = train_config_from_flags([*flags, "--steps", "7", "--set", "beta=0.001", "--set", "n_future=2"])
    assert isinstance(config, SvgTrainConfig)
    assert (config.steps, config.beta, config.n_future, config.n_past) == (7, 0.001, 2, 2)  # n_past: the preset's
    with pytest.raises(ValueError, match="ttur"):
        train_config_from_flags([*flags, "--ttur"])


def test_a_few_dozen_steps_on_a_fixed_batch_lower_the_loss(digits: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    recipe = Recipe(_config(digits, tmp_path, lr=2e-3))
    batch = recipe.collate([recipe.dataset()[i] for i in range(4)])  # (4, 5, 1, 16, 16) in [0, 1]
    assert batch.shape == (4, 5, 1, 16, 16) and 0 <= float(batch.min()) and float(batch.max()) <= 1
    losses = [recipe.train_step(batch, step).losses["loss"] for step in range(40)]
    assert sum(losses[-5:]) / 5 < 0.6 * losses[0]
    sample = recipe.write_sample(batch, tmp_path / "sample.png")
    assert sample.is_file()


def test_resume_from_a_checkpoint_matches_an_uninterrupted_run(digits: Path, tmp_path: Path) -> None:
    whole, second = fit_whole_and_resumed(lambda out, **values: Recipe(_config(digits, out, **values)), tmp_path)
    assert set(second.recipe.modules()) == {"G"}
    assert_same_weights(whole, second)
    meta_path = sorted((tmp_path / "split" / "checkpoints").glob("step_*.json"))[-1]
    assert meta_path.name == "step_0000004.json"
    other = TrainingLoop(Recipe(_config(digits, tmp_path / "split", preset="svg_lp-tiny-deterministic")))
    with pytest.raises(ValueError):
        other.resume()


def test_bf16_autocast_learns_and_keeps_fp32_weights(digits: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    recipe = Recipe(_config(digits, tmp_path, lr=2e-3, amp="bf16"))
    assert recipe.amp_dtype == torch.bfloat16
    batch = recipe.collate([recipe.dataset()[i] for i in range(4)])  # (4, 5, 1, 16, 16)
    losses = [recipe.train_step(batch, step).losses["loss"] for step in range(40)]
    assert sum(losses[-5:]) / 5 < 0.6 * losses[0]
    assert all(p.dtype == torch.float32 for p in recipe.model.parameters())
    whole, second = fit_whole_and_resumed(lambda out, **values: Recipe(_config(digits, out, amp="bf16", **values)),
                                          tmp_path / "resume")
    assert_same_weights(whole, second)
