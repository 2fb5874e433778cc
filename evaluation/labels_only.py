"""The translate protocol on labels-only data sets (dataset.json `"labels_only": true`, e.g. `v2v data
street-handmade`): label clips with exact flow and no ground-truth frames, so the output is scored against what the
labels, the flow and the data set's reference colours say.

Each sequence streams through the served pipeline exactly as in `evaluation.translate` (`run_stream`, "temporal" and
"frame_by_frame"). Scores, all lower is better:
- warping_error: mean |x_t - warp(x_t-1, flow)| ([0, 1] units, pixel-weighted over the clip) on pixels whose flow
  target lies inside the frame and whose class at t equals the class at p + flow (nearest pixel) in frame t-1.
- flicker: mean |x_t - x_t-1| ([0, 1] units) on static background: the label is unchanged and the flow is 0.
- class_colour_error: mean over the classes present of the L2 distance (RGB / 255) between the class's mean output
  colour (its pixels eroded by 2 px from class borders, all frames) and its reference colour, dataset.json
  `class_colours`; left out when the data set has none.
- grid_db: the output's periodic-grid peak (`evaluation.spectrum.grid_scores`), the largest over the periods;
  grid_excess_db: the output's peak above that of the flat render, the labels painted with the reference colours
  (the palette colour for a class without one).
Only segmentation data sets can be labels-only; few-shot models (which need reference frames) are not evaluated.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from corpora.layout import read_png
from evaluation.job_options import AdaptedPipelines
from evaluation.metrics import inside_mask, masked_warping_sum
from evaluation.spectrum import grid_excess_db, grid_scores
from evaluation.translate import (
    EvalConfig,
    Sequence,
    mean_over_sequences,
    read_flow,
    run_stream,
    spread_over_appearances,
)
from evaluation.translate_table import fmt
from models.core.family import Pipeline
from models.core.label_codec import LabelCodec
from models.core.labels import CITYSCAPES_PALETTE

ERODE_PIXELS = 2
"""class_colour_error ignores pixels closer than this to a class border."""


@dataclass(frozen=True)
class LabelClip:
    """One sequence at the model's size: labels (T, C, H, W), class ids (T, H, W), exact flows (T, H, W, 2)."""

    labels: torch.Tensor
    ids: np.ndarray
    flows: np.ndarray  # flows[0] unused (zeros)


def is_labels_only(meta: dict[str, Any]) -> bool:
    return bool(meta.get("labels_only", False))


def load_label_clip(seq: Sequence, frames: int, codec: LabelCodec, height: int, width: int) -> LabelClip:
    """The first `frames` frames of a labels-only sequence, encoded as serving encodes them, with their flow."""
    labels, ids, flows = [], [], [np.zeros((height, width, 2), np.float32)]
    for k, name in enumerate(seq.frames[:frames]):
        raw = read_png(seq.root / f"{seq.split}_A" / seq.name / name)
        labels.append(codec.encode_at(raw, height, width))  # (C, H, W)
        ids.append(codec.class_ids(codec.fit(raw, height, width)))  # (H, W)
        if k > 0:
            path = seq.root / f"{seq.split}_flow" / seq.name / f"{Path(name).stem}.npy"
            if not path.exists():
                raise ValueError(f"labels-only data needs the exact flow of every frame after the first: {path}")
            flows.append(read_flow(path, height, width))  # (H, W, 2)
    return LabelClip(torch.stack(labels), np.stack(ids), np.stack(flows))


def colour_table(class_colours: dict[int, np.ndarray], palette: np.ndarray) -> np.ndarray:
    """(N, 3) float reference colour per class id: `class_colours` where given, else the palette colour."""
    table = palette.astype(np.float64).copy()  # (N, 3)
    for cls, rgb in class_colours.items():
        if cls < len(table):
            table[cls] = rgb
    return table


def flat_render(ids: np.ndarray, table: np.ndarray) -> np.ndarray:
    """(T, H, W) class ids -> (T, H, W, 3) uint8: every pixel its class's reference colour."""
    return np.clip(np.round(table[ids]), 0, 255).astype(np.uint8)


