"""A worker process's Prometheus metrics, pushed through Redis for the API's `/metrics` (`app.metrics`).

Why Redis and not prometheus_client's multiprocess mode: workers run on other machines than the API (compose, GPU
hosts), so a shared folder of mmap files cannot be assumed, while every worker already talks to Redis. Each worker
keeps its own registry and, with its liveness beat, writes the registry's text exposition to
`app.metrics.WORKER_METRICS_PREFIX + <name>` with a short expiry; the API merges the texts of the workers present
at scrape time.
A worker that dies drops out of the scrape after `PUSH_TTL_S` (its counters with it; `rate()` handles the reset).

Metrics: `v2v_worker_frames_total` {worker, device, model}; `v2v_worker_frames_per_second` {worker, device}
(over the last `RATE_WINDOW_S`); `v2v_frame_duration_seconds` {model, device} and `v2v_job_duration_seconds`
{model, status} histograms; `v2v_queue_wait_seconds` {model} (enqueued to started); `v2v_jobs_finished_total`
{model, status, code} (code: the failure's error code, "" otherwise); `v2v_worker_busy` {worker, device}.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

import redis
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from app.metrics import WORKER_METRICS_PREFIX

PUSH_TTL_S = 15
RATE_WINDOW_S = 10.0
FRAME_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
JOB_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
WAIT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class WorkerMetrics:
    """One worker process's metrics (its own registry, never the global one)."""

    def __init__(self, worker: str, device: str) -> None:
        self.worker, self.device = worker, device
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.frames = Counter("v2v_worker_frames", "Frames generated.", ["worker", "device", "model"], registry=r)
        self.fps = Gauge("v2v_worker_frames_per_second", f"Frames per second over the last {RATE_WINDOW_S:.0f} s.",
                         ["worker", "device"], registry=r)
        self.busy = Gauge("v2v_worker_busy", "1 while the worker runs a job.", ["worker", "device"], registry=r)
        self.frame_seconds = Histogram("v2v_frame_duration_seconds", "Seconds per generated frame.",
                                       ["model", "device"], buckets=FRAME_BUCKETS, registry=r)
        self.job_seconds = Histogram("v2v_job_duration_seconds", "Seconds a job ran on a worker (one attempt).",
                                     ["model", "status"], buckets=JOB_BUCKETS, registry=r)
        self.queue_wait = Histogram("v2v_queue_wait_seconds", "Seconds from enqueue to a worker starting the job.",
                                    ["model"], buckets=WAIT_BUCKETS, registry=r)
        self.finished = Counter("v2v_jobs_finished", "Job attempts ended on a worker, by status and error code.",
                                ["model", "status", "code"], registry=r)
        self._recent: collections.deque[tuple[float, int]] = collections.deque()
        self._lock = threading.Lock()
        self.fps.labels(worker, device).set(0)
        self.busy.labels(worker, device).set(0)

    def job_started(self, model: str, waited_s: float | None) -> None:
        self.busy.labels(self.worker, self.device).set(1)
        if waited_s is not None:
            self.queue_wait.labels(model).observe(max(0.0, waited_s))

    def frames_done(self, model: str, count: int, seconds: float | None) -> None:
        """`count` frames finished, `seconds` after the previous ones (None: includes the job's start-up)."""
        if count <= 0:
            return
        self.frames.labels(self.worker, self.device, model).inc(count)
        if seconds is not None:
            for _ in range(count):
                self.frame_seconds.labels(model, self.device).observe(seconds / count)
        with self._lock:
            self._recent.append((time.monotonic(), count))

    def frame_counter(self, model: str) -> Callable[[int, float | None], None]:
        """`frames_done` of one model, the callback `workers.hooks.JobHooks(on_frames=...)` takes."""
        return lambda count, seconds: self.frames_done(model, count, seconds)

    def job_ended(self, model: str, status: str, code: str, seconds: float) -> None:
        self.busy.labels(self.worker, self.device).set(0)
        self.job_seconds.labels(model, status).observe(seconds)
        self.finished.labels(model, status, code).inc()

    def exposition(self) -> bytes:
        now = time.monotonic()
        with self._lock:
            while self._recent and self._recent[0][0] < now - RATE_WINDOW_S:
                self._recent.popleft()
            frames = sum(n for _, n in self._recent)
        self.fps.labels(self.worker, self.device).set(round(frames / RATE_WINDOW_S, 3))
        return generate_latest(self.registry)

    def push(self, client: redis.Redis) -> None:
        """Publish the registry for the API's /metrics (called with every liveness beat)."""
        client.set(WORKER_METRICS_PREFIX + self.worker, self.exposition(), ex=PUSH_TTL_S)
