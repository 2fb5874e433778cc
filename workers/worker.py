"""The worker process: `V2VWorker` (an RQ SimpleWorker that keeps every served model loaded) and `serve_forever`.

Crash safety (a worker SIGKILLed mid-job must not lose the job):
- While a job runs, a heartbeat thread keeps the job's StartedJobRegistry entry at now + `heartbeat_ttl_s`
  (RQ's SimpleWorker would otherwise give it job_timeout + 60 s), so a dead worker's job expires in seconds.
- Every worker runs a janitor thread that calls `StartedJobRegistry.cleanup()` every `janitor_every_s` under a
  Redis lock: an expired entry is re-queued by RQ while the job has retries left (the API enqueues with
  `Retry(max=attempts-1)`), and the re-run resumes from the last completed frame (`workers.runners`).
  When no retries are left RQ fails the job, and our exception handler records `meta["error"]` "worker_crashed".
- `serve_forever` loads the models once, then runs workers in a loop: when Redis goes away mid-job (RQ then quits
  its work loop) it reconnects with exponential backoff instead of exiting.
"""

from __future__ import annotations

import logging
import signal
import threading
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

from app.contracts import KEY_PREFIX, QUEUE_NAME, load_manifest
from workers.runners import Runner, make_runner
from workers.tasks import WorkerContext, install_context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CrashSafety:
    """Timings of dead-worker detection: a killed worker's job is re-queued within about ttl + janitor period."""

    heartbeat_ttl_s: int = 20
    heartbeat_every_s: float = 5.0
    janitor_every_s: float = 5.0


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


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine")
    return device


def load_runners(manifest_path: Path, device: torch.device, only: Sequence[str] = ()) -> dict[str, Runner]:
    """Build and set up one runner per served model (load once, run many)."""
    manifest = load_manifest(manifest_path)
    unknown = sorted(set(only) - set(manifest.models))
    if unknown:
        raise ValueError(f"unknown models {unknown}; the manifest serves {sorted(manifest.models)}")
    runners: dict[str, Runner] = {}
    for name, card in manifest.models.items():
        if only and name not in only:
            continue
        runner = make_runner(card, device, manifest_path.parent)
        runner.setup()
        runners[name] = runner
        log.info("loaded model %s (preset %s) on %s", name, card.preset, device)
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
            except Exception:  # Redis down, etc.: try again next period
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
            **kwargs,
        )
        self.runners = runners
        self.crash_safety = crash_safety
        self.stop_signalled = False

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
        install_context(WorkerContext(runners=self.runners, redis=self.connection, beat=lambda: self._beat(job)))
        try:
            with _Every("heartbeat", self.crash_safety.heartbeat_every_s, lambda: self._beat(job)):
                super().execute_job(job, queue)
        finally:
            install_context(None)

    def janitor_pass(self) -> None:
        """Re-queue (or fail) jobs whose worker stopped renewing their lease. One worker at a time cleans."""
        lock = self.connection.lock(f"{KEY_PREFIX}janitor", timeout=30, blocking=False)
        if not lock.acquire():
            return
        try:
            for queue in self.queues:
                registry = StartedJobRegistry(queue=queue)
                registry.cleanup(exception_handlers=[mark_crashed_job])
        finally:
            lock.release()

    def work(self, *args: Any, **kwargs: Any) -> bool:
        with _Every("janitor", self.crash_safety.janitor_every_s, self.janitor_pass):
            return super().work(*args, **kwargs)


def serve_forever(settings: WorkerSettings, burst: bool = False) -> int:
    """Load the models once, then take jobs; survive Redis restarts (reconnect with backoff). Returns exit code."""
    device = resolve_device(settings.device)
    runners = load_runners(settings.manifest, device, settings.models)
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
