"""The API's side of the RQ queue: enqueue a JobSpec, read a job back as `JobPublic`, cancel, delete, list.

rq's job record is the only job state: its status plus `meta` (only the worker writes it:
`progress`, `error`, `canceled`). A per-owner sorted set `v2v:owner:<key_id>:jobs` (score = creation
time) lists an owner's jobs.
Status mapping (rq -> public): queued/deferred/scheduled/created -> queued; started -> running;
finished -> succeeded; failed -> failed; canceled/stopped -> canceled; meta["canceled"] -> canceled.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import redis
from rq import Queue, Retry
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.job import JobStatus as RqStatus
from rq.serializers import JSONSerializer

from app.config import Settings
from app.contracts import JOB_FUNCTION, KEY_PREFIX, QUEUE_NAME, JobSpec, cancel_key
from app.errors import ApiError
from app.schemas import TERMINAL, ErrorDetail, JobLinks, JobPublic, JobStatus, Progress
from app.storage import is_job_id
from app.tombstones import is_deleted, mark_deleted

_STATUS = {
    RqStatus.CREATED: JobStatus.QUEUED,
    RqStatus.QUEUED: JobStatus.QUEUED,
    RqStatus.DEFERRED: JobStatus.QUEUED,
    RqStatus.SCHEDULED: JobStatus.QUEUED,
    RqStatus.READY_TO_ENQUEUE: JobStatus.QUEUED,
    RqStatus.RATE_LIMITED: JobStatus.QUEUED,
    RqStatus.STARTED: JobStatus.RUNNING,
    RqStatus.FINISHED: JobStatus.SUCCEEDED,
    RqStatus.FAILED: JobStatus.FAILED,
    RqStatus.STOPPED: JobStatus.CANCELED,
    RqStatus.CANCELED: JobStatus.CANCELED,
}


def make_queue(client: redis.Redis) -> Queue:
    return Queue(QUEUE_NAME, connection=client, serializer=JSONSerializer)


def owner_key(owner: str) -> str:
    return f"{KEY_PREFIX}owner:{owner}:jobs"


def inflight_key(owner: str) -> str:
    """Sorted set of the owner's job ids holding a job slot (see app.limits)."""
    return f"{KEY_PREFIX}owner:{owner}:inflight"


def enqueue_job(queue: Queue, spec: JobSpec, settings: Settings, timeout_s: int) -> Job:
    """Put `spec` on the queue for `workers.tasks.run_job(spec=...)` (RQ time limit `timeout_s`) and index it under
    its owner."""
    retries = settings.MAX_ATTEMPTS - 1
    job = queue.enqueue(
        JOB_FUNCTION,
        kwargs={"spec": spec.model_dump(mode="json")},
        job_id=spec.job_id,
        job_timeout=timeout_s,
        result_ttl=settings.RESULT_TTL_S,
        failure_ttl=settings.FAILURE_TTL_S,
        retry=Retry(max=retries) if retries > 0 else None,
        description=f"{spec.model}: {spec.frames_total} frames",
    )
    queue.connection.zadd(owner_key(spec.owner), {spec.job_id: time.time()})
    return job


def job_spec(job: Job) -> JobSpec:
    return JobSpec.model_validate(job.kwargs["spec"])


def fetch_owned(client: redis.Redis, job_id: str, owner: str) -> Job:
    """The job `job_id` if it exists and belongs to `owner`; otherwise 404 (never 403: no existence leak)."""
    not_found = ApiError(404, "not_found", f"no job {job_id}")
    if not is_job_id(job_id):
        raise not_found
    try:
        job = Job.fetch(job_id, connection=client, serializer=JSONSerializer)
        spec = job_spec(job)
    except (NoSuchJobError, KeyError, ValueError) as exc:
        raise not_found from exc
    if spec.owner != owner or is_deleted(client, job_id):  # a deleted job stays gone, whatever a worker wrote
        raise not_found
    return job


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def public_status(rq_status: RqStatus | None, meta: dict[str, object]) -> JobStatus:
    if meta.get("canceled"):
        return JobStatus.CANCELED
    return _STATUS.get(rq_status, JobStatus.QUEUED) if rq_status is not None else JobStatus.QUEUED


