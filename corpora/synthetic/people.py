"""`v2v data people`: synthetic people for few-shot pose -> video, with held-out appearances.

Each subject (appearance id = subject index) gets one look (`people_render.Appearance`) and
`sequences_per_subject` sequences with their own motion, placement and background. Subjects with the highest
indices are held out: their sequences are the only ones in the test split, and no train sequence shows them.
Written per docs/conventions.md: OpenPose-coloured pose maps (A, RGB), frames (B), exact backward flow (flow), plus
the BODY_25 keypoints as OpenPose JSON (openpose/<seq>/00000_keypoints.json) for keypoint-upload tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.contracts.openpose import OpenPoseFrame, openpose_json
from corpora.layout import SequenceEntry, SequenceWriter, write_dataset_json
from corpora.synthetic.people_figure import Motion, Placement, pose_at
from corpora.synthetic.people_render import (
    Appearance,
    bake_background,
    render_figure,
    sample_appearance,
    sample_background,
)
from models.core.openpose import render_openpose

MOTIONS = ("walk", "dance", "wave", "idle")


@dataclass(frozen=True)
class PeopleDataConfig:
    out: Path
    subjects: int = 48
    heldout: int = 8
    frames: int = 30
    height: int = 256
    width: int = 128
    sequences_per_subject: int = 2
    seed: int = 0
    fps: float = 15.0

    def __post_init__(self) -> None:
        if self.subjects < 1 or self.frames < 2 or self.sequences_per_subject < 1:
            raise ValueError("need at least 1 subject, 1 sequence per subject and 2 frames")
        if not 0 <= self.heldout <= self.subjects:
            raise ValueError("heldout must be between 0 and subjects")


def subject_split(config: PeopleDataConfig, subject: int) -> str:
    return "test" if subject >= config.subjects - config.heldout else "train"


def sequence_name(subject: int, index: int) -> str:
    return f"person_{subject:03d}_{index}"


def appearance_of(config: PeopleDataConfig, subject: int) -> Appearance:
    return sample_appearance(np.random.default_rng([config.seed, 1, subject]))


def sample_sequence(rng: np.random.Generator, frames: int, height: int, width: int) -> tuple[Motion, Placement]:
    """Motion and camera/placement of one sequence (the figure stays roughly in frame)."""
    kind = str(rng.choice(MOTIONS, p=[0.35, 0.3, 0.15, 0.2]))
    direction = float(rng.choice([-1.0, 1.0]))
    freq = {"walk": rng.uniform(0.04, 0.08), "dance": rng.uniform(0.03, 0.07)}.get(kind, rng.uniform(0.02, 0.05))
    turn = 0.0 if rng.random() < 0.5 else rng.uniform(0.1, 0.4)
    motion = Motion(kind=kind, freq=float(freq), phase=float(rng.uniform(0, 2 * np.pi)),
                    amp=float(rng.uniform(0.6, 1.3)), turn=float(turn),
                    turn_freq=float(rng.uniform(0.01, 0.04)), direction=direction)
    scale = height * rng.uniform(0.6, 0.85)
    vx = direction * rng.uniform(0.2, 0.8) if kind == "walk" else rng.uniform(-0.1, 0.1)
    pan = vx * rng.uniform(0.4, 1.0)
    drift = np.clip((vx - pan) * frames, -0.25 * width, 0.25 * width)
    vx = pan + drift / frames
    place = Placement(
        x0=float(width / 2 - drift / 2 + rng.uniform(-0.08, 0.08) * width), vx=float(vx),
        ground=float(height * rng.uniform(0.9, 0.97)), scale=float(scale), pan=float(pan),
        zoom=float(rng.uniform(-0.004, 0.004)), cx=width / 2, cy=height / 2,
    )
    return motion, place


def write_people_sequence(config: PeopleDataConfig, subject: int, index: int) -> int:
    app = appearance_of(config, subject)
    rng = np.random.default_rng([config.seed, 2, subject, index])
    background = sample_background(rng)
    motion, place = sample_sequence(rng, config.frames, config.height, config.width)
    h, w = config.height, config.width
    texture = bake_background(background, place, config.frames, h, w)
    kinds = ("A", "B", "flow", "openpose")
    with SequenceWriter(config.out, subject_split(config, subject), sequence_name(subject, index), kinds) as writer:
        prev = pose_at(app.proportions, motion, place, -1)
        for t in range(config.frames):
            pose = pose_at(app.proportions, motion, place, t)
            frame = render_figure(app, background, place, pose, t, h, w, prev if t > 0 else None, texture)
            writer.write(t, label=render_openpose(pose.keypoints, h, w), frame=frame.rgb, flow=frame.flow,
                         keypoints=openpose_json(OpenPoseFrame(body=pose.keypoints)))
            prev = pose
    return config.frames


def generate_people_dataset(
    config: PeopleDataConfig, progress: Callable[[int], None] | None = None
) -> dict[str, float]:
    """Write every subject's sequences, then dataset.json. Returns timing figures."""
    config.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    entries: list[SequenceEntry] = []
    frames = 0
    for subject in range(config.subjects):
        for index in range(config.sequences_per_subject):
            frames += write_people_sequence(config, subject, index)
            entries.append(SequenceEntry(sequence_name(subject, index), subject_split(config, subject), subject))
            if progress:
                progress(config.frames)
    heldout = [s for s in range(config.subjects) if subject_split(config, s) == "test"]
    write_dataset_json(
        config.out, "pose", entries, fps=config.fps,
        extra={"heldout_appearances": heldout,
               "generator": {"name": "people", "seed": config.seed, "height": config.height, "width": config.width,
                             "frames": config.frames, "skeleton": "BODY_25"}},
    )
    seconds = time.perf_counter() - start
    return {"frames": frames, "seconds": seconds, "frames_per_second": frames / max(seconds, 1e-9)}
