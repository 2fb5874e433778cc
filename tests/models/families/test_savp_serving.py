"""SAVP as a served `predict` family: the pipeline (shapes, randomness only from the job's rng, exact resume through
the state tensors, variants), the training recipe under the generic loop (every variant's networks, exact resume,
it learns) and export -> predict card -> served through the registry."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
import torch

from app.contracts import load_manifest
from cli import export as export_cli
from corpora.synthetic.people_actions import ActionsSpec, write_actions_dataset
from models import get_family
from models.core.family import WeightsRef
from models.families.savp.pipeline import SavpPipeline, load
from models.families.savp.recipe import SAVPRecipe, SavpRunConfig
from tests.models.families.predict_helpers import (
    assert_same_weights,
    fit_whole_and_resumed,
    pipeline_frames,
    pipeline_resumed,
    predict_start,
    redraw,
    train_config_from_flags,
)
from training.loop import TrainingLoop

FAMILY = get_family("savp")


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16x16, 8-frame people-actions folder."""
    root = tmp_path_factory.mktemp("people")
    write_actions_dataset(root, ActionsSpec(height=16, width=16, frames=8, looks=6, heldout=2, supersample=1), 8, 4,
                          seed=0)
    return root


def _pipeline(preset: str = "savp-tiny") -> SavpPipeline:
    """Untrained weights re-drawn wide enough that z visibly changes the frames."""
    pipeline = load(FAMILY.config(preset), {}, torch.device("cpu"))
    redraw(pipeline.model.parameters(), 0.2, seed=1)
    return pipeline


def _config(data: Path, out: Path, **values: Any) -> SavpRunConfig:
    base = {"data": str(data), "out": str(out), "preset": "savp-tiny", "batch": 3, "steps": 4, "device": "cpu",
            "progress": False, "checkpoint_every": 0, "sample_every": 0}
    return SAVPRecipe.train_config(**{**base, **values})


# ---------------------------------------------------------------------------------------------------- pipeline


def test_family_is_a_predict_family_with_variants_as_presets() -> None:
    assert FAMILY.kind == "predict" and FAMILY.recipe().__name__ == "SAVPRecipe"
    variants = {FAMILY.presets[p].variant for p in ("savp-small", "savp-small-vae", "savp-small-deterministic")}
    assert variants == {"savp", "vae", "deterministic"}
    assert {FAMILY.presets[f"savp-tiny{s}"].variant for s in ("", "-vae", "-gan", "-deterministic")} == {
        "savp", "vae", "gan", "deterministic"}


def test_steps_emit_one_rgb_frame_per_sample_in_range() -> None:
    frames = pipeline_frames(_pipeline(), predict_start(2), seed=0, steps=3)
    assert frames.shape == (4, 3, 3, 16, 16)  # the preset's size; the worker resizes to the run size
    assert frames.min() >= -1 and frames.max() <= 1


def test_same_seed_same_samples_and_samples_differ_across_the_batch() -> None:
    pipeline, inputs = _pipeline(), predict_start(2)
    first, again, other = (pipeline_frames(pipeline, inputs, seed, 4) for seed in (7, 7, 8))
    assert torch.equal(first, again) and not torch.equal(first, other)
    for b in range(1, 4):
        assert (first[0] - first[b]).abs().max() > 1e-3  # every sample its own z draws


def test_resume_through_state_tensors_is_exact() -> None:
    pipeline, inputs = _pipeline(), predict_start(3)
    whole = pipeline_frames(pipeline, inputs, 3, 5)
    frames, saved, _, _ = pipeline_resumed(pipeline, _pipeline, inputs, 3, before=2, after=3)
    assert {"first_frame", "current_frame", "conv_lstm.0.h", "latent_lstm.c"} <= set(saved)
    assert torch.equal(frames, whole)


@pytest.mark.parametrize("preset", ["savp-tiny-vae", "savp-tiny-gan", "savp-tiny-deterministic"])
def test_every_variant_serves_and_only_the_deterministic_one_gives_identical_samples(preset: str) -> None:
    pipeline = _pipeline(preset)
    frames = pipeline_frames(pipeline, predict_start(1), 0, 2)  # one image is a context
    assert frames.shape == (4, 2, 3, 16, 16)
    deterministic = preset.endswith("deterministic")
    assert torch.equal(frames[0], frames[3]) == deterministic
    assert pipeline.describe(None)["latent"]["variant"] == FAMILY.presets[preset].variant


# ---------------------------------------------------------------------------------------------------- recipe


def test_flags_become_run_config_fields_and_items_are_sequences(people: Path, tmp_path: Path) -> None:
    config = train_config_from_flags(["savp", "--data", str(people), "--preset", "savp-tiny", "--out", str(tmp_path),
                                      "--steps", "7", "--batch", "3", "--set", "decay_start=5"])
    assert isinstance(config, SavpRunConfig) and (config.steps, config.batch, config.decay_start) == (7, 3, 5)
    recipe = SAVPRecipe(config)
    item = recipe.dataset()[11]
    assert item.shape == (6, 3, 16, 16) and 0 <= float(item.min()) and float(item.max()) <= 1
    assert torch.equal(item, recipe.dataset()[11])  # a pure function of the index
    assert recipe.metadata()["n_past"] == 2 and recipe.metadata()["n_future"] == 4


