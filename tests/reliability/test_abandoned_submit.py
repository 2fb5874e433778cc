"""An API process killed mid-submit (while copying an upload) loses nothing and leaks nothing: once it has stopped
beating, a live API process gives back the job slot and the day's upload bytes it reserved and removes the partial
upload (`app.limits.recover_abandoned`); a submit that was queued before its API died keeps its slot."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import redis

from app.auth import lookup_key
from app.jobs import inflight_key
from app.limits import PENDING_SUBMITS_KEY, bytes_key, recover_abandoned, reserve
from app.liveness import APIS_ALIVE_KEY, beat
from app.storage import MediaStorage
from tests.app.media import write_manifest
from tests.reliability.servers import ApiProcess, api_env


def _wait_for(condition, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _owner_usage(client: redis.Redis, owner: str) -> tuple[int, int]:
    """(jobs in flight, bytes counted today) of `owner`."""
    return client.zcard(inflight_key(owner)), int(client.get(bytes_key(owner)) or 0)


def test_recovery_gives_back_only_dead_processes_unfinished_submits(redis_client: redis.Redis, settings, media_root):
    storage = MediaStorage(media_root)
    beat(redis_client, "api-alive", key=APIS_ALIVE_KEY)
    dead, alive, queued = "a" * 32, "b" * 32, "c" * 32
    for job_id, api in ((dead, "api-dead"), (alive, "api-alive"), (queued, "api-dead")):
        reserve(redis_client, "owner", job_id, 1000, settings, api)
        storage.input_dir(job_id).mkdir(parents=True)
        (storage.input_dir(job_id) / "video.upload.partial").write_bytes(b"x" * 10)
    redis_client.hset(f"rq:job:{queued}", "status", "queued")  # queued just before its API died
    assert _owner_usage(redis_client, "owner") == (3, 3000)

    assert recover_abandoned(redis_client, storage, dead_after_s=5.0) == [dead]
    assert _owner_usage(redis_client, "owner") == (2, 2000)
    assert not storage.job_dir(dead).exists()
    assert storage.job_dir(alive).exists() and storage.job_dir(queued).exists()
    assert sorted(k.decode() for k in redis_client.hkeys(PENDING_SUBMITS_KEY)) == [alive]
    assert recover_abandoned(redis_client, storage, dead_after_s=5.0) == []  # nothing is given back twice
    assert _owner_usage(redis_client, "owner") == (2, 2000)


def test_api_killed_while_copying_an_upload(redis_url: str, redis_client: redis.Redis, media_root: Path,
                                             tmp_path: Path, api_key: str, seg_mp4: Path, live_worker: str):
    manifest = write_manifest(tmp_path / "manifest.json")
    key = lookup_key(redis_client, api_key)
    assert key is not None
    env = api_env(redis_url, media_root, manifest, tmp_path / "api-tmp", API_DEAD_AFTER_S=2)
    stalling = ApiProcess(env=env, log_path=tmp_path / "stalling.log",
                          factory="tests.reliability.stalling_api:create_app").start()
    upload = seg_mp4.read_bytes()
    posting = threading.Thread(target=lambda: _post_ignoring_errors(stalling.url, api_key, upload), daemon=True)
    posting.start()
    partials = lambda: list(media_root.glob("jobs/*/input/*.partial"))  # noqa: E731
    _wait_for(lambda: partials() and redis_client.hlen(PENDING_SUBMITS_KEY) == 1, what="the stalled copy")
    key_id = key.key_id
    assert _owner_usage(redis_client, key_id) == (1, len(upload))

    stalling.process.send_signal(signal.SIGKILL)
    stalling.process.wait(10)
    posting.join(10)
    survivor = ApiProcess(env=env, log_path=tmp_path / "survivor.log").start()
    try:
        _wait_for(lambda: redis_client.hlen(PENDING_SUBMITS_KEY) == 0, what="the recovery")
        assert _owner_usage(redis_client, key_id) == (0, 0)
        assert partials() == [] and list(media_root.glob("jobs/*")) == []
        answer = httpx.post(f"{survivor.url}/v1/jobs", data={"model": "street"}, timeout=30,
                            files={"video": ("labels.mp4", upload)}, headers={"Authorization": f"Bearer {api_key}"})
        assert answer.status_code == 202, answer.text
        assert _owner_usage(redis_client, key_id) == (1, len(upload))
    finally:
        survivor.stop()


def _post_ignoring_errors(url: str, api_key: str, upload: bytes) -> None:
    try:
        httpx.post(f"{url}/v1/jobs", data={"model": "street"}, files={"video": ("labels.mp4", upload)},
                   headers={"Authorization": f"Bearer {api_key}"}, timeout=60)
    except httpx.TransportError:
        pass  # the API was killed mid-request

