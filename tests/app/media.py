"""Tiny media files made in tests: label videos (PyAV, libx264), PNG zips, images, a test model catalogue."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import av
import numpy as np

PALETTE = [(0, 0, 0), (128, 64, 128), (70, 130, 180)]  # the test segmentation model's 3 colours


def seg_frame(i: int, size: int = 64) -> np.ndarray:
    """(H, W, 3) uint8 frame of palette colours with a moving band."""
    frame = np.zeros((size, size, 3), np.uint8)
    frame[:, : size // 2] = PALETTE[1]
    frame[:, size // 2 :] = PALETTE[2]
    frame[(i * 4) % size : (i * 4) % size + 8] = PALETTE[0]
    return frame


def write_video(path: Path, frames: list[np.ndarray], fps: int = 15, codec: str = "libx264") -> Path:
    height, width = frames[0].shape[:2]
    options = {"movflags": "+faststart"} if path.suffix in (".mp4", ".mov") else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def seg_video(path: Path, n: int = 6, size: int = 64) -> Path:
    return write_video(path, [seg_frame(i, size) for i in range(n)])


def png_bytes(frame: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="image2pipe") as container:
        stream = container.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = frame.shape[1], frame.shape[0], "rgb24"
        for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def png_zip(path: Path, frames: list[np.ndarray]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for i, frame in enumerate(frames):
            archive.writestr(f"{i:05d}.png", png_bytes(frame))
    return path


def write_manifest(path: Path) -> Path:
    """A catalogue with a 3-colour segmentation model, an edges model, a few-shot pose model (with references and a
    family option), a generate model and a predict model (no torch)."""
    labels_seg = {
        "type": "segmentation",
        "num_classes": 3,
        "class_names": ["void", "road", "sky"],
        "palette": [list(c) for c in PALETTE],
        "channels": 3,
    }
    models = {
        "street": {
            "name": "street",
            "family": "vid2vid",
            "preset": "tiny",
            "inputs": {"kind": "translate", "labels": labels_seg},
            "output": {"height": 64, "width": 64, "size_multiple": 16},
        },
        "edges": {
            "name": "edges",
            "family": "vid2vid",
            "preset": "tiny",
            "inputs": {"kind": "translate", "labels": {"type": "edges", "channels": 1}},
            "output": {"height": 64, "width": 64, "size_multiple": 4},
            "weights": {"file": "edges.safetensors", "sha256": "ab" * 32},
        },
        "people": {
            "name": "people",
            "family": "fs_vid2vid",
            "preset": "tiny",
            "inputs": {"kind": "translate", "labels": {"type": "pose", "channels": 3},
                       "references": {"min": 1, "max": 3}},
            "output": {"height": 64, "width": 64, "size_multiple": 16},
            "options": {"finetune_steps": {"min": 0, "max": 200, "default": 0, "seconds_per_unit": 5.0}},
        },
        "noise": {
            "name": "noise",
            "family": "noise",
            "preset": "tiny",
            "inputs": {"kind": "generate", "num_frames": {"min": 2, "max": 24, "default": 12},
                       "num_samples": {"min": 1, "max": 4}, "classes": ["up", "down"], "seeds": ["content"],
                       "class_option": "direction"},
            "output": {"height": 32, "width": 32, "size_multiple": 8},
        },
        "future": {
            "name": "future",
            "family": "future",
            "preset": "tiny",
            "inputs": {"kind": "predict", "context_frames": {"min": 2, "max": 4}, "horizon": {"min": 1, "max": 10},
                       "num_samples": {"min": 1, "max": 3}, "attributes": {"action": ["walk", "wave"]}},
            "output": {"height": 32, "width": 32, "size_multiple": 8},
        },
    }
    path.write_text(json.dumps({"models": models}))
    return path
