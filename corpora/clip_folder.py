"""Labelled clip corpora on disk (`v2v data digits|actions`): writing one clip, dataset.json, and the Dataset that
reads them back (the cache for generators too slow to run inside a training loop).

Layout (docs/conventions.md, frames only): DIR/{train,test}_B/<clip>/00000.png (grey or RGB PNG), optional
DIR/{train,test}_openpose/<clip>/00000_keypoints.json, and DIR/dataset.json with `label_type` "none", the usual
`sequences` table and a `clips` table: clip name -> its labels (e.g. {"action": 1, "look": 3} or
{"digits": [3, 7], "label": 3}).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from app.contracts.openpose import OpenPoseFrame, openpose_json
from corpora.layout import SequenceEntry, SequenceWriter, read_png, write_dataset_json

Labels = dict[str, int | list[int]]


def write_clip(root: Path, split: str, name: str, frames: np.ndarray, keypoints: np.ndarray | None = None) -> None:
    """Write one clip's frames ((T, H, W) or (T, H, W, 3) uint8) and optional BODY_25 keypoints ((T, 25, 3))."""
    kinds = ("B",) if keypoints is None else ("B", "openpose")
    with SequenceWriter(root, split, name, kinds) as writer:
        for t, frame in enumerate(frames):
            pose = None if keypoints is None else openpose_json(OpenPoseFrame(body=keypoints[t]))
            writer.write(t, frame=frame, keypoints=pose)


def write_clips_json(
    root: Path, entries: list[SequenceEntry], labels: dict[str, Labels], generator: dict[str, object], fps: float
) -> None:
    """dataset.json of a clip corpus: the sequences table plus per-clip labels and the generator's settings."""
    write_dataset_json(root, "none", entries, fps=fps, extra={"clips": labels, "generator": generator})


class ClipFolderDataset(Dataset):
    """Clips of one split of a folder written by `write_clip` / `write_clips_json`, in name order.

    Item i: {"frames": float32 (T, C, H, W) in [0, 1] (or [-1, 1] with signed=True), C = 1 for grey PNGs and 3 for
    RGB, plus every label of the clip as an int64 tensor (scalar, or (D,) for lists)}.
    """

    def __init__(self, root: Path, split: str = "train", signed: bool = False) -> None:
        meta = json.loads((Path(root) / "dataset.json").read_text())
        if "clips" not in meta:
            raise ValueError(f"{root} is not a clip corpus (no 'clips' table in dataset.json)")
        self.root, self.split, self.signed = Path(root), split, signed
        self.names = sorted(n for n, s in meta["sequences"].items() if s["split"] == split)
        self.labels: dict[str, Labels] = meta["clips"]
        self.generator: dict[str, object] = meta.get("generator", {})
        self.fps = float(meta.get("fps", 15.0))

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        name = self.names[index]
        paths = sorted((self.root / f"{self.split}_B" / name).glob("*.png"))
        frames = np.stack([read_png(p) for p in paths])  # (T, H, W) or (T, H, W, 3) uint8
        item = {"frames": frames_to_tensor(frames, self.signed)}
        item.update({k: torch.tensor(v, dtype=torch.int64) for k, v in self.labels[name].items()})
        return item


def frames_to_tensor(frames: np.ndarray, signed: bool = False) -> torch.Tensor:
    """(T, H, W) or (T, H, W, C) uint8 -> float32 (T, C, H, W) in [0, 1], or [-1, 1] when signed."""
    array = frames[..., None] if frames.ndim == 3 else frames  # (T, H, W, C)
    x = torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).float() / 255.0  # (T, C, H, W)
    return x * 2 - 1 if signed else x


def usable_stride(total: int, frames: int, stride: int) -> int:
    """`stride` when a window of `frames` fits in `total` frames at that stride, else 1 (ValueError if `frames`
    consecutive frames do not fit either)."""
    if stride < 1:
        raise ValueError(f"frame_stride must be >= 1, got {stride}")
    if (frames - 1) * stride + 1 <= total:
        return stride
    if frames > total:
        raise ValueError(f"clips have {total} frames, {frames} are needed")
    return 1


def load_rgb_clips(root: Path, split: str, size: int) -> tuple[torch.Tensor, ClipFolderDataset]:
    """Every clip of a folder's `split` in memory: (N, T, 3, size, size) uint8 (area-resized, grey expanded to RGB),
    and the folder (for its labels). Clips must all have the same length."""
    from torch.nn import functional as F

    folder = ClipFolderDataset(Path(root), split, signed=False)
    if len(folder) == 0:
        raise ValueError(f"{root} has no {split} clips")
    clips = []
    for i in range(len(folder)):
        x = folder[i]["frames"]  # (T, C, H, W) in [0, 1]
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="area")
        clips.append((x * 255).round().to(torch.uint8))
    if len({c.shape[0] for c in clips}) != 1:
        raise ValueError(f"{root}: clips of different lengths")
    return torch.stack(clips), folder

