"""PNG-zip uploads: every frame's declared size is checked from its header (no decode), and sizes must agree."""

from __future__ import annotations

import struct
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from app.errors import ApiError
from app.probe import Limits, probe_labels

LIMITS = Limits(
    max_frames=50, max_width=256, max_height=256, max_duration_s=10, max_zip_uncompressed_bytes=10**8, zip_fps=15
)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, rows: int | None = None) -> bytes:
    """An 8-bit RGB PNG of `width` x `height`; `rows` limits the pixel data actually stored (a bomb's header)."""
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    raw = b"".join(b"\x00" + bytes(3 * width) for _ in range(height if rows is None else rows))
    return b"\x89PNG\r\n\x1a\n" + header + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


def write_zip(path: Path, frames: list[bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for i, data in enumerate(frames):
            archive.writestr(f"{i:05d}.png", data)
    return path


def test_a_huge_later_frame_is_refused_without_decoding(tmp_path: Path):
    bomb = write_zip(tmp_path / "bomb.zip", [png(32, 32), png(32, 32), png(16000, 16000, rows=4)])
    assert bomb.stat().st_size < 20_000
    started = time.monotonic()
    with pytest.raises(ApiError) as err:
        probe_labels(bomb, LIMITS)
    assert (err.value.status_code, err.value.code) == (400, "resolution_too_large")
    assert "00002.png" in err.value.message and "16000x16000" in err.value.message
    assert time.monotonic() - started < 1.0


def test_frames_of_different_sizes_are_refused(tmp_path: Path):
    mixed = write_zip(tmp_path / "mixed.zip", [png(32, 32), png(32, 32), png(48, 32)])
    with pytest.raises(ApiError) as err:
        probe_labels(mixed, LIMITS)
    assert (err.value.status_code, err.value.code) == (400, "inconsistent_frames")


def test_a_consistent_zip_is_accepted(tmp_path: Path):
    probe = probe_labels(write_zip(tmp_path / "ok.zip", [png(40, 24) for _ in range(3)]), LIMITS)
    assert (probe.kind, probe.frames, probe.width, probe.height) == ("zip", 3, 40, 24)
