"""Checks a label video, a zip of PNG frames (or of OpenPose keypoint files) or a reference image before a job is
queued (PyAV + numpy only).

`probe_labels(path, limits, keypoint_canvas)` opens the upload, counts frames, reads fps and size and decodes the
first frame (a keypoint zip, accepted only when the caller gives a default canvas: every file is parsed);
`check_labels_match(frame, card, ...)` refuses label content that cannot belong to the chosen model;
`probe_image(path, ...)` checks a reference image. Every refusal is an `ApiError` with a stable code.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import av
import numpy as np

from app.contracts import LabelSpec, LabelType
from app.contracts.openpose import CANVAS_ENTRY, MAX_KEYPOINT_FILE_BYTES, keypoint_entries, parse_canvas, parse_openpose
from app.errors import ApiError

VIDEO_FORMATS = frozenset({"mov", "mp4", "avi", "matroska", "webm"})
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"
_CONTAINER_SIGNATURES = (b"ftyp", b"\x1a\x45\xdf\xa3", b"RIFF", b"moov", b"mdat", b"free", b"wide")
MAX_FRAME_BYTES = 64 * 1024 * 1024  # one PNG frame in a zip
CHECK_PIXELS = 256 * 256  # the content checks look at a subsampled first frame of about this many pixels


@dataclass(frozen=True)
class Limits:
    max_frames: int
    max_width: int
    max_height: int
    max_duration_s: float
    max_zip_uncompressed_bytes: int
    zip_fps: float


@dataclass(frozen=True)
class LabelProbe:
    """What the API learnt about a label upload."""

    kind: Literal["video", "zip", "keypoints"]
    format: str
    """"zip", or the video container: one of VIDEO_FORMATS."""
    frames: int
    fps: float
    width: int
    height: int
    """keypoints: the canvas the keypoints are drawn on."""
    first_frame: np.ndarray | None  # (H, W, 3) uint8 RGB; None for keypoints (rendered by the worker)


def _refuse(code: str, message: str, status: int = 400) -> ApiError:
    return ApiError(status, code, message)


def _head(path: Path, size: int = 16) -> bytes:
    with open(path, "rb") as f:
        return f.read(size)


def _check_size(width: int, height: int, limits: Limits, what: str) -> None:
    """Refuse declared dimensions past the limits before anything is decoded (no decompression bombs)."""
    if width > limits.max_width or height > limits.max_height:
        raise _refuse(
            "resolution_too_large",
            f"{what} are {width}x{height}; the limit is {limits.max_width}x{limits.max_height}",
        )


def _safe_member_name(name: str) -> bool:
    """A zip entry name that could not escape a folder if someone extracted it."""
    parts = name.replace("\\", "/").split("/")
    return not (name.startswith(("/", "\\")) or ":" in parts[0] or ".." in parts or "\x00" in name)


def png_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk, or None if `head` does not start like a PNG."""
    if len(head) < 24 or not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def jpeg_size(path: Path, max_segments: int = 256) -> tuple[int, int] | None:
    """(width, height) from a JPEG's start-of-frame segment, or None if none is found."""
    with open(path, "rb") as f:
        if f.read(2) != b"\xff\xd8":
            return None
        for _ in range(max_segments):
            marker = f.read(2)
            if len(marker) < 2 or marker[0] != 0xFF:
                return None
            length_bytes = f.read(2)
            if len(length_bytes) < 2:
                return None
            length = int.from_bytes(length_bytes, "big")
            if marker[1] in _JPEG_SOF:
                sof = f.read(5)
                if len(sof) < 5:
                    return None
                return int.from_bytes(sof[3:5], "big"), int.from_bytes(sof[1:3], "big")
            if length < 2:
                return None
            f.seek(length - 2, 1)
    return None


