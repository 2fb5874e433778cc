"""TGAN served and trained: the pipeline streams one frame per step of the trained length and resumes exactly from
its state tensors, refuses a class; the recipe (WGAN + SVC) trains, resumes exactly, learns, and exports a generate
card that the registry and the worker's runner load."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from app.contracts import GenerateJob, JobSpec, OutputOptions, load_manifest
from cli.main import main
from models.core.family import GenerateStart, InputError, WeightsRef
from models.families.tgan.config import PRESETS
from models.families.tgan.losses import critic_loss
from models.families.tgan.pipeline import TGANPipeline, load
from models.families.tgan.recipe import TGANRecipe
from tests.models.families.mocogan_helpers import tiny_actions
from training.loop import TrainingLoop
from workers.hooks import NullHooks
from workers.runner import make_runner

CONFIG = PRESETS["tgan-tiny"]  # 16x16, T = 4
T = CONFIG.num_frames


@pytest.fixture(scope="module")
def pipeline() -> TGANPipeline:
    return load(CONFIG, {"generator": WeightsRef()}, torch.device("cpu"))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_actions(tmp_path_factory.mktemp("actions"))


def run_config(data: Path, out: Path, steps: int, **values: object):  # -> TGANRunConfig
    base = {"data": str(data), "out": str(out), "preset": "tgan-tiny", "steps": steps, "batch": 4, "device": "cpu",
            "progress": False, "checkpoint_every": 0, "sample_every": 0}
    return TGANRecipe.train_config(**{**base, **values})


def _run(pipeline: TGANPipeline, start: GenerateStart, seed: int) -> torch.Tensor:
    rng = torch.Generator().manual_seed(seed)
    state = pipeline.start(start, rng)
    frames = []
    for _ in range(start.num_frames):
        step, state = pipeline.step(state, None, rng)
        assert step.frames.shape[1] == 1
        frames.append(step.frames)
    return torch.cat(frames, dim=1)  # (B, T, 3, H, W)


def test_one_rgb_frame_per_step_deterministic_by_seed(pipeline: TGANPipeline) -> None:
    frames = _run(pipeline, GenerateStart(3, T, 16, 16), seed=1)
    assert frames.shape == (3, T, 3, 16, 16) and frames.min() >= -1 and frames.max() <= 1
    assert torch.equal(frames, _run(pipeline, GenerateStart(3, T, 16, 16), seed=1))
    assert not torch.equal(frames[0], frames[1])  # one video seed per sample
    state = pipeline.start(GenerateStart(2, T, 16, 16, seeds={"video": 42}), torch.Generator().manual_seed(0))
    assert pipeline.describe(state) == {"samples": [{"video_seed": 42}, {"video_seed": 42}]}
    drawn = pipeline.start(GenerateStart(1, T, 16, 16), torch.Generator().manual_seed(3))
    again = GenerateStart(1, T, 16, 16, seeds={"video": pipeline.describe(drawn)["samples"][0]["video_seed"]})
    assert torch.equal(_run(pipeline, GenerateStart(1, T, 16, 16), 3), _run(pipeline, again, 99))  # re-made


def test_a_grey_model_serves_rgb() -> None:
    grey = load(dataclasses.replace(CONFIG, channels=1), {"generator": WeightsRef()}, torch.device("cpu"))
    frames = _run(grey, GenerateStart(1, 2, 16, 16), seed=0)
    assert frames.shape == (1, 2, 3, 16, 16) and torch.equal(frames[:, :, 0], frames[:, :, 2])


def test_resume_from_the_state_tensors_is_exact(pipeline: TGANPipeline) -> None:
    whole = _run(pipeline, GenerateStart(2, T, 16, 16), seed=4)
    rng = torch.Generator().manual_seed(4)
    state = pipeline.start(GenerateStart(2, T, 16, 16), rng)
    step, state = pipeline.step(state, None, rng)
    saved = {k: v.clone() for k, v in pipeline.state_to_tensors(state).items()}
    restored = pipeline.state_from_tensors(saved)
    rest = [step.frames]
    for _ in range(T - 1):
        out, restored = pipeline.step(restored, None, torch.Generator().manual_seed(999))
        rest.append(out.frames)
    assert torch.equal(torch.cat(rest, dim=1), whole)


def test_clear_errors(pipeline: TGANPipeline) -> None:
    rng = torch.Generator()
    with pytest.raises(InputError, match="unconditional"):
        pipeline.start(GenerateStart(1, T, 16, 16, class_id=0), rng)
    with pytest.raises(InputError, match="frames"):
        pipeline.start(GenerateStart(1, T + 1, 16, 16), rng)
    with pytest.raises(InputError, match="content"):
        pipeline.start(GenerateStart(1, T, 16, 16, seeds={"content": 1}), rng)


def test_training_changes_both_networks_and_resumes_exactly(data: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    whole = TrainingLoop(TGANRecipe(run_config(data, tmp_path / "whole", steps=6)))
    before = {k: v.clone() for k, v in whole.recipe.gen.state_dict().items()}
    results = whole.fit()
    assert len(results) == 6 and {"G", "D", "wasserstein"} <= set(results[0].losses)
    assert [r.info["clipped"] for r in results] == [0, 0, 0, 0, 1, 0]  # SVC after every 5th iteration
    assert any(not torch.equal(before[k], v) for k, v in whole.recipe.gen.state_dict().items())
    for layer in whole.recipe.critic.modules():  # SVC at step 5 left every kernel's singular values <= 1 (+ 1 step)
        if isinstance(layer, torch.nn.Conv3d):
            assert torch.linalg.matrix_norm(layer.weight.flatten(1), ord=2) < 1.01

    first = TrainingLoop(TGANRecipe(run_config(data, tmp_path / "split", steps=3)))
    first.fit()
    first.save_checkpoint()
    resumed = TrainingLoop(TGANRecipe(run_config(data, tmp_path / "split", steps=6)))
    assert resumed.resume() and resumed.step == 3
    resumed.fit()
    for name, module in whole.recipe.modules().items():
        other = resumed.recipe.modules()[name].state_dict()
        assert all(torch.equal(v, other[k]) for k, v in module.state_dict().items()), name
    assert whole.write_sample(next(iter(whole._batches()), None)).stat().st_size > 0
    meta = whole.recipe.metadata()
    assert meta["generate"]["num_frames"] == {"min": T, "max": T} and meta["generate"]["classes"] == []
    assert meta["generate"]["seeds"] == ["video"] and meta["generate"]["fps"] == 15.0


def test_extra_critic_steps_update_the_critic_more_and_resume_exactly(data: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    one = TrainingLoop(TGANRecipe(run_config(data, tmp_path / "one", steps=2)))
    three = TrainingLoop(TGANRecipe(run_config(data, tmp_path / "three", steps=2, critic_steps=3)))
    one.fit()
    three.fit()
    rms = {n: r.recipe.opt_d.state_dict()["state"][0]["step"] for n, r in (("one", one), ("three", three))}
    assert (float(rms["one"]), float(rms["three"])) == (2.0, 6.0)  # RMSprop counts the critic's updates
    critics = one.recipe.critic.state_dict(), three.recipe.critic.state_dict()
    assert any(not torch.equal(v, critics[1][k]) for k, v in critics[0].items())
    first = TrainingLoop(TGANRecipe(run_config(data, tmp_path / "split3", steps=1, critic_steps=3)))
    first.fit()
    first.save_checkpoint()
    resumed = TrainingLoop(TGANRecipe(run_config(data, tmp_path / "split3", steps=2, critic_steps=3)))
    assert resumed.resume() and resumed.step == 1
    resumed.fit()
    for name, module in three.recipe.modules().items():
        other = resumed.recipe.modules()[name].state_dict()
        assert all(torch.equal(v, other[k]) for k, v in module.state_dict().items()), name
    with pytest.raises(ValueError, match="critic_steps"):
        run_config(data, tmp_path / "bad", 1, critic_steps=0)


def test_the_critic_learns_to_separate_real_from_fake(data: Path, tmp_path: Path) -> None:
    """With G frozen at its start the WGAN critic's estimate mean D(real) - mean D(fake) grows clearly."""
    torch.set_num_threads(1)
    recipe = TGANRecipe(run_config(data, tmp_path / "learn", steps=1, lr=2e-3))
    loop = TrainingLoop(recipe)
    batch = next(iter(loop._batches()))
    real = batch["video"].transpose(1, 2)  # (B, C, T, H, W)
    with torch.no_grad():
        fake = recipe.gen(recipe.gen.sample_latents(4, torch.Generator().manual_seed(0)))  # (B, C, T, H, W)

    def gap() -> float:
        recipe.critic.eval()
        with torch.no_grad():
            value = -float(critic_loss(recipe.critic(real), recipe.critic(fake)))
        recipe.critic.train()
        return value

    start = gap()
    for _ in range(30):
        loss = critic_loss(recipe.critic(real), recipe.critic(fake))
        recipe.opt_d.zero_grad()
        loss.backward()
        recipe.opt_d.step()
    assert gap() > start + 0.05


