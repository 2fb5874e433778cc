"""Runner: the per-job loop in-process (no Redis): frame count and size, resume is byte-identical, cancel."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from app.contracts import load_manifest
from workers.errors import JobCanceled, JobError
from workers.hooks import NullHooks
from workers.precision import Precision
from workers.runner import Runner, make_runner
from workers.video_io import read_label_frames, write_png_atomic

from .helpers import (
    RUN_HEIGHT,
    RUN_WIDTH,
    TINY_MODEL,
    Crash,
    CrashAfter,
    make_spec,
    pose_frame,
    write_label_video,
    write_manifest,
    write_pose_video,
)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    manifest_path = write_manifest(tmp_path_factory.mktemp("ckpt"))
    card = load_manifest(manifest_path).models["tiny"]
    runner = make_runner(card, torch.device("cpu"), manifest_path.parent)
    runner.setup()
    return runner


class _CancelAfter(NullHooks):
    def __init__(self, frames: int) -> None:
        super().__init__()
        self.frames, self.done = frames, 0

    def report_progress(self, done: int, total: int) -> None:
        self.done = done

    def should_stop(self) -> bool:
        return self.done >= self.frames


def test_result_has_the_uploads_frame_count_and_size(runner: Runner, tmp_path: Path) -> None:
    labels = write_label_video(tmp_path / "labels.mp4", frames=6, height=40, width=60)
    seen: list[tuple[int, int]] = []
    result = runner.run(make_spec(tmp_path, "j1", 6, labels), NullHooks(lambda d, t: seen.append((d, t))))
    assert (result.frames, result.height, result.width, result.resumed_from_frame) == (6, 40, 60, 0)
    frames = list(read_label_frames(result.video_path, "video"))
    assert len(frames) == 6 and frames[0].shape == (40, 60, 3)
    assert [d for d, _ in seen][:6] == [1, 2, 3, 4, 5, 6]
    assert sorted(p.name for p in (tmp_path / "jobs" / "j1" / "frames").iterdir())[-1] == "000005.png"


def test_max_frames_limits_the_output(runner: Runner, tmp_path: Path) -> None:
    labels = write_label_video(tmp_path / "labels.mp4", frames=6)
    result = runner.run(make_spec(tmp_path, "j2", 3, labels, max_frames=3), NullHooks())
    assert result.frames == 3


def test_resume_after_a_crash_is_byte_identical(runner: Runner, tmp_path: Path) -> None:
    labels = write_label_video(tmp_path / "labels.mp4", frames=7)
    runner.run(make_spec(tmp_path, "whole", 7, labels), NullHooks())
    with pytest.raises(Crash):
        runner.run(make_spec(tmp_path, "split", 7, labels), CrashAfter(3))
    assert not (tmp_path / "jobs" / "split" / "result.mp4").exists()
    result = runner.run(make_spec(tmp_path, "split", 7, labels), NullHooks())
    assert result.resumed_from_frame == 3 and result.frames == 7
    whole = sorted((tmp_path / "jobs" / "whole" / "frames").iterdir())
    split = sorted((tmp_path / "jobs" / "split" / "frames").iterdir())
    assert [p.name for p in whole] == [p.name for p in split]
    for a, b in zip(whole, split, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_a_resuming_worker_continues_in_the_precision_of_the_earlier_frames(tmp_path: Path) -> None:
    """Workers choose their precision at start-up (a timing probe on CPUs): a job started by a bf16 worker and
    resumed by an fp32 one must still come out as the uninterrupted bf16 run, frame for frame."""
    manifest_path = write_manifest(tmp_path / "ckpt")
    card = load_manifest(manifest_path).models["tiny"]
    runners = {}
    for name in ("bf16", "fp32"):
        runners[name] = make_runner(card, torch.device("cpu"), manifest_path.parent, Precision(name, "test"))
        runners[name].setup()
    labels = write_label_video(tmp_path / "labels.mp4", frames=6)
    for name, runner in runners.items():
        runner.run(make_spec(tmp_path, f"whole-{name}", 6, labels), NullHooks())
    with pytest.raises(Crash):
        runners["bf16"].run(make_spec(tmp_path, "split", 6, labels), CrashAfter(3))
    result = runners["fp32"].run(make_spec(tmp_path, "split", 6, labels), NullHooks())
    assert result.resumed_from_frame == 3 and result.frames == 6

    def frames(job: str) -> list[bytes]:
        return [p.read_bytes() for p in sorted((tmp_path / "jobs" / job / "frames").iterdir())]

    assert frames("whole-bf16") != frames("whole-fp32")  # the precision shows in the frames
    assert frames("split") == frames("whole-bf16")


def test_cancel_stops_between_frames(runner: Runner, tmp_path: Path) -> None:
    labels = write_label_video(tmp_path / "labels.mp4", frames=8)
    with pytest.raises(JobCanceled):
        runner.run(make_spec(tmp_path, "c", 8, labels), _CancelAfter(2))
    assert len(list((tmp_path / "jobs" / "c" / "frames").iterdir())) == 2


def test_undecodable_labels_fail_with_decode_failed(runner: Runner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 512)
    with pytest.raises(JobError) as caught:
        runner.run(make_spec(tmp_path, "bad", 3, bad), NullHooks())
    assert caught.value.code == "decode_failed"


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    manifest_path = write_manifest(tmp_path_factory.mktemp("ckpt"), people=True)
    runner = make_runner(load_manifest(manifest_path).models["tiny-people"], torch.device("cpu"), manifest_path.parent)
    runner.setup()
    return runner


def _references(folder: Path, k: int) -> tuple[list[Path], list[Path]]:
    images, labels = [], []
    for i in range(k):
        images.append(folder / f"ref{i}.png")
        labels.append(folder / f"ref{i}_pose.png")
        write_png_atomic(images[-1], np.full((40, 30, 3), 60 + 40 * i, dtype=np.uint8))
        write_png_atomic(labels[-1], pose_frame(i, 40, 30))
    return images, labels


def test_few_shot_job_and_reference_cache(people: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    labels = write_pose_video(tmp_path / "pose.mp4", frames=4)
    refs = _references(tmp_path, 2)
    starts: list[int] = []
    start = people.pipeline.generator.start  # type: ignore[union-attr]
    monkeypatch.setattr(people.pipeline.generator, "start", lambda **kw: starts.append(1) or start(**kw))
    first = people.run(make_spec(tmp_path, "p1", 4, labels, model="tiny-people", references=refs), NullHooks())
    second = people.run(make_spec(tmp_path, "p2", 4, labels, model="tiny-people", references=refs), NullHooks())
    assert (first.frames, first.height, first.width) == (4, 48, 40)
    assert len(starts) == 1  # the second job reused the started state of the same reference set
    a = sorted((tmp_path / "jobs" / "p1" / "frames").iterdir())
    b = sorted((tmp_path / "jobs" / "p2" / "frames").iterdir())
    assert [x.read_bytes() for x in a] == [x.read_bytes() for x in b]
    assert second.frames == 4


def test_few_shot_resume_is_byte_identical(people: Runner, tmp_path: Path) -> None:
    labels = write_pose_video(tmp_path / "pose.mp4", frames=5)
    refs = _references(tmp_path, 3)
    people.run(make_spec(tmp_path, "whole", 5, labels, model="tiny-people", references=refs), NullHooks())
    with pytest.raises(Crash):
        people.run(make_spec(tmp_path, "split", 5, labels, model="tiny-people", references=refs), CrashAfter(2))
    result = people.run(make_spec(tmp_path, "split", 5, labels, model="tiny-people", references=refs), NullHooks())
    assert result.resumed_from_frame == 2
    whole = sorted((tmp_path / "jobs" / "whole" / "frames").iterdir())
    split = sorted((tmp_path / "jobs" / "split" / "frames").iterdir())
    assert [p.read_bytes() for p in whole] == [p.read_bytes() for p in split]


def test_few_shot_needs_matching_reference_labels(people: Runner, tmp_path: Path) -> None:
    labels = write_pose_video(tmp_path / "pose.mp4", frames=2)
    images, ref_labels = _references(tmp_path, 2)
    spec = make_spec(tmp_path, "bad", 2, labels, model="tiny-people", references=(images, ref_labels[:1]))
    with pytest.raises(JobError) as caught:
        people.run(spec, NullHooks())
    assert caught.value.code == "bad_references"


def _frames(tmp_path: Path, job: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((tmp_path / "jobs" / job / "frames").iterdir())]


def test_few_shot_finetuning_runs_on_a_copy(people: Runner, tmp_path: Path) -> None:
    labels = write_pose_video(tmp_path / "pose.mp4", frames=2)
    refs = _references(tmp_path, 2)
    shared = {k: v.clone() for k, v in people.pipeline.generator.state_dict().items()}  # type: ignore[union-attr]
    cache_before = list(people.pipeline._cache)  # type: ignore[attr-defined]
    tuned = people.run(make_spec(tmp_path, "ft", 2, labels, model="tiny-people", references=refs,
                                 family_options={"finetune_steps": 2}),
                       NullHooks())
    assert tuned.frames == 2
    after = people.pipeline.generator.state_dict()  # type: ignore[union-attr]
    assert all(torch.equal(v, after[k]) for k, v in shared.items())  # the loaded model is untouched
    assert list(people.pipeline._cache) == cache_before  # no fine-tuned state in the shared reference-set cache
    assert not (tmp_path / "jobs" / "ft" / "state" / "finetuned.safetensors").exists()  # cleared with the state
    people.run(make_spec(tmp_path, "plain", 2, labels, model="tiny-people", references=refs), NullHooks())
    assert _frames(tmp_path, "ft") != _frames(tmp_path, "plain")  # fine-tuning changed the output


def test_few_shot_finetuned_resume_is_byte_identical_without_finetuning_again(
    people: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import models.families.fs_vid2vid.finetune as finetune

    labels = write_pose_video(tmp_path / "pose.mp4", frames=3)
    refs = _references(tmp_path, 1)
    options = {"model": "tiny-people", "references": refs, "family_options": {"finetune_steps": 2}, "seed": 5}
    people.run(make_spec(tmp_path, "whole", 3, labels, **options), NullHooks())  # type: ignore[arg-type]
    with pytest.raises(Crash):
        people.run(make_spec(tmp_path, "split", 3, labels, **options), CrashAfter(1))  # type: ignore[arg-type]
    calls: list[int] = []
    real = finetune.finetune_on_references
    monkeypatch.setattr(finetune, "finetune_on_references", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    result = people.run(make_spec(tmp_path, "split", 3, labels, **options), NullHooks())  # type: ignore[arg-type]
    assert result.resumed_from_frame == 1 and calls == []  # the saved fine-tuned weights were used
    assert _frames(tmp_path, "whole") == _frames(tmp_path, "split")


def test_finetune_steps_on_a_vid2vid_model_is_a_bad_spec(runner: Runner, tmp_path: Path) -> None:
    labels = write_label_video(tmp_path / "labels.mp4", frames=2)
    with pytest.raises(JobError) as caught:
        runner.run(make_spec(tmp_path, "v", 2, labels, family_options={"finetune_steps": 3}), NullHooks())
    assert caught.value.code == "bad_spec"


def test_temporal_0_draws_each_frame_alone_and_resumes_byte_identical(runner: Runner, tmp_path: Path) -> None:
    labels = write_label_video(tmp_path / "labels.mp4", frames=5)
    alone = {"temporal": 0}
    runner.run(make_spec(tmp_path, "on", 5, labels), NullHooks())
    runner.run(make_spec(tmp_path, "off", 5, labels, family_options=alone), NullHooks())
    with pytest.raises(Crash):
        runner.run(make_spec(tmp_path, "off2", 5, labels, family_options=alone), CrashAfter(2))
    runner.run(make_spec(tmp_path, "off2", 5, labels, family_options=alone), NullHooks())
    on, off = _frames(tmp_path, "on"), _frames(tmp_path, "off")
    assert on[0] == off[0]  # a stream's first frame is drawn from its labels alone either way
    assert all(a != b for a, b in zip(on[1:], off[1:], strict=True))  # then the temporal job builds on it
    assert _frames(tmp_path, "off2") == off


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_and_resumes_on_cuda(tmp_path: Path) -> None:
    manifest_path = write_manifest(tmp_path / "ckpt")
    cuda = make_runner(load_manifest(manifest_path).models["tiny"], torch.device("cuda"), manifest_path.parent)
    cuda.setup()
    labels = write_label_video(tmp_path / "labels.mp4", frames=5)
    with pytest.raises(Crash):
        cuda.run(make_spec(tmp_path, "gpu", 5, labels), CrashAfter(2))
    result = cuda.run(make_spec(tmp_path, "gpu", 5, labels), NullHooks())
    assert (result.frames, result.resumed_from_frame) == (5, 2)


# -- vid2vid first frames from a single-image generator (first_frame "single_image", reference §1.6) --------------

SINGLE_CONFIG = {"first_frame": "single_image",
                 "single_image": {"input_channels": 4, "ngf": 4, "n_downsample": 2, "n_blocks": 1}}


@pytest.fixture(scope="module")
def first_frames(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    """`tiny` with first_frame "single_image" and a (randomly initialised, then exported) single-image generator."""
    from models.core.checkpoints import export_generator_fp16
    from models.families.vid2vid.first_frame import single_image_config
    from models.families.vid2vid.single import SingleImageGenerator

    folder = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(3)
    single = SingleImageGenerator(single_image_config("vid2vid-tiny", SINGLE_CONFIG))
    sha = export_generator_fp16(single, folder / "tiny-single.first_frame.safetensors")
    card = {**TINY_MODEL, "name": "tiny-single", "config": SINGLE_CONFIG,
            "extra_weights": {"first_frame": {"file": "tiny-single.first_frame.safetensors", "sha256": sha}}}
    (folder / "manifest.json").write_text(json.dumps({"models": {"tiny-single": card}}))
    runner = make_runner(load_manifest(folder / "manifest.json").models["tiny-single"], torch.device("cpu"), folder)
    runner.setup()
    return runner


def test_zeros_mode_cards_load_no_first_frame_generator(runner: Runner) -> None:
    assert runner.pipeline.first_frame is None  # type: ignore[union-attr]


def test_first_frames_come_from_the_single_image_generator_then_step(first_frames: Runner, tmp_path: Path) -> None:
    from models.core.labels import tensor_to_rgb
    from workers.labels_input import LabelEncoder
    from workers.video_io import read_png_rgb

    labels = write_label_video(tmp_path / "labels.mp4", frames=4, height=RUN_HEIGHT, width=RUN_WIDTH)
    first_frames.run(make_spec(tmp_path, "ff", 4, labels, model="tiny-single"), NullHooks())
    written = [read_png_rgb(p) for p in sorted((tmp_path / "jobs" / "ff" / "frames").iterdir())]

    gen, single = first_frames.pipeline.generator, first_frames.pipeline.first_frame  # type: ignore[union-attr]
    assert gen is not None and single is not None and gen.config.n_prev == 2
    encoder = LabelEncoder(first_frames.card.inputs.labels, RUN_HEIGHT, RUN_WIDTH)  # type: ignore[union-attr]
    encoded = [encoder(f) for f in read_label_frames(labels, "video")]  # 4 x (1, C, H, W)
    with torch.inference_mode():
        firsts = [single(x) for x in encoded[:2]]  # frames 0 and 1: the single-image generator's images
        state = gen.start(1, RUN_HEIGHT, RUN_WIDTH, first_frames=torch.stack(firsts, 1),
                          first_labels=torch.stack(encoded[:2], 1))
        out, _ = gen.step(encoded[2], state)  # frame 2: the video generator, on that history
    assert all(np.array_equal(written[i], tensor_to_rgb(firsts[i][0])) for i in range(2))
    assert np.array_equal(written[2], tensor_to_rgb(out.frame[0]))
    zeros, _ = gen.step(encoded[2], gen.start(1, RUN_HEIGHT, RUN_WIDTH))
    assert not np.array_equal(written[2], tensor_to_rgb(zeros.frame[0]))  # not the zeros-mode stream


@pytest.mark.parametrize("crash_after", [1, 3])  # inside the single-image frames, and after them
def test_first_frame_jobs_resume_byte_identical(first_frames: Runner, tmp_path: Path, crash_after: int) -> None:
    labels = write_label_video(tmp_path / "labels.mp4", frames=5)
    first_frames.run(make_spec(tmp_path, "whole", 5, labels, model="tiny-single"), NullHooks())
    with pytest.raises(Crash):
        first_frames.run(make_spec(tmp_path, "split", 5, labels, model="tiny-single"), CrashAfter(crash_after))
    result = first_frames.run(make_spec(tmp_path, "split", 5, labels, model="tiny-single"), NullHooks())
    assert result.resumed_from_frame == crash_after
    assert _frames(tmp_path, "whole") == _frames(tmp_path, "split")


def test_first_frame_weights_are_sha256_checked(first_frames: Runner, tmp_path: Path) -> None:
    from models.core.checkpoints import ChecksumError

    bad_file = first_frames.card.extra_weights["first_frame"].model_copy(update={"sha256": "0" * 64})
    card = first_frames.card.model_copy(update={"extra_weights": {"first_frame": bad_file}})
    bad = make_runner(card, torch.device("cpu"), first_frames.checkpoints_dir)
    with pytest.raises(ChecksumError):
        bad.setup()


def test_an_input_the_model_refuses_fails_at_once_without_retries(runner: Runner, tmp_path: Path) -> None:
    labels = write_label_video(tmp_path / "labels.mp4", frames=2)
    spec = make_spec(tmp_path, "odd", 2, labels, height=30, width=48)  # 30 is not a multiple of the model's 4
    with pytest.raises(JobError) as caught:
        runner.run(spec, NullHooks())
    assert caught.value.code == "bad_input" and not caught.value.retryable
    assert "multiples of 4" in caught.value.message
