"""The worker's side of `DELETE` on a running job (`app.tombstones`): write nothing for a deleted job.

`TombstoneAwareJob` is the RQ job class of `V2VWorker`: its `save_meta` (progress, attempt, error, canceled) is a
no-op once the job's tombstone exists, so a run that goes on for a frame after the delete does not bring the record
back. `discard_deleted` removes what the run left behind when it ends: the record and registry entries RQ may
have written in between, and the job's folder (recreated by a frame or state written after the API removed it).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from rq.job import Job
from rq.registry import StartedJobRegistry

from app.storage import is_job_id
from app.tombstones import is_deleted

log = logging.getLogger(__name__)


class TombstoneAwareJob(Job):
    """An RQ job that never saves its meta once it was deleted."""

    def save_meta(self) -> None:
        if is_deleted(self.connection, self.id):
            return
        super().save_meta()


def job_folder(job: Job) -> Path | None:
    """The job's folder from its spec (`JobSpec.job_dir`), if it names one of ours."""
    try:
        folder = Path(str(job.kwargs["spec"]["job_dir"]))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return folder if is_job_id(folder.name) else None


def discard_deleted(job: Job) -> None:
    """Remove every trace of a deleted job: its RQ record, its started-registry entries and its folder."""
    connection = job.connection
    registry = StartedJobRegistry(job.origin, connection=connection, job_class=type(job), serializer=job.serializer)
    for member in connection.zrange(registry.key, 0, -1):
        if member.decode().split(":", 1)[0] == job.id:
            connection.zrem(registry.key, member)
    job.delete(remove_from_queue=True)
    folder = job_folder(job)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
    log.info("job %s was deleted while it ran; its record and files are gone", job.id)
