"""Range-request pre-check for file downloads, so malformed or unsatisfiable ranges get the JSON error shape.

Starlette's FileResponse serves valid ranges (206, Content-Range, multipart/byteranges) itself; it answers bad
ones in plain text, turned here into `{"error": ...}` 400 "bad_range" / 416 "range_not_satisfiable".
"""

from __future__ import annotations

from app.errors import ApiError


def check_range(header: str | None, size: int) -> None:
    """Raise ApiError unless `header` is absent or a range Starlette serves from a `size`-byte file."""
    if header is None:
        return
    units, sep, spec = header.partition("=")
    if not sep or units.strip().lower() != "bytes":
        raise ApiError(400, "bad_range", "Range must look like `bytes=START-END`")
    parsed: list[tuple[int, int]] = []
    for part in spec.split(","):
        part = part.strip()
        if not part or part == "-" or "-" not in part:
            continue
        start_s, end_s = (x.strip() for x in part.split("-", 1))
        try:
            if not start_s:
                length = int(end_s)
                parsed.append((max(size - length, 0), size))
            else:
                start = int(start_s)
                end = int(end_s) + 1 if end_s else size
                parsed.append((start, min(end, size)))
        except ValueError as exc:
            raise ApiError(400, "bad_range", f"bad range {part!r}") from exc
    if not parsed:
        raise ApiError(400, "bad_range", "Range names no byte range")
    if any(not 0 <= start < size for start, _ in parsed):
        raise ApiError(
            416,
            "range_not_satisfiable",
            f"the file has {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        )
    if any(start >= end for start, end in parsed):
        raise ApiError(400, "bad_range", "range start must not be after its end")
