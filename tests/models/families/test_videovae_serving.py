"""VideoVAE as a served predict family: the pipeline (one image or a short clip, requested or inferred attributes,
determinism, exact resume), the training recipe (two stages, exact resume, it learns) and export -> card with
attributes -> the worker's runner, with the attributes of a job reaching the model."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch

from app.contracts import JobSpec, OutputOptions, PredictJob, load_manifest
from cli import export as export_cli
from corpora.synthetic.people_actions import ActionsSpec, write_actions_dataset
from models import get_family
from models.core.family import InputError, PredictStart
from models.core.frames import resize_square
from models.families.videovae.pipeline import VideoVaePipeline, load
from models.families.videovae.recipe import VideoVAERecipe, VideoVaeRunConfig
from tests.models.families.predict_helpers import pipeline_resumed, pipeline_stream, predict_start, redraw
from training.loop import TrainingLoop
from workers.hooks import NullHooks
from workers.runner import make_runner
from workers.video_io import H264Writer

FAMILY = get_family("videovae")
TINY = {"num_actions": 4, "num_identities": 6}
"""videovae-tiny sized for the tiny people folder: 4 actions, looks 0..5 in training (6, 7 held out)."""


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("people")
    spec = ActionsSpec(height=32, width=32, frames=6, looks=8, heldout=2, supersample=1)
    write_actions_dataset(root, spec, train_clips=12, test_clips=4, seed=0)
    return root


def _pipeline() -> VideoVaePipeline:
    """Untrained weights with linear layers re-drawn wide enough that z and the attributes visibly change frames."""
    pipeline = load(FAMILY.config("videovae-tiny", TINY), {}, torch.device("cpu"))
    linear = (m.weight for m in pipeline.model.modules() if isinstance(m, torch.nn.Linear))
    redraw(linear, 0.5, seed=1)
    return pipeline


def _context(frames: int = 1, attributes: dict[str, int] | None = None, samples: int = 3) -> PredictStart:
    return predict_start(frames, 40, 36, samples, horizon=4, attributes=attributes)  # any context size


def _run(pipeline: VideoVaePipeline, inputs: PredictStart, seed: int, steps: int) -> tuple[torch.Tensor, dict]:
    frames, state = pipeline_stream(pipeline, inputs, seed, steps)
    return frames, pipeline.describe(state)  # (B, steps, 3, S, S)


def _run_config(data: Path, out: Path, steps: int, **values: object) -> VideoVaeRunConfig:
    base = {"data": str(data), "out": str(out), "preset": "videovae-tiny", "overrides": dict(TINY), "steps": steps,
            "batch": 4, "device": "cpu", "progress": False, "checkpoint_every": 0, "sample_every": 0,
            "classifier_steps": 2}
    return VideoVAERecipe.train_config(**{**base, **values})


# ------------------------------------------------------------------------------------------------ pipeline


def test_family_is_a_predict_family_with_its_recipe() -> None:
    assert FAMILY.kind == "predict" and FAMILY.recipe() is VideoVAERecipe
    assert {"videovae-paper", "videovae-small", "videovae-tiny"} <= set(FAMILY.presets)
    assert FAMILY.presets["videovae-small"].image_size == 32


@pytest.mark.parametrize("frames", [1, 3])
def test_one_image_or_a_short_clip_gives_one_frame_per_sample_per_step(frames: int) -> None:
    video, _ = _run(_pipeline(), _context(frames), seed=0, steps=3)
    assert video.shape == (3, 3, 3, 32, 32)  # the model's size; the worker resizes to the run size
    assert video.min() >= -1 and video.max() <= 1
    for b in range(1, 3):
        assert (video[0] - video[b]).abs().max() > 1e-3  # every sample its own h_0 and z draws


def test_the_context_frames_shape_the_future() -> None:
    pipeline = _pipeline()
    one, _ = _run(pipeline, _context(1), seed=0, steps=2)
    three, _ = _run(pipeline, _context(3), seed=0, steps=2)
    assert (one - three).abs().max() > 1e-3


def test_requested_attributes_are_used_and_missing_ones_are_read_from_the_context() -> None:
    pipeline = _pipeline()
    with torch.no_grad():  # rig the classifier: it says look 4, and action 1 with certainty
        pipeline.model.classifier.identity.bias.copy_(torch.tensor([0, 0, 0, 0, 50.0, 0]))
        pipeline.model.classifier.action.bias.copy_(torch.tensor([0, 50.0, 0, 0]))
    asked, described = _run(pipeline, _context(attributes={"action": 2, "look": 5}), seed=0, steps=2)
    assert described["attributes"]["requested"] == ["action", "look"]
    assert described["attributes"]["per_sample"] == [{"action": 2, "look": 5}] * 3
    inferred, described = _run(pipeline, _context(attributes={"action": 3}), seed=0, steps=2)
    assert described["attributes"] == {"requested": ["action"], "inferred": ["look"],
                                       "per_sample": [{"action": 3, "look": 4}] * 3}
    _, described = _run(pipeline, _context(), seed=0, steps=1)
    assert described["attributes"]["per_sample"] == [{"action": 1, "look": 4}] * 3
    assert (asked - inferred).abs().max() > 1e-3  # the attributes change the frames
    other_look, _ = _run(pipeline, _context(attributes={"action": 2, "look": 0}), seed=0, steps=2)
    assert (asked - other_look).abs().max() > 1e-3


def test_a_model_trained_with_look_dropout_keeps_the_context_look_unless_one_is_asked() -> None:
    pipeline = load(FAMILY.config("videovae-tiny", {**TINY, "look_dropout": 0.5}), {}, torch.device("cpu"))
    redraw((m.weight for m in pipeline.model.modules() if isinstance(m, torch.nn.Linear)), 0.5, seed=1)
    _, described = _run(pipeline, _context(attributes={"action": 3}), seed=0, steps=1)
    assert described["attributes"]["per_sample"] == [{"action": 3, "look": None}] * 3
    state = pipeline.start(_context(attributes={"action": 3}), torch.Generator().manual_seed(0))
    assert state.model.attributes[:, TINY["num_actions"]:].abs().sum() == 0  # the identity block blank
    _, described = _run(pipeline, _context(attributes={"action": 3, "look": 2}), seed=0, steps=1)
    assert described["attributes"]["per_sample"] == [{"action": 3, "look": 2}] * 3


def _skipping_pipeline() -> VideoVaePipeline:
    """A small resize-decoder model with look dropout and context skips (seeded weights), its skips re-drawn."""
    config = FAMILY.config("videovae-small-resize", {**TINY, "latent_dim": 8, "look_dropout": 0.5,
                                                     "context_skips": True})
    torch.manual_seed(0)
    pipeline = load(config, {}, torch.device("cpu"))
    redraw((conv.weight for conv in pipeline.model.decoder.skips.convs), 0.3, seed=2)
    return pipeline


def test_with_context_skips_the_last_context_frame_shapes_an_unnamed_look_and_resume_is_exact() -> None:
    pipeline, inputs = _skipping_pipeline(), _context(2, {"action": 1})
    whole, described = _run(pipeline, inputs, 3, 4)
    state = pipeline.start(inputs, torch.Generator().manual_seed(3))
    last = resize_square(inputs.context[0, -1:].float(), 32)  # (1, 3, 32, 32): the skips' source
    assert torch.allclose(state.model.skip_inputs[0], last.expand(3, -1, -1, -1))
    frames, saved, fresh, state = pipeline_resumed(pipeline, _skipping_pipeline, inputs, 3, before=2, after=2)
    assert {f"skip_{i}" for i in range(4)} <= set(saved)
    assert torch.equal(frames, whole) and fresh.describe(state) == described
    with torch.no_grad():
        for conv in pipeline.model.decoder.skips.convs:
            conv.weight.zero_()
    assert (whole - _run(pipeline, inputs, 3, 4)[0]).abs().max() > 1e-2  # the skips shaped the future


def test_look_dropout_shows_a_share_of_training_clips_no_look(people: Path, tmp_path: Path) -> None:
    recipe = VideoVAERecipe(_run_config(people, tmp_path / "run", steps=1, classifier_steps=0,
                                        overrides={**TINY, "look_dropout": 0.5}))
    seen: list[torch.Tensor] = []
    forward = recipe.model.forward
    recipe.model.forward = lambda frames, attributes, generator: seen.append(attributes) or forward(  # type: ignore
        frames, attributes, generator)
    batch = recipe.collate([recipe.dataset()[i] for i in range(12)] * 4)
    recipe.train_step(batch, step=0)
    identity = seen[0][:, TINY["num_actions"]:]  # (48, num_identities)
    blank = identity.sum(1) == 0
    assert 10 < int(blank.sum()) < 38 and torch.equal(identity[~blank].argmax(1), batch["look"][~blank])


def test_unknown_or_out_of_range_attributes_are_input_errors() -> None:
    pipeline = _pipeline()
    for attributes in ({"colour": 1}, {"action": 4}, {"look": -1}):
        with pytest.raises(InputError):
            _run(pipeline, _context(attributes=attributes), seed=0, steps=1)


def test_same_seed_same_samples_other_seed_other_samples() -> None:
    pipeline, inputs = _pipeline(), _context(2, {"action": 1})
    first, again, other = (_run(pipeline, inputs, s, 3)[0] for s in (7, 7, 8))
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_resume_through_state_tensors_is_exact() -> None:
    pipeline, inputs = _pipeline(), _context(2)
    whole, described = _run(pipeline, inputs, 3, 5)
    frames, _, fresh, state = pipeline_resumed(pipeline, _pipeline, inputs, 3, before=2, after=3)
    assert torch.equal(frames, whole)
    assert fresh.describe(state) == described


# ------------------------------------------------------------------------------------------------ recipe


def test_items_are_labelled_windows_and_a_pure_function_of_the_index(people: Path, tmp_path: Path) -> None:
    recipe = VideoVAERecipe(_run_config(people, tmp_path / "run", steps=1))
    item = recipe.dataset()[1000]
    assert item["video"].shape == (4, 3, 32, 32) and -1 <= float(item["video"].min()) <= float(item["video"].max())
    assert 0 <= int(item["action"]) < 4 and 0 <= int(item["look"]) < 6
    assert torch.equal(recipe.dataset()[7]["video"], recipe.dataset()[7]["video"])
    meta = recipe.metadata()
    assert meta["attributes"] == {"action": ["walk", "dance", "wave", "idle"],
                                  "look": [f"look_{k}" for k in range(6)]}
    assert (meta["n_past"], meta["n_future"], meta["height"]) == (4, 3, 32)
    with pytest.raises(ValueError, match="looks"):
        VideoVAERecipe(_run_config(people, tmp_path / "run", steps=1, overrides={"num_identities": 3}))


def test_two_stages_and_a_resumed_run_matches_an_uninterrupted_one(people: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    whole = TrainingLoop(VideoVAERecipe(_run_config(people, tmp_path / "whole", steps=4)))
    results = whole.fit()
    assert [r.info["stage"] for r in results] == [1, 1, 2, 2]
    assert {"ce_action", "ce_look"} <= set(results[0].losses) and {"l1", "kl"} <= set(results[-1].losses)
    first = TrainingLoop(VideoVAERecipe(_run_config(people, tmp_path / "split", steps=3, checkpoint_every=3)))
    first.fit()
    resumed = TrainingLoop(VideoVAERecipe(_run_config(people, tmp_path / "split", steps=4)))
    assert resumed.resume() and resumed.step == 3
    resumed.fit()
    expected, got = whole.recipe.modules()["G"].state_dict(), resumed.recipe.modules()["G"].state_dict()
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    sample = whole.write_sample(whole.recipe.collate([whole.recipe.dataset()[i] for i in range(4)]))
    assert sample.is_file() and sample.stat().st_size > 0
    other = TrainingLoop(VideoVAERecipe(_run_config(people, tmp_path / "split", steps=4, overrides={**TINY,
                                                                                                   "latent_dim": 4})))
    with pytest.raises(ValueError):
        other.resume()


@pytest.mark.parametrize("frozen", [True, False])
def test_stage_two_freezes_the_encoder_or_trains_it_with_the_attribute_terms(people: Path, tmp_path: Path,
                                                                             frozen: bool) -> None:
    recipe = VideoVAERecipe(_run_config(people, tmp_path / "run", steps=1, freeze_encoder=frozen))
    batch = recipe.collate([recipe.dataset()[i] for i in range(4)])
    before = {k: v.clone() for k, v in recipe.model.encoder.state_dict().items()}
    logged = recipe.train_step(batch, step=5)  # past classifier_steps: stage 2
    moved = any(not torch.equal(before[k], v) for k, v in recipe.model.encoder.state_dict().items())
    assert logged.info["stage"] == 2 and moved is not frozen
    assert ("ce_look" in logged.losses) is not frozen


def test_kl_warmup_ramps_the_weight_from_zero_after_the_classifier_stage(people: Path, tmp_path: Path) -> None:
    recipe = VideoVAERecipe(_run_config(people, tmp_path / "warm", steps=1, classifier_steps=2, kl_warmup_steps=4))
    assert [recipe.kl_weight_at(s) for s in (2, 3, 4, 6, 9)] == [0.0, 0.25, 0.5, 1.0, 1.0]
    batch = recipe.collate([recipe.dataset()[i] for i in range(4)])
    assert recipe.train_step(batch, step=3).losses["kl_weight"] == 0.25
    constant = VideoVAERecipe(_run_config(people, tmp_path / "constant", steps=1, classifier_steps=2))
    assert constant.kl_weight_at(2) == constant.model_config.kl_weight == 1.0


def test_the_classifier_learns_then_the_vae_reconstruction_falls(people: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    recipe = VideoVAERecipe(_run_config(people, tmp_path / "learn", steps=1, lr=3e-3, classifier_steps=30))
    batch = recipe.collate([recipe.dataset()[i] for i in range(8)])  # one fixed batch of 8 clips
    ce = [recipe.train_step(batch, step).losses["ce"] for step in range(30)]
    assert sum(ce[-3:]) / 3 < 0.6 * ce[0]
    l1 = [recipe.train_step(batch, step).losses["l1"] for step in range(30, 70)]
    assert sum(l1[-3:]) / 3 < 0.7 * l1[0]


def test_bf16_autocast_learns_both_stages_with_fp32_weights_and_resumes_exactly(people: Path, tmp_path: Path) -> None:
    """`--amp bf16`: the classifier stage and the ELBO stage learn under autocast (losses in fp32), the weights stay
    fp32, and a resumed bf16 run ends with the uninterrupted one's weights."""
    torch.manual_seed(0)
    recipe = VideoVAERecipe(_run_config(people, tmp_path / "learn", steps=1, lr=3e-3, classifier_steps=30,
                                        amp="bf16"))
    assert recipe.amp_dtype == torch.bfloat16
    batch = recipe.collate([recipe.dataset()[i] for i in range(8)])
    ce = [recipe.train_step(batch, step).losses["ce"] for step in range(30)]
    assert sum(ce[-3:]) / 3 < 0.6 * ce[0]
    l1 = [recipe.train_step(batch, step).losses["l1"] for step in range(30, 70)]
    assert sum(l1[-3:]) / 3 < 0.7 * l1[0]
    assert all(p.dtype == torch.float32 for p in recipe.model.parameters())
    whole = TrainingLoop(VideoVAERecipe(_run_config(people, tmp_path / "whole", steps=4, amp="bf16")))
    whole.fit()
    TrainingLoop(VideoVAERecipe(_run_config(people, tmp_path / "split", steps=3, checkpoint_every=3, amp="bf16"))).fit()
    resumed = TrainingLoop(VideoVAERecipe(_run_config(people, tmp_path / "split", steps=4, amp="bf16")))
    assert resumed.resume() and resumed.step == 3
    resumed.fit()
    expected, got = whole.recipe.modules()["G"].state_dict(), resumed.recipe.modules()["G"].state_dict()
    assert all(torch.equal(expected[k], got[k]) for k in expected)


