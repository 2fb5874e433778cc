"""scripts/mocogan_category_to_motion.py: a trained MoCoGAN's category input moved to the motion GRU, exactly."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from models.families.mocogan.config import PRESETS
from models.families.mocogan.networks import MoCoGANGenerator
from scripts.mocogan_category_to_motion import main
from tests.models.families.video_targets import seeded
from training.state import module_weights


def test_the_converted_generator_renders_the_old_one_at_z_a_zero_and_keeps_the_critics(tmp_path: Path) -> None:
    image_cfg = PRESETS["mocogan-tiny"]
    motion_cfg = dataclasses.replace(image_cfg, category_input="motion")
    torch.manual_seed(0)
    old = MoCoGANGenerator(image_cfg).eval()
    critic = {"D_V.w": torch.randn(3, 3)}
    tensors = {**{f"G.{k}": v for k, v in old.state_dict().items()},
               **{f"G_ema.{k}": v.clone() for k, v in old.state_dict().items()}, **critic}
    source = tmp_path / "run" / "checkpoints" / "step_0000010.json"
    source.parent.mkdir(parents=True)
    save_file(tensors, str(source.with_suffix(".safetensors")))
    source.write_text(json.dumps({"family": "mocogan", "preset": "mocogan-tiny", "config": {}, "step": 10}))

    assert main([str(source), str(tmp_path / "new")]) == 0
    target = tmp_path / "new" / "checkpoints" / source.name
    assert json.loads(target.read_text())["config"] == {"category_input": "motion"}
    assert torch.equal(module_weights(target, "D_V")["w"], critic["D_V.w"])
    for prefix in ("G", "G_ema"):
        new = MoCoGANGenerator(motion_cfg).eval()
        new.load_state_dict(module_weights(target, prefix))
        latents = new.sample_latents(2, image_cfg.num_frames, seeded(1), labels=torch.tensor([0, 2]))
        silent = dataclasses.replace(latents, category=torch.zeros_like(latents.category))
        assert torch.allclose(new(latents), old(silent), atol=1e-5)  # new GRU columns start at zero

    with pytest.raises(SystemExit, match="image path"):
        main([str(target), str(tmp_path / "again")])  # already on the motion path
