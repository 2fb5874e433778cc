"""`v2v train` and `v2v export` end to end on a tiny data set (cli/train.py, cli/export.py)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from app.contracts import load_manifest
from cli.main import main
from models.checkpoints import load_generator
from tests.models.training.conftest import make_moving_square


def test_train_two_steps_then_export_a_loadable_entry(tmp_path: Path) -> None:
    data = make_moving_square(tmp_path / "data", frames=5, size=32)
    run = tmp_path / "run"
    assert main(["train", "vid2vid", "--data", str(data), "--preset", "vid2vid-tiny", "--out", str(run),
                 "--steps", "2", "--size", "32x32", "--clip-frames", "3", "--num-d", "1", "--temporal-scales", "1",
                 "--checkpoint-every", "1", "--sample-every", "2", "--device", "cpu", "--quiet"]) == 0
    assert (run / "checkpoints" / "step_0000002.safetensors").exists()
    assert (run / "samples" / "step_0000002.png").exists()
    assert len((run / "log.jsonl").read_text().splitlines()) == 2

    manifest = tmp_path / "ckpt" / "manifest.json"
    manifest.parent.mkdir()
    keep = {"name": "other", "family": "vid2vid", "preset": "vid2vid-tiny", "labels": {"type": "edges"},
            "height": 32, "width": 32}
    manifest.write_text(json.dumps({"models": {"other": keep}}))
    assert main(["export", str(run), "--name", "tiny-square", "--checkpoints-dir", str(tmp_path / "ckpt"),
                 "--manifest", str(manifest)]) == 0
    cards = load_manifest(manifest).models
    assert set(cards) == {"other", "tiny-square"}
    card = cards["tiny-square"]
    assert card.trained and card.labels.channels == 35 and (card.height, card.width) == (32, 32)
    gen = load_generator(card.preset, card.config, tmp_path / "ckpt" / str(card.weights), card.sha256, "cpu")
    state = gen.start(batch_size=1, height=32, width=32)
    out, _ = gen.step(torch.zeros(1, 35, 32, 32), state)
    assert out.frame.shape == (1, 3, 32, 32)

    # resume continues from step 2 to 3
    assert main(["train", "vid2vid", "--data", str(data), "--preset", "vid2vid-tiny", "--out", str(run),
                 "--steps", "3", "--size", "32x32", "--clip-frames", "3", "--num-d", "1", "--temporal-scales", "1",
                 "--checkpoint-every", "1", "--sample-every", "0", "--device", "cpu", "--quiet", "--resume"]) == 0
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
