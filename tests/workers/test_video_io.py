"""Video I/O: H.264 round trip, frame zips, atomic PNG writes, partial files never left behind."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from workers.video_io import (
    DecodeError,
    H264Writer,
    encode_frames_to_mp4,
    read_label_frames,
    read_png_rgb,
    write_png_atomic,
)


def _frame(i: int, height: int = 48, width: int = 64) -> np.ndarray:
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    frame[:, : width // 2] = (200, 30, 30)
    frame[:, width // 2 :] = (30, 30, 200)
    frame[4 + i : 12 + i, 4:12] = 255
    return frame


def test_h264_round_trip_is_readable_by_cv2_and_pyav(tmp_path: Path) -> None:
    out = tmp_path / "result.mp4"
    with H264Writer(out, fps=15.0, width=64, height=48) as writer:
        for i in range(7):
            writer.write(_frame(i))
    assert out.is_file() and not (tmp_path / "result.partial.mp4").exists()

    frames = list(read_label_frames(out, "video"))
    assert len(frames) == 7 and frames[0].shape == (48, 64, 3)
    assert np.abs(frames[3].astype(int) - _frame(3).astype(int)).mean() < 6  # RGB order preserved, lossy but close

    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert sum(1 for _ in container.decode(stream)) == 7
    assert out.read_bytes()[4:8] == b"ftyp" and out.read_bytes().find(b"moov") < out.read_bytes().find(b"mdat")


def test_odd_size_is_padded_to_even(tmp_path: Path) -> None:
    out = tmp_path / "odd.mp4"
    with H264Writer(out, fps=10.0, width=33, height=21) as writer:
        writer.write(np.full((21, 33, 3), 90, dtype=np.uint8))
    capture = cv2.VideoCapture(str(out))
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (34, 22)
    capture.release()


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "result.mp4"
    with pytest.raises(RuntimeError), H264Writer(out, fps=10.0, width=64, height=48) as writer:
        writer.write(_frame(0))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_zip_of_pngs_is_read_sorted_with_gray_and_colour(tmp_path: Path) -> None:
    path = tmp_path / "labels.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for i in (2, 0, 1):
            ok, png = cv2.imencode(".png", cv2.cvtColor(_frame(i), cv2.COLOR_RGB2BGR))
            archive.writestr(f"frames/{i:05d}.png", png.tobytes())
        archive.writestr("frames/readme.txt", "ignored")
        ok, gray = cv2.imencode(".png", np.full((48, 64), 7, dtype=np.uint8))
        archive.writestr("frames/00003.png", gray.tobytes())
    frames = list(read_label_frames(path, "zip"))
    assert len(frames) == 4
    for i in range(3):
        assert np.array_equal(frames[i], _frame(i))  # lossless, RGB
    assert frames[3].shape == (48, 64) and int(frames[3][0, 0]) == 7


@pytest.mark.parametrize("content", [b"not a zip", b""])
def test_bad_zip_raises_decode_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.zip"
    path.write_bytes(content)
    with pytest.raises(DecodeError):
        list(read_label_frames(path, "zip"))


def test_zip_with_corrupt_png_raises_decode_error(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("00000.png", b"\x89PNG garbage")
    path = tmp_path / "corrupt.zip"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(DecodeError):
        list(read_label_frames(path, "zip"))


def test_garbage_video_raises_decode_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.mp4"
    path.write_bytes(b"\x00" * 1000)
    with pytest.raises(DecodeError):
        list(read_label_frames(path, "video"))


def test_png_write_is_atomic_and_lossless(tmp_path: Path) -> None:
    target = tmp_path / "000000.png"
    write_png_atomic(target, _frame(1))
    assert np.array_equal(read_png_rgb(target), _frame(1))
    assert [p.name for p in tmp_path.iterdir()] == ["000000.png"]


def test_encode_frames_to_mp4(tmp_path: Path) -> None:
    paths = []
    for i in range(5):
        paths.append(tmp_path / f"{i:06d}.png")
        write_png_atomic(paths[-1], _frame(i))
    out = tmp_path / "result.mp4"
    assert encode_frames_to_mp4(paths, out, fps=12.5) == 5
    assert len(list(read_label_frames(out, "video"))) == 5
