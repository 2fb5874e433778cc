"""Read-ahead of job conditions: same items in the same order, errors raised where they happened, the reader stops
(and closes its source) when the consumer stops early."""

from __future__ import annotations

import threading
import time

import pytest

from workers.prefetch import prefetched


def test_yields_everything_in_order():
    assert list(prefetched(iter(range(100)), depth=3)) == list(range(100))
    assert list(prefetched(iter([]))) == []


def test_an_error_of_the_source_is_raised_after_the_items_before_it():
    def source():
        yield 1
        yield 2
        raise ValueError("frame 3 is corrupt")

    seen = []
    with pytest.raises(ValueError, match="frame 3 is corrupt"):
        for item in prefetched(source()):
            seen.append(item)
    assert seen == [1, 2]


def test_stopping_early_stops_and_closes_the_reader():
    closed = threading.Event()
    produced = []

    def endless():
        try:
            i = 0
            while True:
                produced.append(i)
                yield i
                i += 1
        finally:
            closed.set()

    consumer = prefetched(endless(), depth=2)
    assert [next(consumer) for _ in range(3)] == [0, 1, 2]
    consumer.close()
    assert closed.wait(5)
    count = len(produced)
    time.sleep(0.2)
    assert len(produced) == count <= 3 + 2 + 1  # read at most `depth` (+ the one in hand) ahead, then stopped


def test_reads_ahead_while_the_consumer_works():
    started = []

    def source():
        for i in range(3):
            started.append(time.monotonic())
            yield i

    consumer = prefetched(source(), depth=2)
    first = next(consumer)
    time.sleep(0.3)  # the consumer "works" on item 0
    taken = time.monotonic()
    assert first == 0 and list(consumer) == [1, 2]
    assert started[1] < taken and started[2] < taken  # items 1 and 2 were made during the work
