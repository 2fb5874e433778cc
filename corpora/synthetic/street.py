"""`v2v data street`: the synthetic street data set (segmentation -> video) with exact ground-truth flow.

Each sequence samples its own world (`street_world`) from a Generator seeded by (seed, sequence index), so any
sequence can be regenerated alone and the output does not depend on the number of worker processes. Frames are
rendered by `street_render` and written in the layout of docs/conventions.md: label ids (A), RGB (B), uint16
instance ids (inst: labelId * 1000 + k for cars and people), backward flow t -> t-1 (flow, float16 pixels).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpora.layout import SequenceEntry, SequenceWriter, write_dataset_json
from corpora.synthetic.street_render import render_frame
from corpora.synthetic.street_traffic import with_cross_traffic
from corpora.synthetic.street_world import sample_street_world

STREET_CLASSES = (7, 8, 11, 17, 20, 21, 22, 23, 24, 26)
"""Cityscapes labelIds the street world produces (road ... car)."""


@dataclass(frozen=True)
class StreetDataConfig:
    """What `v2v data street` makes."""

    out: Path
    sequences: int = 64
    test_sequences: int = 8
    frames: int = 30
    height: int = 128
    width: int = 256
    seed: int = 0
    workers: int = 1
    fps: float = 15.0
    still_camera_share: float = 0.25
    """Share of the *train* sequences whose camera stands still (no travel, sway, yaw or pitch) while cars and
    people move: what a user's hand-made clip usually is. Drawn from its own random stream, so every other draw of
    a sequence, and the whole test split, are those of a data set without it."""
    cross_traffic_share: float = 0.5
    """Share of the *train* sequences with cross traffic: cars and pedestrians crossing the road in front of the
    camera (`street_traffic.with_cross_traffic`), motion the base world never has and hand-drawn scenes mostly do.
    Its own random stream, as for `still_camera_share`."""

    def __post_init__(self) -> None:
        if self.sequences < 1 or self.frames < 2:
            raise ValueError("need at least 1 sequence of at least 2 frames")
        if not 0 <= self.test_sequences < self.sequences + 1:
            raise ValueError("test_sequences must be between 0 and sequences")


def sequence_name(index: int) -> str:
    return f"street_{index:04d}"


def sequence_split(config: StreetDataConfig, index: int) -> str:
    """The last `test_sequences` sequences are the test split (each sequence is its own world)."""
    return "test" if index >= config.sequences - config.test_sequences else "train"


def still_camera(config: StreetDataConfig, index: int) -> bool:
    """Whether sequence `index` is shot from a still camera (train split only; `still_camera_share`)."""
    if sequence_split(config, index) != "train" or config.still_camera_share <= 0:
        return False
    return bool(np.random.default_rng([config.seed, index, 1]).random() < config.still_camera_share)


def cross_traffic(config: StreetDataConfig, index: int) -> bool:
    """Whether sequence `index` gets crossing cars and pedestrians (train split only; `cross_traffic_share`)."""
    if sequence_split(config, index) != "train" or config.cross_traffic_share <= 0:
        return False
    return bool(np.random.default_rng([config.seed, index, 2]).random() < config.cross_traffic_share)


def write_street_sequence(config: StreetDataConfig, index: int) -> int:
    """Render and write sequence `index`; returns the number of frames written."""
    rng = np.random.default_rng([config.seed, index])
    world = sample_street_world(rng, config.frames, config.height, config.width)
    if still_camera(config, index):
        world = dataclasses.replace(world, path=dataclasses.replace(world.path, speed=0.0, sway=0.0, yaw_amp=0.0,
                                                                     pitch_amp=0.0))
    if cross_traffic(config, index):
        world = with_cross_traffic(world, np.random.default_rng([config.seed, index, 3]), config.frames)
    with SequenceWriter(config.out, sequence_split(config, index), sequence_name(index)) as writer:
        for t in range(config.frames):
            frame = render_frame(world, t)
            writer.write(t, label=frame.label, frame=frame.rgb, instance=frame.instance, flow=frame.flow)
    return config.frames


def _run_one(args: tuple[StreetDataConfig, int]) -> int:
    return write_street_sequence(*args)


def generate_street_dataset(
    config: StreetDataConfig, progress: Callable[[int], None] | None = None
) -> dict[str, float]:
    """Write the whole data set (sequences, then dataset.json). Returns timing figures."""
    config.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    jobs = [(config, i) for i in range(config.sequences)]
    frames = 0
    if config.workers > 1:
        with ProcessPoolExecutor(config.workers) as pool:
            for n in pool.map(_run_one, jobs):
                frames += n
                if progress:
                    progress(n)
    else:
        for job in jobs:
            n = _run_one(job)
            frames += n
            if progress:
                progress(n)
    entries = [SequenceEntry(sequence_name(i), sequence_split(config, i), i) for i in range(config.sequences)]
    write_dataset_json(
        config.out, "segmentation", entries, fps=config.fps, num_classes=35,
        extra={"generator": {"name": "street", "seed": config.seed, "height": config.height,
                             "width": config.width, "frames": config.frames, "classes": list(STREET_CLASSES),
                             "still_camera_share": config.still_camera_share,
                             "cross_traffic_share": config.cross_traffic_share}},
    )
    seconds = time.perf_counter() - start
    return {"frames": frames, "seconds": seconds, "frames_per_second": frames / max(seconds, 1e-9)}
