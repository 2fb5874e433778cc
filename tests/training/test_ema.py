"""The generator's moving average (training/ema.py): the update rule, exact resume, and `v2v export --ema`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from app.contracts import load_manifest
from cli.main import main
from models.families.mocogan.recipe import MoCoGANRecipe
from tests.models.families.mocogan_helpers import tiny_actions, tiny_run_config
from training.loop import TrainingLoop
from training.state import module_weights


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_actions(tmp_path_factory.mktemp("ema") / "data")


def _loop(data: Path, out: Path, steps: int) -> TrainingLoop:
    return TrainingLoop(MoCoGANRecipe(tiny_run_config(data, out, steps=steps, checkpoint_every=1)))


def _float_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().float().clone() for k, v in module.state_dict().items() if v.is_floating_point()}


def test_the_average_moves_towards_each_step_by_one_minus_decay(data: Path, tmp_path: Path) -> None:
    loop = _loop(data, tmp_path / "run", steps=2)
    gen = loop.recipe.modules()["G"]
    loop.average_generator(0.75)
    expected = _float_state(gen)
    batches = loop._batches()
    for _ in range(2):
        loop.train_step(next(batches))
        live = _float_state(gen)
        expected = {k: 0.75 * expected[k] + 0.25 * live[k] for k in expected}
    moved = [k for k in expected if not torch.equal(expected[k], live[k])]
    assert moved  # the generator trained, so its average lags behind it
    for key in expected:
        torch.testing.assert_close(loop.average.tensors[key], expected[key])  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="decay must be in"):
        loop.average_generator(1.0)


def test_a_resumed_average_equals_the_uninterrupted_one_and_exports(data: Path, tmp_path: Path) -> None:
    whole = _loop(data, tmp_path / "whole", steps=4)
    whole.average_generator(0.9)
    whole.fit()
    first = _loop(data, tmp_path / "pieces", steps=2)
    first.average_generator(0.9)
    first.fit()
    second = _loop(data, tmp_path / "pieces", steps=4)
    assert second.resume() and second.average is not None and second.average.decay == 0.9  # without the flag
    second.fit()
    for run in ("whole", "pieces"):
        assert (tmp_path / run / "checkpoints" / "step_0000004.json").exists()
    averaged = {run: module_weights(tmp_path / run / "checkpoints" / "step_0000004.json", "G_ema")
                for run in ("whole", "pieces")}
    assert averaged["whole"].keys() == averaged["pieces"].keys() and averaged["whole"]
    for key, value in averaged["whole"].items():
        assert torch.equal(value, averaged["pieces"][key]), key
    live = module_weights(tmp_path / "whole" / "checkpoints" / "step_0000004.json", "G")
    assert any(not torch.equal(live[k].float(), v) for k, v in averaged["whole"].items() if v.is_floating_point())

    ckpt = tmp_path / "ckpt"
    assert main(["export", str(tmp_path / "whole"), "--name", "avg", "--ema", "--checkpoints-dir", str(ckpt)]) == 0
    card = load_manifest(ckpt / "manifest.json").models["avg"]
    assert card.quality["ema_decay"] == 0.9
    shipped = load_file(str(ckpt / "avg.safetensors"))
    for key, value in averaged["whole"].items():
        torch.testing.assert_close(shipped[key].float(), value.to(shipped[key].dtype).float())
    # a run without the average, or --ema with --average-last, is refused
    plain = _loop(data, tmp_path / "plain", steps=1)
    plain.fit()
    assert main(["export", str(tmp_path / "plain"), "--name", "x", "--ema", "--checkpoints-dir", str(ckpt)]) == 2
    assert main(["export", str(tmp_path / "whole"), "--name", "x", "--ema", "--average-last", "2",
                 "--checkpoints-dir", str(ckpt)]) == 2
