"""The shared parts of the preset recipes (training/recipe_parts.py): flags -> run config, the preset lookup, the run
settings and seeding, dict batches, the common checkpoint metadata, the resume check and the clip grid picture."""

from __future__ import annotations

from dataclasses import dataclass, make_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from corpora.layout import read_png
from models.core.labels import tensor_to_rgb
from training.recipe import RunSettings
from training.recipe_parts import PresetRecipe, PresetRunConfig, model_config_from_preset, stack_dicts, write_clip_grid


@dataclass(frozen=True)
class ToyModelConfig:
    image_size: int = 8
    width: int = 4


PRESETS = {"toy-small": ToyModelConfig(), "toy-big": ToyModelConfig(image_size=16, width=32)}


ToyRunConfig = make_dataclass("ToyRunConfig", [
    ("preset", str, "toy-small"), ("steps", int, 10), ("batch", int, 2), ("device", str, "cpu"),
    ("checkpoint_every", int, 5), ("sample_every", int, 7), ("progress", bool, False), ("extra", float, 1.5),
], bases=(PresetRunConfig,), frozen=True)
"""The shared run-config fields (some defaults changed), a recipe's own three, and one more."""


class ToyRecipe(PresetRecipe):
    family = "toy"
    run_config_type = ToyRunConfig

    def __init__(self, config: Any, batch: int | None = None) -> None:
        self.config = c = config
        self.model_config = model_config_from_preset(PRESETS, c.preset, c.overrides, ToyModelConfig, self.family)
        self._setup_run(c, batch=batch)
        self._dataset = [{"x": torch.full((2,), float(i))} for i in range(4)]

    def metadata(self) -> dict[str, Any]:
        return self.run_metadata(width_used=self.model_config.width)


def test_train_config_keeps_defaults_for_none_and_lists_the_fields() -> None:
    config = ToyRecipe.train_config(data="d", out="o", steps=3, batch=None, extra=None)
    assert config == ToyRunConfig(data="d", out="o", steps=3)
    assert ToyRecipe.config_fields() == [
        "data", "out", "overrides", "seed", "device", "workers", "checkpoint_every", "sample_every", "progress",
        "split", "amp", "preset", "steps", "batch", "extra"]
    assert (config.device, config.checkpoint_every, config.split) == ("cpu", 5, "train")
    with pytest.raises(TypeError):
        ToyRecipe.train_config(data="d", out="o", no_such_flag=1)


def test_preset_lookup_applies_json_overrides_and_names_the_valid_presets() -> None:
    assert model_config_from_preset(PRESETS, "toy-big", {"width": 3}, ToyModelConfig, "toy") == ToyModelConfig(16, 3)
    with pytest.raises(KeyError, match="unknown toy preset 'nope'; valid presets: toy-big, toy-small"):
        model_config_from_preset(PRESETS, "nope", {}, ToyModelConfig, "toy")
    with pytest.raises(TypeError, match="ToyModelConfig"):
        model_config_from_preset(PRESETS, "toy-small", {"depth": 2}, ToyModelConfig, "toy")


def test_setup_run_builds_the_loop_settings_picks_the_device_and_seeds() -> None:
    torch.manual_seed(99)
    recipe = ToyRecipe(ToyRecipe.train_config(data="d", out="o", seed=5))
    assert recipe.run == RunSettings(out="o", steps=10, batch=2, seed=5, workers=0, checkpoint_every=5,
                                     sample_every=7, progress=False)
    assert recipe.device == torch.device("cpu")
    drawn = torch.rand(3)
    torch.manual_seed(5)
    assert torch.equal(drawn, torch.rand(3))  # the global generator was seeded with the run's seed
    assert ToyRecipe(ToyRecipe.train_config(data="d", out="o"), batch=6).run.batch == 6  # a recipe's own batch


def test_the_loop_interface_defaults() -> None:
    recipe = ToyRecipe(ToyRecipe.train_config(data="d", out="o"))
    assert recipe.dataset() is recipe._dataset and recipe.scalers() == {} and recipe.checkpoint_exclude == ()
    batch = recipe.collate([recipe.dataset()[i] for i in range(3)])
    assert set(batch) == {"x"} and batch["x"].shape == (3, 2) and batch["x"][:, 0].tolist() == [0.0, 1.0, 2.0]
    two = stack_dicts([{"a": torch.zeros(2), "b": torch.tensor(1)}, {"a": torch.ones(2), "b": torch.tensor(2)}])
    assert two["a"].shape == (2, 2) and two["b"].tolist() == [1, 2]


def test_metadata_and_resume_check() -> None:
    config = ToyRecipe.train_config(data="d", out="o", preset="toy-big", overrides={"width": 3})
    recipe = ToyRecipe(config)
    meta = recipe.metadata()
    assert list(meta) == ["family", "preset", "config", "train_config", "height", "width", "width_used"]
    assert meta["family"] == "toy" and meta["preset"] == "toy-big" and meta["config"] == {"width": 3}
    assert meta["train_config"]["extra"] == 1.5 and meta["height"] == meta["width"] == 16 and meta["width_used"] == 3
    recipe.check_resume(meta)
    for changed in ({"family": "other"}, {"preset": "toy-small"}, {"config": {}}):
        with pytest.raises(ValueError, match=r"the checkpoint is a .* run with config .*, not toy toy-big with"):
            recipe.check_resume({**meta, **changed})
    with pytest.raises(ValueError, match="not toy toy-big"):
        recipe.check_resume({})


def test_clip_grid_is_one_clip_per_row_with_white_gaps(tmp_path: Path) -> None:
    clips = torch.rand(2, 3, 3, 4, 5, generator=torch.Generator().manual_seed(0)) * 2 - 1  # (N, T, 3, H, W)
    path = write_clip_grid(tmp_path / "sub" / "grid.png", clips)
    image = read_png(path)
    assert image.shape == (2 * 6, 3 * 7, 3)
    assert (image[0] == 255).all() and (image[:, 0] == 255).all()
    assert np.array_equal(image[1:5, 1:6], tensor_to_rgb(clips[0, 0]))
    assert np.array_equal(image[7:11, 15:20], tensor_to_rgb(clips[1, 2]))
    rows = write_clip_grid(tmp_path / "rows.png", [list(clips[0]), list(clips[1])])  # rows as lists of frames
    assert rows.read_bytes() == path.read_bytes()


def test_amp_bf16_only_where_the_recipe_runs_its_forward_under_autocast() -> None:
    assert ToyRecipe(ToyRecipe.train_config(data="d", out="o", amp="auto")).amp_dtype is None  # no autocast: fp32
    with pytest.raises(ValueError, match="fp32 only"):
        ToyRecipe(ToyRecipe.train_config(data="d", out="o", amp="bf16"))

    class AutocastToy(ToyRecipe):
        supports_amp = True

    lowered = AutocastToy(ToyRecipe.train_config(data="d", out="o", amp="bf16"))
    assert lowered.amp_dtype == torch.bfloat16
    with lowered.autocast():
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.bfloat16
    with ToyRecipe(ToyRecipe.train_config(data="d", out="o")).autocast():
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32
    with pytest.raises(ValueError, match="fp16"):
        AutocastToy(ToyRecipe.train_config(data="d", out="o", amp="fp16"))
