"""sweep_expired removes old finished jobs (files + records) and keeps recent or active ones."""

from __future__ import annotations

import os
import time

from rq.job import Job
from rq.job import JobStatus as RqStatus
from rq.serializers import JSONSerializer

from app.jobs import owner_key
from app.retention import sweep_expired


def _age(path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_sweep_removes_only_old_inactive_jobs(auth, submit, redis_client, media_root, api_key):
    old_done, old_running, recent = submit(auth), submit(auth), submit(auth)
    Job.fetch(old_done, connection=redis_client, serializer=JSONSerializer).set_status(RqStatus.FINISHED)
    Job.fetch(old_running, connection=redis_client, serializer=JSONSerializer).set_status(RqStatus.STARTED)
    orphan = "f" * 32
    (media_root / "jobs" / orphan).mkdir()
    for job_id in (old_done, old_running, orphan):
        _age(media_root / "jobs" / job_id, 3600)

    assert sweep_expired(media_root, redis_client, retention_s=60) == 2

    left = sorted(p.name for p in (media_root / "jobs").iterdir())
    assert left == sorted([old_running, recent])
    assert not redis_client.exists(f"rq:job:{old_done}")
    owners = {
        m.decode() for key in redis_client.keys(owner_key("*")) for m in redis_client.zrange(key, 0, -1)
    }
    assert old_done not in owners and recent in owners
