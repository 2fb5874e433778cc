"""`v2v eval`: quality of the served models on held-out sequences of our data sets, as JSON and a Markdown table.

The translate protocol (`evaluation.protocols` dispatches by job kind). For each translate card whose label type
matches a data set, the *served* pipeline (loaded by the worker's runner: the same weights, sha256 checked, and the
same first-frame generator) streams each held-out sequence, encoded by the same label codec as serving and training
(`models.core.label_codec`), and is scored against the ground-truth frames: PSNR, SSIM, and the temporal warping
error (evaluation.metrics) with the data set's ground-truth flow (OpenCV DIS flow of the ground truth where the
data set has none, e.g. edges).

Variants:
- "temporal": the normal stream, one state carried from frame to frame.
- "frame_by_frame" (temporal path off): every frame is stepped from the *fresh* started state (never advanced), so
  no previous frame is warped or fed back: vid2vid outputs the raw hallucination h_t, exactly what a stream's first
  frame gets; few-shot keeps only the reference path.
- Sequences: up to `max_sequences`, one per appearance first (`spread_over_appearances`).
- Models with references (few-shot) also compare references: "right" = K frames of the same held-out sequence (same
  appearance, frames outside the evaluated window where the sequence is long enough), "wrong" = K frames of another
  appearance's sequence, for each K in `references` (default 1, 2, 4). References are drawn, not hand-placed: each
  of `reference_draws` seeded random orders of a sequence's candidate frames gives the K references as its first K
  (so the sets are nested, K=1 within K=2 within K=4) and the scores are averaged over the draws. A fixed choice
  would favour one K (the frame right after the window is the closest pose, and only K=1 would get it alone).

Labels-only data sets (dataset.json `"labels_only": true`: label clips with exact flow, no frames) are scored by
`evaluation.labels_only` instead (same streams, no ground truth; few-shot models are skipped there).

With `EvalConfig.previews` set, the frames generated for the first evaluated sequence (temporal; few-shot: right
references of the first evaluated K) are also written as `<previews>/<model>.png` and `.gif` (evaluation.previews).
The Markdown table of a report is `evaluation.translate_table`'s.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import torch

from corpora.layout import read_png
from evaluation.job_options import AdaptedPipelines
from evaluation.metrics import WarpingErrorMeter, psnr, ssim
from evaluation.spectrum import grid_excess_db
from models.core.family import Pipeline, TranslateStart
from models.core.label_codec import LabelCodec, resize_image
from models.core.labels import rgb_to_tensor, tensor_to_rgb

if TYPE_CHECKING:
    from evaluation.labels_only import LabelClip


@dataclass(frozen=True)
class EvalConfig:
    data: tuple[Path, ...]
    split: str = "test"
    max_sequences: int = 4
    max_frames: int = 16
    references: tuple[int, ...] = (1, 2, 4)
    device: str = "cpu"
    seed: int = 0
    reference_draws: int = 3
    """Few-shot: random nested reference sets per sequence and K, scores averaged over them (module docstring)."""
    previews: Path | None = None  # write <previews>/<model>.png and .gif (evaluation.previews)
    judges: Path | None = None
    """Generate: the judges' folder (default checkpoints/judges; evaluation.judges)."""
    clips_per_class: int = 64
    """Generate: clips per requested class (MCS, ACD, FD-own)."""
    coverage: int = 200
    """Generate: random clips for look coverage and IS-own."""
    swap_contents: int = 50
    """Generate: fixed content seeds, one clip per class each (identity kept)."""
    samples: int = 20
    """Predict: futures drawn per held-out clip (best-of-N, mean, worst)."""
    horizon: int = 20
    """Predict: predicted frames scored per clip."""
    baseline_model: str | None = None
    """Predict: a served card every other predict model is compared with (e.g. its deterministic variant)."""
    two_sample_seeds: int = 3
    """Predict, generate: runs (seeds) of the real-vs-generated classifier two-sample test (0: skip it)."""
    two_sample_steps: int = 300
    """Predict, generate: training steps of each two-sample classifier."""
    options: Mapping[str, int] = field(default_factory=dict)
    """Translate: family options every stream runs with, as a job's would (`evaluation.job_options`)."""
    truncation: float = 1.0
    """Generate: the truncation ψ every clip is drawn with, as a job's `truncation` option (1: the paper's)."""


