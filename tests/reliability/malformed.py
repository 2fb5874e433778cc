"""Bounded, seeded families of malformed and unusual label uploads, made from one small valid H.264 mp4.

`cases(tmp)` returns (case name, upload file name, bytes) triples: truncations, byte flips in the header, the
moov box and the mdat box, random bytes, zips (non-PNG entries, bombs, path traversal), odd sizes and frame
rates, variable frame rate, an audio track, every accepted container, one frame, too many frames.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from fractions import Fraction

import av
import numpy as np

from tests.app.media import PALETTE, png_bytes, seg_frame

SEED = 1234
TRUNCATIONS = 24
FLIPS_PER_REGION = 10


def encode(
    frames: list[np.ndarray],
    fmt: str = "mp4",
    codec: str = "libx264",
    rate: int | Fraction = 15,
    pix_fmt: str = "yuv420p",
    pts: list[int] | None = None,
    audio: bool = False,
) -> bytes:
    """Encode RGB frames into an in-memory container; `pts` (in 1/1000 s) makes the frame rate variable."""
    buffer = io.BytesIO()
    height, width = frames[0].shape[:2]
    with av.open(buffer, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if pts is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        sound = container.add_stream("aac", rate=8000) if audio else None
        for i, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[i], Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if sound is not None:
            samples = np.zeros((1, 8000), np.float32)
            chunk = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            chunk.sample_rate = 8000
            for packet in sound.encode(chunk):
                container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)
    return buffer.getvalue()


def seg_frames(n: int, width: int = 64, height: int = 64) -> list[np.ndarray]:
    size = max(width, height)
    return [np.ascontiguousarray(seg_frame(i, size)[:height, :width]) for i in range(n)]


def _flip(data: bytes, start: int, end: int, rng: np.random.Generator) -> bytes:
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 5))):
        i = int(rng.integers(start, max(start + 1, end)))
        out[i] ^= int(rng.integers(1, 256))
    return bytes(out)


def _box_range(data: bytes, name: bytes) -> tuple[int, int]:
    at = data.find(name)
    assert at >= 4, f"no {name!r} box in the base video"
    size = struct.unpack(">I", data[at - 4 : at])[0]
    return at + 4, min(len(data), at - 4 + size)


def _zip(entries: list[tuple[str, bytes]], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bomb(width: int = 15_000, height: int = 15_000) -> bytes:
    """A tiny PNG that declares a huge image (its pixel data is a few bytes, decoding would need ~675 MB)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def forged_size_zip(good_png: bytes) -> bytes:
    """A zip whose entry declares a 4 GB uncompressed size (local header and central directory patched)."""
    data = bytearray(_zip([("00000.png", good_png)]))
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(signature)
        data[at + offset : at + offset + 4] = struct.pack("<I", 0xFFFFFFF0)
    return bytes(data)


def cases(max_frames: int) -> list[tuple[str, str, bytes]]:
    rng = np.random.default_rng(SEED)
    base = encode(seg_frames(6))
    out: list[tuple[str, str, bytes]] = [("valid", "v.mp4", base)]
    for k, cut in enumerate(np.linspace(0, len(base) - 1, TRUNCATIONS).astype(int)):
        out.append((f"truncated[{k}]@{cut}", "v.mp4", base[:cut]))
    moov, mdat = _box_range(base, b"moov"), _box_range(base, b"mdat")
    for region, (start, end) in {"header": (0, 64), "moov": moov, "mdat": mdat}.items():
        for k in range(FLIPS_PER_REGION):
            out.append((f"flip-{region}[{k}]", "v.mp4", _flip(base, start, end, rng)))
    for k, size in enumerate((17, 4096, 150_000)):
        out.append((f"random[{k}]", "v.mp4", rng.integers(0, 256, size, dtype=np.uint8).tobytes()))
    out.append(("random-with-ftyp", "v.mp4", base[:32] + rng.integers(0, 256, 5000, dtype=np.uint8).tobytes()))
    out.append(("zero-length", "v.mp4", b""))

    good_png = png_bytes(seg_frame(0))
    out += [
        ("zip-valid", "f.zip", _zip([(f"{i:05d}.png", png_bytes(seg_frame(i))) for i in range(3)])),
        ("zip-text-entries", "f.zip", _zip([("a.txt", b"hello"), ("b.txt", b"world")])),
        ("zip-jpeg-named-png", "f.zip", _zip([("00000.png", b"\xff\xd8\xff\xe0" + b"\x00" * 100)])),
        ("zip-empty", "f.zip", _zip([])),
        ("zip-bomb-deflate", "f.zip", _zip([("00000.png", b"\x00" * 30_000_000)], zipfile.ZIP_DEFLATED)),
        ("zip-bomb-forged-size", "f.zip", forged_size_zip(good_png)),
        ("zip-png-bomb", "f.zip", _zip([("00000.png", png_bomb())])),
        ("zip-traversal", "f.zip", _zip([("../../x.png", good_png), ("00001.png", good_png)])),
        ("zip-absolute", "f.zip", _zip([("/tmp/x.png", good_png)])),
        ("zip-truncated", "f.zip", _zip([("00000.png", good_png)])[:-30]),
    ]
    palette_odd = [np.asarray(PALETTE, np.uint8)[np.indices((17, 33)).sum(0) // 9 % 3] for _ in range(4)]
    jitter = [0, 90, 250, 260, 500, 800, 830, 1100]
    out += [
        ("odd-size-33x17-x264-444", "v.mp4", encode(palette_odd, pix_fmt="yuv444p")),
        ("odd-size-33x17-mjpeg-avi", "v.avi", encode(palette_odd, "avi", "mjpeg", pix_fmt="yuvj420p")),
        ("odd-size-33x17-ffv1-mkv", "v.mkv", encode(palette_odd, "matroska", "ffv1", pix_fmt="yuv444p")),
        ("fps-7.3", "v.mp4", encode(seg_frames(6), rate=Fraction(73, 10))),
        ("vfr", "v.mp4", encode(seg_frames(len(jitter)), pts=jitter)),
        ("with-audio", "v.mp4", encode(seg_frames(6), audio=True)),
        ("webm-vp8", "v.webm", encode(seg_frames(6), "webm", "libvpx")),
        ("webm-vp9", "v.webm", encode(seg_frames(6), "webm", "libvpx-vp9")),
        ("mkv-h264", "v.mkv", encode(seg_frames(6), "matroska")),
        ("avi-mpeg4", "v.avi", encode(seg_frames(6), "avi", "mpeg4")),
        ("mov-h264", "v.mov", encode(seg_frames(6), "mov")),
        ("one-frame", "v.mp4", encode(seg_frames(1))),
        ("too-many-frames", "v.mp4", encode(seg_frames(max_frames + 20, 16, 16))),
        ("too-wide", "v.mp4", encode(seg_frames(2, 1024, 16))),
        ("mpegts", "v.ts", encode(seg_frames(3), "mpegts")),
        ("png-not-zip", "v.png", good_png),
    ]
    return out
