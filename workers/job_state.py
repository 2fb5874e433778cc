"""The resumable part of a job: the generator state after the last completed frame, on disk under `job_dir/state/`.

One safetensors file holds the generator state (`state.to_tensors()`), the torch RNG state(s) and, in its
metadata, the number of frames completed, so the three can never disagree. It is written to a temp file and
renamed into place after each frame; a worker killed at any moment leaves either the previous or the new file.
A pipeline that adapts itself to a job (e.g. fine-tuning on the job's inputs) keeps what it made there too, as named
tensor files (`save_named_tensors`), so a resumed job reuses them instead of adapting again.
The bytes are serialised in memory and written with Python's own file I/O (`_write_atomic`), so a full disk is an
`OSError(ENOSPC)` like every other write of the job (safetensors' own writer raises its own error type, which the
job would report as `internal` and retry).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, safe_open
from safetensors.torch import save as serialize

STATE_FILE = "state.safetensors"
_RNG_CPU = "__job__.rng_cpu"
_RNG_CUDA = "__job__.rng_cuda"


@dataclass(frozen=True)
class SavedState:
    next_frame: int
    """Frames 0..next_frame-1 are complete (their PNGs exist); generation continues at this index."""
    tensors: dict[str, torch.Tensor]
    """The generator state's tensors (CPU), as given by `state.to_tensors()`."""


def save_job_state(state_dir: Path, next_frame: int, tensors: dict[str, torch.Tensor], device: torch.device) -> None:
    """Atomically record that `next_frame` frames are done, with the generator state and RNG after them."""
    payload = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    payload[_RNG_CPU] = torch.get_rng_state()
    if device.type == "cuda":
        payload[_RNG_CUDA] = torch.cuda.get_rng_state(device)
    _write_atomic(state_dir, STATE_FILE, serialize(payload, metadata={"next_frame": str(next_frame)}))


def _write_atomic(state_dir: Path, name: str, data: bytes) -> None:
    """Write `data` to `state_dir/name` through a temp file renamed into place; errors are plain OSErrors."""
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / f".{name}.tmp"
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, state_dir / name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_job_state(state_dir: Path, device: torch.device) -> SavedState | None:
    """The saved state (RNG restored as a side effect), or None when there is none or it is unreadable."""
    path = state_dir / STATE_FILE
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as handle:
            next_frame = int((handle.metadata() or {})["next_frame"])
        tensors = load_file(str(path))
    except (OSError, KeyError, ValueError, RuntimeError):
        return None  # a file we cannot trust: start over (frames are rewritten identically)
    rng_cpu = tensors.pop(_RNG_CPU, None)
    rng_cuda = tensors.pop(_RNG_CUDA, None)
    if rng_cpu is not None:
        torch.set_rng_state(rng_cpu)
    if rng_cuda is not None and device.type == "cuda":
        torch.cuda.set_rng_state(rng_cuda, device)
    return SavedState(next_frame=next_frame, tensors={k: v.to(device) for k, v in tensors.items()})


def _named_file(name: str) -> str:
    if not name.isidentifier():
        raise ValueError(f"tensor file names are identifiers, got {name!r}")
    return f"{name}.safetensors"


def save_named_tensors(state_dir: Path, name: str, tensors: dict[str, torch.Tensor], settings: dict[str, str]
                       ) -> None:
    """Atomically store tensors a pipeline made for this job (e.g. fine-tuned parameters), tagged with the settings
    that produced them, so a resumed job uses exactly these instead of making them again."""
    payload = {key: t.detach().to("cpu").contiguous() for key, t in tensors.items()}
    _write_atomic(state_dir, _named_file(name), serialize(payload, metadata=settings))


def load_named_tensors(state_dir: Path, name: str, settings: dict[str, str]) -> dict[str, torch.Tensor] | None:
    """The tensors saved under `name` with the same settings (CPU), or None (absent, unreadable, other settings)."""
    path = state_dir / _named_file(name)
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as handle:
            if (handle.metadata() or {}) != settings:
                return None
        return load_file(str(path))
    except (OSError, ValueError, RuntimeError):
        return None


def clear_job_state(state_dir: Path) -> None:
    """Remove the state and every named tensor file (the frames and videos are the record once a job is done)."""
    if state_dir.is_dir():
        for path in state_dir.glob("*.safetensors"):
            path.unlink(missing_ok=True)