@dataclass(frozen=True)
class Sequence:
    root: Path
    split: str
    name: str
    appearance: int
    frames: tuple[str, ...]  # file names, sorted


@dataclass(frozen=True)
class Clip:
    """One sequence prepared for a model: labels (T, C, H, W), frames (T, H, W, 3) uint8, flows (T, H, W, 2)."""

    labels: torch.Tensor
    frames: np.ndarray
    flows: np.ndarray  # flows[0] unused (zeros)
    flow_source: str


def load_sequences(root: Path, split: str) -> tuple[dict[str, Any], list[Sequence]]:
    """dataset.json and the sequences of one split (sorted by name); frames listed from the ground truth (B), or
    from the labels (A) in a labels-only data set."""
    meta = json.loads((root / "dataset.json").read_text())
    listed = "A" if meta.get("labels_only") else "B"
    seqs = []
    for name, info in sorted(meta["sequences"].items()):
        if info.get("split") == split:
            files = tuple(sorted(p.name for p in (root / f"{split}_{listed}" / name).glob("*.png")))
            seqs.append(Sequence(root, split, name, int(info.get("appearance", 0)), files))
    return meta, seqs


def spread_over_appearances(seqs: list[Sequence], n: int) -> list[Sequence]:
    """Up to `n` sequences, one per appearance before a second of any (round-robin in name order), so a few
    sequences cover as many appearances as they can."""
    groups: dict[int, list[Sequence]] = {}
    for s in seqs:
        groups.setdefault(s.appearance, []).append(s)
    ordered = [g[i] for i in range(max(map(len, groups.values()), default=0)) for g in groups.values() if i < len(g)]
    return ordered[:n]


def _resize(img: np.ndarray, h: int, w: int, nearest: bool) -> np.ndarray:
    return resize_image(img, h, w, nearest)


def read_flow(path: Path, height: int, width: int) -> np.ndarray:
    """A stored (h0, w0, 2) flow resized to (height, width, 2), its vectors scaled to the new size."""
    flow = np.load(path).astype(np.float32)  # (h0, w0, 2)
    sy, sx = height / flow.shape[0], width / flow.shape[1]
    return cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR) * np.array([sx, sy], np.float32)


def load_clip(seq: Sequence, indices: list[int], codec: LabelCodec, height: int, width: int) -> Clip:
    from corpora.flow import dis_flow

    labels, frames, flows = [], [], []
    source = "ground_truth"
    for k, i in enumerate(indices):
        name = seq.frames[i]
        raw = read_png(seq.root / f"{seq.split}_A" / seq.name / name)
        inst_path = seq.root / f"{seq.split}_inst" / seq.name / name
        inst = read_png(inst_path) if inst_path.exists() else None
        labels.append(codec.encode_at(raw, height, width, inst))  # (C, H, W), as the worker and training encode
        rgb = read_png(seq.root / f"{seq.split}_B" / seq.name / name)
        frames.append(_resize(rgb, height, width, False))
        flow_path = seq.root / f"{seq.split}_flow" / seq.name / f"{Path(name).stem}.npy"
        if k == 0:
            flows.append(np.zeros((height, width, 2), np.float32))
        elif flow_path.exists() and indices[k - 1] == i - 1:
            flows.append(read_flow(flow_path, height, width))
        else:
            source = "dis"
            flows.append(dis_flow(frames[-1], frames[-2]))
    return Clip(torch.stack(labels), np.stack(frames), np.stack(flows), source)


