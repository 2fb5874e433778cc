"""`v2v api` against a hostile client: an endless or never-finished request head neither stalls `/healthz` nor
keeps its connection open past the limits (`cli.http_server`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cli.redis_server import free_port
from tests.app.media import write_manifest
from tests.reliability.servers import stop_process

REPO = Path(__file__).resolve().parents[2]
HEAD_TIMEOUT_S = 2.0
MAX_HEALTHZ_S = 1.0


@pytest.fixture()
def api_url(redis_url: str, media_root: Path, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        V2V_REDIS_URL=redis_url,
        V2V_MEDIA_ROOT=str(media_root),
        V2V_MANIFEST=str(write_manifest(tmp_path / "manifest.json")),
        V2V_API_KEY_FILE=str(tmp_path / "api-key"),
    )
    argv = [str(Path(sys.executable).parent / "v2v"), "api", "--port", str(port), "--log-level", "warning"]
    argv += ["--head-timeout", str(HEAD_TIMEOUT_S)]
    log = open(tmp_path / "api.log", "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "api.log").read_text()
        time.sleep(0.1)
    yield url
    stop_process(proc)
    log.close()


def _stream_header(port: int, pause_s: float, chunk: bytes, closed_after: list[float]) -> None:
    """Send a request line, then header bytes forever; record when the server closed the connection."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(0.5)
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            while time.monotonic() - started < 30:
                sock.sendall(chunk)
                try:
                    if sock.recv(65536) == b"":
                        break
                    break  # the server answered (400) and closes
                except TimeoutError:
                    pass
                time.sleep(pause_s)
        except OSError:  # reset / broken pipe: closed by the server
            pass
    closed_after.append(time.monotonic() - started)


def _healthz_latencies(url: str, until: threading.Thread) -> list[float]:
    latencies = []
    while until.is_alive():
        started = time.monotonic()
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        latencies.append(time.monotonic() - started)
        time.sleep(0.1)
    return latencies


@pytest.mark.parametrize(
    ("case", "pause_s", "chunk", "closed_within_s"),
    [
        ("slow unfinished header", 0.1, b"X-Slow: " + b"a" * 20 + b"\r\n", HEAD_TIMEOUT_S + 2.0),
        ("endless header", 0.0, b"X-Big: " + b"a" * 8192, 2.0),
    ],
)
def test_a_header_streaming_client_is_cut_off_and_healthz_stays_fast(
    api_url: str, case: str, pause_s: float, chunk: bytes, closed_within_s: float
) -> None:
    port = int(api_url.rsplit(":", 1)[1])
    closed_after: list[float] = []
    attacker = threading.Thread(target=_stream_header, args=(port, pause_s, chunk, closed_after), daemon=True)
    attacker.start()
    latencies = _healthz_latencies(api_url, attacker)
    attacker.join()
    print(f"{case}: closed after {closed_after[0]:.2f} s, healthz max {max(latencies or [0]):.3f} s")  # noqa: T201
    assert closed_after[0] < closed_within_s, case
    assert max(latencies or [0.0]) < MAX_HEALTHZ_S, (case, latencies)
