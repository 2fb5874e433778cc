"""Per-file caps on a multipart upload, enforced while the body streams in (before Starlette spools a part).

`PartMeter` watches the raw body of `POST /v1/jobs` chunk by chunk with python-multipart's streaming parser (the
same parser Starlette uses), reads each part's field name from its Content-Disposition header and counts the part's
bytes; `feed` raises `PartTooLarge` as soon as one part passes its field's cap. The body itself is passed on
untouched: this only measures.
"""

from __future__ import annotations

from collections.abc import Mapping

from python_multipart.multipart import MultipartParser, parse_options_header


class PartTooLarge(Exception):
    def __init__(self, field: str, cap: int) -> None:
        super().__init__(f"the `{field}` part is larger than {cap} bytes")
        self.field, self.cap = field, cap


class PartMeter:
    """Counts the bytes of each multipart part against `caps[field]` (`default_cap` for other fields)."""

    def __init__(self, content_type: bytes, caps: Mapping[str, int], default_cap: int) -> None:
        _, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        self.caps, self.default_cap = caps, default_cap
        self._field, self._size, self._header_name, self._header_value = "", 0, b"", b""
        self._too_large: PartTooLarge | None = None
        self._parser = None if not boundary else MultipartParser(boundary, callbacks={
            "on_part_begin": self._begin, "on_part_data": self._data, "on_header_field": self._header_field,
            "on_header_value": self._header_value_part, "on_header_end": self._header_end,
        })

    def feed(self, chunk: bytes) -> None:
        """Measure the next body chunk; raises PartTooLarge when a part passes its cap."""
        if self._parser is None or not chunk:
            return
        self._parser.write(chunk)
        if self._too_large is not None:
            raise self._too_large

    def _begin(self) -> None:
        self._field, self._size, self._header_name, self._header_value = "", 0, b"", b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_part(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            _, params = parse_options_header(self._header_value)
            self._field = params.get(b"name", b"").decode("latin-1")
        self._header_name, self._header_value = b"", b""

    def _data(self, data: bytes, start: int, end: int) -> None:
        self._size += end - start
        cap = self.caps.get(self._field, self.default_cap)
        if self._size > cap and self._too_large is None:
            self._too_large = PartTooLarge(self._field, cap)
