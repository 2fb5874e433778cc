"""`v2v serve`: Redis + one worker + the API come up on 127.0.0.1, the key is printed once, SIGTERM stops all three;
a killed worker is restarted (and `/readyz` says so meanwhile); a killed `v2v serve` leaves nothing running and the
next start works on the same data."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

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


def _assert_redis_gone(redis_port: int) -> None:
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", redis_port))
    assert _processes_mentioning(f"127.0.0.1:{redis_port}") == []


def _wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
            if ready.status_code == 200 and ready.json()["workers"] == 1:
                return
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.3)


def _start_serve(var: Path, manifest: Path, log: Path) -> tuple[subprocess.Popen[bytes], int, int]:
    port, redis_port = free_port(), free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1", V2V_MANIFEST=str(manifest))
    argv = [str(Path(sys.executable).parent / "v2v"), "serve", "--var", str(var), "--port", str(port)]
    argv += ["--redis-port", str(redis_port), "--device", "cpu"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc, port, redis_port


def _serve_once(var: Path, manifest: Path, log: Path) -> str:
    proc, port, redis_port = _start_serve(var, manifest, log)
    try:
        _wait_ready(port, proc, log)
        key = (var / "api-key").read_text().strip()
        listed = httpx.get(f"http://127.0.0.1:{port}/v1/jobs", headers={"Authorization": f"Bearer {key}"})
        assert listed.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=40)
    assert rc == 0, log.read_text()
    _assert_redis_gone(redis_port)
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


def test_killed_worker_is_restarted_and_a_killed_serve_leaves_nothing_behind(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "checkpoints")
    var, log = tmp_path / "var", tmp_path / "serve.log"
    proc, port, redis_port = _start_serve(var, manifest, log)
    try:
        _wait_ready(port, proc, log)
        pids = json.loads((var / "serve.pids").read_text())
        assert pids["serve"] == proc.pid and pids["redis"] != pids["worker"]
        os.kill(pids["worker"], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while json.loads((var / "serve.pids").read_text())["worker"] == pids["worker"]:  # restarted, with backoff
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        time.sleep(6)  # longer than a heartbeat stays fresh: the killed worker no longer counts
        _wait_ready(port, proc, log, timeout=60)  # exactly one live worker: the new one (RQ's set still lists two)
        restarted = json.loads((var / "serve.pids").read_text())["worker"]
        assert restarted != pids["worker"] and _processes_mentioning("cli.main worker")

        proc.send_signal(signal.SIGKILL)  # no clean-up code runs in `v2v serve`
        proc.wait()
        deadline = time.monotonic() + 15
        while _processes_mentioning(f"127.0.0.1:{redis_port}") or _pid_running(restarted):
            assert time.monotonic() < deadline, "children of a killed v2v serve still run"
            time.sleep(0.2)
        _assert_redis_gone(redis_port)
        for path in (var / "api-key", var / "redis" / "password"):
            assert path.stat().st_mode & 0o077 == 0, path
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    second = _serve_once(var, manifest, tmp_path / "serve-2.log")  # same data folder: starts cleanly
    assert "already runs" not in second


def _pid_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"
