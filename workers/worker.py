"""The worker process: `V2VWorker` (an RQ SimpleWorker that keeps every served model loaded) and `serve_forever`.

Crash safety (a worker SIGKILLed mid-job must not lose the job):
- While a job runs, a heartbeat thread keeps the job's StartedJobRegistry entry at now + `heartbeat_ttl_s`
  (RQ's SimpleWorker would otherwise give it job_timeout + 60 s), so a dead worker's job expires in seconds.
- Every worker runs a janitor thread that calls `StartedJobRegistry.cleanup()` every `janitor_every_s` under a
  Redis lock: an expired entry is re-queued by RQ while the job has retries left (the API enqueues with
  `Retry(max=attempts-1)`), and the re-run resumes from the last completed frame (`workers.loop`).
  When no retries are left RQ fails the job, and our exception handler records `meta["error"]` "worker_crashed".
- `serve_forever` loads the models once, then runs workers in a loop: when Redis goes away mid-job (RQ then quits
  its work loop) it reconnects with exponential backoff instead of exiting.

A job runs to `succeeded` at most once, through Redis outages too:
- A liveness thread writes this worker's heartbeat every second (`app.liveness`, what `/readyz` and the submit
  path read). A janitor never re-queues the job of a worker that is alive (this one's own job included): an
  expired lease of a live worker's job is renewed instead, e.g. after an outage that outlasted the lease.
- Nothing is reaped until Redis has answered this worker for `reap_grace_s` and has been up that long, so live
  workers beat again after a Redis restart before anyone judges their jobs (RQ's own registry maintenance is
  gated the same way).
- The end of a job (result, status) waits for Redis to come back instead of being lost to an outage.
A deleted job writes nothing more (`workers.tombstoned`).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import torch
from rq import Queue, SimpleWorker
from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer
from rq.utils import now

from app.contracts import KEY_PREFIX, QUEUE_NAME, load_manifest
from app.liveness import BEAT_EVERY_S, beat, forget, is_alive, publish_worker_info
from app.tombstones import is_deleted
from workers.hooks import REDIS_DOWN
from workers.metrics import WorkerMetrics
from workers.precision import Precision, choose_precision
from workers.runner import Runner, make_runner
from workers.tasks import WorkerContext, install_context
from workers.tombstoned import TombstoneAwareJob, discard_deleted

log = logging.getLogger(__name__)
HEALTH_FILE = os.environ.get("V2V_WORKER_HEALTH_FILE", "")
"""Touched with every liveness beat when set (the compose worker healthcheck checks its age)."""


@dataclass(frozen=True)
class CrashSafety:
    """Timings of dead-worker detection: a killed worker's job is re-queued within about ttl + janitor period."""

    heartbeat_ttl_s: int = 20
    heartbeat_every_s: float = 5.0
    janitor_every_s: float = 5.0
    reap_grace_s: float = 10.0
    """Reap nothing until Redis has been up and answering this worker for this long (live workers beat first)."""
    finish_patience_s: float = 900.0
    """How long the end of a job waits for an unreachable Redis before giving up."""