def test_export_card_and_served_job(data: Path, tmp_path: Path) -> None:
    loop = TrainingLoop(TGANRecipe(run_config(data, tmp_path / "run", steps=2)))
    loop.fit()
    loop.save_checkpoint()
    assert main(["export", str(tmp_path / "run"), "--name", "clips-tgan", "--checkpoints-dir",
                 str(tmp_path / "ck")]) == 0
    manifest = tmp_path / "ck" / "manifest.json"
    card = load_manifest(manifest).models["clips-tgan"]
    assert card.kind == "generate" and card.family == "tgan" and card.inputs.classes == []
    assert (card.inputs.num_frames.min, card.inputs.num_frames.max) == (T, T) and card.inputs.seeds == ["video"]
    assert len(json.loads(manifest.read_text())["models"]["clips-tgan"]["weights"]["sha256"]) == 64
    runner = make_runner(card, torch.device("cpu"), manifest.parent)
    runner.setup()
    (tmp_path / "job").mkdir()
    spec = JobSpec(job_id="job", owner="t", model="clips-tgan", job_dir=str(tmp_path / "job"), frames_total=T,
                   fps=15.0, options=OutputOptions(seed=5), inputs=GenerateJob(num_frames=T, num_samples=2))
    result = runner.run(spec, NullHooks())
    assert result.frames == T and len(result.videos) == 2 and (result.width, result.height) == (16, 16)
    assert len({s["video_seed"] for s in result.report["samples"]}) == 2
