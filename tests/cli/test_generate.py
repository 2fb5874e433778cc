"""`v2v generate`: offline label video -> H.264 video through the worker's runner; bad input is a clean error."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import main
from tests.workers.helpers import write_label_video, write_manifest
from workers.video_io import read_label_frames


def test_generate_writes_the_video(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = write_manifest(tmp_path / "checkpoints")
    labels = write_label_video(tmp_path / "labels.mp4", frames=4, height=40, width=60)
    out = tmp_path / "out" / "result.mp4"
    argv = ["generate", "--manifest", str(manifest), "--model", "tiny", "--labels", str(labels), "-o", str(out)]
    assert main([*argv, "--device", "cpu", "--max-frames", "3", "--frames-dir", str(tmp_path / "frames")]) == 0
    frames = list(read_label_frames(out, "video"))
    assert len(frames) == 3 and frames[0].shape == (40, 60, 3)
    assert len(list((tmp_path / "frames").glob("*.png"))) == 3
    assert "3 frames, 60x40" in capsys.readouterr().out


def test_generate_refuses_undecodable_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = write_manifest(tmp_path / "checkpoints")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    argv = ["generate", "--manifest", str(manifest), "--model", "tiny", "--labels", str(bad)]
    argv += ["-o", str(tmp_path / "o.mp4")]
    assert main(argv) == 1
    assert "decode_failed" in capsys.readouterr().err
    assert not (tmp_path / "o.mp4").exists()


def test_generate_refuses_options_the_model_does_not_have(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = write_manifest(tmp_path / "checkpoints")
    labels = write_label_video(tmp_path / "labels.mp4", frames=2)
    argv = ["generate", "--manifest", str(manifest), "--model", "tiny", "--labels", str(labels)]
    argv += ["-o", str(tmp_path / "o.mp4"), "--device", "cpu", "--finetune-steps", "5"]
    assert main(argv) == 2  # one line, no traceback
    assert "model tiny has no option 'finetune_steps'" in capsys.readouterr().err


def test_user_mistakes_get_one_line_errors_not_tracebacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = write_manifest(tmp_path / "checkpoints")
    cases = [
        (["generate", "--manifest", str(manifest), "--model", "tiny", "--labels", str(tmp_path / "none.mp4"),
          "-o", str(tmp_path / "o.mp4")], "does not exist"),
        (["generate", "--manifest", str(manifest), "--model", "nope", "--labels", str(tmp_path / "x.mp4"),
          "-o", str(tmp_path / "o.mp4")], "unknown model 'nope'; served models: tiny"),
        (["train", "vid2vid", "--data", str(tmp_path / "no-data"), "--preset", "vid2vid-tiny", "--out",
          str(tmp_path / "run")], "no such data set folder"),
        (["train", "nope", "--data", str(tmp_path), "--preset", "p", "--out", str(tmp_path / "run")],
         "unknown family or recipe 'nope'"),
        (["train", "vid2vid", "--data", str(tmp_path), "--preset", "vid2vid-tiny", "--out", str(tmp_path / "run"),
          "--set", "nonsense=1"], "vid2vid does not take nonsense"),
        (["export", str(tmp_path / "no-run"), "--name", "x"], "no checkpoint under"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
