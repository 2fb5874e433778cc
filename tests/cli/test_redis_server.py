"""The embedded redis-server is private: password required, admin commands gone, AOF and password file 0600,
one server per AOF."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import redis

from cli.redis_server import RedisServer


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_embedded_redis_needs_its_password_and_refuses_admin_commands(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis", appendonly=True) as server:
        assert server.password and server.url.startswith("redis://:")
        client = redis.Redis.from_url(server.url)
        client.set("x", "1")
        assert client.get("x") == b"1"
        with pytest.raises(redis.ResponseError, match="unknown command"):
            client.execute_command("CONFIG", "GET", "dir")
        with pytest.raises(redis.ResponseError, match="unknown command"):
            client.execute_command("CONFIG", "SET", "dir", "/tmp")
        for command in (("DEBUG", "SLEEP", "0"), ("MODULE", "LIST"), ("SLAVEOF", "NO", "ONE")):
            with pytest.raises(redis.ResponseError, match="unknown command"):
                client.execute_command(*command)
        anonymous = redis.Redis(host="127.0.0.1", port=server.port, socket_connect_timeout=2)
        with pytest.raises((redis.AuthenticationError, redis.ResponseError)):
            anonymous.get("x")
        client.close()

        data = tmp_path / "redis"
        assert _mode(data) == 0o700 and _mode(data / "password") == 0o600
        aof_files = [p for p in data.rglob("*") if p.is_file() and "appendonly" in p.name]
        assert aof_files and all(_mode(p) & 0o077 == 0 for p in aof_files), [(p, oct(_mode(p))) for p in aof_files]

        with pytest.raises(RuntimeError, match="already runs"):  # two servers on one AOF
            RedisServer(data, appendonly=True).start()

    again = RedisServer(tmp_path / "redis", appendonly=True).start()  # a restart keeps the password and the data
    try:
        assert again.password == server.password
        assert redis.Redis.from_url(again.url).get("x") == b"1"
    finally:
        again.stop()
