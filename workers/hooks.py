"""What a running job tells the outside world, and what it asks it, between frames.

`Hooks` is the seam the per-job loop talks to: `report_progress`, `should_stop`, `heartbeat`. `JobHooks` is the
RQ-backed one (progress into `job.meta`, which only the worker writes; the cancel request is the Redis key
`app.contracts.cancel_key(job_id)`, or the job's deletion tombstone `app.tombstones.deleted_key(job_id)`);
`NullHooks` serves `v2v generate`, which has no queue.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

import redis
from rq.job import Job

from app.contracts import cancel_key
from app.tombstones import deleted_key

log = logging.getLogger(__name__)

REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)
"""Progress, cancel checks and heartbeats are best effort: a Redis restart mid-job does not fail the job."""

PROGRESS_EVERY_FRAMES = 4
"""Save meta at most every this many frames ..."""
PROGRESS_EVERY_S = 1.0
"""... or when this much time passed since the last save, whichever comes first (and always on the last frame)."""
HEARTBEAT_EVERY_S = 2.0


class Hooks(Protocol):
    def report_progress(self, done: int, total: int) -> None: ...

    def should_stop(self) -> bool: ...

    def heartbeat(self) -> None: ...


class NullHooks:
    """No queue: progress goes to an optional callback, nothing ever asks to stop."""

    def __init__(self, on_progress: Callable[[int, int], None] | None = None) -> None:
        self.on_progress = on_progress

    def report_progress(self, done: int, total: int) -> None:
        if self.on_progress is not None:
            self.on_progress(done, total)

    def should_stop(self) -> bool:
        return False

    def heartbeat(self) -> None:
        pass


class JobHooks:
    """Hooks of one RQ job. `beat` is the worker's liveness signal (keeps the job's StartedJobRegistry entry
    fresh); it is called at most every HEARTBEAT_EVERY_S seconds."""

    def __init__(self, job: Job, redis_client: redis.Redis, beat: Callable[[], None] | None = None,
                 on_frames: Callable[[int, float | None], None] | None = None) -> None:
        self.job = job
        self.on_frames = on_frames
        """Metrics: called with (new frames, seconds they took; None when that includes the job's start-up)."""
        # A re-run resumes after the frames of earlier attempts: its first report is a baseline, not new frames.
        self._frames_seen: int | None = 0 if int(job.meta.get("attempt", 1)) <= 1 else None
        self._frames_at: float | None = None
        self.redis = redis_client
        self.beat = beat
        self._saved_done = -1
        self._saved_at = 0.0
        self._beat_at = 0.0

    def report_progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.on_frames is not None and (self._frames_seen is None or done > self._frames_seen):
            if self._frames_seen is not None:
                self.on_frames(done - self._frames_seen, None if self._frames_at is None else now - self._frames_at)
            self._frames_seen, self._frames_at = done, now
        due = (
            done - self._saved_done >= PROGRESS_EVERY_FRAMES
            or now - self._saved_at >= PROGRESS_EVERY_S
            or done >= total
            or self._saved_done < 0
        )
        if not due:
            return
        self.job.meta["progress"] = {"frames_done": done, "frames_total": max(total, done)}
        try:
            self.job.save_meta()
        except REDIS_DOWN:
            log.warning("job %s: Redis unreachable, progress not saved (frame %d)", self.job.id, done)
            return
        self._saved_done, self._saved_at = done, now

    def should_stop(self) -> bool:
        try:
            return bool(self.redis.exists(cancel_key(self.job.id), deleted_key(self.job.id)))
        except REDIS_DOWN:
            return False  # best effort: keep generating; the frames on disk are the durable record

    def heartbeat(self) -> None:
        if self.beat is None:
            return
        now = time.monotonic()
        if now - self._beat_at >= HEARTBEAT_EVERY_S:
            try:
                self.beat()
            except REDIS_DOWN:
                log.warning("job %s: Redis unreachable, heartbeat skipped", self.job.id)
            self._beat_at = now
