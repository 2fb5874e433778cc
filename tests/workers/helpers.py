"""Shared test material: a tiny served-model manifest, small colour-coded label videos, a real worker process."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from app.contracts import JobSpec, OutputOptions, TranslateJob
from tests.reliability.servers import stop_process
from workers.hooks import NullHooks
from workers.video_io import H264Writer

REPO = Path(__file__).resolve().parents[2]
TINY_PALETTE = [(0, 0, 0), (128, 64, 128), (70, 130, 180), (220, 20, 60)]
RUN_HEIGHT, RUN_WIDTH = 32, 48

TINY_MODEL = {
    "name": "tiny",
    "family": "vid2vid",
    "preset": "vid2vid-tiny",
    "description": "test model: 4-colour segmentation, untrained",
    "inputs": {
        "kind": "translate",
        "labels": {
            "type": "segmentation",
            "num_classes": 4,
            "class_names": ["void", "road", "sky", "person"],
            "palette": [list(c) for c in TINY_PALETTE],
            "channels": 4,
        },
    },
    "output": {"height": RUN_HEIGHT, "width": RUN_WIDTH, "size_multiple": 4},
    "options": {"temporal": {"min": 0, "max": 1, "default": 1}},
}


def write_manifest(folder: Path, people: bool = False) -> Path:
    """A manifest serving `tiny` (vid2vid-tiny, 4-colour segmentation) and, with `people`, `tiny-people`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "manifest.json"
    models = {"tiny": TINY_MODEL, "tiny-people": TINY_PEOPLE} if people else {"tiny": TINY_MODEL}
    path.write_text(json.dumps({"models": models}))
    return path


def label_frame(t: int, height: int, width: int) -> np.ndarray:
    ids = np.full((height, width), 2, dtype=np.int64)  # sky
    ids[height // 2 :] = 1  # road
    x = (4 + 3 * t) % max(1, width - 10)
    ids[height // 3 : height // 3 + 10, x : x + 8] = 3  # a person walking right
    return np.asarray(TINY_PALETTE, dtype=np.uint8)[ids]


def write_label_video(path: Path, frames: int, height: int = 40, width: int = 60, fps: float = 10.0) -> Path:
    with H264Writer(path, fps=fps, width=width, height=height) as writer:
        for t in range(frames):
            writer.write(label_frame(t, height, width))
    return path


def make_spec(
    media_root: Path,
    job_id: str,
    frames: int,
    labels: Path,
    model: str = "tiny",
    references: tuple[list[Path], list[Path]] = ([], []),
    family_options: dict[str, int] | None = None,
    **options: object,
) -> JobSpec:
    job_dir = media_root / "jobs" / job_id
    job_dir.mkdir(parents=True, exist_ok=True)
    inputs = TranslateJob(labels_path=str(labels), labels_kind="video", reference_paths=[str(p) for p in references[0]],
                          reference_label_paths=[str(p) for p in references[1]])
    return JobSpec(job_id=job_id, owner="test", model=model, job_dir=str(job_dir), frames_total=frames, fps=10.0,
                   options=OutputOptions(**options), family_options=family_options or {}, inputs=inputs)


TINY_PEOPLE = {
    "name": "tiny-people",
    "family": "fs_vid2vid",
    "preset": "fs_vid2vid-tiny",
    "description": "test model: few-shot pose, untrained",
    "inputs": {"kind": "translate", "labels": {"type": "pose", "channels": 3}, "references": {"min": 1, "max": 8}},
    "output": {"height": 32, "width": 32, "size_multiple": 16},
    "options": {"finetune_steps": {"min": 0, "max": 200, "default": 0, "seconds_per_unit": 5.0}},
}


def pose_frame(t: int, height: int, width: int) -> np.ndarray:
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    x = 6 + (2 * t) % max(1, width - 12)
    frame[4 : height - 4, x : x + 3] = (255, 0, 85)  # a "spine" moving right
    frame[height // 3 : height // 3 + 2, max(0, x - 5) : x + 8] = (0, 255, 0)  # "arms"
    return frame


def write_pose_video(path: Path, frames: int, height: int = 48, width: int = 40) -> Path:
    with H264Writer(path, fps=10.0, width=width, height=height) as writer:
        for t in range(frames):
            writer.write(pose_frame(t, height, width))
    return path


def wait_ready(client: Any, timeout: float = 120.0) -> None:
    """Poll the API's /readyz until a worker is alive (it beats once its models are loaded)."""
    import time

    deadline = time.monotonic() + timeout
    while client.get("/readyz").status_code != 200:
        if time.monotonic() > deadline:
            raise AssertionError(f"no worker became ready within {timeout} s")
        time.sleep(0.2)


@contextlib.contextmanager
def worker_process(redis_url: str, manifest: Path, log: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """A real `v2v worker` subprocess on CPU (1 thread) serving `manifest`, its output in `log`; stopped after."""
    environment = dict(os.environ, OMP_NUM_THREADS="1", V2V_MANIFEST=str(manifest), **env)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "v2v"), "worker", "--redis-url", redis_url, "--device", "cpu"],
            cwd=REPO, env=environment, stdout=out, stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            stop_process(proc, timeout=15)


class Crash(BaseException):
    """Stands in for SIGKILL: nothing after the raise runs."""


class CrashAfter(NullHooks):
    """Job hooks that "kill" the job (raise `Crash`) once `frames` frames are reported done."""

    def __init__(self, frames: int) -> None:
        super().__init__()
        self.frames = frames

    def report_progress(self, done: int, total: int) -> None:
        if done >= self.frames:
            raise Crash()
