"""`v2v eval`'s entry: served models, loaded exactly as the worker loads them, scored by their job kind's protocol.

A card without its weights file is refused (a random-weight score says nothing about a model). Protocols by kind:
`translate` (`evaluation.translate`: PSNR/SSIM/warping error on held-out sequences, temporal vs frame by frame,
right vs wrong references), `predict` (`evaluation.predict`: best-of-N / mean / worst SSIM and PSNR per predicted
step on held-out clips, copy-the-last-frame and an optional baseline card, diversity, sharpness), `generate`
(`evaluation.generate`: motion control, content distance, coverage, FD-own/IS-own by our own judges, against real
clips and the same model at initialisation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from evaluation.attribute_control import markdown as attribute_control_markdown
from evaluation.generate import evaluate as evaluate_generate
from evaluation.generate import markdown_table as generate_markdown
from evaluation.predict import evaluate as evaluate_predict
from evaluation.predict import markdown as predict_markdown
from evaluation.translate import EvalConfig
from evaluation.translate import evaluate as evaluate_translate
from evaluation.translate_table import markdown_table

PROTOCOLS = {"translate": evaluate_translate, "predict": evaluate_predict, "generate": evaluate_generate}


class EvalRefused(ValueError):
    """A card that cannot be evaluated (no weights, no protocol for its kind)."""


def check_evaluable(name: str, card: Any, manifest_dir: Path) -> None:
    if card.weights is None or not (manifest_dir / card.weights.file).is_file():
        missing = "no weights" if card.weights is None else f"weights file {card.weights.file} missing"
        raise EvalRefused(f"model {name} has {missing} in {manifest_dir}: eval scores trained models only (random "
                          "weights would say nothing about the model)")
    if card.kind not in PROTOCOLS:
        raise EvalRefused(f"model {name} is a {card.kind} model: no evaluation protocol for that kind yet "
                          f"(protocols: {', '.join(PROTOCOLS)})")


def evaluate(cards: dict[str, Any], manifest_dir: Path, config: EvalConfig) -> dict[str, Any]:
    """Load each card's served pipeline (the worker's runner) and run its kind's protocol; one merged report."""
    from workers.runner import make_runner

    for name, card in cards.items():
        check_evaluable(name, card, manifest_dir)
    report: dict[str, Any] = {}
    for kind, protocol in PROTOCOLS.items():
        chosen = {name: card for name, card in cards.items() if card.kind == kind}
        if not chosen:
            continue
        pipelines = {}
        for name, card in chosen.items():
            runner = make_runner(card, torch.device(config.device), manifest_dir)
            runner.setup()
            pipelines[name] = runner.pipeline
        part = protocol(chosen, pipelines, config)
        for key, value in part.items():
            if isinstance(value, dict):
                report.setdefault(key, {}).update(value)
            else:
                report[key] = value
    return report


def markdown_report(report: dict[str, Any]) -> str:
    """The Markdown tables of every protocol that contributed to `report`."""
    parts = []
    if "models" in report:
        parts.append(markdown_table(report))
    if "predict" in report:
        parts.append(predict_markdown(report))
    if "attribute_control" in report:
        parts.append(attribute_control_markdown(report))
    if "generate" in report:
        parts.append(generate_markdown(report))
    return "\n".join(parts)
