"""Retention: delete jobs (files and Redis records) older than `retention_s`; run by the API or a janitor.

A job folder's age is its modification time; a job still queued or running is never removed.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from app.jobs import inflight_key, owner_key
from app.storage import MediaStorage

_ACTIVE = frozenset({JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED})


def sweep_expired(media_root: Path, client: redis.Redis, retention_s: float, now: float | None = None) -> int:
    """Remove every job older than `retention_s` seconds that is not queued or running; returns how many."""
    storage = MediaStorage(media_root)
    cutoff = (time.time() if now is None else now) - retention_s
    removed = 0
    for job_id in storage.job_ids_on_disk():
        folder = storage.job_dir(job_id)
        try:
            if folder.stat().st_mtime > cutoff:
                continue
        except FileNotFoundError:
            continue
        try:
            job: Job | None = Job.fetch(job_id, connection=client, serializer=JSONSerializer)
        except NoSuchJobError:
            job = None
        if job is not None:
            if job.get_status(refresh=False) in _ACTIVE:
                continue
            owner = job.kwargs.get("spec", {}).get("owner")
            if owner:
                client.zrem(owner_key(str(owner)), job_id)
                client.zrem(inflight_key(str(owner)), job_id)
            job.delete(remove_from_queue=True)
        shutil.rmtree(folder, ignore_errors=True)
        removed += 1
    return removed
