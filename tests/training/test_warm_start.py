"""`v2v train --init-from`: a run that starts from trained generator weights (training/warm_start.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from app.contracts import load_manifest
from cli.main import main
from tests.moving_square import make_moving_square
from training.state import latest_checkpoint, module_weights, read_checkpoint_meta


def _args(data: Path, run: Path, steps: int, *extra: str) -> list[str]:
    return ["train", "vid2vid", "--data", str(data), "--preset", "vid2vid-tiny", "--out", str(run), "--steps",
            str(steps), "--size", "32x32", "--clip-frames", "2", "--num-d", "1", "--temporal-scales", "0",
            "--checkpoint-every", "100", "--sample-every", "0", "--device", "cpu", "--quiet", *extra]


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny data set and a manifest with one exported model ("tiny", trained 2 steps)."""
    root = tmp_path_factory.mktemp("warm")
    data = make_moving_square(root / "data", frames=4, size=32)
    assert main(_args(data, root / "first", 2)) == 0
    assert main(["export", str(root / "first"), "--name", "tiny", "--checkpoints-dir", str(root / "ckpt")]) == 0
    return data, root / "ckpt" / "manifest.json"


def test_a_run_starts_from_a_shipped_model_and_its_export_counts_both_trainings(
    shipped: tuple[Path, Path], tmp_path: Path
) -> None:
    data, manifest = shipped
    card = load_manifest(manifest).models["tiny"]
    assert card.weights is not None
    exported = load_file(str(manifest.parent / card.weights.file))

    run = tmp_path / "run"
    assert main(_args(data, run, 1, "--init-from", "tiny", "--manifest", str(manifest), "--lr", "0")) == 0
    checkpoint = latest_checkpoint(run)
    assert checkpoint is not None
    meta = read_checkpoint_meta(checkpoint)
    assert meta["step"] == 1 and meta["warm_start"]["source"] == "tiny"
    assert meta["warm_start"]["trained_steps"] == 2 and meta["warm_start"]["sha256"] == card.weights.sha256
    trained = module_weights(checkpoint, "G")  # lr 0: still exactly the shipped generator
    assert set(trained) == set(exported)
    for key, value in exported.items():
        assert torch.equal(trained[key].to(value.dtype), value), key

    assert main(["export", str(run), "--name", "tiny-more", "--checkpoints-dir", str(tmp_path / "ckpt")]) == 0
    quality = load_manifest(tmp_path / "ckpt" / "manifest.json").models["tiny-more"].quality
    assert quality["trained_steps"] == 3 and quality["warm_started_from"] == "tiny"


def test_a_run_starts_from_another_run_and_resume_keeps_the_origin(shipped: tuple[Path, Path],
                                                                   tmp_path: Path) -> None:
    data, manifest = shipped
    source = tmp_path / "source"
    assert main(_args(data, source, 2)) == 0
    run = tmp_path / "run"
    assert main(_args(data, run, 1, "--init-from", str(source))) == 0
    assert main(_args(data, run, 2, "--resume", "--init-from", "tiny", "--manifest", str(manifest))) == 0
    meta = read_checkpoint_meta(latest_checkpoint(run))  # type: ignore[arg-type]
    assert meta["step"] == 2  # resumed from its own step 1, not restarted from "tiny"
    assert meta["warm_start"]["trained_steps"] == 2 and meta["warm_start"]["source"].endswith("step_0000002.json")
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2]


def test_sources_that_cannot_start_the_run_are_refused_by_name(
    shipped: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, manifest = shipped
    assert main(_args(data, tmp_path / "a", 1, "--init-from", "nope", "--manifest", str(manifest))) == 2
    assert "nope" in capsys.readouterr().err and not (tmp_path / "a" / "checkpoints").exists()

    wider = _args(data, tmp_path / "b", 1, "--init-from", "tiny", "--manifest", str(manifest),
                  "--config", json.dumps({"ngf": 16}))
    assert main(wider) == 2
    assert "does not fit" in capsys.readouterr().err

    other = tmp_path / "ckpt" / "manifest.json"
    other.parent.mkdir()
    cards = json.loads(manifest.read_text())
    weights = manifest.parent / cards["models"]["tiny"]["weights"]["file"]
    (other.parent / weights.name).write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)  # same size, other bytes
    other.write_text(json.dumps(cards))
    assert main(_args(data, tmp_path / "c", 1, "--init-from", "tiny", "--manifest", str(other))) == 2
    assert "sha256" in capsys.readouterr().err


