"""Writing data sets in the layout of docs/conventions.md: per-sequence folders, dataset.json, atomic renames.

A sequence is written into hidden `.<seq>.partial` folders next to its final folders and renamed into place when
all of its frames are written, so an interrupted run never leaves a half-written sequence under a real name.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

KINDS = ("A", "B", "inst", "flow")


def write_png(path: Path, image: np.ndarray) -> None:
    """Write (H, W) uint8/uint16 or (H, W, 3) uint8 RGB as PNG (deterministic bytes)."""
    data = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), data):
        raise OSError(f"could not write {path}")


def read_png(path: Path) -> np.ndarray:
    """Read a PNG written by `write_png`: (H, W) as stored (uint8/uint16) or (H, W, 3) uint8 RGB."""
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise OSError(f"could not read {path}")
    return data if data.ndim == 2 else cv2.cvtColor(data, cv2.COLOR_BGR2RGB)


def write_json_atomic(path: Path, payload: dict[str, object]) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True))
    os.replace(tmp, path)


@dataclass(frozen=True)
class SequenceEntry:
    """One sequence of a data set as listed in dataset.json."""

    name: str
    split: str
    appearance: int


class SequenceWriter:
    """Context manager writing one sequence's frames; folders are renamed into place on a clean exit.

    Args:
        root: data set folder.
        split: "train" or "test".
        name: sequence name (folder name under each `{split}_{kind}`).
        kinds: which of A (labels), B (frames), inst (instances), flow to write.
    """

    def __init__(self, root: Path, split: str, name: str, kinds: tuple[str, ...] = KINDS) -> None:
        self.final = {kind: root / f"{split}_{kind}" / name for kind in kinds}
        self.tmp = {kind: root / f"{split}_{kind}" / f".{name}.partial" for kind in kinds}

    def __enter__(self) -> SequenceWriter:
        for path in self.tmp.values():
            if path.exists():
                shutil.rmtree(path)
            path.mkdir(parents=True)
        return self

    def write(
        self,
        index: int,
        label: np.ndarray | None = None,
        frame: np.ndarray | None = None,
        instance: np.ndarray | None = None,
        flow: np.ndarray | None = None,
        keypoints: dict[str, object] | None = None,
    ) -> None:
        """Write frame `index`: label (A), RGB frame (B), uint16 instance ids, (H, W, 2) backward flow,
        OpenPose JSON keypoints (openpose)."""
        stem = f"{index:05d}"
        if label is not None:
            write_png(self.tmp["A"] / f"{stem}.png", label)
        if frame is not None:
            write_png(self.tmp["B"] / f"{stem}.png", frame)
        if instance is not None:
            write_png(self.tmp["inst"] / f"{stem}.png", instance.astype(np.uint16))
        if flow is not None:
            np.save(self.tmp["flow"] / f"{stem}.npy", flow.astype(np.float16))
        if keypoints is not None:
            (self.tmp["openpose"] / f"{stem}_keypoints.json").write_text(json.dumps(keypoints))

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for kind, tmp in self.tmp.items():
            if exc_type is not None:
                shutil.rmtree(tmp, ignore_errors=True)
                continue
            final = self.final[kind]
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)


def write_dataset_json(
    root: Path,
    label_type: str,
    sequences: list[SequenceEntry],
    fps: float = 15,
    num_classes: int | None = None,
    extra: dict[str, object] | None = None,
) -> None:
    """Write DIR/dataset.json (atomically) in the schema of docs/conventions.md, plus optional extra fields."""
    payload: dict[str, object] = {
        "label_type": label_type,
        "fps": fps,
        "sequences": {s.name: {"split": s.split, "appearance": s.appearance} for s in sequences},
    }
    if num_classes is not None:
        payload["num_classes"] = num_classes
    payload.update(extra or {})
    root.mkdir(parents=True, exist_ok=True)
    write_json_atomic(root / "dataset.json", payload)


def parse_size(text: str) -> tuple[int, int]:
    """"128x256" -> (128, 256) as (height, width)."""
    try:
        h, w = (int(part) for part in text.lower().split("x"))
    except ValueError as err:
        raise ValueError(f"size must look like HxW (e.g. 128x256), got {text!r}") from err
    if h < 8 or w < 8:
        raise ValueError(f"size must be at least 8x8, got {text!r}")
    return h, w