@dataclass(frozen=True)
class WorkerSettings:
    redis_url: str
    manifest: Path
    device: str = "auto"
    """"auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N"."""
    models: tuple[str, ...] = ()
    """Public model names to load; empty means every model in the manifest."""
    queue: str = QUEUE_NAME
    crash_safety: CrashSafety = field(default_factory=CrashSafety)
    max_backoff_s: float = 30.0
    precision: str = "auto"
    """"auto" (the fastest safe one: `workers.precision`), "fp32", "bf16" or "fp16"."""
    compile_networks: bool = False
    """torch.compile the networks of families that allow it (`models.core.family.Compilable`); the first job of
    each frame size compiles (seconds to minutes), later ones run the compiled code."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine")
    return device


def load_runners(manifest_path: Path, device: torch.device, only: Sequence[str] = (),
                 precision: Precision | None = None, compile_networks: bool = False) -> dict[str, Runner]:
    """Build and set up one runner per served model (load once, run many), serving in `precision` (and with
    `compile_networks`, torch.compile'd where the family allows)."""
    manifest = load_manifest(manifest_path)
    unknown = sorted(set(only) - set(manifest.models))
    if unknown:
        raise ValueError(f"unknown models {unknown}; the manifest serves {sorted(manifest.models)}")
    runners: dict[str, Runner] = {}
    for name, card in manifest.models.items():
        if only and name not in only:
            continue
        runner = make_runner(card, device, manifest_path.parent, precision, compile_networks)
        runner.setup()
        runners[name] = runner
        log.info("loaded model %s (preset %s) on %s, %s%s%s", name, card.preset, device, runner.precision.name,
                 f" ({runner.low_precision_layers} layers keep {runner.precision.name} weight copies)"
                 if runner.low_precision_layers else "",
                 f", compiled {', '.join(runner.compiled)}" if runner.compiled else "")
    return runners


def mark_crashed_job(job: Job, exc_type: type[BaseException], exc_value: BaseException, tb: Any) -> None:
    """RQ exception handler: a job abandoned by a dead worker with no retries left gets a clear error."""
    if exc_type is not AbandonedJobError and not isinstance(exc_value, AbandonedJobError):
        return None
    if job.retries_left is not None and job.retries_left > 0:
        log.warning("job %s: its worker died; re-queued (%d retries left)", job.id, job.retries_left)
        return None
    attempts = job.meta.get("attempt", 1)
    job.meta["error"] = {
        "code": "worker_crashed",
        "message": f"the worker running this job died {attempts} time(s); giving up",
    }
    job.save_meta()
    log.error("job %s: its worker died and no retries are left; failed", job.id)
    return None


class _Every:
    """A daemon thread calling `action` every `period` seconds until closed; exceptions are logged, not fatal."""

    def __init__(self, name: str, period: float, action: Callable[[], None]) -> None:
        self.period = period
        self.action = action
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.action()
            except REDIS_DOWN as exc:  # try again next period
                log.warning("%s: Redis unreachable (%s)", self._thread.name, type(exc).__name__)
            except Exception:
                log.warning("%s failed", self._thread.name, exc_info=True)

    def __enter__(self) -> _Every:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class V2VWorker(SimpleWorker):
    """SimpleWorker (no fork: the models stay loaded, CUDA stays usable) with crash-safe job leases."""

    def __init__(
        self,
        queues: Sequence[str | Queue],
        *,
        connection: redis.Redis,
        runners: Mapping[str, Runner],
        crash_safety: CrashSafety = CrashSafety(),
        **kwargs: Any,
    ) -> None:
        super().__init__(
            list(queues),
            connection=connection,
            serializer=JSONSerializer,
            exception_handlers=[mark_crashed_job],
            job_class=TombstoneAwareJob,
            **kwargs,
        )
        self.runners = runners
        self.crash_safety = crash_safety
        first = next(iter(runners.values()), None)
        device = str(first.device) if first else "cpu"
        self.info = {"device": device, "precision": first.precision.name if first else "fp32"}
        self.metrics = WorkerMetrics(self.name, device)
        self.stop_signalled = False
        self._redis_up_since: float | None = None

    def request_stop(self, signum: int, frame: Any) -> None:
        """SIGINT/SIGTERM: remember it (RQ's idle path leaves no trace of it), then RQ's warm shutdown."""
        self.stop_signalled = True
        super().request_stop(signum, frame)

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """Short lease on the StartedJobRegistry entry; the heartbeat thread renews it while the job runs."""
        return self.crash_safety.heartbeat_ttl_s

    def _beat(self, job: Job) -> None:
        execution = next(iter(self.executions.values()), None)
        if execution is not None:
            self.maintain_heartbeats(job, execution)

    def execute_job(self, job: Job, queue: Queue) -> None:
        install_context(WorkerContext(runners=self.runners, redis=self.connection, beat=lambda: self._beat(job),
                                      metrics=self.metrics))
        try:
            with _Every("heartbeat", self.crash_safety.heartbeat_every_s, lambda: self._beat(job)):
                super().execute_job(job, queue)
        finally:
            install_context(None)

    # -- liveness -------------------------------------------------------------------------------------------------

    def announce_alive(self) -> None:
        """Beat (`app.liveness`); also tracks since when Redis answers us without a break."""
        try:
            beat(self.connection, self.name)
            publish_worker_info(self.connection, self.name, self.info)
            self.metrics.push(self.connection)
            if HEALTH_FILE:  # compose's healthcheck: fresh while a worker process beats
                Path(HEALTH_FILE).touch()
        except REDIS_DOWN:
            self._redis_up_since = None
            raise
        if self._redis_up_since is None:
            self._redis_up_since = time.monotonic()

    def redis_settled(self) -> bool:
        """Redis answered our beats for `reap_grace_s` and its server has been up that long (a restart between
        two beats counts too)."""
        grace = self.crash_safety.reap_grace_s
        if self._redis_up_since is None or time.monotonic() - self._redis_up_since < grace:
            return False
        return int(self.connection.info("server")["uptime_in_seconds"]) >= grace

    # -- janitor ----------------------------------------------------------------------------------------------------

    def renew_live_leases(self, registry: StartedJobRegistry) -> None:
        """Expired entries whose job is run by a live worker (this one included) get a fresh lease, not a re-run."""
        now_ts = time.time()
        current = self.get_current_job_id()
        for member in self.connection.zrangebyscore(registry.key, 0, now_ts):
            job_id = member.decode().split(":", 1)[0]
            owner = self.connection.hget(Job.key_for(job_id), "worker_name")
            owner_name = owner.decode() if owner else ""
            if job_id == current or (owner_name and is_alive(self.connection, owner_name)):
                self.connection.zadd(registry.key, {member: now_ts + self.crash_safety.heartbeat_ttl_s}, xx=True)
                log.warning("job %s: its lease ran out but worker %s is alive; lease renewed", job_id, owner_name)

    def janitor_pass(self) -> None:
        """Re-queue (or fail) jobs whose worker died. One worker at a time cleans; never a live worker's job."""
        if not self.redis_settled():
            return
        lock = self.connection.lock(f"{KEY_PREFIX}janitor", timeout=30, blocking=False)
        if not lock.acquire():
            return
        try:
            for queue in self.queues:
                registry = StartedJobRegistry(queue=queue)
                self.renew_live_leases(registry)
                registry.cleanup(exception_handlers=[mark_crashed_job])
        finally:
            lock.release()

    def clean_registries(self) -> None:
        """RQ's own maintenance (at start and every maintenance interval) cleans the same registry: same rules."""
        if not self.redis_settled():
            self.last_cleaned_at = now()
            return
        for queue in self.queues:
            self.renew_live_leases(StartedJobRegistry(queue=queue))
        super().clean_registries()

    # -- the end of a job -----------------------------------------------------------------------------------------

    def _wait_for_redis(self, what: str, action: Callable[[], None]) -> None:
        """Run `action`, retrying while Redis is unreachable (up to `finish_patience_s`): a finished job's record
        must not be lost to an outage, or the job would be re-queued and computed again."""
        delay, deadline = 0.5, time.monotonic() + self.crash_safety.finish_patience_s
        while True:
            try:
                action()
                return
            except REDIS_DOWN as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("Redis unreachable while %s (%s); retrying in %.1f s", what, type(exc).__name__, delay)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def handle_execution_ended(self, job: Job, queue: Queue, heartbeat_ttl: int) -> None:
        self._wait_for_redis(
            "ending a job", lambda: super(V2VWorker, self).handle_execution_ended(job, queue, heartbeat_ttl)
        )

    def handle_job_success(
        self, job: Job, queue: Queue, started_job_registry: StartedJobRegistry, execution: Any
    ) -> None:
        def record() -> None:
            if is_deleted(self.connection, job.id):
                self._drop_deleted(job, execution)
                return
            super(V2VWorker, self).handle_job_success(job, queue, started_job_registry, execution)
            if is_deleted(self.connection, job.id):  # deleted while we recorded it
                discard_deleted(job)

        self._wait_for_redis("recording a job's success", record)

    def handle_job_failure(
        self, job: Job, queue: Queue, started_job_registry: Any = None, exc_string: str = "", execution: Any = None
    ) -> None:
        self._wait_for_redis("recording a job's failure", self.connection.ping)
        if is_deleted(self.connection, job.id):
            self._drop_deleted(job, execution)
            return
        super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)
        if is_deleted(self.connection, job.id):
            discard_deleted(job)

    def _drop_deleted(self, job: Job, execution: Any) -> None:
        with self.connection.pipeline() as pipeline:
            self.cleanup_execution(job, pipeline=pipeline, execution=execution)
            pipeline.execute()
        discard_deleted(job)

    # -- the loop ---------------------------------------------------------------------------------------------------

    def work(self, *args: Any, **kwargs: Any) -> bool:
        try:
            self.announce_alive()
        except REDIS_DOWN:
            pass  # the liveness thread keeps trying; RQ's loop reports the outage
        try:
            with (
                _Every("liveness", BEAT_EVERY_S, self.announce_alive),
                _Every("janitor", self.crash_safety.janitor_every_s, self.janitor_pass),
            ):
                return super().work(*args, **kwargs)
        finally:
            try:
                forget(self.connection, self.name)
            except REDIS_DOWN:
                pass


