"""Attribute control of `predict` models whose card lists attributes (VideoVAE, reference §6.5; issue #13's target:
asked for an action and a look, our judges agree >= 70 % and >= 60 %; chance 25 % and 2.5 %).

For `clips_per_class` trials per action of the card, the served pipeline gets the first frame of a held-out clip
(the paper's "first frame + attributes" mode; the clips of `split` of the first people-actions folder among
`data`: looks no training clip had) and is asked for that action and a look (trial j asks for look j mod the card's
looks, so every look is asked for about equally often). It predicts one future of the action judge's span
((frames - 1) · stride + 1 frames, one seeded CPU generator per trial), resized to the judges' size. Scores, over
the predicted frames only:

- action: the action judge (`evaluation.judges`, 3-D CNN) on every `stride`-th predicted frame names the requested
  action;
- look: the appearance judge's top-1 (majority over the predicted frames) is the requested look.

The control row runs the same trials without asking (the model reads the attributes from the context) and scores
them against the same requests: what agreement the request itself buys. Card values and judge classes are matched
by name (an attribute value the judge does not know is not asked for).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from evaluation.clips import ClipSet, load_clips
from evaluation.judges import Judge, load_judges
from models.core.family import Pipeline, PredictStart

DEFAULT_JUDGES = Path(__file__).resolve().parent.parent / "checkpoints" / "judges"
TARGETS = {"action": 0.70, "look": 0.60}
ATTRIBUTES = ("action", "look")


def has_attribute_control(card: Any) -> bool:
    """A predict card that lets a job ask for both an action and a look."""
    attributes = getattr(card.inputs, "attributes", None) or {}
    return all(attributes.get(name) for name in ATTRIBUTES)


def _people_folder(data: tuple[Path, ...] | list[Path]) -> Path | None:
    """The first clip folder among `data` whose clips carry action and look labels."""
    for root in data:
        path = Path(root) / "dataset.json"
        if not path.is_file():
            continue
        clips = json.loads(path.read_text()).get("clips", {})
        first = next(iter(clips.values()), {})
        if all(name in first for name in ATTRIBUTES):
            return Path(root)
    return None


@torch.inference_mode()
def predict_future(pipeline: Pipeline, first: torch.Tensor, frames: int, attributes: dict[str, int], seed: int,
                   size: int, device: str) -> torch.Tensor:
    """One future of `frames` predicted frames from one context frame (3, S, S) in [-1, 1], as a job makes it:
    (frames, 3, size, size) in [-1, 1] (resized to `size`)."""
    rng = torch.Generator().manual_seed(seed)
    state = pipeline.start(PredictStart(first[None, None].to(device), 1, frames, attributes), rng)
    out: list[torch.Tensor] = []
    while sum(o.shape[1] for o in out) < frames:
        step, state = pipeline.step(state, None, rng)
        out.append(step.frames.float().cpu())  # (1, n, 3, h, w)
    clip = torch.cat(out, dim=1)[0, :frames]  # (T, 3, h, w)
    if clip.shape[-2:] != (size, size):
        clip = F.interpolate(clip, size=(size, size), mode="area")
    return clip.clamp(-1, 1)


def _index_map(values: list[str], classes: list[str]) -> dict[int, int]:
    """Card value index -> judge class index, for the values the judge knows (by name)."""
    where = {name: k for k, name in enumerate(classes)}
    return {i: where[v] for i, v in enumerate(values) if v in where}


@torch.inference_mode()
def score_model(card: Any, pipeline: Pipeline, clips: ClipSet, judges: dict[str, Judge], config: Any
                ) -> dict[str, Any]:
    """The requested and the control (not requested) agreement of one card's pipeline."""
    action, look = judges["action"], judges["appearance"]
    frames, stride, size = action.card.frames, action.card.stride, action.card.size
    span = (frames - 1) * stride + 1
    actions = _index_map(list(card.inputs.attributes["action"]), action.card.classes)
    looks = _index_map(list(card.inputs.attributes["look"]), look.card.classes)
    if not actions or not looks:
        return {"error": "the judges know none of the card's actions or looks"}
    look_ids = sorted(looks)
    first = clips.frames[:, 0].float() / 127.5 - 1  # (N, 3, S, S): every clip's first frame
    if first.shape[-1] != card.output.width:
        first = F.interpolate(first, size=(card.output.height, card.output.width), mode="area")
    rows: dict[str, list[tuple[int, int, int, int]]] = {"requested": [], "control": []}
    trial = 0
    for a in sorted(actions):
        for _ in range(config.clips_per_class):
            k = look_ids[trial % len(look_ids)]
            clip = trial % len(first)
            asked = {"action": a, "look": k}
            for row, attributes in (("requested", asked), ("control", {})):
                future = predict_future(pipeline, first[clip], span, attributes, config.seed * 1_000_003 + trial,
                                        size, config.device)  # (span, 3, S, S)
                said_action = int(action.net(future[::stride][None]).argmax(1))
                said_look = int(torch.mode(look.net(future).argmax(1)).values)
                rows[row].append((actions[a], said_action, looks[k], said_look))
            trial += 1
    report: dict[str, Any] = {"trials": trial, "predicted_frames": span, "judge_frames": frames,
                              "judge_stride": stride}
    names = action.card.classes
    for row, results in rows.items():
        r = np.array(results)  # (trials, 4): wanted action, said action, wanted look, said look
        report[row] = {
            "action": round(float((r[:, 0] == r[:, 1]).mean()), 4),
            "look": round(float((r[:, 2] == r[:, 3]).mean()), 4),
            "action_per_class": {names[c]: round(float((r[r[:, 0] == c, 1] == c).mean()), 4)
                                 for c in sorted(set(r[:, 0].tolist()))},
        }
    report["targets"] = {k: {"target": v, "met": report["requested"][k] >= v} for k, v in TARGETS.items()}
    report["chance"] = {"action": round(1 / len(actions), 4), "look": round(1 / len(looks), 4)}
    return report