def _failure(job: Job, meta: dict[str, object]) -> ErrorDetail:
    error = meta.get("error")
    if isinstance(error, dict) and "code" in error:
        return ErrorDetail(code=str(error["code"]), message=str(error.get("message", "")))
    result = job.latest_result()
    text = (result.exc_string or "") if result is not None else ""
    if "JobTimeoutException" in text:
        return ErrorDetail(code="job_timeout", message="the job ran past its time limit")
    if "AbandonedJobError" in text:
        return ErrorDetail(code="worker_lost", message="the worker running the job stopped unexpectedly")
    return ErrorDetail(code="job_failed", message="the job failed on the worker")


def _outcome(job: Job) -> dict[str, Any]:
    """The worker's `JobResult` JSON of a succeeded job ({} when RQ no longer has it)."""
    value = job.return_value(refresh=False)
    return value if isinstance(value, dict) else {}


def to_public(job: Job, client: redis.Redis) -> JobPublic:
    """The public view of an rq job (see the module docstring for the status mapping)."""
    spec = job_spec(job)
    meta = job.get_meta(refresh=True)
    status = public_status(job.get_status(refresh=False), meta)
    progress_meta = meta.get("progress")
    if isinstance(progress_meta, dict):
        progress = Progress(
            frames_done=int(progress_meta.get("frames_done", 0)),
            frames_total=int(progress_meta.get("frames_total", spec.frames_total)),
        )
    else:
        done = spec.frames_total if status == JobStatus.SUCCEEDED else 0
        progress = Progress(frames_done=done, frames_total=spec.frames_total)
    base = f"/v1/jobs/{job.id}"
    outcome = _outcome(job) if status == JobStatus.SUCCEEDED else {}
    return JobPublic(
        id=job.id,
        model=spec.model,
        kind=spec.inputs.kind,
        samples=spec.samples,
        status=status,
        progress=progress,
        fps=spec.fps,
        created_at=_utc(job.created_at),
        started_at=_utc(job.started_at),
        ended_at=_utc(job.ended_at),
        cancel_requested=status not in TERMINAL and bool(client.exists(cancel_key(job.id))),
        error=_failure(job, meta) if status == JobStatus.FAILED else None,
        seeds=outcome.get("seeds"),
        report=outcome.get("report"),
        links=JobLinks(self=base, result=f"{base}/result", frames=f"{base}/frames", cancel=f"{base}/cancel",
                       results=[f"{base}/result?sample={i}" for i in range(spec.samples)]),
    )


def request_cancel(client: redis.Redis, job: Job, settings: Settings) -> None:
    """Cancel a queued job at once; ask a running one to stop (cancel key, checked between frames)."""
    status = public_status(job.get_status(refresh=True), job.get_meta(refresh=True))
    if status in TERMINAL:
        return
    if status == JobStatus.QUEUED:
        try:
            job.cancel()
            return
        except InvalidJobOperation:
            return
    client.set(cancel_key(job.id), "1", ex=settings.CANCEL_TTL_S)


def delete_job(client: redis.Redis, job: Job, owner: str, settings: Settings) -> None:
    """Tombstone (so a worker running it writes nothing more, `app.tombstones`), cancel, then remove the rq record
    and the owner index entry (the caller removes the files)."""
    mark_deleted(client, job.id, max(settings.RETENTION_S, settings.CANCEL_TTL_S))
    request_cancel(client, job, settings)
    job.delete(remove_from_queue=True)
    client.zrem(owner_key(owner), job.id)
    client.zrem(inflight_key(owner), job.id)


def list_jobs(client: redis.Redis, owner: str, offset: int, limit: int) -> tuple[list[JobPublic], int | None]:
    """The owner's jobs, newest first; returns (page, next offset or None). Expired records are dropped."""
    ids = [i.decode() for i in client.zrevrange(owner_key(owner), offset, offset + limit)]
    page_ids, has_more = ids[:limit], len(ids) > limit
    jobs = Job.fetch_many(page_ids, connection=client, serializer=JSONSerializer)
    gone = [job_id for job_id, job in zip(page_ids, jobs, strict=True) if job is None]
    if gone:
        client.zrem(owner_key(owner), *gone)
    public = [to_public(job, client) for job in jobs if job is not None]
    return public, (offset + limit if has_more else None)