def serve_forever(settings: WorkerSettings, burst: bool = False) -> int:
    """Load the models once, then take jobs; survive Redis restarts (reconnect with backoff). Returns exit code."""
    device = resolve_device(settings.device)
    precision = choose_precision(device, settings.precision)
    log.info("serving on %s in %s: %s", device, precision.name, precision.reason)
    runners = load_runners(settings.manifest, device, settings.models, precision, settings.compile_networks)
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    backoff = 1.0
    while not stop.is_set():
        connection = redis.Redis.from_url(settings.redis_url)
        worker: V2VWorker | None = None
        try:
            worker = V2VWorker(
                [Queue(settings.queue, connection=connection, serializer=JSONSerializer)],
                connection=connection,
                runners=runners,
                crash_safety=settings.crash_safety,
            )
            worker.work(burst=burst, logging_level="INFO")  # installs RQ's own SIGINT/SIGTERM handlers
            backoff = 1.0
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.error("Redis unreachable (%s); retrying in %.0f s", exc, backoff)
        finally:
            connection.close()
            for signum in (signal.SIGINT, signal.SIGTERM):  # between workers, a stop signal just ends the loop
                signal.signal(signum, request_stop)
        if burst or (worker is not None and worker.stop_signalled):
            return 0
        stop.wait(backoff)
        backoff = min(backoff * 2, settings.max_backoff_s)
    return 0
