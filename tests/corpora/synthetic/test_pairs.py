"""`v2v data pair`: a colour-coded label video + its real video become a trainable data set with clean ids."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np

from cli.main import main
from corpora.layout import read_png
from models.core.labels import CITYSCAPES_PALETTE, colorize


def _write_video(path: Path, frames: list[np.ndarray]) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())


def test_pair_of_videos_becomes_a_dataset_with_clean_label_ids(tmp_path: Path) -> None:
    ids = np.full((64, 128), 7, dtype=np.uint8)  # road
    ids[:24] = 23  # sky
    ids[24:40, 40:90] = 26  # a car
    label_frames, real_frames = [], []
    for t in range(12):
        moved = np.roll(ids, t, axis=1)
        label_frames.append(colorize(moved, CITYSCAPES_PALETTE))
        real_frames.append(np.full((64, 128, 3), 10 * t, dtype=np.uint8))
    _write_video(tmp_path / "labels.mp4", label_frames)
    _write_video(tmp_path / "frames.mp4", real_frames)

    out = tmp_path / "data"
    assert main(["data", "pair", "--labels", str(tmp_path / "labels.mp4"), "--frames", str(tmp_path / "frames.mp4"),
                 "--label-type", "segmentation", "--out", str(out), "--size", "64x128",
                 "--sequence-length", "5", "--test-fraction", "0.25"]) == 0

    meta = json.loads((out / "dataset.json").read_text())
    assert meta["label_type"] == "segmentation" and meta["num_classes"] == 35
    splits = [s["split"] for s in meta["sequences"].values()]
    assert "train" in splits and "test" in splits
    first = sorted((out / "train_A").iterdir())[0]
    decoded = read_png(first / "00003.png")
    # H.264 blurs colours; nearest-palette decoding must still give the exact ids almost everywhere.
    assert (decoded == np.roll(ids, 3, axis=1)).mean() > 0.97
    assert read_png(sorted((out / "train_B").iterdir())[0] / "00000.png").shape == (64, 128, 3)