def _score(generated: list[np.ndarray], clip: Clip) -> dict[str, float]:
    meter = WarpingErrorMeter()
    for t in range(1, len(generated)):
        meter.update(generated[t - 1], generated[t], clip.frames[t - 1], clip.frames[t], clip.flows[t])
    warp_result = meter.result()
    return {
        "psnr": float(np.mean([min(psnr(g, r), 100.0) for g, r in zip(generated, clip.frames, strict=True)])),
        "ssim": float(np.mean([ssim(g, r) for g, r in zip(generated, clip.frames, strict=True)])),
        "warping_error": warp_result["generated"],
        "warping_error_ground_truth": warp_result["ground_truth"],
        "grid_excess_db": grid_excess_db(np.stack(generated), clip.frames),
        "frames": len(generated),
    }


@torch.no_grad()
def run_stream(pipeline: Pipeline, clip: Clip | LabelClip, temporal: bool, refs: torch.Tensor | None = None,
               ref_labels: torch.Tensor | None = None, device: str = "cpu", adapted: AdaptedPipelines | None = None
               ) -> list[np.ndarray]:
    """The served pipeline over a clip's labels. `temporal` False: every frame starts from the fresh started state
    (no previous frame is warped or fed back: vid2vid's raw hallucination, few-shot's reference path only). With
    `adapted`, the pipeline is first adapted to the stream with its job options."""
    t_total, _, h, w = clip.labels.shape
    refs_in = None if refs is None else refs[None].to(device)  # (1, K, 3, H, W)
    labels_in = None if ref_labels is None else ref_labels[None].to(device)  # (1, K, C, H, W)
    rng = torch.Generator().manual_seed(0)
    inputs = TranslateStart(h, w, refs_in, labels_in)
    if adapted is not None:
        pipeline = adapted.for_stream(pipeline, inputs)
    start = pipeline.start(inputs, rng)
    state, out_frames = start, []
    for t in range(t_total):
        out, next_state = pipeline.step(state if temporal else start, clip.labels[t : t + 1].to(device), rng)
        state = next_state
        out_frames.append(tensor_to_rgb(out.frames[0, 0]))
    return out_frames


def mean_over_sequences(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = [k for k in rows[0] if k != "frames"]
    out = {k: float(np.nanmean([r[k] for r in rows])) if rows else math.nan for k in keys}
    out["frames"] = int(sum(r["frames"] for r in rows))
    out["sequences"] = len(rows)
    return out


def reference_orders(n: int, window: int, k_max: int, draws: int, seed: tuple[int, ...]) -> list[list[int]]:
    """`draws` seeded random orders of a sequence's candidate reference frames; K references = an order's first K.

    Candidates are the frames outside [0, window) when there are at least `k_max` of them, else the whole sequence.
    """
    lo = window if n - window >= k_max else 0
    rng = np.random.default_rng(list(seed))
    return [[lo + int(i) for i in rng.permutation(n - lo)] for _ in range(draws)]


def _mean_over_draws(rows: list[dict[str, float]]) -> dict[str, float]:
    """One sequence's scores averaged over its reference draws (frames = the clip's, not summed over draws)."""
    out = {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0] if k != "frames"}
    out["frames"] = rows[0]["frames"]
    return out


