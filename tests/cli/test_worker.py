"""`v2v worker --devices 0,1`: a supervisor with one worker process per device, restarting a child that dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis
from rq import Worker

from tests.workers.helpers import write_manifest

REPO = Path(__file__).resolve().parents[2]


def _worker_pids(client: redis.Redis) -> set[int]:
    return {w.pid for w in Worker.all(connection=client) if w.pid}


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_supervisor_runs_one_worker_per_device_and_restarts_them(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", V2V_MANIFEST=str(write_manifest(tmp_path)))
    argv = [str(Path(sys.executable).parent / "v2v"), "worker", "--devices", "0,1", "--device", "cpu"]
    with open(tmp_path / "supervisor.log", "wb") as log:
        supervisor = subprocess.Popen([*argv, "--redis-url", redis_url], cwd=REPO, env=env, stdout=log, stderr=log)
    try:
        _wait(lambda: len(_worker_pids(redis_client)) == 2, 90, "two workers")
        first = _worker_pids(redis_client)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        _wait(lambda: len(_worker_pids(redis_client) - first) == 1, 90, "a replacement worker")
        children = _worker_pids(redis_client) - {victim}
    finally:
        supervisor.send_signal(signal.SIGTERM)
        rc = supervisor.wait(timeout=40)
    assert rc == 0
    assert not any(_alive(pid) for pid in children)
