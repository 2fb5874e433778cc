"""few-shot vid2vid training learns: fs_vid2vid-tiny overfits one short moving-square clip (models/training/)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from corpora.clips import collate_clips
from models.families.fs_vid2vid.recipe import FewShotRecipe
from models.families.vid2vid.schedule import l1_weight
from tests.moving_square import make_moving_square
from training import TrainingLoop, loop_for


def _psnr(trainer: TrainingLoop, batch: object) -> float:
    """Mean PSNR (dB) of the generated frames of `batch` in eval mode, as served."""
    clip = trainer.recipe.to_device(batch, 2)  # type: ignore[arg-type]
    trainer.recipe.gen.eval()
    with torch.no_grad():
        generated, _ = trainer.recipe.generate(clip, 0)
    trainer.recipe.gen.train()
    mse = sum(((g.frame - clip.frames[:, g.t]) ** 2).mean().item() / 4 for g in generated) / len(generated)
    return 10 * math.log10(1 / mse)


def test_fs_vid2vid_tiny_overfits_a_moving_square(tmp_path: Path) -> None:
    data = make_moving_square(tmp_path / "data", label_type="pose", frames=6, size=32)
    config = FewShotRecipe.train_config(preset="fs_vid2vid-tiny", data=str(data), out=str(tmp_path / "run"),
                                steps=20, height=32, width=32, clip_frames=2, max_clip_frames=2, references=1,
                                flip=False, lr=2e-3, ndf=16, n_layers_D=3, checkpoint_every=0, sample_every=0,
                                progress=False)
    assert l1_weight(config) == 10.0  # no VGG weights: the L1 reconstruction term is on
    trainer = loop_for(config)
    batch = collate_clips([trainer.recipe.dataset()[0]])
    before = _psnr(trainer, batch)
    started = time.perf_counter()
    results = trainer.fit()
    seconds = time.perf_counter() - started
    after = _psnr(trainer, batch)
    assert after > before + 3.0, (before, after, seconds)
    assert {"G_l1_frame", "G_l1_raw", "G_gan_frame", "G_feat_frame", "G_warp_ref", "G_flow_l1"} <= set(
        results[-1].losses)
    assert all(math.isfinite(v) for r in results for v in r.losses.values())


def test_fs_discriminator_pairs_frames_with_the_chosen_reference(tmp_path: Path) -> None:
    data = make_moving_square(tmp_path / "data", label_type="pose", frames=8, size=32)
    config = FewShotRecipe.train_config(preset="fs_vid2vid-tiny", data=str(data), out=str(tmp_path / "run"),
                                steps=1, height=32, width=32, clip_frames=1, max_clip_frames=1, references=3,
                                flip=False, ndf=8, n_layers_D=2, checkpoint_every=0, sample_every=0, progress=False)
    trainer = loop_for(config)
    clip = trainer.recipe.to_device(collate_clips([trainer.recipe.dataset()[0]]), 1)
    with torch.no_grad():
        generated, _ = trainer.recipe.generate(clip, 0)
    seen: list[torch.Tensor] = []
    handle = trainer.recipe.disc.image.net.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    chosen = torch.tensor([2])
    trainer.recipe.disc.judge(clip, 0, generated[0].frame, chosen)
    handle.remove()
    c = trainer.recipe.dataset().channels
    assert torch.equal(seen[0][:, :c], clip.reference_labels[:, 2])
    assert torch.equal(seen[0][:, c : c + 3], clip.references[:, 2])
    assert generated[0].ref_index is not None and generated[0].ref_index.shape == (1,)
