"""MoCoGAN end to end in the serving path: `v2v export` of a (tiny) run writes a generate card that the worker's
runner loads and runs as a job: one video per sample, the requested class, and seeds a user can re-run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from app.contracts import GenerateJob, JobSpec, OutputOptions, load_manifest
from cli.main import main
from models.families.mocogan.recipe import MoCoGANRecipe
from tests.models.families.mocogan_helpers import tiny_actions, tiny_run_config
from training.loop import TrainingLoop
from workers.hooks import NullHooks
from workers.runner import make_runner
from workers.video_io import read_label_frames


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("served")
    loop = TrainingLoop(MoCoGANRecipe(tiny_run_config(tiny_actions(root / "data"), root / "run", steps=2)))
    loop.fit()
    loop.save_checkpoint()
    assert main(["export", str(root / "run"), "--name", "people", "--checkpoints-dir", str(root / "ckpt")]) == 0
    return root / "ckpt" / "manifest.json"


def _spec(tmp_path: Path, job: str, **inputs: object) -> JobSpec:
    (tmp_path / job).mkdir()
    return JobSpec(job_id=job, owner="t", model="people", job_dir=str(tmp_path / job), frames_total=6, fps=15.0,
                   options=OutputOptions(seed=5), inputs=GenerateJob(num_frames=6, **inputs))


def test_export_writes_a_generate_card(exported: Path) -> None:
    card = load_manifest(exported).models["people"]
    assert card.kind == "generate" and card.family == "mocogan" and card.trained
    assert card.inputs.classes == ["walk", "dance", "wave", "idle"] and card.inputs.seeds == ["content", "motion"]
    assert card.inputs.class_option == "action"  # a job may say {"action": "wave", "content_seed": 3}
    assert (card.inputs.num_frames.min, card.inputs.num_samples.max) == (1, 16)
    assert (card.output.height, card.output.width) == (16, 16) and card.quality["trained_steps"] == 2
    # a job without num_frames gets the trained clip length, played at the training clips' own pace
    assert card.inputs.num_frames.default == card.quality["trained_frames"]
    stride = card.quality["frame_stride"]
    assert stride == 2 and card.output.fps == pytest.approx(7.5)  # tiny_actions: 15 fps; the recipe: every 2nd frame
    assert len(json.loads(exported.read_text())["models"]["people"]["weights"]["sha256"]) == 64


def test_the_runner_serves_a_job_with_class_and_seeds(exported: Path, tmp_path: Path) -> None:
    card = load_manifest(exported).models["people"]
    runner = make_runner(card, torch.device("cpu"), exported.parent)
    runner.setup()
    result = runner.run(_spec(tmp_path, "a", num_samples=2, class_id=3, seeds={"content": 11}), NullHooks())
    assert result.frames == 6 and len(result.videos) == 2 and (result.width, result.height) == (16, 16)
    samples = result.report["samples"]
    assert [s["class_id"] for s in samples] == [3, 3] and {s["content_seed"] for s in samples} == {11}
    assert samples[0]["motion_seed"] != samples[1]["motion_seed"]
    assert result.seeds == {"seed": 5, "content": 11}
    frames = sorted((tmp_path / "a" / "frames").rglob("*.png"))
    assert len(frames) == 12

    again = runner.run(_spec(tmp_path, "b", num_samples=1, class_id=3,
                             seeds={"content": 11, "motion": samples[0]["motion_seed"]}), NullHooks())
    assert again.report["samples"][0] == samples[0]
    first = sorted((tmp_path / "a" / "frames" / "sample_00").glob("*.png"))
    rerun = sorted((tmp_path / "b" / "frames").glob("*.png"))
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in rerun]  # the same video, re-made


def test_offline_generate_takes_the_trained_length_by_default_and_refuses_bad_requests(
        exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    card = load_manifest(exported).models["people"]
    out = tmp_path / "out.mp4"
    argv = ["generate", "--manifest", str(exported), "--model", "people", "-o", str(out), "--device", "cpu"]
    assert main([*argv, "--num-samples", "2", "--class", "wave"]) == 0
    for video in (out, tmp_path / "out_01.mp4"):
        assert len(list(read_label_frames(video, "video"))) == card.inputs.num_frames.default
    steady = tmp_path / "steady.mp4"  # the same request with truncation: other frames, as many
    assert main([*argv[:-4], "-o", str(steady), "--device", "cpu", "--num-samples", "2", "--class", "wave",
                 "--truncation", "0.5"]) == 0
    assert len(list(read_label_frames(steady, "video"))) == card.inputs.num_frames.default
    assert list(read_label_frames(steady, "video"))[0].tobytes() != list(read_label_frames(out, "video"))[0].tobytes()
    capsys.readouterr()
    for extra, message in [(["--num-frames", "65"], "--num-frames 65: this model takes 1..64"),
                           (["--num-samples", "17"], "--num-samples 17: this model takes 1..16"),
                           (["--class", "fly"], "--class fly: classes of people: walk, dance, wave, idle"),
                           (["--truncation", "1.5"], "--truncation 1.5: must be in (0, 1]")]:
        assert main([*argv, *extra]) == 2, extra
        assert message in capsys.readouterr().err
