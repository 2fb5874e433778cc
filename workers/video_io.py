"""Video and frame I/O of the worker: every codec decision lives here.

- `read_label_frames(path, kind, canvas)`: stream the frames of an uploaded label video (OpenCV), of a zip of PNG
  frames (one entry decoded at a time, sorted by name) or of a zip of OpenPose keypoint files (each rendered in the
  OpenPose colours on `canvas`). Colour frames come out RGB (H, W, 3) uint8; single-channel PNGs (class-id or edge
  maps) come out (H, W) uint8.
- `write_png_atomic(path, frame)`: the durable per-frame record (temp file + `os.replace`).
- `H264Writer`: browser-playable H.264 mp4 (libx264, yuv420p, faststart) through PyAV, written to
  `<name>.partial.mp4` and renamed into place only when the context exits cleanly.
- `encode_frames_to_mp4(frame_paths, path, fps)`: mux PNG frames into the result video, streaming.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Literal

import av
import cv2
import numpy as np

from app.contracts.openpose import keypoint_entries, parse_openpose
from models.core.openpose import render_openpose

MAX_ZIP_ENTRY_BYTES = 256 * 1024 * 1024
"""Largest uncompressed PNG accepted in a frame zip (guards against zip bombs)."""

H264_CRF = 18
H264_PRESET = "veryfast"


class DecodeError(ValueError):
    """The label input cannot be decoded (unknown container, corrupt frame, empty video)."""


# ----------------------------------------------------------------------------------------------- reading


def read_label_frames(path: Path | str, kind: Literal["video", "zip", "keypoints"],
                      canvas: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """Yield label frames one at a time: (H, W, 3) uint8 RGB, or (H, W) uint8 for single-channel PNGs.

    `canvas` (width, height): the size keypoint frames are drawn at (required for kind "keypoints").
    Raises DecodeError when the input cannot be opened or a frame cannot be decoded.
    """
    if kind == "video":
        return _read_video(Path(path))
    if kind == "zip":
        return _read_zip(Path(path))
    if kind == "keypoints":
        if canvas is None:
            raise ValueError("keypoint labels need the canvas size")
        return _read_keypoints(Path(path), canvas)
    raise ValueError(f"unknown label input kind {kind!r}; expected 'video', 'zip' or 'keypoints'")


def _read_keypoints(path: Path, canvas: tuple[int, int]) -> Iterator[np.ndarray]:
    width, height = canvas
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise DecodeError(f"cannot open {path.name} as a zip of keypoint files: {exc}") from exc
    with archive:
        names = keypoint_entries([i.filename for i in archive.infolist()])
        if not names:
            raise DecodeError(f"{path.name} contains no keypoint files")
        for name in names:
            try:
                frame = parse_openpose(json.loads(archive.read(name)))
            except (ValueError, zipfile.BadZipFile, OSError) as exc:
                raise DecodeError(f"cannot read keypoints {name}: {exc}") from exc
            yield render_openpose(frame.body, height, width, hands=frame.hands, face=frame.face)  # (H, W, 3)


def _read_video(path: Path) -> Iterator[np.ndarray]:
    if not path.is_file():
        raise DecodeError(f"label video {path.name} does not exist")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise DecodeError(f"cannot open {path.name} as a video")
        while True:
            ok, frame_bgr = capture.read()
            if not ok:
                return
            yield cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


def _png_names(archive: zipfile.ZipFile) -> list[str]:
    names = []
    for info in archive.infolist():
        base = info.filename.rsplit("/", 1)[-1]
        if info.is_dir() or base.startswith(".") or info.filename.startswith("__MACOSX/"):
            continue
        if base.lower().endswith(".png"):
            names.append(info.filename)
    return sorted(names)


def _read_zip(path: Path) -> Iterator[np.ndarray]:
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise DecodeError(f"cannot open {path.name} as a zip of PNG frames: {exc}") from exc
    with archive:
        names = _png_names(archive)
        if not names:
            raise DecodeError(f"{path.name} contains no PNG frames")
        for name in names:
            if archive.getinfo(name).file_size > MAX_ZIP_ENTRY_BYTES:
                raise DecodeError(f"frame {name} is larger than {MAX_ZIP_ENTRY_BYTES} bytes uncompressed")
            try:
                data = np.frombuffer(archive.read(name), dtype=np.uint8)
            except (zipfile.BadZipFile, OSError) as exc:
                raise DecodeError(f"cannot read {name} from {path.name}: {exc}") from exc
            yield _decode_png(data, name)


def _decode_png(data: np.ndarray, name: str) -> np.ndarray:
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DecodeError(f"{name} is not a readable PNG")
    if image.dtype != np.uint8:
        if image.dtype == np.uint16 and int(image.max(initial=0)) < 256:
            image = image.astype(np.uint8)  # class ids stored as 16-bit PNG
        elif image.dtype == np.uint16 and image.ndim == 2:
            return image  # Cityscapes instance ids (class, or 1000 * class + instance): see models.core.label_codec
        else:
            raise DecodeError(f"{name}: 8-bit PNG frames expected, got {image.dtype}")
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[:, :, 0]
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_image_rgb(path: Path | str) -> np.ndarray:
    """Read one still image (reference photo or reference label) as (H, W, 3) uint8 RGB."""
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise DecodeError(f"{Path(path).name} is not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_png_rgb(path: Path | str) -> np.ndarray:
    """Read a frame written by `write_png_atomic` back as (H, W, 3) uint8 RGB."""
    return read_image_rgb(path)


# ----------------------------------------------------------------------------------------------- writing


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_png_atomic(path: Path | str, frame_rgb: np.ndarray) -> None:
    """Write (H, W, 3) uint8 RGB as PNG so that `path` is either absent or complete, never half written."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - cv2 only fails on invalid arrays
        raise ValueError("PNG encoding failed")
    _atomic_write_bytes(Path(path), encoded.tobytes())


