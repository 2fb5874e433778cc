"""Training data from a pair of videos: a label video and the matching real video, frame for frame.

`v2v data pair --labels L.mp4 --frames F.mp4 --label-type segmentation|pose|edges --out DIR` writes the layout of
docs/conventions.md, so `v2v train` reads it like any other data set (flow is then computed with OpenCV DIS and
cached by the training data loader). Segmentation videos are colour-coded with the Cityscapes palette and decode
to label ids by nearest palette colour, so lossy-compressed label videos still give clean ids.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import av
import cv2
import numpy as np

from corpora.layout import SequenceEntry, SequenceWriter, write_dataset_json
from corpora.synthetic.edges import fit_frame, frame_chunks, read_frames, video_fps
from models.core.labels import CITYSCAPES_NUM_CLASSES, CITYSCAPES_PALETTE, decode_palette

LabelType = Literal["segmentation", "pose", "edges"]


@dataclass(frozen=True)
class PairDataConfig:
    out: Path
    labels_video: Path
    frames_video: Path
    label_type: LabelType
    height: int = 128
    width: int = 256
    test_fraction: float = 0.15
    sequence_length: int = 60
    max_frames: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.test_fraction < 1.0 or self.sequence_length < 2:
            raise ValueError("test_fraction must be in [0, 1) and sequence_length >= 2")


def fit_label(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """Like `fit_frame` (centre crop to the aspect ratio, then resize) but nearest-neighbour, so label colours stay
    exact. (H, W, 3) uint8."""
    h, w = rgb.shape[:2]
    scale = max(height / h, width / w)
    resized = cv2.resize(rgb, (max(width, round(w * scale)), max(height, round(h * scale))),
                         interpolation=cv2.INTER_NEAREST)
    top = (resized.shape[0] - height) // 2
    left = (resized.shape[1] - width) // 2
    return resized[top : top + height, left : left + width]


def _label_frames(config: PairDataConfig) -> Iterator[np.ndarray]:
    """The label video decoded for the layout: (H, W) uint8 ids | (H, W, 3) pose RGB | (H, W) uint8 edges."""
    with av.open(str(config.labels_video)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if config.max_frames is not None and i >= config.max_frames:
                break
            rgb = frame.to_ndarray(format="rgb24")
            if config.label_type == "segmentation":
                yield decode_palette(fit_label(rgb, config.height, config.width), CITYSCAPES_PALETTE).astype(np.uint8)
            elif config.label_type == "pose":
                yield fit_label(rgb, config.height, config.width)
            else:
                yield cv2.cvtColor(fit_frame(rgb, config.height, config.width), cv2.COLOR_RGB2GRAY)


def _count(path: Path, max_frames: int | None) -> int:
    with av.open(str(path)) as container:
        count = sum(1 for _ in container.demux(video=0) if _.size)
    return count if max_frames is None else min(count, max_frames)


def generate_pair_dataset(config: PairDataConfig) -> dict[str, float]:
    """Write labels (A) and frames (B) sequence by sequence, then dataset.json. Returns timing figures."""
    started = time.perf_counter()
    count = min(_count(config.labels_video, config.max_frames), _count(config.frames_video, config.max_frames))
    if count < 2:
        raise ValueError("the videos need at least 2 frames each")
    test_start = count - int(round(count * config.test_fraction)) if config.test_fraction > 0 else count
    labels = _label_frames(config)
    frames = read_frames(config.frames_video, config.height, config.width, config.max_frames)
    entries: list[SequenceEntry] = []
    position = total = 0
    for k, (split, lo, hi) in enumerate(frame_chunks(count, test_start, config.sequence_length)):
        while position < lo:  # frames between chunks (a chunk too short to keep)
            next(labels), next(frames)
            position += 1
        name = f"{config.frames_video.stem.replace('.', '_')}_{k:03d}"
        with SequenceWriter(config.out, split, name, kinds=("A", "B")) as writer:
            for t in range(hi - lo):
                writer.write(t, label=next(labels), frame=next(frames))
        position, total = hi, total + hi - lo
        entries.append(SequenceEntry(name, split, 0))
    num_classes = CITYSCAPES_NUM_CLASSES if config.label_type == "segmentation" else None
    write_dataset_json(config.out, config.label_type, entries, fps=video_fps(config.frames_video),
                       num_classes=num_classes,
                       extra={"generator": {"name": "pair", "labels": config.labels_video.name,
                                            "frames": config.frames_video.name}})
    seconds = time.perf_counter() - started
    return {"frames": total, "seconds": seconds, "frames_per_second": total / max(seconds, 1e-9)}
