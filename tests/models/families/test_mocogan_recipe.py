"""MoCoGAN's training recipe on the generic loop: real data in the right shape, every network learns, the loop
resumes exactly, sample grids, metadata that exports a generate card, the CLI's flags."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

from models.families.mocogan.recipe import MoCoGANRecipe
from tests.models.families.mocogan_helpers import tiny_actions, tiny_run_config
from tests.models.families.predict_helpers import assert_same_weights, fit_whole_and_resumed
from training.loop import TrainingLoop


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_actions(tmp_path_factory.mktemp("actions"))


def test_items_are_strided_clips_with_labels_and_an_image(data: Path, tmp_path: Path) -> None:
    recipe = MoCoGANRecipe(tiny_run_config(data, tmp_path / "run", steps=1))
    item = recipe.dataset()[1000]  # any index (the loop asks for step * batch onwards)
    assert item["video"].shape == (4, 3, 16, 16) and item["image"].shape == (3, 16, 16)
    assert -1 <= float(item["video"].min()) and float(item["video"].max()) <= 1
    assert torch.equal(recipe.dataset()[7]["video"], recipe.dataset()[7]["video"])  # a pure function of i
    assert recipe.dataset().draw.stride == 2
    clips = recipe.dataset()
    for index in range(6):  # the partner frame: another clip of the video's look
        item, clip = clips[index], clips.draw.clip(index)
        partner = [m for m in clips.partners[clip]
                   if any(torch.equal(item["partner"], clips.clips[m, t].float() / 127.5 - 1) for t in range(8))]
        assert partner and clip not in partner


def test_scene_partners_are_the_other_clip_of_the_scene(data: Path, tmp_path: Path) -> None:
    """`identity_pair_real="scene"`: the partner frame comes from the clip's scene partner (same look and background,
    another action); data without scene labels is refused."""
    scenes = tiny_actions(tmp_path / "scenes", train=8, test=4, paired_scenes=True)
    clips = MoCoGANRecipe(tiny_run_config(scenes, tmp_path / "run", steps=1, identity_pair_real="scene")).dataset()
    labels = json.loads((scenes / "dataset.json").read_text())["clips"]
    names = sorted(n for n in labels if n.startswith("train"))
    for clip, partners in enumerate(clips.partners):
        assert len(partners) == 1 and partners[0] != clip
        mine, theirs = labels[names[clip]], labels[names[partners[0]]]
        assert mine["scene"] == theirs["scene"] and mine["look"] == theirs["look"]
        assert mine["action"] != theirs["action"]
    with pytest.raises(ValueError, match="paired-scenes"):
        MoCoGANRecipe(tiny_run_config(data, tmp_path / "plain", steps=1, identity_pair_real="scene")).dataset()


def test_training_changes_every_network_and_resumes_exactly(data: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    whole = TrainingLoop(MoCoGANRecipe(tiny_run_config(data, tmp_path / "whole", steps=4)))
    before = {k: v.clone() for k, v in whole.recipe.gen.state_dict().items()}
    results = whole.fit()
    assert len(results) == 4 and all(torch.isfinite(torch.tensor(list(r.losses.values()))).all() for r in results)
    assert {"G", "D_I", "D_V", "G_category", "D_V_category"} <= set(results[0].losses)
    assert any(not torch.equal(before[k], v) for k, v in whole.recipe.gen.state_dict().items())

    first = TrainingLoop(MoCoGANRecipe(tiny_run_config(data, tmp_path / "split", steps=2)))
    first.fit()
    first.save_checkpoint()
    resumed = TrainingLoop(MoCoGANRecipe(tiny_run_config(data, tmp_path / "split", steps=4)))
    assert resumed.resume() and resumed.step == 2
    resumed.fit()
    for name, module in whole.recipe.modules().items():
        other = resumed.recipe.modules()[name].state_dict()
        assert all(torch.equal(v, other[k]) for k, v in module.state_dict().items()), name

    sample = whole.write_sample(None)
    assert sample.is_file() and sample.stat().st_size > 0
    meta = whole.recipe.metadata()
    assert meta["generate"]["classes"] == ["walk", "dance", "wave", "idle"] and meta["height"] == 16


def test_the_train_command_maps_flags_and_refuses_foreign_ones(data: Path, tmp_path: Path) -> None:
    from cli.train import config_from_args

    args = argparse.Namespace(family="mocogan", data=str(data), preset="mocogan-tiny", out=str(tmp_path), steps=3,
                              batch=2, lr=None, quiet=True, set=["frame_stride=1"], size=None, config=None)
    config = config_from_args(args, MoCoGANRecipe)
    assert (config.steps, config.batch, config.progress, config.frame_stride, config.lr) == (3, 2, False, 1, 2e-4)
    foreign = argparse.Namespace(**{**vars(args), "set": ["clip_frames=4"]})
    with pytest.raises(ValueError, match="clip_frames"):
        config_from_args(foreign, MoCoGANRecipe)


def test_instance_noise_can_spare_the_image_discriminator(data: Path, tmp_path: Path) -> None:
    import dataclasses

    from tests.models.families.mocogan_helpers import TINY

    config = MoCoGANRecipe.train_config(data=str(data), out=str(tmp_path / "run"), preset="mocogan-tiny",
                                        overrides={**TINY, "instance_noise_std": 0.1}, steps=2, batch=4, device="cpu",
                                        progress=False, checkpoint_every=0, sample_every=0,
                                        instance_noise_decay_steps=4, instance_noise_on="video")
    loop = TrainingLoop(MoCoGANRecipe(config))
    loop.fit()
    recipe = loop.recipe
    assert recipe.d_image.instance_noise_std == 0.0  # D_I sees clean frames
    assert 0.0 < recipe.d_video.instance_noise_std < 0.1  # D_V's noise, decaying
    with pytest.raises(ValueError, match="instance_noise_on"):
        MoCoGANRecipe(dataclasses.replace(config, instance_noise_on="neither"))


def test_identity_pair_critic_sees_one_content_under_another_action_and_resumes(data: Path, tmp_path: Path) -> None:
    """Ours (`identity_pair_weight`): fake pairs share z_C and differ in action and motion; the critic trains, G
    gets its term, and the run resumes exactly with it."""
    torch.set_num_threads(1)
    recipe = MoCoGANRecipe(tiny_run_config(data, tmp_path / "probe", steps=1, identity_pair_weight=0.5))
    rng = torch.Generator().manual_seed(0)
    _, labels, latents = recipe.fakes(6, grad=False, rng=rng)
    seen = []
    recipe.gen.forward = lambda drawn: seen.append(drawn) or torch.zeros(6, 3, 4, 16, 16)  # type: ignore[method-assign]
    recipe.partner_clips(latents, grad=False, rng=rng)
    assert torch.equal(seen[0].content, latents.content)
    assert not (seen[0].category.argmax(1) == labels).any()  # another action for every clip
    assert not torch.equal(seen[0].motion_noise, latents.motion_noise)
    assert "D_pair" not in MoCoGANRecipe(tiny_run_config(data, tmp_path / "off", steps=1)).modules()

    def recipe_for(out: Path, **values: object) -> MoCoGANRecipe:
        return MoCoGANRecipe(tiny_run_config(data, out, **{"steps": 4, "identity_pair_weight": 0.5, **values}))

    probe = TrainingLoop(recipe_for(tmp_path / "one", steps=1, identity_pair_real="look"))  # real pairs across clips
    before = {k: v.clone() for k, v in probe.recipe.d_pair.state_dict().items()}
    assert {"D_pair", "G_pair"} <= set(probe.fit()[-1].losses)
    assert any(not torch.equal(before[k], v) for k, v in probe.recipe.d_pair.state_dict().items())
    assert_same_weights(*fit_whole_and_resumed(recipe_for, tmp_path))