# ------------------------------------------------------------------------------------------------ served


def _parse(module: object, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser, "x")  # type: ignore[attr-defined]
    return parser.parse_args(argv)


def test_export_lists_the_attributes_and_a_job_asks_for_them(people: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    TrainingLoop(VideoVAERecipe(_run_config(people, run, steps=3, checkpoint_every=3))).fit()
    export_cli.run(_parse(export_cli, [str(run), "--name", "people-future", "--checkpoints-dir",
                                       str(tmp_path / "checkpoints")]))
    card = load_manifest(tmp_path / "checkpoints" / "manifest.json").models["people-future"]
    assert card.kind == "predict" and card.family == "videovae"
    assert card.inputs.attributes == {"action": ["walk", "dance", "wave", "idle"],
                                      "look": [f"look_{k}" for k in range(6)]}
    assert (card.inputs.context_frames.max, card.inputs.horizon.max, card.output.height) == (4, 9, 32)
    runner = make_runner(card, torch.device("cpu"), tmp_path / "checkpoints")
    runner.setup()
    context = tmp_path / "context.png"
    with H264Writer(tmp_path / "context.mp4", fps=10.0, width=32, height=32, crf=0) as writer:
        for level in (30, 90):
            writer.write(np.full((32, 32, 3), level, np.uint8))
    context = tmp_path / "context.mp4"
    (tmp_path / "job").mkdir()
    inputs = PredictJob(context_path=str(context), context_kind="video", context_frames=2, horizon=3, num_samples=2,
                        attributes={"action": 2, "look": 5})
    spec = JobSpec(job_id="job", owner="t", model="people-future", job_dir=str(tmp_path / "job"), frames_total=3,
                   fps=10.0, options=OutputOptions(seed=3), inputs=inputs)
    result = runner.run(spec, NullHooks())
    assert result.frames == 3 and len(result.videos) == 2
    assert result.report["attributes"]["per_sample"] == [{"action": 2, "look": 5}] * 2
