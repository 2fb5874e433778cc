"""Every generate and predict family resumes a crashed job byte for byte: the job's runner (untrained tiny presets,
several samples) is stopped after a few frames as a SIGKILL would stop it, run again, and must write the same frames
of every sample and the same result report as an uninterrupted run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from app.contracts import GenerateJob, JobSpec, ModelCard, OutputOptions, PredictJob
from workers.hooks import NullHooks
from workers.runner import make_runner
from workers.video_io import H264Writer

from .helpers import Crash, CrashAfter

SIZE = 16

CASES = {
    "tgan": ("tgan-tiny", "generate", {"num_frames": {"min": 4, "max": 4}, "seeds": ["video"]}),
    "vgan": ("vgan-tiny", "generate", {"num_frames": {"min": 4, "max": 4}, "seeds": ["z"]}),
    "mocogan": ("mocogan-tiny", "generate", {"num_frames": {"min": 1, "max": 8}, "classes": ["a", "b", "c"],
                                             "seeds": ["content", "motion"], "class_option": "action"}),
    "svg_lp": ("svg_lp-tiny", "predict", {"context_frames": {"min": 1, "max": 2}, "horizon": {"min": 1, "max": 6}}),
    "savp": ("savp-tiny", "predict", {"context_frames": {"min": 1, "max": 2}, "horizon": {"min": 1, "max": 6}}),
    "videovae": ("videovae-tiny", "predict", {"context_frames": {"min": 1, "max": 2}, "horizon": {"min": 1, "max": 6},
                                              "attributes": {"action": ["a", "b", "c"]}}),
}
SIZES = {"videovae": 32}


def _card(family: str) -> ModelCard:
    preset, kind, inputs = CASES[family]
    return ModelCard.model_validate({"name": f"tiny-{family}", "family": family, "preset": preset,
                                     "inputs": {"kind": kind, **inputs},
                                     "output": {"height": SIZES.get(family, SIZE), "width": SIZES.get(family, SIZE)}})


def _context(path: Path, size: int) -> Path:
    rng = np.random.default_rng(0)
    with H264Writer(path, fps=10.0, width=size, height=size) as writer:
        for t in range(2):
            frame = np.zeros((size, size, 3), np.uint8)
            frame[4:10, 2 + 3 * t:8 + 3 * t] = rng.integers(100, 255, 3)
            writer.write(frame)
    return path


def _spec(root: Path, job_id: str, card: ModelCard, context: Path) -> JobSpec:
    job_dir = root / "jobs" / job_id
    job_dir.mkdir(parents=True, exist_ok=True)
    if card.kind == "generate":
        frames = card.inputs.num_frames.max  # type: ignore[union-attr]
        inputs = GenerateJob(num_samples=3, num_frames=min(frames, 6), truncation=0.7)  # ψ is resumed too
        total = inputs.num_frames
    else:
        attributes = {"action": 1} if card.inputs.attributes else {}  # type: ignore[union-attr]
        inputs = PredictJob(context_path=str(context), context_kind="video", context_frames=2, horizon=5,
                            num_samples=3, attributes=attributes)
        total = 5
    return JobSpec(job_id=job_id, owner="test", model=card.name, job_dir=str(job_dir), frames_total=total, fps=10.0,
                   options=OutputOptions(seed=7), inputs=inputs)


@pytest.mark.parametrize("family", sorted(CASES))
def test_a_crashed_job_resumes_byte_identical(family: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    card = _card(family)
    runner = make_runner(card, torch.device("cpu"), tmp_path)
    runner.setup()
    context = _context(tmp_path / "context.mp4", card.output.height)
    whole = runner.run(_spec(tmp_path, "whole", card, context), NullHooks())
    with pytest.raises(Crash):
        runner.run(_spec(tmp_path, "split", card, context), CrashAfter(2))
    resumed = runner.run(_spec(tmp_path, "split", card, context), NullHooks())
    assert resumed.resumed_from_frame == 2 and resumed.frames == whole.frames
    assert resumed.report == whole.report and len(resumed.videos) == len(whole.videos) == 3
    frames = {name: sorted(p.relative_to(tmp_path / "jobs" / name) for p in (tmp_path / "jobs" / name / "frames")
                           .rglob("*.png")) for name in ("whole", "split")}
    assert frames["whole"] == frames["split"] and len(frames["whole"]) == 3 * whole.frames
    for rel in frames["whole"]:
        a = (tmp_path / "jobs" / "whole" / rel).read_bytes()
        b = (tmp_path / "jobs" / "split" / rel).read_bytes()
        assert a == b, rel


def test_a_generate_result_names_each_samples_class_as_a_job_asks_for_it(tmp_path: Path) -> None:
    card = _card("mocogan")
    runner = make_runner(card, torch.device("cpu"), tmp_path)
    runner.setup()
    result = runner.run(_spec(tmp_path, "named", card, tmp_path / "unused.mp4"), NullHooks())
    samples = result.report["samples"]
    assert len(samples) == 3 and len({s["class_id"] for s in samples}) > 1  # no class asked: drawn per sample
    assert result.report["truncation"] == 0.7  # a re-run asks for it beside the seeds
    for sample in samples:  # {"action": "b", "content_seed": N} asks for this person doing b again
        assert sample["class"] == sample["action"] == ["a", "b", "c"][sample["class_id"]]
        assert {"content_seed", "motion_seed"} <= sample.keys()
