"""The predict kind through the worker's runner and loop, with a test-only family (`echo_family.py`): context from a
video or one image, N samples, the context shown first in each video, and scores against a true future."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch

from app.contracts import JobSpec, ModelCard, OutputOptions, PredictJob
from models import register
from tests.families import echo_family
from workers.errors import JobError
from workers.hooks import NullHooks
from workers.runner import Runner
from workers.video_io import H264Writer, write_png_atomic


@pytest.fixture(scope="module")
def runner() -> Runner:
    register(echo_family.FAMILY)  # the one line that adds the family
    runner = Runner(ModelCard.model_validate(echo_family.CARD), torch.device("cpu"), Path("."))
    runner.setup()
    return runner


def _video(path: Path, levels: list[int]) -> Path:
    with H264Writer(path, fps=10.0, width=32, height=24, crf=0) as writer:
        for level in levels:
            writer.write(np.full((24, 32, 3), level, np.uint8))
    return path


def _spec(tmp_path: Path, job: str, context: Path, kind: str, truth: Path | None = None) -> JobSpec:
    (tmp_path / job).mkdir()
    inputs = PredictJob(context_path=str(context), context_kind=kind, context_frames=3, horizon=4, num_samples=3,
                        truth_path=str(truth) if truth else None, truth_kind="video" if truth else None)
    return JobSpec(job_id=job, owner="t", model="echo", job_dir=str(tmp_path / job), frames_total=4, fps=10.0,
                   options=OutputOptions(seed=3), inputs=inputs)


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_samples_follow_the_context_and_are_scored_against_the_truth(runner: Runner, tmp_path: Path) -> None:
    context = _video(tmp_path / "context.mp4", [20, 60, 100, 100])  # the last 3 frames are the context
    truth = _video(tmp_path / "truth.mp4", [110, 120, 130, 140])
    result = runner.run(_spec(tmp_path, "job", context, "video", truth), NullHooks())

    assert result.frames == 4 and len(result.videos) == 3
    frames = _frames(tmp_path / "job" / "result_01.mp4")
    assert len(frames) == 3 + 4  # the context, then the prediction
    green, red = frames[0][0, 5].astype(int), frames[3][0, 5].astype(int)  # framed: context green, prediction red
    assert green[1] > 150 > 60 > max(green[0], green[2]) and red[0] > 150 > 60 > max(red[1], red[2])
    assert abs(int(frames[2][12, 16, 0]) - 100) <= 3  # the last context frame, as uploaded
    report = result.report
    rates = report["rates"]  # the family's own description of what it sampled
    assert len(rates) == 3 and len(set(rates)) == 3
    assert report["truth_frames_scored"] == 4 and len(report["samples"]) == 3
    best = report["best_sample"]
    assert report["samples"][best]["mean_ssim"] == max(s["mean_ssim"] for s in report["samples"])
    assert best == int(np.argmax(rates))  # the brightest sample is closest to the brightening truth


def test_one_image_is_a_context_and_a_bad_truth_is_a_clear_error(runner: Runner, tmp_path: Path) -> None:
    still = tmp_path / "still.png"
    write_png_atomic(still, np.full((48, 64, 3), 90, np.uint8))  # resized to the model's 24x32
    result = runner.run(_spec(tmp_path, "one", still, "image"), NullHooks())
    assert result.report == {"rates": result.report["rates"]} and len(_frames(tmp_path / "one" / "result.mp4")) == 5
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(JobError) as caught:
        runner.run(_spec(tmp_path, "bad", still, "image", broken), NullHooks())
    assert caught.value.code == "decode_failed" and "true future" in caught.value.message
