"""The trainer end to end on tiny data (models/training/trainer.py, state.py, schedule.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from corpora.clips import collate_clips
from models.families.fs_vid2vid.recipe import FewShotRecipe
from models.families.vid2vid import schedule
from models.families.vid2vid.recipe import SingleImageRecipe, VideoRecipe
from models.families.vid2vid.schedule import TrainConfig
from tests.moving_square import make_moving_square
from training import TrainingLoop, loop_for

VID2VID_SMALL_D = {"num_D": 1, "n_layers_D": 2, "ndf": 16, "n_scales_temporal": 1}


def _config(data: Path, out: Path, **values: object) -> TrainConfig:
    base = dict(preset="vid2vid-tiny", data=str(data), out=str(out), height=32, width=32, clip_frames=4,
                max_clip_frames=4, flip=False, checkpoint_every=0, sample_every=0, progress=False, **VID2VID_SMALL_D)
    base.update(values)
    return VideoRecipe.train_config(**base)


def _psnr(trainer: TrainingLoop) -> float:
    clip = trainer.recipe.to_device(collate_clips([trainer.recipe.dataset()[0]]), 4)
    trainer.recipe.gen.eval()
    with torch.no_grad():
        generated, _ = trainer.recipe.generate(clip, 0)
    trainer.recipe.gen.train()
    mse = sum(((g.frame - clip.frames[:, g.t]) ** 2).mean().item() / 4 for g in generated) / len(generated)
    return 10 * math.log10(1 / mse)


def test_vid2vid_tiny_overfits_a_moving_square(square_data: Path, tmp_path: Path) -> None:
    trainer = loop_for(_config(square_data, tmp_path / "run", steps=20, lr=1e-3, sample_every=20))
    before = _psnr(trainer)
    results = trainer.fit()
    after = _psnr(trainer)
    assert after > before + 3.0, (before, after)
    assert results[-1].losses["G_flow_l1"] < results[0].losses["G_flow_l1"]
    lines = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert len(lines) == 20
    assert {"G_gan_frame", "G_feat_frame", "G_warp_fake", "D_image", "D_temporal0"} <= set(lines[0])
    assert (tmp_path / "run" / "samples" / "step_0000020.png").exists()


def test_checkpoint_resume_continues_exactly(square_data: Path, tmp_path: Path) -> None:
    config = _config(square_data, tmp_path / "run", steps=3, checkpoint_every=2)
    straight = loop_for(config)
    straight_results = straight.fit()

    interrupted = loop_for(config.replace(steps=2, out=str(tmp_path / "run2")))
    interrupted.fit()
    resumed = loop_for(config.replace(out=str(tmp_path / "run2")))
    assert resumed.resume() and resumed.step == 2
    for name, value in interrupted.recipe.gen.state_dict().items():
        assert torch.equal(resumed.recipe.gen.state_dict()[name], value), name
    for name, value in interrupted.recipe.disc.state_dict().items():
        assert torch.equal(resumed.recipe.disc.state_dict()[name], value), name
    state_a, state_b = interrupted.recipe.opt_g.state_dict()["state"], resumed.recipe.opt_g.state_dict()["state"]
    assert all(torch.equal(state_a[k]["exp_avg"], state_b[k]["exp_avg"]) for k in state_a)
    resumed_results = resumed.fit()
    assert resumed.step == 3
    assert resumed_results[-1].losses["G_total"] == straight_results[-1].losses["G_total"]
    assert resumed_results[-1].losses["D_image"] == straight_results[-1].losses["D_image"]
    meta = json.loads((tmp_path / "run2" / "checkpoints" / "step_0000002.json").read_text())
    assert meta["step"] == 2 and meta["preset"] == "vid2vid-tiny" and meta["config"]["label_channels"] == 35


def test_rollout_frames_start_the_trained_frames_from_the_generators_own_outputs(square_data: Path,
                                                                               tmp_path: Path) -> None:
    config = _config(square_data, tmp_path / "run", steps=1, clip_frames=2, max_clip_frames=2, rollout_frames=2)
    trainer = loop_for(config)
    recipe = trainer.recipe
    clip = recipe.to_device(collate_clips([recipe.dataset()[0]]), 4)
    recipe.gen.eval()
    generated, sequence = recipe.generate(clip, 0)
    assert [g.t for g in generated] == [2, 3] and sequence.shape[1] == 4
    assert all(g.frame.requires_grad for g in generated)
    assert torch.equal(generated[0].prev_fake, sequence[:, 1])  # the trained frame follows a generated one
    recipe.config = config.replace(rollout_frames=0)
    with torch.no_grad():
        plain, _ = recipe.generate(clip, 0)  # the same stream, every frame kept
    assert [g.t for g in plain] == [0, 1, 2, 3]
    for rolled, kept in zip(generated, plain[2:], strict=True):
        assert torch.allclose(rolled.frame, kept.frame, atol=1e-4)
    recipe.config = config
    recipe.gen.train()
    (result,) = trainer.fit()
    assert result.info["clip_frames"] == max(2, recipe.n_prev + 1) + 2  # the rollout frames come on top
    assert all(math.isfinite(v) for v in result.losses.values())


def test_schedule_counts_steps() -> None:
    c = VideoRecipe.train_config(preset="p", data="d", out="o", steps=100, decay_start=50, clip_frames=2,
                           max_clip_frames=8, clip_double_every=10, fix_global_steps=5, ttur=True)
    assert schedule.lr_factor(c, 10) == 1.0 and schedule.lr_factor(c, 75) == 0.5 and schedule.lr_factor(c, 100) == 0
    assert [schedule.clip_frames_at(c, s) for s in (0, 10, 20, 30, 90)] == [2, 4, 8, 8, 8]
    assert not schedule.train_coarse_scales(c, 4) and schedule.train_coarse_scales(c, 5)
    assert schedule.learning_rates(c) == (1e-4, 4e-4, (0.0, 0.9))
    fs = FewShotRecipe.train_config(preset="p", data="d", out="o")
    assert fs.gan_mode == "hinge" and fs.ttur and fs.lr == 4e-4 and fs.n_scales_temporal == 0
    assert schedule.learning_rates(fs, FewShotRecipe.ttur_betas) == (2e-4, 8e-4, (0.0, 0.999))  # reference betas


def test_few_shot_trains_single_frame_then_temporal(tmp_path: Path) -> None:
    data = make_moving_square(tmp_path / "data", label_type="pose", frames=6, size=32)
    config = FewShotRecipe.train_config(preset="fs_vid2vid-tiny", data=str(data), out=str(tmp_path / "run"),
                                steps=2, height=32, width=32, clip_frames=2, max_clip_frames=2, references=1,
                                single_frame_steps=1, checkpoint_every=0, sample_every=0, progress=False)
    trainer = loop_for(config)
    first, second = trainer.fit()
    assert first.info["clip_frames"] == 1 and second.info["clip_frames"] == 2
    assert "G_warp_ref" in first.losses and "G_flow_l1" in second.losses
    assert all(math.isfinite(v) for v in second.losses.values())


def test_few_shot_k_per_step_is_drawn_from_the_range_and_repeatable() -> None:
    fixed = FewShotRecipe.train_config(preset="p", data="d", out="o", references=3)
    assert {schedule.references_at(fixed, s) for s in range(50)} == {3}
    ranged = fixed.replace(min_references=1, references=4)
    drawn = [schedule.references_at(ranged, s) for s in range(200)]
    assert set(drawn) == {1, 2, 3, 4}
    assert drawn == [schedule.references_at(ranged, s) for s in range(200)]  # resume draws the same K
    assert drawn != [schedule.references_at(ranged.replace(seed=1), s) for s in range(200)]


def test_few_shot_trains_with_a_different_k_each_step(tmp_path: Path) -> None:
    data = make_moving_square(tmp_path / "data", label_type="pose", frames=8, size=32)
    config = FewShotRecipe.train_config(preset="fs_vid2vid-tiny", data=str(data), out=str(tmp_path / "run"),
                                steps=6, height=32, width=32, clip_frames=2, max_clip_frames=2, references=3,
                                min_references=1, checkpoint_every=0, sample_every=0, progress=False)
    results = loop_for(config).fit()
    used = [r.info["references"] for r in results]
    assert used == [schedule.references_at(config, s) for s in range(6)] and len(set(used)) > 1
    assert all(math.isfinite(v) for r in results for v in r.losses.values())
    logged = [json.loads(line)["references"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert logged == used


def test_single_family_needs_a_matching_single_image_config(square_data: Path, tmp_path: Path) -> None:
    values: dict[str, object] = {"preset": "vid2vid-tiny", "data": str(square_data), "out": str(tmp_path / "run"),
                                 "height": 32, "width": 32, "progress": False}
    with pytest.raises(ValueError, match="no single-image generator"):
        loop_for(SingleImageRecipe.train_config(**values))
    four = {"first_frame": "single_image", "single_image": {"input_channels": 4, "ngf": 4, "n_downsample": 2}}
    with pytest.raises(ValueError, match="input_channels is 4"):
        loop_for(SingleImageRecipe.train_config(overrides=four, **values))
    config = SingleImageRecipe.train_config(clip_frames=4, n_scales_temporal=2, **values)
    assert (config.clip_frames, config.max_clip_frames, config.n_scales_temporal) == (1, 1, 0)
