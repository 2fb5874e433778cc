"""`v2v worker`: take jobs from Redis with every served model loaded once.

    v2v worker [--redis-url URL] [--device auto|cpu|cuda|cuda:N]     one worker process
    v2v worker --devices all|0,1 ...                                  one worker process per GPU, supervised

With `--devices` and several GPUs, this process becomes a supervisor: one child `v2v worker --device cuda` per GPU
with CUDA_VISIBLE_DEVICES pinned (an explicit `--device` is passed on to the children instead), restarted (with
backoff) when it exits, stopped on SIGINT/SIGTERM. With one GPU or none (a CPU machine), it runs a single worker
in-process, so `v2v worker --devices all` works everywhere.
Defaults come from V2V_REDIS_URL (+ V2V_REDIS_PASSWORD) and V2V_MANIFEST, like the API's. With
V2V_WORKER_HEALTH_FILE set, every worker process touches that file with each liveness beat (compose healthcheck).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from app.contracts import DEFAULT_MANIFEST, QUEUE_NAME
from app.redis_url import DEFAULT_REDIS_URL, resolve_redis_url

log = logging.getLogger("v2v.worker")


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--redis-url", default=None,
                        help="default: $V2V_REDIS_URL (with $V2V_REDIS_PASSWORD put in, URL-quoted), else the Redis of "
                             "a `v2v serve` in ./var, else " + DEFAULT_REDIS_URL)
    parser.add_argument("--manifest", type=Path, default=Path(os.environ.get("V2V_MANIFEST", DEFAULT_MANIFEST)),
                        help="served models (env: V2V_MANIFEST)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda, cuda:N")
    parser.add_argument("--devices", default=None, help="'all' or a list like 0,1: one worker process per GPU")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"),
                        default=os.environ.get("V2V_PRECISION", "auto"),
                        help="auto: bf16/fp16 autocast on GPUs (by compute capability), bf16 on CPUs with bf16 "
                             "instructions where a probe shows it faster, else fp32 (env: V2V_PRECISION)")
    parser.add_argument("--compile", action="store_true", default=os.environ.get("V2V_COMPILE", "") == "1",
                        help="torch.compile what families allow (vid2vid: each scale's network; few-shot: its "
                             "step); the first job of each frame size compiles, later ones run faster "
                             "(env: V2V_COMPILE=1)")
    parser.add_argument("--models", default="", help="comma-separated model names to load (default: all)")
    parser.add_argument("--queue", default=QUEUE_NAME)
    parser.add_argument("--burst", action="store_true", help="quit when the queue is empty")
    parser.add_argument("--heartbeat-ttl", type=int, default=20, help="seconds before a silent worker's job expires")
    parser.add_argument("--heartbeat-every", type=float, default=5.0)
    parser.add_argument("--janitor-every", type=float, default=5.0, help="seconds between abandoned-job checks")


def _gpu_ids(devices: str) -> list[str]:
    if devices == "all":
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    return [d.strip() for d in devices.split(",") if d.strip()]


def _child_argv(args: argparse.Namespace) -> list[str]:
    device = "cuda" if args.device == "auto" else args.device
    argv = [sys.executable, "-m", "cli.main", "worker", "--device", device]
    if args.redis_url:  # otherwise the children read the same environment (no password on their command line)
        argv += ["--redis-url", args.redis_url]
    argv += ["--manifest", str(args.manifest), "--queue", args.queue, "--models", args.models]
    argv += ["--heartbeat-ttl", str(args.heartbeat_ttl), "--heartbeat-every", str(args.heartbeat_every)]
    argv += ["--janitor-every", str(args.janitor_every), "--precision", args.precision]
    argv += ["--compile"] if args.compile else []
    return argv


def supervise(args: argparse.Namespace, gpu_ids: list[str]) -> int:
    """One child worker per GPU; restart a child that exits (backoff up to 60 s); stop all on SIGINT/SIGTERM."""
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    children: dict[str, subprocess.Popen[bytes]] = {}
    backoff = dict.fromkeys(gpu_ids, 1.0)
    next_start = dict.fromkeys(gpu_ids, 0.0)
    try:
        while not stopping:
            for gpu in gpu_ids:
                child = children.get(gpu)
                if child is not None and child.poll() is None:
                    continue
                if child is not None:
                    log.warning(
                        "worker on GPU %s exited with %s; restarting in %.0f s", gpu, child.returncode, backoff[gpu]
                    )
                    next_start[gpu] = time.monotonic() + backoff[gpu]
                    backoff[gpu] = min(backoff[gpu] * 2, 60.0)
                    children.pop(gpu)
                if time.monotonic() >= next_start[gpu]:
                    env = dict(os.environ, CUDA_VISIBLE_DEVICES=gpu)
                    children[gpu] = subprocess.Popen(_child_argv(args), env=env)
                    log.info("started worker pid %d on GPU %s", children[gpu].pid, gpu)
            time.sleep(0.5)
    finally:
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        for child in children.values():
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    return 0


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    device = args.device
    if args.devices is not None:
        gpu_ids = _gpu_ids(args.devices)
        if len(gpu_ids) > 1:
            return supervise(args, gpu_ids)
        if len(gpu_ids) == 1:
            os.environ["CUDA_VISIBLE_DEVICES"] = gpu_ids[0]
            device = "cuda"

    from workers.worker import CrashSafety, WorkerSettings, serve_forever

    settings = WorkerSettings(
        redis_url=resolve_redis_url(args.redis_url),
        manifest=args.manifest,
        device=device,
        models=tuple(m.strip() for m in args.models.split(",") if m.strip()),
        queue=args.queue,
        crash_safety=CrashSafety(
            heartbeat_ttl_s=args.heartbeat_ttl,
            heartbeat_every_s=args.heartbeat_every,
            janitor_every_s=args.janitor_every,
        ),
        precision=args.precision,
        compile_networks=args.compile,
    )
    return serve_forever(settings, burst=args.burst)
