"""VGAN as a served `generate` family: the pipeline (a frame per step of the clip G makes from z, exact resume from
the state tensors, the z seed, what it describes, input errors), the training recipe on the generic loop (data,
exact resume, a learning check, metadata), and `v2v export` -> card -> the worker's runner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from app.contracts import GenerateJob, JobSpec, OutputOptions, load_manifest
from cli.main import main
from corpora.clip_folder import write_clip, write_clips_json
from corpora.layout import SequenceEntry
from models.core.family import GenerateStart, InputError, WeightsRef
from models.families.vgan.config import PRESETS
from models.families.vgan.networks import VGANLatents
from models.families.vgan.pipeline import VGANPipeline, code_of, load
from models.families.vgan.recipe import VGANRecipe
from models.registry import get_family
from tests.models.families.mocogan_helpers import tiny_actions
from training.loop import TrainingLoop
from workers.hooks import NullHooks
from workers.runner import make_runner

CONFIG = PRESETS["vgan-tiny"]  # 16x16, 4 frames
T = CONFIG.num_frames


@pytest.fixture(scope="module")
def pipeline() -> VGANPipeline:
    return load(CONFIG, {"generator": WeightsRef()}, torch.device("cpu"))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_actions(tmp_path_factory.mktemp("actions"), train=8, test=0)


def _run(pipeline: VGANPipeline, start: GenerateStart, seed: int, steps: int = T) -> tuple[torch.Tensor, object]:
    rng = torch.Generator().manual_seed(seed)
    state = pipeline.start(start, rng)
    out = []
    for _ in range(steps):
        step, state = pipeline.step(state, None, rng)
        out.append(step.frames)
    return torch.cat(out, dim=1), state  # (B, steps, 3, H, W)


def run_config(data: Path, out: Path, steps: int, **values: object):  # -> VGANRunConfig
    settings = {"preset": "vgan-tiny", "batch": 4, "device": "cpu", "progress": False, "checkpoint_every": 0,
                "sample_every": 0, **values}
    return VGANRecipe.train_config(data=str(data), out=str(out), steps=steps, **settings)


# ------------------------------------------------------------------------------------------------ pipeline


def test_a_frame_per_step_of_the_clip_g_makes_from_z(pipeline: VGANPipeline) -> None:
    frames, state = _run(pipeline, GenerateStart(3, T, 16, 16), seed=1)
    assert frames.shape == (3, T, 3, 16, 16) and frames.min() >= -1 and frames.max() <= 1
    assert not torch.equal(frames[:, 0], frames[:, -1])  # it moves
    assert not torch.equal(frames[0], frames[1])  # samples differ
    code = torch.stack([code_of(s, CONFIG.latent_dim) for s in state.seeds.tolist()])  # (B, d)
    with torch.no_grad():
        direct = pipeline.generator(VGANLatents(code=code)).video.transpose(1, 2)  # (B, T, 3, H, W)
    assert torch.equal(frames, direct)
    with pytest.raises(InputError, match="4 frames"):
        pipeline.step(state, None, torch.Generator())  # past the clip


def test_resume_from_the_state_tensors_is_exact(pipeline: VGANPipeline) -> None:
    whole, _ = _run(pipeline, GenerateStart(2, T, 16, 16), seed=4)
    first, state = _run(pipeline, GenerateStart(2, T, 16, 16), seed=4, steps=1)
    saved = {k: v.clone() for k, v in pipeline.state_to_tensors(state).items()}
    assert all(v.numel() <= 2 for v in saved.values())  # seeds and the step: nothing that grows
    fresh = load(CONFIG, {"generator": WeightsRef()}, torch.device("cpu"))  # a new worker: no cached clip
    restored = fresh.state_from_tensors(saved)
    rest = []
    for _ in range(T - 1):
        step, restored = fresh.step(restored, None, torch.Generator().manual_seed(999))  # the job rng is not used
        rest.append(step.frames)
    assert torch.equal(torch.cat([first, *rest], dim=1), whole)


def test_the_z_seed_remakes_a_sample_and_is_described(pipeline: VGANPipeline) -> None:
    frames, state = _run(pipeline, GenerateStart(3, T, 16, 16), seed=2)
    described = pipeline.describe(state)["samples"]
    assert len({s["z_seed"] for s in described}) == 3
    again, _ = _run(pipeline, GenerateStart(2, T, 16, 16, seeds={"z": described[1]["z_seed"]}), seed=7)
    assert torch.equal(again[0], frames[1]) and torch.equal(again[1], frames[1])  # the job seed no longer matters


def test_bad_inputs_are_input_errors(pipeline: VGANPipeline) -> None:
    bad = {"takes no class": GenerateStart(1, T, 16, 16, class_id=0),
           "no seeds": GenerateStart(1, T, 16, 16, seeds={"content": 1}),
           "clips of 4 frames": GenerateStart(1, T + 1, 16, 16),
           "seeds must be": GenerateStart(1, T, 16, 16, seeds={"z": -1})}
    for message, start in bad.items():
        with pytest.raises(InputError, match=message):
            pipeline.start(start, torch.Generator())


# ------------------------------------------------------------------------------------------------ recipe


def test_items_are_the_first_frames_of_clips_drawn_with_replacement(data: Path, tmp_path: Path) -> None:
    recipe = VGANRecipe(run_config(data, tmp_path / "run", steps=1))
    item = recipe.dataset()[1000]  # any index (the loop asks for step * batch onwards)
    assert item["video"].shape == (T, 3, 16, 16) and -1 <= float(item["video"].min()) <= float(item["video"].max()) <= 1
    assert torch.equal(recipe.dataset()[7]["video"], recipe.dataset()[7]["video"])  # a pure function of i
    clips = recipe.dataset().clips.float() / 127.5 - 1  # (N, 8, 3, 16, 16)
    assert any(torch.equal(item["video"], clip[:T]) for clip in clips)
    strided = VGANRecipe(run_config(data, tmp_path / "run", steps=1, frame_stride=3)).dataset()
    assert strided.frame_index.tolist() == [0, 3, 6, 7]  # the last frame repeated when the clip is short


def test_training_changes_both_networks_and_resumes_exactly(data: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    whole = TrainingLoop(VGANRecipe(run_config(data, tmp_path / "whole", steps=4)))
    before = {k: v.clone() for k, v in whole.recipe.gen.state_dict().items()}
    results = whole.fit()
    assert len(results) == 4 and {"G", "D", "G_adversarial", "mask_mean"} <= set(results[0].losses)
    assert all(np.isfinite(list(r.losses.values())).all() for r in results)
    assert any(not torch.equal(before[k], v) for k, v in whole.recipe.gen.state_dict().items())

    first = TrainingLoop(VGANRecipe(run_config(data, tmp_path / "split", steps=2)))
    first.fit()
    first.save_checkpoint()
    resumed = TrainingLoop(VGANRecipe(run_config(data, tmp_path / "split", steps=4)))
    assert resumed.resume() and resumed.step == 2
    resumed.fit()
    for name, module in whole.recipe.modules().items():
        other = resumed.recipe.modules()[name].state_dict()
        assert all(torch.equal(v, other[k]) for k, v in module.state_dict().items()), name
    with pytest.raises(ValueError, match="vgan-tiny"):
        TrainingLoop(VGANRecipe(run_config(data, tmp_path / "split", steps=4, overrides={"ngf": 8}))).resume()

    sample = whole.write_sample(None)
    assert sample.is_file() and sample.stat().st_size > 0
    meta = whole.recipe.metadata()
    assert meta["generate"] == {"num_frames": {"min": T, "max": T}, "trained_frames": T, "classes": [],
                                "seeds": ["z"], "fps": 15.0, "frame_stride": 1}
    assert (meta["height"], meta["width"], meta["family"]) == (16, 16, "vgan")


def squares(root: Path, clips: int = 8, frames: int = 4, size: int = 16) -> Path:
    """A static blue background with a yellow square moving right (each clip starts elsewhere)."""
    entries, labels = [], {}
    for i in range(clips):
        clip = np.zeros((frames, size, size, 3), np.uint8)
        clip[:] = (40, 90, 200)
        for t in range(frames):
            x = (2 + 3 * t + i) % (size - 4)
            clip[t, 6:10, x:x + 4] = (230, 200, 30)
        name = f"train_{i:03d}"
        write_clip(root, "train", name, clip)
        entries.append(SequenceEntry(name, "train", 0))
        labels[name] = {"index": i}
    write_clips_json(root, entries, labels, {"name": "squares"}, 15.0)
    return root


def test_training_learns_the_data(tmp_path: Path) -> None:
    """A small VGAN on moving squares: after 150 steps its clips are much nearer the real ones than at the start
    (mean squared distance to the nearest real clip), and their mean colour too. Wider than vgan-tiny, a higher lr
    and DCGAN's init scale so that it shows within seconds; the same code path as the paper's settings."""
    torch.set_num_threads(1)
    config = run_config(squares(tmp_path / "squares"), tmp_path / "run", steps=150, batch=8, lr=1e-3,
                        overrides={"ngf": 8, "ndf": 8, "init_std": 0.02})
    recipe = VGANRecipe(config)
    real = recipe.dataset().clips.float() / 127.5 - 1  # (N, T, 3, S, S)

    def distances() -> tuple[float, float]:
        fake = recipe.sample_outputs(16).video.transpose(1, 2)  # (16, T, 3, S, S)
        nearest = ((fake[:, None] - real[None]) ** 2).mean(dim=(2, 3, 4, 5)).min(dim=1).values  # (16,)
        colour = (fake.mean(dim=(0, 1, 3, 4)) - real.mean(dim=(0, 1, 3, 4))).abs().sum()
        return float(nearest.mean()), float(colour)

    before = distances()
    TrainingLoop(recipe).fit()
    after = distances()
    assert after[0] < 0.7 * before[0] and after[1] < 0.7 * before[1], (before, after)


# ------------------------------------------------------------------------------------------------ served


@pytest.fixture(scope="module")
def exported(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("served")
    loop = TrainingLoop(VGANRecipe(run_config(data, root / "run", steps=2)))
    loop.fit()
    loop.save_checkpoint()
    assert main(["export", str(root / "run"), "--name", "scenes", "--checkpoints-dir", str(root / "ckpt")]) == 0
    return root / "ckpt" / "manifest.json"


def _spec(tmp_path: Path, job: str, **inputs: object) -> JobSpec:
    (tmp_path / job).mkdir()
    return JobSpec(job_id=job, owner="t", model="scenes", job_dir=str(tmp_path / job), frames_total=T, fps=15.0,
                   options=OutputOptions(seed=5), inputs=GenerateJob(num_frames=T, **inputs))


def test_export_card_and_the_runner(exported: Path, tmp_path: Path) -> None:
    assert get_family("vgan").kind == "generate"
    card = load_manifest(exported).models["scenes"]
    assert card.kind == "generate" and card.family == "vgan" and card.trained
    assert (card.inputs.num_frames.min, card.inputs.num_frames.max) == (T, T)
    assert card.inputs.classes == [] and card.inputs.seeds == ["z"] and card.output.fps == 15.0
    assert (card.output.height, card.output.width) == (16, 16) and card.quality["trained_steps"] == 2
    assert card.quality["frame_stride"] == 1
    assert len(json.loads(exported.read_text())["models"]["scenes"]["weights"]["sha256"]) == 64

    runner = make_runner(card, torch.device("cpu"), exported.parent)
    runner.setup()
    result = runner.run(_spec(tmp_path, "a", num_samples=2), NullHooks())
    assert result.frames == T and len(result.videos) == 2 and (result.width, result.height) == (16, 16)
    samples = result.report["samples"]
    assert len(samples) == 2 and samples[0]["z_seed"] != samples[1]["z_seed"]
    again = runner.run(_spec(tmp_path, "b", num_samples=1, seeds={"z": samples[1]["z_seed"]}), NullHooks())
    assert again.report["samples"] == [samples[1]] and again.seeds == {"seed": 5, "z": samples[1]["z_seed"]}
    made = sorted((tmp_path / "a" / "frames" / "sample_01").glob("*.png"))
    remade = sorted((tmp_path / "b" / "frames").glob("*.png"))
    assert len(made) == T and [p.read_bytes() for p in made] == [p.read_bytes() for p in remade]


# ------------------------------------------------------------------------------------------------ mask checks


def test_mask_checks_score_a_mask_on_the_moving_pixels() -> None:
    from models.families.vgan.mask_checks import mask_checks
    from models.families.vgan.networks import VGANOutput

    background = torch.full((1, 3, 8, 8), -0.5)  # (B, C, H, W)
    foreground, mask = torch.full((1, 3, 4, 8, 8), 0.8), torch.zeros(1, 1, 4, 8, 8)
    for t in range(4):
        mask[0, 0, t, 2:4, t:t + 2] = 1  # a 2x2 square moving right
    video = mask * foreground + (1 - mask) * background[:, :, None]  # (B, C, T, H, W)
    exact = mask_checks(VGANOutput(video, foreground, mask, background))
    assert exact["mask_mean"] == pytest.approx(4 / 64)
    # frames 1..3: the square's trailing and leading columns move (4 px each), the mask holds 4 px, 2 of them moving
    assert exact["motion_iou"] == pytest.approx((3 * 2) / (3 * 6)) and exact["moving_share"] == pytest.approx(4 / 64)
    everything = mask_checks(VGANOutput(video, foreground, torch.ones_like(mask), background))
    assert everything["motion_iou"] == pytest.approx(everything["moving_share"])
    assert mask_checks(VGANOutput(video, foreground, torch.zeros_like(mask), background))["motion_iou"] == 0.0
