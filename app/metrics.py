"""Prometheus metrics at `GET /metrics` (prometheus_client, text format 0.0.4).

The API's own: `v2v_jobs_submitted_total` {model, kind}, `v2v_submit_refused_total` {code},
`v2v_upload_bytes_total` {model}. Read from Redis at scrape time: `v2v_jobs` {status} (jobs RQ holds per status),
`v2v_queue_depth`, `v2v_queue_oldest_wait_seconds`, `v2v_workers_alive`, `v2v_worker_heartbeat_age_seconds`
{worker}, `v2v_redis_up`. The workers' (frames, frames/s, frame and job duration histograms, queue wait, jobs
finished by status and error code; `workers.metrics`) are pushed by each worker process into Redis under
`WORKER_METRICS_PREFIX + <worker>` with its liveness beat, and merged here, so workers on other machines count too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import redis
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from rq.job import Job
from rq.registry import CanceledJobRegistry, FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry

from app.contracts import KEY_PREFIX
from app.jobs import make_queue
from app.liveness import WORKERS_ALIVE_KEY, live_workers, redis_now

log = logging.getLogger(__name__)

WORKER_METRICS_PREFIX = f"{KEY_PREFIX}metrics:worker:"
"""Redis string per worker process: its registry's text exposition (expires when the worker stops pushing)."""
MAX_WORKERS_SCRAPED = 512


class ApiMetrics:
    """The API process's registry: its own counters plus the collector that reads Redis at scrape time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.submitted = Counter("v2v_jobs_submitted", "Jobs accepted (202).", ["model", "kind"],
                                 registry=self.registry)
        self.refused = Counter("v2v_submit_refused", "Job submissions refused, by error code.", ["code"],
                               registry=self.registry)
        self.upload_bytes = Counter("v2v_upload_bytes", "Bytes of accepted uploads.", ["model"],
                                    registry=self.registry)
        self._redis: redis.Redis | None = None
        self.registry.register(_RedisCollector(self))

    def bind(self, client: redis.Redis) -> None:
        self._redis = client


class _RedisCollector(Collector):
    def __init__(self, owner: ApiMetrics) -> None:
        self.owner = owner

    def describe(self) -> list[Metric]:
        return []  # dynamic: never checked for duplicates at registration

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("v2v_redis_up", "1 when Redis answered this scrape.")
        client = self.owner._redis
        if client is None:
            up.add_metric([], 0)
            yield up
            return
        try:
            families = list(_queue_families(client)) + list(_worker_families(client))
        except redis.RedisError as exc:
            log.warning("metrics: Redis unavailable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families


def _queue_families(client: redis.Redis) -> Iterator[Metric]:
    queue = make_queue(client)
    jobs = GaugeMetricFamily("v2v_jobs", "Jobs the queue holds, by public status (finished ones until they expire).",
                             labels=["status"])
    depth = queue.count
    jobs.add_metric(["queued"], depth)
    registries = {"running": StartedJobRegistry, "succeeded": FinishedJobRegistry, "failed": FailedJobRegistry,
                  "canceled": CanceledJobRegistry}
    for status, registry in registries.items():
        jobs.add_metric([status], registry(queue=queue).count)
    yield jobs
    yield GaugeMetricFamily("v2v_queue_depth", "Jobs waiting for a worker.", value=depth)
    oldest = 0.0
    first = queue.get_job_ids(0, 1)
    if first:
        job = Job.fetch(first[0], connection=client, serializer=queue.serializer) if first else None
        if job is not None and job.enqueued_at is not None:
            enqueued = job.enqueued_at if job.enqueued_at.tzinfo else job.enqueued_at.replace(tzinfo=UTC)
            oldest = max(0.0, (datetime.now(UTC) - enqueued).total_seconds())
    yield GaugeMetricFamily("v2v_queue_oldest_wait_seconds", "How long the oldest queued job has waited.",
                            value=oldest)


def _worker_families(client: redis.Redis) -> Iterator[Metric]:
    yield GaugeMetricFamily("v2v_workers_alive", "Worker processes with a heartbeat in the last 5 s.",
                            value=live_workers(client))
    now = redis_now(client)
    ages = GaugeMetricFamily("v2v_worker_heartbeat_age_seconds", "Seconds since each worker's last heartbeat.",
                             labels=["worker"])
    for name, score in client.zrange(WORKERS_ALIVE_KEY, 0, MAX_WORKERS_SCRAPED, withscores=True):
        if now - score < 3600:
            ages.add_metric([name.decode()], round(max(0.0, now - score), 3))
    yield ages
    keys = list(client.scan_iter(match=WORKER_METRICS_PREFIX + "*", count=200))[:MAX_WORKERS_SCRAPED]
    texts = [t for t in client.mget(keys) if t] if keys else []
    yield from merge_expositions([t.decode() for t in texts])


def merge_expositions(texts: list[str]) -> list[Metric]:
    """Several processes' text expositions as one set of families (samples of same-named families combined)."""
    merged: dict[str, Metric] = {}
    for text in texts:
        try:
            families = list(text_string_to_metric_families(text))
        except ValueError:
            log.warning("metrics: a worker pushed an unreadable exposition; skipped")
            continue
        for family in families:
            target = merged.setdefault(family.name, Metric(family.name, family.documentation, family.type))
            target.samples.extend(family.samples)
    return list(merged.values())