def label_visible_mask(ids_prev: np.ndarray, ids_cur: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """(H, W) bool: the flow target p + flow(p) is inside the frame and frame t-1 has p's class at its nearest
    pixel."""
    h, w = ids_cur.shape
    ys, xs = np.mgrid[0:h, 0:w]  # (H, W) each
    tx = np.clip(np.rint(xs + flow[..., 0]), 0, w - 1).astype(np.int64)  # (H, W)
    ty = np.clip(np.rint(ys + flow[..., 1]), 0, h - 1).astype(np.int64)  # (H, W)
    inside = inside_mask(torch.from_numpy(flow.astype(np.float64)).permute(2, 0, 1)[None])[0].numpy()  # (H, W)
    return inside & (ids_prev[ty, tx] == ids_cur)


def label_warping_error(generated: np.ndarray, clip: LabelClip) -> float:
    """Pixel-weighted warping error of (T, H, W, 3) uint8 frames on the label-visible pixels."""
    total, pixels = 0.0, 0
    for t in range(1, len(generated)):
        mask = torch.from_numpy(label_visible_mask(clip.ids[t - 1], clip.ids[t], clip.flows[t]))[None]  # (1, H, W)
        s, n = masked_warping_sum(generated[t - 1], generated[t], clip.flows[t], mask)
        total, pixels = total + s, pixels + n
    return total / pixels if pixels else math.nan


def flicker(generated: np.ndarray, clip: LabelClip) -> float:
    """Mean |x_t - x_t-1| ([0, 1], channel mean) over pixels whose label is unchanged and whose flow is 0."""
    total, pixels = 0.0, 0
    for t in range(1, len(generated)):
        static = (clip.ids[t] == clip.ids[t - 1]) & (clip.flows[t] == 0).all(axis=-1)  # (H, W)
        diff = np.abs(generated[t].astype(np.float64) - generated[t - 1]).mean(axis=-1) / 255.0  # (H, W)
        total, pixels = total + float(diff[static].sum()), pixels + int(static.sum())
    return total / pixels if pixels else math.nan


def class_colour_error(generated: np.ndarray, ids: np.ndarray, class_colours: dict[int, np.ndarray]) -> float:
    """Mean over the classes present (with a reference colour) of |mean output colour - reference| / 255 (L2 over
    RGB); the class's pixels are eroded by ERODE_PIXELS from its borders first."""
    kernel = np.ones((2 * ERODE_PIXELS + 1, 2 * ERODE_PIXELS + 1), np.uint8)
    errors = []
    for cls, reference in sorted(class_colours.items()):
        inner = np.stack([cv2.erode((frame_ids == cls).astype(np.uint8), kernel) > 0 for frame_ids in ids])  # (T,H,W)
        if inner.any():
            mean = generated[inner].astype(np.float64).mean(axis=0)  # (3,)
            errors.append(float(np.linalg.norm(mean - reference)) / 255.0)
    return float(np.mean(errors)) if errors else math.nan


def score(generated: np.ndarray, clip: LabelClip, class_colours: dict[int, np.ndarray], table: np.ndarray
          ) -> dict[str, float]:
    """The labels-only scores of one generated clip (T, H, W, 3) uint8 (module docstring)."""
    scores = {
        "warping_error": label_warping_error(generated, clip),
        "flicker": flicker(generated, clip),
        "grid_db": max(grid_scores(generated).values()),
        "grid_excess_db": grid_excess_db(generated, flat_render(clip.ids, table)),
        "frames": len(generated),
    }
    if class_colours:
        scores["class_colour_error"] = class_colour_error(generated, clip.ids, class_colours)
    return scores


def class_colours_of(meta: dict[str, Any]) -> dict[int, np.ndarray]:
    """dataset.json `class_colours` as {class id: (3,) float RGB}; empty when absent."""
    return {int(k): np.asarray(v, np.float64) for k, v in meta.get("class_colours", {}).items()}


def evaluate_labels_only(card: Any, pipeline: Pipeline, seqs: list[Sequence], config: EvalConfig,
                         meta: dict[str, Any], on_preview: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """Scores of one (vid2vid) translate model on a labels-only data set's sequences, temporal and frame by frame.
    `on_preview` receives a label | generated `evaluation.previews.Preview` of the first sequence."""
    from evaluation.previews import Preview
    from workers.labels_input import codec_for

    codec = codec_for(card.inputs.labels)
    h, w = card.output.height, card.output.width
    colours = class_colours_of(meta)
    table = colour_table(colours, np.asarray(codec.palette or CITYSCAPES_PALETTE[: codec.num_classes]))
    chosen = spread_over_appearances(seqs, config.max_sequences)
    clips = [load_label_clip(s, config.max_frames, codec, h, w) for s in chosen]
    rows: dict[str, list[dict[str, float]]] = {"temporal": [], "frame_by_frame": []}
    adapted = AdaptedPipelines(config.options)
    for i, clip in enumerate(clips):
        for variant in rows:
            stream = run_stream(pipeline, clip, variant == "temporal", device=config.device, adapted=adapted)
            generated = np.stack(stream)  # (T, H, W, 3)
            if on_preview is not None and i == 0 and variant == "temporal":
                on_preview(Preview(np.stack([codec.draw(x) for x in clip.labels]), generated, truth=None,
                                   sequence=chosen[0].name))
            rows[variant].append(score(generated, clip, colours, table))
    return {"sequences": [s.name for s in chosen], "labels_only": True, "flow_source": ["ground_truth"],
            "reference_colours": "class_colours" if colours else "palette",
            **{variant: mean_over_sequences(r) for variant, r in rows.items()}}


def markdown_table(report: dict[str, Any]) -> str:
    """The labels-only entries of a translate report as a Markdown table, with what each column means."""
    lines = [
        f"Labels-only data (no ground-truth frames; evaluation.labels_only), split `{report['split']}`, up to "
        f"{report['max_frames']} frames per sequence; all lower is better. Warp err: mean |x_t - warp(x_t-1, exact "
        "flow)| on pixels whose class is the same at both ends of the flow ([0, 1]). Flicker: mean |x_t - x_t-1| "
        "on static background (label unchanged, flow 0). Colour err: mean over classes of the distance (RGB / 255) "
        "between the class's mean output colour (2 px inside its regions) and its reference colour (the data set's "
        "`class_colours`, mean colours of real training frames). Grid dB: the output's largest periodic-grid "
        "peak (periods 2/4/8 px); grid excess dB: that peak above the flat render's (the labels painted with the "
        "reference colours)." + (f" Every stream ran with the job options {report['options']}."
                                 if report.get("options") else ""),
        "",
        "| model | variant | warp err | flicker | colour err | grid dB | grid excess dB | seqs | frames | data |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in report["models"].items():
        if not m.get("labels_only"):
            continue
        for variant, label in (("temporal", "temporal"), ("frame_by_frame", "frame by frame (temporal off)")):
            r = m[variant]
            lines.append(
                f"| {name} | {label} | {fmt(r['warping_error'], 4)} | {fmt(r['flicker'], 4)} | "
                f"{fmt(r.get('class_colour_error'), 4)} | {fmt(r['grid_db'], 1)} | {fmt(r['grid_excess_db'], 1)} "
                f"| {r['sequences']} | {r['frames']} | {m['data']} |")
    return "\n".join(lines) + "\n"
