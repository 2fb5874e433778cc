"""The RQ entry point `run_job(spec)` (`app.contracts.JOB_FUNCTION`), and the registry of loaded runners it uses.

The worker process fills the registry once at startup (`install_context`); `run_job` validates the JSON spec,
finds the runner of the job's model, runs it with RQ-backed hooks and returns `JobResult` as JSON.

Failures are recorded in `job.meta["error"] = {"code", "message"}` before re-raising, so the API can show a
clear reason. Failures that a re-run cannot fix (bad input, full disk, cancellation) set `retries_left = 0` so
RQ's retries (meant for crashed workers) are not spent on them. Codes: `bad_spec`, `bad_input`, `model_not_served`,
`decode_failed`, `bad_references`, `disk_full`, `job_timeout`, `internal`; a cancel sets `meta["canceled"] = True`
instead. (`worker_crashed` is set by `workers.worker` when a job's workers died too often.)
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import redis
from pydantic import ValidationError
from rq import get_current_job
from rq.job import Job
from rq.timeouts import JobTimeoutException

from app.contracts import JobSpec
from workers.errors import JobCanceled, JobError
from workers.hooks import JobHooks
from workers.metrics import WorkerMetrics
from workers.runner import Runner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerContext:
    """What the worker process loaded once: runners by public model name, plus its liveness signal."""

    runners: Mapping[str, Runner]
    redis: redis.Redis
    beat: Callable[[], None] | None = None
    metrics: WorkerMetrics | None = None


_context: WorkerContext | None = None


def install_context(context: WorkerContext | None) -> None:
    """Called by the worker before it takes jobs (None to uninstall)."""
    global _context
    _context = context


def _record_error(job: Job, code: str, message: str, retryable: bool) -> None:
    job.meta["error"] = {"code": code, "message": message}
    job.save_meta()
    if not retryable:
        job.retries_left = 0  # read by RQ's failure handling of this very Job object


def _queue_wait_s(job: Job) -> float | None:
    if job.enqueued_at is None or job.started_at is None:
        return None
    return (job.started_at - job.enqueued_at).total_seconds()


def run_job(spec: dict) -> dict:
    """Run one job in the current RQ worker; returns `JobResult.model_dump(mode="json")`."""
    job = get_current_job()
    if job is None or _context is None:
        raise RuntimeError("run_job must run inside a v2v worker (V2VWorker), which loads the models first")
    metrics, model, started = _context.metrics, str(spec.get("model", "")), time.monotonic()
    if metrics is not None:
        metrics.job_started(model, _queue_wait_s(job))
    outcome = ("failed", "internal")
    try:
        result = _run(job, spec)
        outcome = ("succeeded", "")
        return result
    except JobCanceled:
        outcome = ("canceled", "")
        raise
    except Exception:
        error = job.meta.get("error")
        outcome = ("failed", str(error.get("code", "internal")) if isinstance(error, dict) else "internal")
        raise
    finally:
        if metrics is not None:
            metrics.job_ended(model, *outcome, time.monotonic() - started)


def _run(job: Job, spec: dict) -> dict:
    assert _context is not None
    # 1. Bookkeeping of this attempt.
    job.meta["attempt"] = int(job.meta.get("attempt", 0)) + 1
    job.meta.pop("error", None)
    job.save_meta()

    try:
        # 2. Validate the payload and find the loaded model.
        try:
            job_spec = JobSpec.model_validate(spec)
        except ValidationError as exc:
            problems = exc.errors(include_url=False, include_input=False)  # no values: they hold server paths
            raise JobError("bad_spec", f"invalid job spec: {problems}") from exc
        runner = _context.runners.get(job_spec.model)
        if runner is None:
            served = ", ".join(sorted(_context.runners))
            raise JobError("model_not_served", f"model {job_spec.model!r} is not served here (served: {served})")

        # 3. Run.
        on_frames = None
        if _context.metrics is not None:
            on_frames = _context.metrics.frame_counter(job_spec.model)
        hooks = JobHooks(job, _context.redis, beat=_context.beat, on_frames=on_frames)
        result = runner.run(job_spec, hooks)
        return result.model_dump(mode="json")

    except JobCanceled:
        job.meta["canceled"] = True
        job.save_meta()
        job.retries_left = 0
        raise
    except JobError as exc:
        _record_error(job, exc.code, exc.message, exc.retryable)
        raise
    except JobTimeoutException:
        _record_error(job, "job_timeout", "the job ran past its time limit", retryable=False)
        raise
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            _record_error(job, "disk_full", "the media volume is full; the job was stopped", retryable=False)
        else:
            reason = os.strerror(exc.errno) if exc.errno else type(exc).__name__
            _record_error(job, "internal", f"I/O error: {reason}", retryable=True)  # no server paths in messages
        raise
    except Exception as exc:
        log.exception("job %s failed", job.id)
        _record_error(job, "internal", f"{type(exc).__name__}: {exc}", retryable=True)
        raise
