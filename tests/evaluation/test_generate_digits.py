"""The digit judge and the generate protocol on an unconditional model: which judges score comes from the data (not
the family), the digit judge ships fp16 with its corpus and a reject class, digit measures mean what they say, a
fixed-length model trained at another frame stride is subsampled to the judges' window, and a served unconditional
card (a tiny TGAN on one-digit moving MNIST) is scored against its initialisation and real clips with MCS n/a."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from app.contracts import load_manifest
from cli.main import main
from corpora.moving_digits import digits_spec, write_digits_dataset
from evaluation.generate import ClipWindow, ModelClips, digit_scores, markdown_table
from evaluation.judges import Judge, applicable, load_judges
from evaluation.judges_train import JudgeTrainConfig, judges_for, train_judges
from evaluation.protocols import evaluate
from evaluation.translate import EvalConfig
from models.core.checkpoints import sha256_file
from models.core.family import GenerateStart, StepOutput
from models.families.tgan.recipe import TGANRecipe
from training.loop import TrainingLoop


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("digits")
    write_digits_dataset(root, digits_spec("class", size=16, frames=4), train_clips=20, test_clips=10)
    return root


@pytest.fixture(scope="module")
def judges(digits: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("judges")
    train_judges(JudgeTrainConfig(data=digits, out=out, size=16, digit_steps=6, batch=8, digit_gate=0.0))
    return out


def test_the_data_decides_which_judges_train_and_judge(digits: Path, judges: Path, tmp_path: Path) -> None:
    assert judges_for(digits) == ("digit",)
    two = tmp_path / "two"
    write_digits_dataset(two, digits_spec("stochastic", size=16, frames=4), train_clips=1, test_clips=1)
    with pytest.raises(ValueError, match="one digit"):
        judges_for(two)
    manifest = json.loads((judges / "manifest.json").read_text())
    card = manifest["digit"]
    assert set(manifest) == {"digit"} and card["classes"] == [*(str(k) for k in range(10)), "none"]
    assert 0 <= card["extra"]["non_digits_rejected"] <= 1
    assert card["extra"]["degrade_probability"] == 0.5  # trained through noise and blur, read through them on the card
    assert set(card["extra"]["degraded_heldout_accuracy"]) == {"noise_0.05", "blur_0.7"}
    assert card["corpus"] == {"name": "moving_digits", "digits": 1} and card["gate"] == 0.0
    assert sha256_file(judges / card["file"]) == card["sha256"] and card["heldout"].startswith("every frame of 10")
    loaded = load_judges(judges)
    assert set(applicable(loaded, digits)) == {"digit"}
    assert applicable(loaded, two) == {}  # two digits per clip: the one-digit judge does not apply
    people = tmp_path / "people"
    people.mkdir()
    (people / "dataset.json").write_text(json.dumps({"generator": {"name": "people_actions"}}))
    assert applicable(loaded, people) == {}


class _FixedLogits(nn.Module):
    """A stand-in judge: frame i of the batch gets the logits self.logits[i]."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.logits[: len(frames)]


def test_digit_measures() -> None:
    def logits(k: int) -> torch.Tensor:  # a confident top class k of 0..9 and "none" (10)
        row = torch.full((11,), -10.0)
        row[k] = 10.0
        return row

    unsure = torch.zeros(11)  # top class 0, probability 1/11
    # clip 0: four confident 3s; clip 1: 3, 3, a confident 4, an unsure frame; clip 2: four "none" frames
    table = torch.stack([logits(3)] * 4 + [logits(3), logits(3), logits(4), unsure] + [logits(10)] * 4)  # (12, 11)
    card = SimpleNamespace(classes=[*(str(k) for k in range(10)), "none"])
    judge = Judge(card=card, net=_FixedLogits(table))  # type: ignore[arg-type]
    scores = digit_scores(judge, torch.zeros(3, 4, 3, 8, 8))
    assert scores["digit_confident"] == pytest.approx(7 / 12)  # "none" frames are never confident digits
    assert scores["digit_kept"] == pytest.approx((4 + 2 + 0) / 12)  # a clip of "none" frames keeps nothing
    assert scores["digit_classes"] == 1