def test_a_grey_model_trains_on_the_rgb_mean_and_serves_rgb(people: Path, tmp_path: Path) -> None:
    config = _config(people, tmp_path, preset="savp-tiny", overrides={"image_channels": 1}, sample_every=1, steps=1)
    recipe = SAVPRecipe(config)
    rgb = SAVPRecipe(_config(people, tmp_path / "rgb")).dataset()[5]  # (L, 3, S, S)
    item = recipe.dataset()[5]  # (L, 1, S, S)
    assert item.shape == (6, 1, 16, 16) and (item - rgb.mean(1, keepdim=True)).abs().max() <= 0.5 / 255 + 1e-6
    logged = recipe.train_step(recipe.collate([recipe.dataset()[i] for i in range(3)]), 0).losses
    assert all(torch.isfinite(torch.tensor(v)) for v in logged.values())
    assert recipe.write_sample(recipe.collate([item]), tmp_path / "grey.png").stat().st_size > 0
    grey = load(recipe.model_config, {}, torch.device("cpu"))
    frames = pipeline_frames(grey, predict_start(2), seed=0, steps=2)  # (B, steps, 3, S, S)
    assert frames.shape[2] == 3 and torch.equal(frames[:, :, 0], frames[:, :, 2])  # grey repeated to RGB


@pytest.mark.parametrize(("preset", "networks"), [("savp-tiny", {"G", "D", "D_enc"}), ("savp-tiny-gan", {"G", "D"}),
                                                  ("savp-tiny-vae", {"G"}), ("savp-tiny-deterministic", {"G"})])
def test_each_variant_trains_its_own_networks(people: Path, tmp_path: Path, preset: str, networks: set[str]) -> None:
    torch.manual_seed(0)
    recipe = SAVPRecipe(_config(people, tmp_path, preset=preset))
    assert set(recipe.modules()) == networks and set(recipe.optimizers()) == networks
    before = {k: [p.detach().clone() for p in m.parameters()] for k, m in recipe.modules().items()}
    logged = recipe.train_step(recipe.collate([recipe.dataset()[i] for i in range(3)]), 0).losses
    assert all(torch.isfinite(torch.tensor(v)) for v in logged.values())
    for name, module in recipe.modules().items():  # every network stepped
        assert any(not torch.equal(a, p) for a, p in zip(before[name], module.parameters(), strict=True)), name
    assert (logged["gan"] > 0) == (preset in ("savp-tiny", "savp-tiny-gan"))
    assert (logged["vae_gan"] > 0) == (preset == "savp-tiny")


def test_resume_from_a_checkpoint_matches_an_uninterrupted_run(people: Path, tmp_path: Path) -> None:
    whole, resumed = fit_whole_and_resumed(lambda out, **values: SAVPRecipe(_config(people, out, **values)), tmp_path)
    assert_same_weights(whole, resumed)


def test_a_tiny_model_fits_a_tiny_clip_set(people: Path, tmp_path: Path) -> None:
    """VAE-only savp-tiny on 3 fixed clips: the reconstruction (L1) of the posterior branch falls clearly."""
    torch.manual_seed(0)
    recipe = SAVPRecipe(_config(people, tmp_path, preset="savp-tiny-vae", lr=3e-3, steps=40))
    batch = recipe.collate([recipe.dataset()[i] for i in range(3)])  # (3, 6, 3, 16, 16)
    l1 = [recipe.train_step(batch, step).losses["l1"] for step in range(40)]
    assert sum(l1[-5:]) / 5 < 0.5 * sum(l1[:3]) / 3
    assert recipe.write_sample(batch, tmp_path / "sample.png").is_file()


def test_bf16_autocast_trains_both_branches_in_fp32_weights_and_resumes_exactly(people: Path, tmp_path: Path) -> None:
    """Full SAVP (both discriminators) with the forwards under bf16 autocast: losses stay finite fp32 numbers, the
    L1 falls on fixed clips, the weights stay fp32, and a resumed run ends with the uninterrupted one's weights."""
    torch.manual_seed(0)
    recipe = SAVPRecipe(_config(people, tmp_path, lr=3e-3, amp="bf16"))
    assert recipe.amp_dtype == torch.bfloat16
    batch = recipe.collate([recipe.dataset()[i] for i in range(3)])  # (3, 6, 3, 16, 16)
    logs = [recipe.train_step(batch, step).losses for step in range(40)]
    assert all(torch.isfinite(torch.tensor([log[k] for k in ("G", "D", "D_enc", "l1")])).all() for log in logs)
    assert sum(log["l1"] for log in logs[-5:]) / 5 < 0.7 * sum(log["l1"] for log in logs[:3]) / 3
    assert all(p.dtype == torch.float32 for module in recipe.modules().values() for p in module.parameters())
    whole, resumed = fit_whole_and_resumed(
        lambda out, **values: SAVPRecipe(_config(people, out, amp="bf16", **values)), tmp_path / "resume")
    assert_same_weights(whole, resumed)


def test_export_gives_a_predict_card_served_through_the_registry(people: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    TrainingLoop(SAVPRecipe(_config(people, tmp_path / "run", steps=2, checkpoint_every=2))).fit()
    parser = argparse.ArgumentParser()
    export_cli.add_arguments(parser, "export")
    export_cli.run(parser.parse_args([str(tmp_path / "run"), "--name", "people-future-test", "--checkpoints-dir",
                                      str(tmp_path / "checkpoints"), "--description", "tiny"]))
    card = load_manifest(tmp_path / "checkpoints" / "manifest.json").models["people-future-test"]
    assert (card.kind, card.family, card.preset) == ("predict", "savp", "savp-tiny")
    assert (card.inputs.context_frames.max, card.inputs.horizon.max, card.output.height) == (2, 12, 16)
    weights = WeightsRef(tmp_path / "checkpoints" / card.weights.file, card.weights.sha256)
    pipeline = FAMILY.load(FAMILY.config(card.preset, card.config), {"generator": weights}, torch.device("cpu"))
    frames = pipeline_frames(pipeline, predict_start(2, samples=2), 0, 3)
    assert frames.shape == (2, 3, 3, 16, 16) and torch.isfinite(frames).all()