def even_size(width: int, height: int) -> tuple[int, int]:
    """yuv420p needs even dimensions: odd ones grow by one pixel (the last row/column is repeated)."""
    return width + (width % 2), height + (height % 2)


def partial_path(path: Path) -> Path:
    """`result.mp4` -> `result.partial.mp4` (same folder, so the final rename is atomic)."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")


class H264Writer:
    """Context manager writing RGB frames into a browser-playable H.264 mp4.

    Frames go to `<stem>.partial.mp4`; on a clean exit the file is renamed to `path`, on an exception the partial
    file is removed and `path` is left untouched. Odd sizes are padded to even by repeating the edge pixels.

        with H264Writer(job_dir / "result.mp4", fps=15.0, width=256, height=128) as writer:
            writer.write(frame_rgb)   # (128, 256, 3) uint8
    """

    def __init__(self, path: Path | str, fps: float, width: int, height: int, crf: int = H264_CRF) -> None:
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.fps = fps
        self.width, self.height = width, height
        self.crf = crf
        self.frames = 0
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None

    def __enter__(self) -> H264Writer:
        self.partial.unlink(missing_ok=True)
        container = av.open(str(self.partial), mode="w", format="mp4", options={"movflags": "+faststart"})
        try:
            stream = container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
            stream.width, stream.height = even_size(self.width, self.height)
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(self.crf), "preset": H264_PRESET}
        except BaseException:
            container.close()
            self.partial.unlink(missing_ok=True)
            raise
        self._container, self._stream = container, stream
        return self

    def write(self, frame_rgb: np.ndarray) -> None:
        """Append one (height, width, 3) uint8 RGB frame."""
        assert self._container is not None and self._stream is not None, "use H264Writer as a context manager"
        if frame_rgb.shape != (self.height, self.width, 3):
            raise ValueError(f"frame shape {frame_rgb.shape} != {(self.height, self.width, 3)}")
        pad_w, pad_h = self._stream.width - self.width, self._stream.height - self.height
        if pad_w or pad_h:
            frame_rgb = np.pad(frame_rgb, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_rgb), format="rgb24")
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self.frames += 1

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        container, stream = self._container, self._stream
        self._container = self._stream = None
        if container is None or stream is None:
            return
        try:
            if exc_type is None:
                for packet in stream.encode(None):  # flush the encoder
                    container.mux(packet)
        finally:
            container.close()
        if exc_type is None and self.frames > 0:
            os.replace(self.partial, self.path)
        else:
            self.partial.unlink(missing_ok=True)
            if exc_type is None:
                raise ValueError("no frames were written")


def encode_frames_to_mp4(frame_paths: Iterable[Path], path: Path, fps: float) -> int:
    """Mux PNG frames (all the same size) into `path` as H.264, one frame in memory at a time. Returns the count."""
    return encode_rgb_frames_to_mp4((read_png_rgb(p) for p in frame_paths), path, fps)


def encode_rgb_frames_to_mp4(frames: Iterable[np.ndarray], path: Path, fps: float) -> int:
    """Mux (H, W, 3) uint8 RGB frames (all the same size) into `path` as H.264, streaming. Returns the count."""
    stream = iter(frames)
    first = next(stream, None)
    if first is None:
        raise ValueError("no frames to encode")
    with H264Writer(path, fps=fps, width=first.shape[1], height=first.shape[0]) as writer:
        writer.write(first)
        for frame in stream:
            writer.write(frame)
    return writer.frames
