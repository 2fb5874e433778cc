"""Labelled clip corpora (`v2v data actions`) in memory, for the judges and the generate protocol.

`load_clips` reads one split of a clip folder (`corpora.clip_folder`) once, as uint8 at a square size, with every
clip's labels; `windows` cuts fixed-length windows (every `stride`-th frame) out of them, as the models see clips.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from corpora.clip_folder import load_rgb_clips, usable_stride


@dataclass(frozen=True)
class ClipSet:
    frames: torch.Tensor  # (N, T0, 3, S, S) uint8
    labels: dict[str, torch.Tensor]  # name -> (N,) int64 (e.g. "action", "look")
    names: list[str]  # clip names
    classes: list[str]  # action names of the corpus (may be empty)

    def __len__(self) -> int:
        return len(self.frames)


def load_clips(root: Path, split: str, size: int, labels: tuple[str, ...] = ("action", "look")) -> ClipSet:
    """Every clip of `split` at size x size (area-resized), grey expanded to RGB."""
    clips, folder = load_rgb_clips(Path(root), split, size)  # (N, T, 3, S, S) uint8
    table = {name: torch.tensor([int(folder.labels[n][name]) for n in folder.names]) for name in labels}
    classes = [str(c) for c in folder.generator.get("actions", [])]  # type: ignore[union-attr]
    return ClipSet(clips, table, list(folder.names), classes)


def windows(clips: torch.Tensor, frames: int, stride: int, rng: np.random.Generator | None = None) -> torch.Tensor:
    """(N, T0, 3, S, S) uint8 -> (N, frames, 3, S, S) float in [-1, 1]: every `stride`-th frame from a random start
    (`rng`; None: the first frame)."""
    n, total = clips.shape[:2]
    stride = usable_stride(total, frames, stride)
    span = (frames - 1) * stride + 1
    starts = rng.integers(0, total - span + 1, n) if rng is not None else np.zeros(n, dtype=np.int64)
    picked = torch.stack([clips[i, int(s):int(s) + span:stride] for i, s in enumerate(starts)])  # (N, T, 3, S, S)
    return picked.float() / 127.5 - 1
