"""Batch-norm statistics measured again for an averaged generator (training/batch_norm_statistics.py) and
`v2v export --recalibrate-bn`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from app.contracts import load_manifest
from cli.main import main
from models.families.mocogan.config import PRESETS as MOCOGAN_PRESETS
from models.families.mocogan.networks import MoCoGANGenerator
from models.families.tgan.config import PRESETS as TGAN_PRESETS
from models.families.tgan.networks import TGANGenerator
from models.families.vgan.config import PRESETS as VGAN_PRESETS
from models.families.vgan.networks import VGANGenerator
from tests.training.test_ema import _loop, data  # noqa: F401  (the module's tiny actions data)
from training.batch_norm_statistics import batch_norms, recalibrate

GENERATORS = {
    "tgan": lambda: TGANGenerator(TGAN_PRESETS["tgan-tiny"], torch.Generator().manual_seed(0)),
    "mocogan": lambda: MoCoGANGenerator(MOCOGAN_PRESETS["mocogan-tiny"]),
    "vgan": lambda: VGANGenerator(VGAN_PRESETS["vgan-tiny"], torch.Generator().manual_seed(0)),
}


def _clips(gen: torch.nn.Module, seed: int, train: bool) -> torch.Tensor:
    gen.train(train)
    with torch.no_grad():
        return gen.random_clips(64, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("family", sorted(GENERATORS))
def test_recalibrated_statistics_fit_the_weights_and_are_reproducible(family: str) -> None:
    torch.manual_seed(0)
    gen = GENERATORS[family]()
    layers = batch_norms(gen)
    assert layers
    for layer in layers:  # statistics that do not fit the weights, as an average over a run's start would leave
        layer.running_var.mul_(50.0).add_(5.0)
        layer.running_mean.add_(1.0)
    weights = {k: v.clone() for k, v in gen.named_parameters()}
    batch_stats = _clips(gen, 7, train=True)  # (B, C, T, H, W): each batch norm on the batch's own statistics
    before = (_clips(gen, 7, train=False) - batch_stats).abs().mean()

    assert recalibrate(gen, batches=16, batch=16, seed=3) == len(layers)
    assert not gen.training
    after = (_clips(gen, 7, train=False) - batch_stats).abs().mean()
    assert after < 0.25 * before  # inference mode now draws what the weights draw
    assert all(torch.equal(p, weights[k]) for k, p in gen.named_parameters())
    assert [layer.momentum for layer in layers] == [layer.momentum for layer in batch_norms(GENERATORS[family]())]

    again = GENERATORS[family]()
    again.load_state_dict(gen.state_dict())
    recalibrate(again, batches=16, batch=16, seed=3)
    for key, value in gen.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key


def test_only_generators_that_draw_clips_and_sane_sizes() -> None:
    with pytest.raises(ValueError, match="cannot draw random clips"):
        recalibrate(torch.nn.Sequential(torch.nn.BatchNorm1d(3)))
    with pytest.raises(ValueError, match="batches >= 1"):
        recalibrate(GENERATORS["tgan"](), batches=0)


def test_export_recalibrates_the_shipped_average(data: Path, tmp_path: Path) -> None:  # noqa: F811
    loop = _loop(data, tmp_path / "run", steps=2)
    loop.average_generator(0.9)
    loop.fit()
    ckpt = tmp_path / "ckpt"
    base = ["export", str(tmp_path / "run"), "--ema", "--checkpoints-dir", str(ckpt)]
    assert main([*base, "--name", "kept"]) == 0
    assert main([*base, "--name", "measured", "--recalibrate-bn", "4"]) == 0
    cards = load_manifest(ckpt / "manifest.json").models
    assert cards["measured"].quality["batch_norm_recalibrated"] == 4
    assert "batch_norm_recalibrated" not in cards["kept"].quality
    kept, measured = load_file(str(ckpt / "kept.safetensors")), load_file(str(ckpt / "measured.safetensors"))
    changed = {k for k in kept if not torch.equal(kept[k], measured[k])}
    assert changed and all("running" in k for k in changed)  # statistics measured again, weights as averaged
    assert main([*base, "--name", "bad", "--recalibrate-bn", "-1"]) == 2