def test_a_run_starts_from_a_safetensors_file_with_its_metadata(shipped: tuple[Path, Path], tmp_path: Path) -> None:
    from safetensors.torch import save_file

    data, manifest = shipped
    card = load_manifest(manifest).models["tiny"]
    assert card.weights is not None
    weights = tmp_path / "converted.safetensors"
    save_file(load_file(str(manifest.parent / card.weights.file)), str(weights),
              metadata={"family": "vid2vid", "trained_steps": "7"})
    run = tmp_path / "run"
    assert main(_args(data, run, 1, "--init-from", str(weights))) == 0
    meta = read_checkpoint_meta(latest_checkpoint(run))  # type: ignore[arg-type]
    assert meta["warm_start"] == {"source": str(weights), "family": "vid2vid", "trained_steps": 7, "sha256": None}


def test_a_run_with_a_label_skip_starts_from_weights_without_one(shipped: tuple[Path, Path], tmp_path: Path) -> None:
    """The label skip is a zero-initialised extension: the shipped tensors load, the skip starts at zero and trains."""
    data, manifest = shipped
    card = load_manifest(manifest).models["tiny"]
    assert card.weights is not None
    exported = load_file(str(manifest.parent / card.weights.file))
    run = tmp_path / "run"
    skip = ["--config", json.dumps({"label_skip": True})]
    assert main(_args(data, run, 1, "--init-from", "tiny", "--manifest", str(manifest), *skip)) == 0
    trained = module_weights(latest_checkpoint(run), "G")  # type: ignore[arg-type]
    added = sorted(set(trained) - set(exported))
    assert added == ["scales.0.label_skip.weight"]
    assert trained[added[0]].abs().sum() > 0  # one step of training moved it off zero

    renamed = {k.replace("image_head", "other_head"): v for k, v in exported.items()}  # a real mismatch still fails
    from safetensors.torch import save_file

    save_file(renamed, str(tmp_path / "renamed.safetensors"))
    assert main(_args(data, tmp_path / "b", 1, "--init-from", str(tmp_path / "renamed.safetensors"), *skip)) == 2


def test_init_networks_all_also_starts_the_discriminators_from_the_run(shipped: tuple[Path, Path],
                                                                       tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    data, manifest = shipped
    source = tmp_path / "source"
    assert main(_args(data, source, 2)) == 0
    source_checkpoint = latest_checkpoint(source)
    assert source_checkpoint is not None
    for networks, kept in (("all", True), ("generator", False)):
        run = tmp_path / networks
        assert main(_args(data, run, 1, "--init-from", str(source), "--init-networks", networks, "--lr", "0")) == 0
        checkpoint = latest_checkpoint(run)
        assert checkpoint is not None
        names = {key.split(".")[0] for key in load_file(str(checkpoint.with_suffix(".safetensors")))}
        others = sorted(names - {"G"} - {n for n in names if n.startswith("ema")})
        assert others, names  # the run has discriminators to compare
        for name in others:
            ours, theirs = module_weights(checkpoint, name), module_weights(source_checkpoint, name)
            weights = [k for k, v in theirs.items() if v.is_floating_point() and "running_" not in k]  # lr 0
            same = all(torch.equal(ours[k], theirs[k]) for k in weights)
            assert same == kept, (networks, name)

    refused = _args(data, tmp_path / "c", 1, "--init-from", "tiny", "--manifest", str(manifest),
                    "--init-networks", "all")
    assert main(refused) == 2
    assert "only a run holds the other networks" in capsys.readouterr().err.replace("\n", " ")
