"""The resumable part of a job: the generator state after the last completed frame, on disk under `job_dir/state/`.

One safetensors file holds the generator state (`state.to_tensors()`), the torch RNG state(s) and, in its
metadata, the number of frames completed, so the three can never disagree. It is written to a temp file and
renamed into place after each frame; a worker killed at any moment leaves either the previous or the new file.
The bytes are serialised in memory and written with Python's own file I/O (`_write_atomic`), so a full disk is an
`OSError(ENOSPC)` like every other write of the job (safetensors' own writer raises its own error type, which the
job would report as `internal` and retry).
A few-shot job that fine-tunes on its references also keeps the fine-tuned parameters there (`save_finetuned`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, safe_open
from safetensors.torch import save as serialize

STATE_FILE = "state.safetensors"
FINETUNED_FILE = "finetuned.safetensors"
"""Few-shot jobs with `finetune_steps`: the fine-tuned parameters (see `save_finetuned`)."""
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


def save_finetuned(state_dir: Path, tensors: dict[str, torch.Tensor], settings: dict[str, str]) -> None:
    """Atomically store a job's fine-tuned generator parameters (few-shot `finetune_steps`), tagged with the settings
    that produced them, so a resumed job serves with exactly these weights instead of fine-tuning again."""
    payload = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    _write_atomic(state_dir, FINETUNED_FILE, serialize(payload, metadata=settings))


def load_finetuned(state_dir: Path, settings: dict[str, str]) -> dict[str, torch.Tensor] | None:
    """The fine-tuned parameters saved with the same settings (CPU), or None (absent, unreadable, other settings)."""
    path = state_dir / FINETUNED_FILE
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
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    (state_dir / FINETUNED_FILE).unlink(missing_ok=True)