def probe_labels(path: Path, limits: Limits, keypoint_canvas: tuple[int, int] | None = None) -> LabelProbe:
    """Probe a label upload (video container, zip of PNG frames, or, when `keypoint_canvas` (width, height) is given,
    zip of OpenPose JSON keypoint files drawn on that canvas unless the zip's canvas.json says otherwise) and apply
    the frame/size/length limits."""
    head = _head(path)
    if not head:
        raise _refuse("empty_file", "the label video is empty")
    if head.startswith(ZIP_SIGNATURE):
        probe = _probe_zip(path, limits, keypoint_canvas)
    else:
        probe = _probe_video(path, head, limits)
    if probe.width > limits.max_width or probe.height > limits.max_height:
        raise _refuse(
            "resolution_too_large",
            f"labels are {probe.width}x{probe.height}; the limit is {limits.max_width}x{limits.max_height}",
        )
    if probe.frames / probe.fps > limits.max_duration_s:
        raise _refuse("too_long", f"labels last {probe.frames / probe.fps:.1f} s; at most {limits.max_duration_s} s")
    return probe


def _probe_video(path: Path, head: bytes, limits: Limits) -> LabelProbe:
    looks_like_container = any(sig in head for sig in _CONTAINER_SIGNATURES)
    try:
        container = av.open(str(path))
    except (av.FFmpegError, ValueError, OSError) as exc:
        if looks_like_container:
            raise _refuse("corrupt_video", "the video container is damaged (truncated upload?)") from exc
        raise _refuse("not_a_video", "the label upload is neither a video nor a zip of PNG frames") from exc
    with container:
        formats = set(container.format.name.split(","))
        if not formats & VIDEO_FORMATS:
            raise _refuse(
                "unsupported_container",
                f"container {container.format.name!r} refused: use mp4, mov, avi, webm, mkv or a PNG zip",
                415,
            )
        if not container.streams.video:
            if looks_like_container:
                raise _refuse("corrupt_video", "the video has no readable video stream (truncated upload?)")
            raise _refuse("not_a_video", "the upload has no video stream")
        stream = container.streams.video[0]
        if stream.codec_context is None:
            raise _refuse("corrupt_video", "the video stream has no usable codec (damaged or unknown)")
        _check_size(int(stream.codec_context.width or 0), int(stream.codec_context.height or 0), limits, "labels")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else limits.zip_fps
        declared = int(stream.frames or 0)
        try:
            packets = 0
            for packet in container.demux(stream):
                if packet.size:
                    packets += 1
                    if packets > limits.max_frames:
                        raise _refuse(
                            "too_many_frames",
                            f"the video has more than {limits.max_frames} frames; cut it shorter",
                        )
        except av.FFmpegError as exc:
            raise _refuse("corrupt_video", "the video stream cannot be read to its end") from exc
        if packets == 0 or (declared and packets < declared):
            raise _refuse("corrupt_video", f"the video declares {declared} frames but holds {packets} (truncated?)")
    try:
        with av.open(str(path)) as container:
            first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    except (av.FFmpegError, StopIteration, ValueError) as exc:
        raise _refuse("corrupt_video", "the first frame of the video cannot be decoded") from exc
    container_format = next(name for name in ("mp4", "matroska", "webm", "avi", "mov") if name in formats)
    return LabelProbe("video", container_format, packets, fps, first.shape[1], first.shape[0], first)


def _check_zip_frame(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, expected: tuple[int, int] | None, limits: Limits
) -> tuple[int, int]:
    """Check one PNG frame of a zip from its header only (signature + IHDR, 24 bytes; nothing is decoded).

    Every frame must fit the limits (no decompression bomb hides behind a small first frame) and have the size of
    the first one. Returns the frame's (width, height).
    """
    if info.file_size > MAX_FRAME_BYTES:
        raise _refuse("resolution_too_large", f"frame {info.filename!r} is too large ({info.file_size} bytes)")
    with archive.open(info) as member:
        size = png_size(member.read(24))
    if size is None:
        raise _refuse("corrupt_video", f"zip entry {info.filename!r} is not a PNG image")
    _check_size(*size, limits, f"frame {info.filename!r}")
    if expected is not None and size != expected:
        raise _refuse(
            "inconsistent_frames",
            f"frame {info.filename!r} is {size[0]}x{size[1]}; the first frame is {expected[0]}x{expected[1]}: "
            "every frame of a PNG zip must have the same size",
        )
    return size


