"""The resumable part of a job: the generator state after the last completed frame, on disk under `job_dir/state/`.

One safetensors file holds the generator state (`state.to_tensors()`), the torch RNG state(s) and, in its
metadata, the number of frames completed and the precision the frames were made in (a worker that resumes the job
continues in it, whatever it serves in itself), so they can never disagree. It is written to a temp file and
renamed into place after each frame; a worker killed at any moment leaves either the previous or the new file.
A pipeline that adapts itself to a job (e.g. fine-tuning on the job's inputs) keeps what it made there too, as named
tensor files (`save_named_tensors`), so a resumed job reuses them instead of adapting again.
The bytes are serialised in memory and written with Python's own file I/O (`_write_atomic`), so a full disk is an
`OSError(ENOSPC)` like every other write of the job (safetensors' own writer raises its own error type, which the
job would report as `internal` and retry).

Size: a floating tensor whose values are all exactly 0 or 1 (one-hot label histories, masks) is stored losslessly as
zlib-compressed bits (`pack_binary`), about 1/100 of its fp32 bytes on real label maps; everything else as it is, so a
resumed job still continues bit for bit. `StateWriter` takes the write off the critical path: it snapshots the
tensors and the RNG state at once, then serialises and writes on a background thread while the next frame is made
(one write in flight; its error, e.g. a full disk, is raised at the next call).
"""

from __future__ import annotations

import json
import os
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, safe_open
from safetensors.torch import save as serialize

from workers.precision import SERVED_PRECISIONS

STATE_FILE = "state.safetensors"
_RNG_CPU = "__job__.rng_cpu"
_RNG_CUDA = "__job__.rng_cuda"
_PACKED = "packed:"
"""Metadata key prefix of a bit-packed tensor: JSON {"shape", "dtype"} of the original."""
MIN_PACK_ELEMENTS = 4096


@dataclass(frozen=True)
class SavedState:
    next_frame: int
    """Frames 0..next_frame-1 are complete (their PNGs exist); generation continues at this index."""
    tensors: dict[str, torch.Tensor]
    """The generator state's tensors (CPU), as given by `state.to_tensors()`."""
    precision: str | None = None
    """The precision ("fp32", "bf16", "fp16") the completed frames were made in; None in a state that did not say."""


def is_binary(t: torch.Tensor) -> bool:
    """A floating tensor whose every value is exactly +0.0 or 1.0 (so its bits say everything)."""
    return bool(t.is_floating_point() and not torch.signbit(t).any() and torch.equal(t, (t != 0).to(t.dtype)))


def pack_binary(t: torch.Tensor) -> torch.Tensor:
    """A 0/1 floating tensor -> its values as zlib-compressed bits (uint8, 1-D); `unpack_binary` inverts it."""
    bits = np.packbits((t != 0).cpu().numpy().reshape(-1))  # (ceil(N/8),)
    return torch.frombuffer(bytearray(zlib.compress(bits.tobytes(), 1)), dtype=torch.uint8)


def unpack_binary(packed: torch.Tensor, shape: list[int], dtype: torch.dtype) -> torch.Tensor:
    count = int(np.prod(shape))
    bits = np.frombuffer(zlib.decompress(packed.numpy().tobytes()), dtype=np.uint8)
    values = np.unpackbits(bits, count=count).reshape(shape)
    return torch.from_numpy(values.copy()).to(dtype)


def encode_state(tensors: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(safetensors payload, metadata): binary floating tensors bit-packed, the others as they are (CPU)."""
    payload, metadata = {}, {}
    for name, t in tensors.items():
        if t.numel() >= MIN_PACK_ELEMENTS and is_binary(t):
            payload[name] = pack_binary(t)
            dtype = str(t.dtype).removeprefix("torch.")
            metadata[_PACKED + name] = json.dumps({"shape": list(t.shape), "dtype": dtype})
        else:
            payload[name] = t.contiguous()
    return payload, metadata


def decode_state(payload: dict[str, torch.Tensor], metadata: dict[str, str]) -> dict[str, torch.Tensor]:
    out = dict(payload)
    for key, spec in metadata.items():
        if key.startswith(_PACKED):
            name, info = key.removeprefix(_PACKED), json.loads(spec)
            out[name] = unpack_binary(payload[name], info["shape"], getattr(torch, info["dtype"]))
    return out


def _snapshot(tensors: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """CPU copies of the state's tensors plus the RNG states, taken now (before the next frame changes anything)."""
    payload = {name: t.detach().to("cpu", copy=True) for name, t in tensors.items()}
    payload[_RNG_CPU] = torch.get_rng_state()
    if device.type == "cuda":
        payload[_RNG_CUDA] = torch.cuda.get_rng_state(device)
    return payload


def _write_state(state_dir: Path, next_frame: int, snapshot: dict[str, torch.Tensor], precision: str | None = None
                 ) -> int:
    payload, metadata = encode_state(snapshot)
    made_in = {"precision": precision} if precision else {}
    data = serialize(payload, metadata={"next_frame": str(next_frame), **made_in, **metadata})
    _write_atomic(state_dir, STATE_FILE, data)
    return len(data)


def save_job_state(state_dir: Path, next_frame: int, tensors: dict[str, torch.Tensor], device: torch.device) -> int:
    """Atomically record that `next_frame` frames are done, with the generator state and RNG after them; returns the
    bytes written."""
    return _write_state(state_dir, next_frame, _snapshot(tensors, device))


class StateWriter:
    """`save_job_state` off the critical path: one write in flight on a background thread."""

    def __init__(self, state_dir: Path, precision: str | None = None) -> None:
        self.state_dir = state_dir
        self.precision = precision
        """What every state it writes says the frames were made in (settable until the first `submit`)."""
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="job-state")
        self._pending: Future[int] | None = None
        self.bytes_written = 0
        self.writes = 0

    def submit(self, next_frame: int, tensors: dict[str, torch.Tensor], device: torch.device) -> None:
        """Snapshot now, write in the background (after the previous write, whose error is raised here)."""
        self.flush()
        snapshot = _snapshot(tensors, device)
        self._pending = self._pool.submit(_write_state, self.state_dir, next_frame, snapshot, self.precision)

    def flush(self) -> None:
        """Wait for the write in flight; raises its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            self.bytes_written += pending.result()
            self.writes += 1

    def close(self) -> None:
        """Wait for the write in flight (its error is dropped: the job is ending anyway) and stop the thread."""
        try:
            self.flush()
        except OSError:
            pass
        finally:
            self._pool.shutdown(wait=True)


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
            metadata = handle.metadata() or {}
            next_frame = int(metadata["next_frame"])
            precision = metadata.get("precision")
            if precision not in (None, *SERVED_PRECISIONS):
                raise ValueError(f"unknown precision {precision!r}")  # not a state this code wrote: start over
        tensors = decode_state(load_file(str(path)), metadata)
    except (OSError, KeyError, ValueError, RuntimeError, zlib.error, json.JSONDecodeError, AttributeError):
        return None  # a file we cannot trust: start over (frames are rewritten identically)
    rng_cpu = tensors.pop(_RNG_CPU, None)
    rng_cuda = tensors.pop(_RNG_CUDA, None)
    if rng_cpu is not None:
        torch.set_rng_state(rng_cpu)
    if rng_cuda is not None and device.type == "cuda":
        torch.cuda.set_rng_state(rng_cuda, device)
    return SavedState(next_frame=next_frame, tensors={k: v.to(device) for k, v in tensors.items()}, precision=precision)


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
