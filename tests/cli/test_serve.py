"""`v2v serve`: Redis + one worker + the API come up on 127.0.0.1, the key is printed once, SIGTERM stops all three."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import redis

from cli.redis_server import free_port
from tests.workers.helpers import write_manifest

REPO = Path(__file__).resolve().parents[2]


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                pids.append(int(entry.name))
    return pids


def _serve_once(var: Path, manifest: Path, log: Path) -> str:
    port, redis_port = free_port(), free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1", V2V_MANIFEST=str(manifest))
    argv = [str(Path(sys.executable).parent / "v2v"), "serve", "--var", str(var), "--port", str(port)]
    argv += ["--redis-port", str(redis_port), "--device", "cpu"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                if ready.status_code == 200 and ready.json()["workers"] == 1:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        key = (var / "api-key").read_text().strip()
        listed = httpx.get(f"http://127.0.0.1:{port}/v1/jobs", headers={"Authorization": f"Bearer {key}"})
        assert listed.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=40)
    assert rc == 0, log.read_text()
    try:  # Redis is gone, and so is the worker
        redis.Redis(port=redis_port, socket_connect_timeout=1).ping()
        raise AssertionError("redis-server still running")
    except redis.ConnectionError:
        pass
    assert _processes_mentioning(f"127.0.0.1:{redis_port}") == []
    return log.read_text()


def test_serve_starts_and_stops_cleanly_and_keeps_its_key(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "checkpoints")
    var = tmp_path / "var"
    first = _serve_once(var, manifest, tmp_path / "serve-1.log")
    key = (var / "api-key").read_text().strip()
    assert f"API key (also saved to {var / 'api-key'}): {key}" in first
    assert (var / "redis").is_dir() and (var / "media").is_dir()

    second = _serve_once(var, manifest, tmp_path / "serve-2.log")  # AOF kept the key: not printed again
    assert key not in second and (var / "api-key").read_text().strip() == key
