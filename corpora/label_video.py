"""Colour-coded label videos: what the service takes as a translate upload, made from a data set's label PNGs.

`v2v data street|people|edges --video` writes `DIR/{split}_A/<seq>.mp4` next to each sequence's label folder:
segmentation label ids coloured with the Cityscapes palette, pose renderings as they are (OpenPose colours), edge
maps white on black. H.264 (yuv420p, faststart) via PyAV, at a quality that keeps palette colours within a few
levels, so the upload decodes to the same classes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np

from models.core.labels import CITYSCAPES_PALETTE

LABEL_TYPES = ("segmentation", "pose", "edges")


def colour_labels(label: np.ndarray, label_type: str) -> np.ndarray:
    """One label frame as an (H, W, 3) uint8 RGB frame the service accepts for `label_type`."""
    if label_type == "segmentation":
        ids = label[..., 0] if label.ndim == 3 else label
        return np.ascontiguousarray(CITYSCAPES_PALETTE[np.clip(ids, 0, len(CITYSCAPES_PALETTE) - 1)])
    if label_type == "edges":
        grey = label[..., 0] if label.ndim == 3 else label
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    if label_type == "pose":
        return np.ascontiguousarray(label[..., :3] if label.ndim == 3 else np.repeat(label[..., None], 3, axis=2))
    raise ValueError(f"unknown label type {label_type!r}; valid: {', '.join(LABEL_TYPES)}")


def write_video(frames: Iterable[np.ndarray], path: Path, fps: float = 15.0, crf: int = 18) -> int:
    """Encode RGB frames as a browser-playable H.264 mp4 (written to a .partial file, renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    count = 0
    with av.open(str(partial), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=round(fps), options={"crf": str(crf), "preset": "veryslow"})
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            if count == 0:
                stream.height, stream.width = frame.shape[0] // 2 * 2, frame.shape[1] // 2 * 2
            frame = frame[: stream.height, : stream.width]
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
            count += 1
        for packet in stream.encode():
            container.mux(packet)
    if count == 0:
        partial.unlink(missing_ok=True)
        raise ValueError(f"no frames to write to {path}")
    partial.replace(path)
    return count


def read_png(path: Path) -> np.ndarray:
    """A PNG as uint8 (H, W) or (H, W, 3) (PyAV: no OpenCV needed)."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    if frame.format.name in ("gray", "gray8"):
        return frame.to_ndarray()
    if frame.format.name.startswith("gray16"):
        return frame.to_ndarray().astype(np.uint16)
    return frame.to_ndarray(format="rgb24")


def write_label_videos(root: Path) -> list[Path]:
    """Write `{split}_A/<seq>.mp4` for every sequence of the data set at `root` (its dataset.json)."""
    meta = json.loads((root / "dataset.json").read_text())
    label_type, fps = str(meta["label_type"]), float(meta.get("fps", 15.0))
    written = []
    for name, info in sorted(meta["sequences"].items()):
        folder = root / f"{info['split']}_A" / name
        pngs = sorted(folder.glob("*.png"))
        out = folder.parent / f"{name}.mp4"
        write_video((colour_labels(read_png(p), label_type) for p in pngs), out, fps)
        written.append(out)
    return written