class _Counter:
    """A pipeline whose frame t is the constant t (so the kept frames are visible)."""

    def start(self, inputs: GenerateStart, rng: torch.Generator) -> dict[str, int]:
        return {"n": inputs.num_samples, "t": 0}

    def step(self, state: dict[str, int], condition: object, rng: torch.Generator) -> tuple[StepOutput, dict]:
        frame = torch.full((state["n"], 1, 3, 4, 4), state["t"] / 100)
        return StepOutput(frame), {**state, "t": state["t"] + 1}


def _card(longest: int, stride: int | None) -> SimpleNamespace:
    return SimpleNamespace(name="m", inputs=SimpleNamespace(num_frames=SimpleNamespace(max=longest)),
                           quality={"frame_stride": stride} if stride else {})


def test_a_model_trained_at_another_stride_covers_the_judges_window() -> None:
    window = ClipWindow(frames=4, stride=2, size=4)
    every_frame = ModelClips(_Counter(), _card(16, 1), window)(2, seed=0)  # trained on every data frame
    assert every_frame.shape == (2, 4, 3, 4, 4) and every_frame[0, :, 0, 0, 0].mul(100).round().tolist() == [0, 2, 4, 6]
    at_stride = ModelClips(_Counter(), _card(64, None), window)(1, seed=0)  # no stride recorded: the judges'
    assert at_stride[0, :, 0, 0, 0].mul(100).round().tolist() == [0, 1, 2, 3]
    short = ModelClips(_Counter(), _card(5, 1), window)(1, seed=0)  # cannot cover the span: consecutive frames
    assert short[0, :, 0, 0, 0].mul(100).round().tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="at most 3"):
        ModelClips(_Counter(), _card(3, 1), window)


def test_an_unconditional_model_is_scored_with_digit_measures(digits: Path, judges: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    config = TGANRecipe.train_config(data=str(digits), out=str(tmp_path / "run"), preset="tgan-tiny",
                                     overrides={"channels": 1}, steps=2, batch=4, device="cpu", progress=False,
                                     checkpoint_every=0, sample_every=0)
    loop = TrainingLoop(TGANRecipe(config))
    loop.fit()
    loop.save_checkpoint()
    assert main(["export", str(tmp_path / "run"), "--name", "digits", "--checkpoints-dir", str(tmp_path / "ck")]) == 0
    cards = load_manifest(tmp_path / "ck" / "manifest.json").models
    assert cards["digits"].quality["frame_stride"] == 1
    settings = replace(EvalConfig(data=(digits,)), judges=judges, clips_per_class=3, coverage=5, swap_contents=2,
                       previews=tmp_path / "previews", two_sample_seeds=1, two_sample_steps=20)
    g = evaluate(cards, tmp_path / "ck", settings)["generate"]
    assert set(g["judges"]) == {"digit"} and g["settings"]["frames"] == 4
    rows = (g["models"]["digits"]["trained"], g["models"]["digits"]["initial"], g["real"])
    for row in rows:
        assert 0 <= row["digit_confident"] <= 1 and 0 < row["digit_kept"] <= 1 and row["is_own"] >= 1
        assert row["fd_own"] >= 0 and "mcs" not in row and "identity_kept" not in row and "coverage" not in row
    assert g["models"]["digits"]["trained"]["clips"] == 3
    table = markdown_table({"generate": g})
    assert "| digit kept |" in table and "| MCS |" not in table and "| digits | initialisation |" in table
    assert (tmp_path / "previews" / "digits.gif").stat().st_size > 0


def test_degraded_reads_count_right_confident_and_rejected_frames() -> None:
    from scripts.digit_judge_degraded_reads import reads

    logits = torch.tensor([[9.0, 0, 0], [0, 0.1, 0], [0, 0, 9.0], [9.0, 0, 0]])  # sure 0, unsure 1, sure none, sure 0
    r = reads(_FixedLogits(logits), torch.zeros(4, 3, 2, 2), torch.tensor([0, 1, 1, 1]), none=2)
    assert r == {"accuracy": 0.5, "confident": 0.25, "none": 0.25}

