"""Real processes for the reliability tests: a uvicorn API subprocess on 127.0.0.1, and `v2v worker`.

Every process is started with a bounded wait and stopped (terminate, then kill) by the fixture that made it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from cli.redis_server import free_port

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0


@dataclass
class ApiProcess:
    """A `uvicorn --factory app.main:create_app` child configured only through V2V_* environment variables."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    factory: str = "app.main:create_app"
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ApiProcess:
        env = dict(os.environ, **self.env)
        argv = [sys.executable, "-m", "uvicorn", "--factory", self.factory]
        argv += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        argv += ["--timeout-graceful-shutdown", "3"]
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API exited with {self.process.returncode}: {self.log_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the API did not answer within {START_TIMEOUT_S} s: {self.log_text()}")
            time.sleep(0.1)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def api_env(redis_url: str, media_root: Path, manifest: Path, tmp_dir: Path, **settings: object) -> dict[str, str]:
    """V2V_* environment for an API process (plus TMPDIR, so spooled uploads can be inspected)."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "V2V_REDIS_URL": redis_url,
        "V2V_MEDIA_ROOT": str(media_root),
        "V2V_MANIFEST": str(manifest),
        "TMPDIR": str(tmp_dir),
        "OMP_NUM_THREADS": "1",
    }
    env.update({f"V2V_{name}": str(value) for name, value in settings.items()})
    return env