def _probe_zip(path: Path, limits: Limits, keypoint_canvas: tuple[int, int] | None = None) -> LabelProbe:
    try:
        with zipfile.ZipFile(path) as archive:
            members = sorted(
                (i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")),
                key=lambda i: i.filename,
            )
            if not members:
                raise _refuse("not_a_video", "the zip holds no files; expected PNG frames")
            if len(members) > limits.max_frames:
                raise _refuse("too_many_frames", f"the zip has {len(members)} frames; at most {limits.max_frames}")
            total = sum(i.file_size for i in members)
            if total > limits.max_zip_uncompressed_bytes:
                raise _refuse(
                    "upload_too_large",
                    f"the zip unpacks to {total} bytes; at most {limits.max_zip_uncompressed_bytes}",
                    413,
                )
            if all(i.filename.lower().endswith(".json") for i in members):
                if keypoint_canvas is None:
                    raise _refuse("not_a_video", "this model does not take OpenPose keypoints (only pose models do); "
                                                 "upload a video or a zip of PNG frames")
                return _probe_keypoints(archive, members, keypoint_canvas, limits)
            size: tuple[int, int] | None = None
            for info in members:
                if not _safe_member_name(info.filename):
                    raise _refuse("unsafe_zip_entry", f"zip entry {info.filename[:100]!r} has an unsafe path")
                if not info.filename.lower().endswith(".png"):
                    raise _refuse("not_a_video", f"zip entry {info.filename!r} is not a .png frame")
                size = _check_zip_frame(archive, info, size, limits)
            first_bytes = archive.read(members[0])
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError) as exc:
        raise _refuse("corrupt_video", "the zip archive is damaged or uses an unsupported feature") from exc
    first = _decode_image(io.BytesIO(first_bytes), what=f"frame {members[0].filename!r}", code="corrupt_video")
    return LabelProbe("zip", "zip", len(members), limits.zip_fps, first.shape[1], first.shape[0], first)


def _probe_keypoints(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], canvas: tuple[int, int],
                     limits: Limits) -> LabelProbe:
    """Parse every OpenPose file of a keypoint zip (each at most MAX_KEYPOINT_FILE_BYTES) and its canvas.json."""
    by_name = {i.filename: i for i in members}
    for info in members:
        if not _safe_member_name(info.filename):
            raise _refuse("unsafe_zip_entry", f"zip entry {info.filename[:100]!r} has an unsafe path")
        if info.file_size > MAX_KEYPOINT_FILE_BYTES:
            raise _refuse("bad_keypoints", f"{info.filename!r} is larger than {MAX_KEYPOINT_FILE_BYTES} bytes")
    canvas_entries = [n for n in by_name if n.rsplit("/", 1)[-1] == CANVAS_ENTRY]
    if len(canvas_entries) > 1:
        raise _refuse("bad_keypoints", "the zip holds more than one canvas.json")
    if canvas_entries:
        try:
            canvas = parse_canvas(json.loads(archive.read(canvas_entries[0])))
        except (ValueError, UnicodeDecodeError) as exc:
            raise _refuse("bad_keypoints", f"{canvas_entries[0]}: {exc}") from exc
    _check_size(*canvas, limits, "the keypoint canvas dimensions")
    frames = keypoint_entries(list(by_name))
    if not frames:
        raise _refuse("not_a_video", "the zip holds no keypoint files (one OpenPose *_keypoints.json per frame)")
    for name in frames:
        try:
            payload = json.loads(archive.read(name))
            if not isinstance(payload, dict):
                raise ValueError("not a JSON object")
            parse_openpose(payload)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise _refuse("bad_keypoints", f"{name}: {str(exc)[:200]}") from exc
    return LabelProbe("keypoints", "zip", len(frames), limits.zip_fps, canvas[0], canvas[1], None)