def evaluate_model(card: Any, pipeline: Pipeline, seqs: list[Sequence], config: EvalConfig,
                   on_preview: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """Scores of one translate model (its served pipeline) on one data set's held-out sequences.

    `on_preview` receives a `evaluation.previews.Preview` of the first sequence, built from frames generated anyway.
    """
    from workers.labels_input import codec_for

    codec = codec_for(card.inputs.labels)
    h, w = card.output.height, card.output.width
    device = config.device
    adapted = AdaptedPipelines(config.options)

    def run(clip: Clip, temporal: bool, refs: Clip | None = None) -> list[np.ndarray]:
        return run_stream(pipeline, clip, temporal, None if refs is None else frames_tensor(refs),
                          None if refs is None else refs.labels, device, adapted)

    chosen = spread_over_appearances(seqs, config.max_sequences)
    result: dict[str, Any] = {"sequences": [s.name for s in chosen]}
    clips = []
    for s in chosen:
        n = min(len(s.frames), config.max_frames)
        clips.append(load_clip(s, list(range(n)), codec, h, w))
    result["flow_source"] = sorted({c.flow_source for c in clips})

    def preview(i: int, generated: list[np.ndarray], refs: Clip | None = None, k: int | None = None) -> None:
        if on_preview is not None and i == 0:
            from evaluation.previews import Preview

            on_preview(Preview(np.stack([codec.draw(x) for x in clips[0].labels]), np.stack(generated),
                               clips[0].frames, None if refs is None else refs.frames[0], chosen[0].name, k))

    if card.inputs.references is None:
        temporal = []
        for i, c in enumerate(clips):
            generated = run(c, True)
            preview(i, generated)
            temporal.append(_score(generated, c))
        result["temporal"] = mean_over_sequences(temporal)
        result["frame_by_frame"] = mean_over_sequences([_score(run(c, False), c) for c in clips])
        colours = class_colour_table(chosen[0].root, codec)
        if colours is not None:  # the no-model baseline: labels painted with the class-mean training colours
            flat = [_score(list(flat_frames(c, colours)), c) for c in clips]
            result["flat_class_colours"] = mean_over_sequences(flat)
            own = [_score(list(flat_frames(c, clip_class_colours(c, colours))), c) for c in clips]
            result["own_class_colours"] = mean_over_sequences(own)  # a bound: it reads the ground truth
        return result
    by_k: dict[str, Any] = {}
    max_k = card.inputs.references.max
    ks = [k for k in config.references if k <= max_k]
    if not ks:
        return result
    draws = max(1, config.reference_draws)
    right_orders = [reference_orders(len(s.frames), c.labels.shape[0], max(ks), draws, (config.seed, i))
                    for i, (s, c) in enumerate(zip(chosen, clips, strict=True))]
    other_seqs = [[o for o in seqs if o.appearance != s.appearance] for s in chosen]
    wrong = [others[i % len(others)] if others else None for i, others in enumerate(other_seqs)]
    wrong_orders = [reference_orders(len(o.frames), 0, max(ks), draws, (config.seed, i, 1)) if o else []
                    for i, o in enumerate(wrong)]
    result["reference_draws"] = draws
    result["reference_frames"] = {s.name: [order[: max(ks)] for order in orders]
                                  for s, orders in zip(chosen, right_orders, strict=True)}

    def refs_of(seq: Sequence, order: list[int], k: int) -> Clip:
        return load_clip(seq, sorted(order[:k]), codec, h, w)

    for k in ks:
        rows: dict[str, list[dict[str, float]]] = {"right": [], "wrong": [], "frame_by_frame": []}
        for i, (s, clip) in enumerate(zip(chosen, clips, strict=True)):
            per_draw: dict[str, list[dict[str, float]]] = {"right": [], "wrong": [], "frame_by_frame": []}
            for d in range(draws):
                right = refs_of(s, right_orders[i][d], k)
                generated = run(clip, True, right)
                if not by_k and d == 0:
                    preview(i, generated, right, k)
                per_draw["right"].append(_score(generated, clip))
                per_draw["frame_by_frame"].append(_score(run(clip, False, right), clip))
                other = wrong[i]
                if other is not None:
                    refs = refs_of(other, wrong_orders[i][d], k)
                    per_draw["wrong"].append(_score(run(clip, True, refs), clip))
            for name, r in per_draw.items():
                if r:
                    rows[name].append(_mean_over_draws(r))
        by_k[str(k)] = {name: mean_over_sequences(r) for name, r in rows.items() if r}
    result["references"] = by_k
    return result


def class_colour_table(root: Path, codec: LabelCodec) -> np.ndarray | None:
    """(num_classes, 3) mean training colour per class of a segmentation data set with a train split (grey for
    classes never seen), or None when there is nothing to compute it from."""
    if codec.label_type != "segmentation" or not (root / "train_B").is_dir():
        return None
    means = _class_means(root)
    if means is None:
        return None
    table = np.full((codec.num_classes, 3), 128.0)
    for c, rgb in means.items():
        if int(c) < codec.num_classes:
            table[int(c)] = rgb
    return table


@functools.lru_cache(maxsize=8)
def _class_means(root: Path) -> dict[str, list[float]] | None:
    """A data set's class-mean training colours, read once per `v2v eval` however many models use them (None when
    its labels are not stored as class ids)."""
    from corpora.class_colours import mean_class_colours

    try:
        return mean_class_colours(root)
    except ValueError:
        return None


def flat_frames(clip: Clip, table: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8: every pixel of the clip's labels painted with its class's colour in `table`."""
    ids = clip.labels[:, : table.shape[0]].argmax(1).numpy()  # (T, H, W)
    return table[ids].round().clip(0, 255).astype(np.uint8)


def clip_class_colours(clip: Clip, fallback: np.ndarray) -> np.ndarray:
    """(num_classes, 3): each class's mean colour in the clip's own ground-truth frames (`fallback` for classes the
    clip does not show). Painting with it is the best any flat, one-colour-per-class rendering of this clip can do:
    a bound that reads the answer, which no model has."""
    ids = clip.labels[:, : fallback.shape[0]].argmax(1).numpy()  # (T, H, W)
    sums = np.zeros_like(fallback, dtype=np.float64)
    np.add.at(sums, ids.reshape(-1), clip.frames.reshape(-1, 3).astype(np.float64))
    counts = np.bincount(ids.reshape(-1), minlength=fallback.shape[0])[:, None]  # (num_classes, 1)
    return np.where(counts > 0, sums / np.maximum(counts, 1), fallback)


def frames_tensor(clip: Clip) -> torch.Tensor:
    """(K, 3, H, W) in [-1, 1] from a clip's uint8 frames."""
    return torch.stack([rgb_to_tensor(f) for f in clip.frames])


def evaluate(cards: dict[str, Any], pipelines: dict[str, Pipeline], config: EvalConfig) -> dict[str, Any]:
    """Evaluate every translate card (with its loaded served pipeline) on every data set whose label type it reads.
    Returns the JSON-able report."""
    from evaluation.labels_only import evaluate_labels_only, is_labels_only

    report: dict[str, Any] = {"split": config.split, "max_frames": config.max_frames, "data": {}, "models": {}}
    if config.options:
        report["options"] = dict(config.options)
    for root in config.data:
        meta, seqs = load_sequences(root, config.split)
        labels_only = is_labels_only(meta)
        report["data"][str(root)] = {"label_type": meta["label_type"], "generator": meta.get("generator", {}),
                                     "sequences": len(seqs)}
        for name, card in cards.items():
            if card.inputs.labels.type != meta["label_type"] or not seqs:
                continue
            if labels_only and card.inputs.references is not None:
                continue  # few-shot: no frames to take references from
            entry = {"preset": card.preset, "weights": "trained",
                     "size": [card.output.height, card.output.width], "data": str(root)}
            shown: list[Any] = []
            on_preview = shown.append if config.previews else None
            entry.update(evaluate_labels_only(card, pipelines[name], seqs, config, meta, on_preview) if labels_only
                         else evaluate_model(card, pipelines[name], seqs, config, on_preview))
            if config.previews is not None and shown:
                from evaluation.previews import write_previews

                entry["previews"] = write_previews(config.previews, name, shown[0], float(meta.get("fps", 15)))
            report["models"][name] = entry
    return report