def evaluate(cards: dict[str, Any], pipelines: dict[str, Pipeline], config: Any) -> dict[str, Any]:
    """Attribute control of every card that lists an action and a look (`{}` when none does); one report section
    "attribute_control"."""
    chosen = {name: card for name, card in cards.items() if has_attribute_control(card)}
    if not chosen:
        return {}
    root = _people_folder(config.data)
    if root is None:
        return {"attribute_control": {"error": "no clip folder with action and look labels among --data"}}
    judges = load_judges(Path(config.judges) if config.judges else DEFAULT_JUDGES, device="cpu")
    clips = load_clips(root, config.split, judges["action"].card.size)
    models = {name: score_model(card, pipelines[name], clips, judges, config) for name, card in chosen.items()}
    judge_cards = {k: {"heldout_accuracy": j.card.heldout_accuracy, "sha256": j.card.sha256} for k, j in
                   judges.items()}
    return {"attribute_control": {"data": str(root), "split": config.split, "context_frames": 1,
                                  "trials_per_action": config.clips_per_class, "judges": judge_cards,
                                  "models": models}}


def markdown(report: dict[str, Any]) -> str:
    """The attribute-control section as a Markdown table (requested vs not requested, targets)."""
    section = report.get("attribute_control", {})
    if "models" not in section:
        return f"Attribute control: {section.get('error', 'no model lists attributes')}\n"
    lines = [f"Attribute control: one context frame of each held-out clip of `{section['data']}` "
             f"({section['split']}), {section['trials_per_action']} trials per action, judged on the predicted "
             "frames.", "", "| model | trials | action (asked) | look (asked) | action (not asked) | "
             "look (not asked) | chance action / look | targets met |", "|---|---|---|---|---|---|---|---|"]
    for name, m in section["models"].items():
        if "requested" not in m:
            lines.append(f"| {name} | {m.get('error', '')} |")
            continue
        req, ctl, chance = m["requested"], m["control"], m["chance"]
        met = ", ".join(f"{k} {'yes' if t['met'] else 'no'} (>= {t['target']:.0%})" for k, t in m["targets"].items())
        lines.append(f"| {name} | {m['trials']} | {req['action']:.1%} | {req['look']:.1%} | {ctl['action']:.1%} | "
                     f"{ctl['look']:.1%} | {chance['action']:.1%} / {chance['look']:.1%} | {met} |")
    return "\n".join(lines) + "\n"