def _decode_image(source: io.BytesIO | str, what: str, code: str) -> np.ndarray:
    try:
        with av.open(source) as container:
            if not container.streams.video:
                raise _refuse(code, f"{what} is not an image")
            return next(container.decode(video=0)).to_ndarray(format="rgb24")
    except (av.FFmpegError, StopIteration, ValueError, OSError) as exc:
        raise _refuse(code, f"{what} cannot be decoded as an image") from exc


def probe_image(path: Path, max_width: int, max_height: int, what: str) -> np.ndarray:
    """Decode a PNG/JPEG reference image and check its size; returns (H, W, 3) uint8 RGB."""
    head = _head(path, 8)
    if not head:
        raise _refuse("empty_file", f"{what} is empty")
    if not (head.startswith(PNG_SIGNATURE) or head.startswith(b"\xff\xd8\xff")):
        raise _refuse("bad_reference_image", f"{what} is not a PNG or JPEG image")
    declared = png_size(_head(path, 32)) if head.startswith(PNG_SIGNATURE) else jpeg_size(path)
    if declared is None:
        raise _refuse("bad_reference_image", f"{what} has no readable image header")
    if declared[0] > max_width or declared[1] > max_height:
        raise _refuse("resolution_too_large", f"{what} is {declared[0]}x{declared[1]}; too large")
    image = _decode_image(str(path), what=what, code="bad_reference_image")
    if image.shape[1] > max_width or image.shape[0] > max_height:
        raise _refuse("resolution_too_large", f"{what} is {image.shape[1]}x{image.shape[0]}; too large")
    return image


def image_extension(path: Path) -> str:
    """ ".png" or ".jpg" from the file's signature (call after `probe_image`)."""
    return ".png" if _head(path, 8).startswith(PNG_SIGNATURE) else ".jpg"


def _subsample(frame: np.ndarray) -> np.ndarray:
    step = max(1, int(np.sqrt(frame.shape[0] * frame.shape[1] / CHECK_PIXELS)))
    return frame[::step, ::step]


def palette_distance(frame: np.ndarray, palette: np.ndarray) -> float:
    """Mean Euclidean RGB distance of each pixel to its nearest palette colour."""
    pixels = _subsample(frame).reshape(-1, 3).astype(np.int32)  # (P, 3)
    colours = np.unique(palette.astype(np.int32), axis=0)  # (U, 3)
    nearest = np.full(len(pixels), np.inf)
    for colour in colours:
        nearest = np.minimum(nearest, ((pixels - colour) ** 2).sum(axis=1))
    return float(np.sqrt(nearest).mean())


def colourful_fraction(frame: np.ndarray, spread: int = 48) -> float:
    """Fraction of pixels whose channels differ by more than `spread` (i.e. clearly not grey)."""
    pixels = _subsample(frame).astype(np.int16)
    return float(((pixels.max(axis=2) - pixels.min(axis=2)) > spread).mean())


def check_labels_match(frame: np.ndarray, labels: LabelSpec, model: str, max_palette_distance: float) -> None:
    """Refuse (400 "labels_do_not_match_model") a first label frame that cannot be model `model`'s label type."""
    label_type = labels.type
    if label_type == LabelType.SEGMENTATION and labels.palette:
        distance = palette_distance(frame, np.array(labels.palette, dtype=np.uint8))
        if distance > max_palette_distance:
            raise _refuse(
                "labels_do_not_match_model",
                f"model {model!r} takes colour-coded segmentation in its palette (GET /v1/models); the "
                f"first frame is on average {distance:.0f} RGB units from the nearest palette colour",
            )
    elif label_type == LabelType.EDGES and colourful_fraction(frame) > 0.05:
        raise _refuse(
            "labels_do_not_match_model",
            f"model {model!r} takes black-and-white edge maps; the first frame is in colour",
        )
    elif label_type == LabelType.POSE:
        bright = (frame.max(axis=2) > 64).mean()
        if bright > 0.01 and colourful_fraction(frame) < 0.001:
            raise _refuse(
                "labels_do_not_match_model",
                f"model {model!r} takes colour OpenPose-style skeletons; the first frame is grey",
            )
