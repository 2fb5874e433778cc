"""`v2v train` and `v2v export` end to end on a tiny data set (cli/train.py, cli/export.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from app.contracts import load_manifest
from cli.main import main
from models.core.checkpoints import load_generator
from tests.moving_square import make_moving_square


def _train_square(data: Path, run: Path, steps: int, *extra: str) -> int:
    """`v2v train vid2vid` of vid2vid-tiny on the moving square, a checkpoint every step."""
    return main(["train", "vid2vid", "--data", str(data), "--preset", "vid2vid-tiny", "--out", str(run),
                 "--steps", str(steps), "--size", "32x32", "--clip-frames", "3", "--num-d", "1", "--temporal-scales",
                 "1", "--checkpoint-every", "1", "--device", "cpu", "--quiet", *extra])


def test_train_two_steps_then_export_a_loadable_entry(tmp_path: Path) -> None:
    data = make_moving_square(tmp_path / "data", frames=5, size=32)
    run = tmp_path / "run"
    assert _train_square(data, run, 2, "--sample-every", "2") == 0
    assert (run / "checkpoints" / "step_0000002.safetensors").exists()
    assert (run / "samples" / "step_0000002.png").exists()
    assert len((run / "log.jsonl").read_text().splitlines()) == 2

    manifest = tmp_path / "ckpt" / "manifest.json"
    manifest.parent.mkdir()
    keep = {"name": "other", "family": "vid2vid", "preset": "vid2vid-tiny",
            "inputs": {"kind": "translate", "labels": {"type": "edges"}}, "output": {"height": 32, "width": 32}}
    manifest.write_text(json.dumps({"models": {"other": keep}}))
    assert main(["export", str(run), "--name", "tiny-square", "--checkpoints-dir", str(tmp_path / "ckpt"),
                 "--manifest", str(manifest)]) == 0
    cards = load_manifest(manifest).models
    assert set(cards) == {"other", "tiny-square"}
    card = cards["tiny-square"]
    assert card.trained and card.kind == "translate" and card.inputs.labels.channels == 35  # type: ignore[union-attr]
    assert (card.output.height, card.output.width, card.output.size_multiple) == (32, 32, 4)
    assert card.inputs.references is None and set(card.options) == {"temporal"}  # type: ignore[union-attr]
    assert card.weights is not None
    gen = load_generator(card.preset, card.config, tmp_path / "ckpt" / card.weights.file, card.weights.sha256, "cpu")
    state = gen.start(batch_size=1, height=32, width=32)
    out, _ = gen.step(torch.zeros(1, 35, 32, 32), state)
    assert out.frame.shape == (1, 3, 32, 32)

    # measured quality merges into the card, inline or from a file; a bad one is refused before anything is written
    export = ["export", str(run), "--name", "tiny-square", "--checkpoints-dir", str(tmp_path / "ckpt"),
              "--manifest", str(manifest)]
    assert main([*export, "--quality", '{"psnr_db": 17.2}']) == 0
    assert load_manifest(manifest).models["tiny-square"].quality["psnr_db"] == 17.2
    (tmp_path / "q.json").write_text('{"ssim": 0.6}')
    assert main([*export, "--quality", str(tmp_path / "q.json")]) == 0
    assert load_manifest(manifest).models["tiny-square"].quality["ssim"] == 0.6
    weights = tmp_path / "ckpt" / "tiny-square.safetensors"
    before = weights.stat().st_mtime_ns
    assert main([*export, "--quality", "[1, 2]"]) == 2 and weights.stat().st_mtime_ns == before

    # --config puts a setting without weights on the card; one that changes the weights is refused, nothing written
    assert main([*export, "--config", '{"label_gate": true}']) == 0
    card = load_manifest(manifest).models["tiny-square"]
    assert card.config["label_gate"] is True and card.weights is not None
    assert load_generator(card.preset, card.config, weights, card.weights.sha256, "cpu").config.label_gate
    before = weights.stat().st_mtime_ns
    assert main([*export, "--config", '{"ngf": 16}']) == 2 and weights.stat().st_mtime_ns == before
    assert main([*export, "--config", "true"]) == 2

    # resume continues from step 2 to 3
    assert _train_square(data, run, 3, "--sample-every", "0", "--resume") == 0
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]


SINGLE = {"first_frame": "single_image",
          "single_image": {"input_channels": 35, "ngf": 8, "n_downsample": 2, "n_blocks": 1}}


def _train(family: str, data: Path, run: Path, steps: int, *extra: str) -> int:
    return main(["train", family, "--data", str(data), "--preset", "vid2vid-tiny", "--config", json.dumps(SINGLE),
                 "--out", str(run), "--steps", str(steps), "--size", "32x32", "--clip-frames", "3", "--num-d", "1",
                 "--temporal-scales", "1", "--checkpoint-every", "1", "--sample-every", "0", "--device", "cpu",
                 "--quiet", *extra])


def test_train_the_first_frame_generator_resume_and_export_it_with_its_vid2vid_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from models.families.vid2vid.first_frame import load_single_image_generator

    data = make_moving_square(tmp_path / "data", frames=4, size=32)
    single_run, video_run, ckpt = tmp_path / "single", tmp_path / "video", tmp_path / "ckpt"
    assert _train("single", data, single_run, 1, "--sample-every", "1") == 0
    assert (single_run / "checkpoints" / "step_0000001.safetensors").exists()
    assert (single_run / "samples" / "step_0000001.png").exists()
    assert _train("single", data, single_run, 2, "--resume") == 0
    lines = [json.loads(line) for line in (single_run / "log.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2] and lines[0]["clip_frames"] == 1  # one image, whatever --clip-frames
    assert {"G_gan_frame", "G_feat_frame", "G_l1_frame", "D_image"} <= set(lines[0])
    assert not any(k.startswith(("D_temporal", "G_flow")) for k in lines[0])
    meta = json.loads((single_run / "checkpoints" / "step_0000002.json").read_text())
    assert meta["family"] == "single" and meta["preset"] == "vid2vid-tiny"
    assert _train("vid2vid", data, video_run, 1) == 0  # real first frames in training, as in the paper

    export = ["export", str(video_run), "--name", "tiny-ff", "--checkpoints-dir", str(ckpt)]
    assert main(export) == 2  # a single_image config needs its first-frame generator: one line, no traceback
    assert "--first-frame-run" in capsys.readouterr().err
    assert main(["export", str(single_run), "--name", "x", "--checkpoints-dir", str(ckpt)]) == 2
    assert "first-frame generator" in capsys.readouterr().err
    assert main([*export, "--first-frame-run", str(single_run)]) == 0
    card = load_manifest(ckpt / "manifest.json").models["tiny-ff"]
    first = card.extra_weights["first_frame"]
    assert card.weights is not None and card.weights.file == "tiny-ff.safetensors"
    assert first.file == "tiny-ff.first_frame.safetensors" and card.quality["first_frame_trained_steps"] == 2
    single = load_single_image_generator(card.preset, card.config, ckpt / first.file, first.sha256, "cpu")
    trained = {k[2:]: v for k, v in load_file(str(single_run / "checkpoints" / "step_0000002.safetensors")).items()
               if k.startswith("G.")}
    assert all(torch.equal(v, trained[k].half().float()) for k, v in single.state_dict().items())
    gen = load_generator(card.preset, card.config, ckpt / card.weights.file, card.weights.sha256, "cpu")
    assert gen.config.first_frame == "single_image" and single(torch.zeros(1, 35, 32, 32)).shape == (1, 3, 32, 32)


def _tiny_args(data: Path, run: Path, steps: int, *extra: str) -> list[str]:
    return ["train", "vid2vid", "--data", str(data), "--preset", "vid2vid-tiny", "--out", str(run), "--steps",
            str(steps), "--size", "32x32", "--clip-frames", "2", "--num-d", "1", "--temporal-scales", "0",
            "--checkpoint-every", "100", "--sample-every", "0", "--device", "cpu", "--quiet", *extra]


def test_a_spent_time_budget_stops_after_one_step_with_a_checkpoint_and_resume_goes_on(tmp_path: Path) -> None:
    data = make_moving_square(tmp_path / "data", frames=4, size=32)
    run = tmp_path / "run"
    assert main(_tiny_args(data, run, 50, "--max-minutes", "0")) == 0
    assert [p.name for p in (run / "checkpoints").glob("step_*.safetensors")] == ["step_0000001.safetensors"]
    assert main(_tiny_args(data, run, 3, "--resume")) == 0
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]


def test_sigterm_stops_training_cleanly_with_a_checkpoint(tmp_path: Path) -> None:
    """A real `v2v train` process gets SIGTERM mid-run: it finishes the step, checkpoints and exits 0."""
    import os
    import signal
    import subprocess
    import sys
    import time

    data = make_moving_square(tmp_path / "data", frames=4, size=32)
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", *_tiny_args(data, run, 100000)],
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, stderr=subprocess.PIPE, text=True)
    log = run / "log.jsonl"
    deadline = time.monotonic() + 120
    while not (log.exists() and log.read_text().count("\n") >= 2) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    stopped_at = len(log.read_text().splitlines())
    assert 2 <= stopped_at < 100000
    assert (run / "checkpoints" / f"step_{stopped_at:07d}.safetensors").exists()
    assert "continue with --resume" in err


def test_export_ships_the_mean_of_the_last_checkpoints_or_the_moving_average(tmp_path: Path) -> None:
    data = make_moving_square(tmp_path / "data", frames=5, size=32)
    run = tmp_path / "run"
    assert _train_square(data, run, 3, "--sample-every", "0", "--ema", "0.5") == 0
    assert json.loads((run / "checkpoints" / "step_0000003.json").read_text())["ema_decay"] == 0.5
    ckpt_dir = tmp_path / "ckpt"
    export = ["export", str(run), "--name", "soup", "--checkpoints-dir", str(ckpt_dir)]
    step2 = str(run / "checkpoints" / "step_0000002.json")
    assert main([*export, "--checkpoint", step2, "--average-last", "2"]) == 0

    card = load_manifest(ckpt_dir / "manifest.json").models["soup"]
    assert card.quality["averaged_checkpoints"] == [1, 2] and card.quality["trained_steps"] == 2
    shipped = load_file(str(ckpt_dir / "soup.safetensors"))
    first, second = (load_file(str(run / "checkpoints" / f"step_000000{i}.safetensors")) for i in (1, 2))
    moved = [k for k in shipped if first[f"G.{k}"].is_floating_point()
             and not torch.equal(first[f"G.{k}"], second[f"G.{k}"])]
    assert moved  # the two steps differ, so the mean is neither of them
    for key in moved:
        mean = (first[f"G.{key}"].float() + second[f"G.{key}"].float()) / 2
        torch.testing.assert_close(shipped[key].float(), mean.half().float())

    # the default ships one checkpoint and records no soup; too few checkpoints is refused before anything is written
    assert main(export) == 0
    assert "averaged_checkpoints" not in load_manifest(ckpt_dir / "manifest.json").models["soup"].quality
    before = (ckpt_dir / "soup.safetensors").stat().st_mtime_ns
    assert main([*export, "--checkpoint", step2, "--average-last", "3"]) == 2
    assert main([*export, "--average-last", "0"]) == 2
    assert (ckpt_dir / "soup.safetensors").stat().st_mtime_ns == before
    assert main([*export, "--ema"]) == 0  # the moving average the run kept
    assert load_manifest(ckpt_dir / "manifest.json").models["soup"].quality["ema_decay"] == 0.5
