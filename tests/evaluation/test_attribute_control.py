"""Attribute control scoring (evaluation.attribute_control): a stub model that paints what it was asked for is
scored 100 % asked and at chance-by-construction not asked, judge classes are matched by name, cards without
attributes are skipped; and `v2v eval` runs it for an exported VideoVAE card with the shipped judges."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from cli import evaluate as evaluate_cli
from cli import export as export_cli
from corpora.synthetic.people_actions import ActionsSpec, write_actions_dataset
from evaluation.attribute_control import evaluate, has_attribute_control, markdown, score_model
from evaluation.clips import ClipSet
from evaluation.judges import Judge, JudgeCard
from models.core.family import PredictStart, StepOutput
from models.families.videovae.recipe import VideoVAERecipe
from training.loop import TrainingLoop

ACTIONS = ["walk", "dance", "wave", "idle"]


class _Painter:
    """A predict pipeline whose frames encode its attributes: red = action / 10, green = look / 100 (the first
    action and look when not asked)."""

    def start(self, inputs: PredictStart, rng: torch.Generator) -> tuple[int, int]:
        return int(inputs.attributes.get("action", 0)), int(inputs.attributes.get("look", 0))

    def step(self, state: tuple[int, int], condition: None, rng: torch.Generator) -> tuple[StepOutput, tuple]:
        frame = torch.zeros(1, 1, 3, 32, 32)
        frame[:, :, 0], frame[:, :, 1] = state[0] / 10, state[1] / 100
        return StepOutput(frame), state


class _ReadChannel(nn.Module):
    """A judge that reads a class from one channel's mean (clips (B, T, 3, S, S) or frames (N, 3, S, S))."""

    def __init__(self, channel: int, scale: float, classes: int) -> None:
        super().__init__()
        self.channel, self.scale, self.classes = channel, scale, classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value = x.select(-3, self.channel).flatten(1).mean(1)  # (B,)
        return nn.functional.one_hot((value * self.scale).round().long(), self.classes).float()


def _judge(kind: str, classes: list[str], net: nn.Module) -> Judge:
    card = JudgeCard(file="", sha256="", kind=kind, classes=classes, width=1, size=32,
                     frames=8 if kind == "action" else 1, stride=2, heldout_accuracy=1.0, heldout="", gate=0.0,
                     params=0, data="")
    return Judge(card, net)


def _card(looks: list[str]) -> SimpleNamespace:
    return SimpleNamespace(inputs=SimpleNamespace(attributes={"action": ACTIONS, "look": looks}),
                           output=SimpleNamespace(height=32, width=32))


def test_asked_attributes_are_scored_against_the_judges_by_name() -> None:
    judge_looks = [f"look_{k}" for k in range(40)]
    judges = {"action": _judge("action", ACTIONS, _ReadChannel(0, 10, 4)),
              "appearance": _judge("appearance", judge_looks, _ReadChannel(1, 100, 40))}
    clips = ClipSet(torch.zeros(2, 4, 3, 32, 32, dtype=torch.uint8), {}, ["a", "b"], ACTIONS)
    config = SimpleNamespace(clips_per_class=3, seed=0, device="cpu")
    report = score_model(_card([f"look_{k}" for k in range(6)]), _Painter(), clips, judges, config)
    assert report["trials"] == 12 and report["predicted_frames"] == 15
    assert report["requested"]["action"] == 1.0 and report["requested"]["look"] == 1.0
    assert report["requested"]["action_per_class"] == dict.fromkeys(ACTIONS, 1.0)
    assert report["control"]["action"] == 0.25  # not asked: always action 0, one action in four
    assert report["control"]["look"] == pytest.approx(2 / 12, abs=1e-4)  # looks 0..5 asked in turn; look 0 twice
    assert report["targets"]["action"]["met"] and report["chance"]["look"] == pytest.approx(1 / 6, abs=1e-4)
    # Card looks the judge calls otherwise: matched by name, so look "look_7" of the card is judge class 7.
    shifted = score_model(_card(["look_7", "look_3"]), _Painter(), clips, judges, config)
    assert shifted["requested"]["look"] == 0.0  # the painter paints card index 0/1, the judge reads 7/3


def test_cards_without_an_action_and_a_look_are_skipped() -> None:
    plain = SimpleNamespace(inputs=SimpleNamespace(attributes={}))
    assert not has_attribute_control(plain) and evaluate({"x": plain}, {}, SimpleNamespace()) == {}
    assert "no model" in markdown({})


def _parse(module: object, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser, "x")  # type: ignore[attr-defined]
    return parser.parse_args(argv)


def test_v2v_eval_scores_attribute_control_of_an_exported_videovae(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    data = tmp_path / "people"
    write_actions_dataset(data, ActionsSpec(height=32, width=32, frames=6, looks=8, heldout=2, supersample=1),
                          train_clips=8, test_clips=2, seed=0)
    config = VideoVAERecipe.train_config(data=str(data), out=str(tmp_path / "run"), preset="videovae-tiny",
                                         overrides={"num_actions": 4, "num_identities": 6}, steps=2, batch=2,
                                         device="cpu", progress=False, checkpoint_every=2, sample_every=0,
                                         classifier_steps=1)
    TrainingLoop(VideoVAERecipe(config)).fit()
    export_cli.run(_parse(export_cli, [str(tmp_path / "run"), "--name", "people-future", "--checkpoints-dir",
                                       str(tmp_path / "checkpoints")]))
    out = tmp_path / "eval.json"
    evaluate_cli.run(_parse(evaluate_cli, [
        "--data", str(data), "--max-sequences", "1", "--samples", "2", "--horizon", "2", "--clips-per-class", "1",
        "--manifest", str(tmp_path / "checkpoints" / "manifest.json"), "--out", str(out)]))
    report = json.loads(out.read_text())
    assert report["predict"]["people-future"]["sequences"] == 1
    scored = report["attribute_control"]["models"]["people-future"]
    assert scored["trials"] == 4 and 0 <= scored["requested"]["look"] <= 1 and 0 <= scored["control"]["action"] <= 1
    assert "people-future" in markdown(report)
