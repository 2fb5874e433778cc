"""Read ahead on a background thread: the next conditions (decoded, label-encoded frames) are made while the
generator works on the current one. Decoding (OpenCV/PyAV) and the numpy label encoding release the GIL, so this
overlaps with the generator's step instead of adding to it.

`prefetched(items, depth)` yields exactly what `items` yields, in order; an exception raised by `items` is raised
at the same place in the consumer; closing the consumer (a `break`, an error in the loop) stops the reader.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Raised:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """`items`, read up to `depth` ahead on a daemon thread."""
    slots: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(value: object) -> bool:
        while not stop.is_set():
            try:
                slots.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as error:  # handed to the consumer, raised there
            put(_Raised(error))
            return
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator's own cleanup (open files, decoders) runs now, on this thread
        put(_DONE)

    reader = threading.Thread(target=read, name="prefetch", daemon=True)
    reader.start()
    try:
        while True:
            value = slots.get()
            if value is _DONE:
                return
            if isinstance(value, _Raised):
                raise value.error
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        reader.join(timeout=5)
