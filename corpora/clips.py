"""Training clips from a data set in the layout of docs/conventions.md.

Owns `ClipDataset` (random clips of T consecutive frames, with a random temporal stride ≤ max_t_step, a random
crop resized to the training size, horizontal flips where the label type allows, backward flows from the data set
or from cached DIS flow, and, for few-shot, K reference frames of the same sequence away from the clip) and
`collate_clips`.
Item `i` is a pure function of (seed, i), so a resumed run sees exactly the clips an uninterrupted run would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from corpora.flow import FlowCache
from corpora.layout import read_png
from models.core.discriminators import compose_flows
from models.core.label_codec import LabelCodec, resize_image
from models.core.labels import rgb_to_tensor

LABEL_TYPES = ("segmentation", "pose", "edges")


@dataclass(frozen=True)
class ClipSpec:
    """What one training sample looks like.

    Attributes:
        clip_frames: T, frames per clip.
        height, width: training size (crop then resize).
        max_t_step: largest random temporal stride between clip frames.
        flip: random horizontal flips (always off for pose: left/right limbs have distinct colours).
        references: K reference frames per clip (few-shot), 0 for vid2vid.
        use_instance: segmentation only: append the instance-boundary channel.
        crop_scale_min: the crop covers a random fraction in [crop_scale_min, 1] of the largest crop that fits.
        still_share: probability that a clip shows a still scene: its first frame (labels, frame) held for all T
            frames, flows zero. Our street renderer never holds its camera still, and a flow network that has only
            seen moving cameras smears a user's still-camera clip.
        seed: base seed of the per-item randomness.
    """

    clip_frames: int
    height: int
    width: int
    max_t_step: int = 1
    flip: bool = True
    references: int = 0
    use_instance: bool = False
    crop_scale_min: float = 0.8
    still_share: float = 0.0
    seed: int = 0


@dataclass
class Clip:
    """One sample, or a batch of them after `collate_clips` (a leading B dimension on every tensor)."""

    labels: torch.Tensor  # (T, C, H, W) label encoding of docs/conventions.md
    frames: torch.Tensor  # (T, 3, H, W) in [-1, 1]
    flows: torch.Tensor  # (T, 2, H, W) backward flow t -> t-1 (pixels); flows[0] = 0
    references: torch.Tensor | None  # (K, 3, H, W) few-shot only
    reference_labels: torch.Tensor | None  # (K, C, H, W) few-shot only
    sequence: str  # "seq" (batches: comma-joined)


def label_channels(label_type: str, num_classes: int, use_instance: bool) -> int:
    """Channels of one encoded label frame."""
    if label_type == "segmentation":
        return num_classes + int(use_instance)
    return 3 if label_type == "pose" else 1


@dataclass(frozen=True)
class _Sequence:
    name: str
    frames: tuple[str, ...]  # file names, sorted


class ClipDataset(torch.utils.data.Dataset):
    """Random clips of one split of a data set folder."""

    def __init__(self, root: str | Path, split: str, spec: ClipSpec, length: int = 100_000) -> None:
        self.root = Path(root)
        self.split = split
        self.spec = spec
        self.length = length
        meta = json.loads((self.root / "dataset.json").read_text())
        self.label_type: str = meta["label_type"]
        if self.label_type not in LABEL_TYPES:
            raise ValueError(f"unknown label_type {self.label_type!r} in {self.root}/dataset.json")
        self.num_classes = int(meta.get("num_classes", 0))
        self.flip = spec.flip and self.label_type != "pose"
        self.flow_cache = FlowCache(self.root)
        sequences = []
        for name, info in sorted(meta["sequences"].items()):
            if info.get("split", "train") != split:
                continue
            files = tuple(sorted(p.name for p in (self.root / f"{split}_B" / name).glob("*.png")))
            if len(files) >= spec.clip_frames and (spec.references == 0 or len(files) > 1):
                sequences.append(_Sequence(name, files))
        if not sequences:
            raise ValueError(f"no {split} sequence in {self.root} has {spec.clip_frames} frames")
        self.sequences = sequences
        self.codec = LabelCodec(self.label_type, self.channels, self.num_classes)

    @property
    def channels(self) -> int:
        return label_channels(self.label_type, self.num_classes, self.spec.use_instance)

    def __len__(self) -> int:
        return self.length

    # -- reading --------------------------------------------------------------------------------------------
    def _read(self, kind: str, seq: _Sequence, i: int) -> np.ndarray:
        return read_png(self.root / f"{self.split}_{kind}" / seq.name / seq.frames[i])

    def _flow_to_prev(self, seq: _Sequence, i: int) -> np.ndarray:
        """(h0, w0, 2) float32 flow of frame i to frame i-1: ground truth if stored, else cached DIS."""
        stem = Path(seq.frames[i]).stem
        gt = self.root / f"{self.split}_flow" / seq.name / f"{stem}.npy"
        if gt.exists():
            return np.load(gt).astype(np.float32)
        cached = self.flow_cache.path(self.split, seq.name, seq.frames[i])
        if cached.exists():
            return np.load(cached).astype(np.float32)
        return self.flow_cache.get(self.split, seq.name, seq.frames[i], self._read("B", seq, i),
                                   self._read("B", seq, i - 1))

    def _strided_flow(self, seq: _Sequence, i: int, stride: int) -> np.ndarray:
        """Flow of frame i to frame i-stride, chaining per-frame flows."""
        flow = torch.from_numpy(self._flow_to_prev(seq, i)).permute(2, 0, 1)[None]  # (1, 2, h0, w0)
        for k in range(1, stride):
            step = torch.from_numpy(self._flow_to_prev(seq, i - k)).permute(2, 0, 1)[None]
            flow = compose_flows(flow, step)
        return flow[0].permute(1, 2, 0).numpy()

    # -- augmentation ---------------------------------------------------------------------------------------
    def _crop_box(self, rng: np.random.Generator, h0: int, w0: int) -> tuple[int, int, int, int]:
        aspect = self.spec.width / self.spec.height
        ch, cw = (h0, h0 * aspect) if w0 / h0 > aspect else (w0 / aspect, w0)
        scale = rng.uniform(self.spec.crop_scale_min, 1.0)
        ch, cw = max(1, int(round(ch * scale))), max(1, int(round(cw * scale)))
        y0 = int(rng.integers(0, h0 - ch + 1))
        x0 = int(rng.integers(0, w0 - cw + 1))
        return y0, x0, ch, cw

    def _fit(self, array: np.ndarray, box: tuple[int, int, int, int], flip: bool, nearest: bool) -> np.ndarray:
        y0, x0, ch, cw = box
        crop = array[y0 : y0 + ch, x0 : x0 + cw]
        crop = resize_image(crop, self.spec.height, self.spec.width, nearest)
        return np.ascontiguousarray(crop[:, ::-1] if flip else crop)

    def _label_tensor(self, seq: _Sequence, i: int, box: tuple[int, int, int, int], flip: bool) -> torch.Tensor:
        raw = self._fit(self._read("A", seq, i), box, flip, nearest=self.codec.nearest)
        inst = None
        if self.spec.use_instance:
            inst_path = self.root / f"{self.split}_inst" / seq.name / seq.frames[i]
            inst = self._fit(read_png(inst_path), box, flip, nearest=True) if inst_path.exists() else None
        return self.codec.encode(raw, inst)  # (C, H, W)

    # -- sampling -------------------------------------------------------------------------------------------
    def __getitem__(self, index: int) -> Clip:
        spec = self.spec
        rng = np.random.default_rng([spec.seed, index])
        seq = self.sequences[int(rng.integers(len(self.sequences)))]
        n = len(seq.frames)
        max_stride = max(1, min(spec.max_t_step, (n - 1) // max(spec.clip_frames - 1, 1)))
        stride = int(rng.integers(1, max_stride + 1))
        span = (spec.clip_frames - 1) * stride + 1
        start = int(rng.integers(0, n - span + 1))
        indices = [start + j * stride for j in range(spec.clip_frames)]
        if spec.still_share > 0 and rng.random() < spec.still_share:
            indices, stride = [start] * spec.clip_frames, 0

        h0, w0 = self._read("B", seq, start).shape[:2]
        box = self._crop_box(rng, h0, w0)
        flip = self.flip and bool(rng.random() < 0.5)
        sx, sy = spec.width / box[3], spec.height / box[2]

        frames, labels, flows = [], [], []
        for j, i in enumerate(indices):
            frames.append(rgb_to_tensor(self._fit(self._read("B", seq, i), box, flip, nearest=False)))
            labels.append(self._label_tensor(seq, i, box, flip))
            if j == 0 or stride == 0:
                flows.append(torch.zeros(2, spec.height, spec.width))
                continue
            flow = self._fit(self._strided_flow(seq, i, stride), box, flip, nearest=False)  # (H, W, 2)
            flow = flow * np.array([-sx if flip else sx, sy], dtype=np.float32)
            flows.append(torch.from_numpy(np.ascontiguousarray(flow)).permute(2, 0, 1))

        references = reference_labels = None
        if spec.references > 0:
            chosen = _reference_indices(rng, n, start, span, spec.references)
            references = torch.stack(
                [rgb_to_tensor(self._fit(self._read("B", seq, i), box, flip, nearest=False)) for i in chosen])
            reference_labels = torch.stack([self._label_tensor(seq, i, box, flip) for i in chosen])
        return Clip(labels=torch.stack(labels), frames=torch.stack(frames), flows=torch.stack(flows),
                    references=references, reference_labels=reference_labels, sequence=seq.name)


def _reference_indices(rng: np.random.Generator, n: int, start: int, span: int, k: int) -> list[int]:
    """K frames of the same sequence away from the clip (§3.8: ≥14 frames from its start, within 60, scaled to
    short sequences: the gap is min(14, n // 4)). Falls back to any frame outside the clip, then to any frame."""
    gap = max(1, min(14, n // 4))
    far = [i for i in range(n) if abs(i - start) >= gap and not start <= i < start + span and abs(i - start) <= 60]
    outside = [i for i in range(n) if not start <= i < start + span]
    pool = far or outside or list(range(n))
    return [int(i) for i in rng.choice(pool, size=k, replace=len(pool) < k)]


def collate_clips(items: list[Clip]) -> Clip:
    """Stack samples into a batch (B, T, ...)."""
    def stack(values: list[torch.Tensor | None]) -> torch.Tensor | None:
        return None if values[0] is None else torch.stack(values)  # type: ignore[arg-type]

    return Clip(labels=torch.stack([c.labels for c in items]), frames=torch.stack([c.frames for c in items]),
                flows=torch.stack([c.flows for c in items]), references=stack([c.references for c in items]),
                reference_labels=stack([c.reference_labels for c in items]),
                sequence=",".join(c.sequence for c in items))
