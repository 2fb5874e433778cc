"""The CLI's surface: every command's --help shows its defaults and the environment it reads; `v2v keys` finds the
Redis of a running `v2v serve` with no flags; `v2v serve` says where the page, the docs and its Redis are; a Redis
password with URL-breaking characters is passed safely."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from app.auth import lookup_key
from app.config import Settings
from app.redis_url import resolve_redis_url, with_password
from cli.main import SUBCOMMANDS, main
from cli.redis_server import RedisServer
from cli.serve import service_urls, write_private

V2V = str(Path(sys.executable).parent / "v2v")


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_help_shows_defaults_and_environment(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "environment: V2V_REDIS_URL" in text
    if command in ("serve", "worker", "submit", "wait", "keys", "api"):
        assert "default" in text, text


def test_help_names_the_env_vars_of_client_and_worker_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["submit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "V2V_SERVER" in text and "V2V_API_KEY" in text and "(default: http" in text
    with pytest.raises(SystemExit):
        main(["worker", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "V2V_REDIS_PASSWORD" in text and "(default: auto)" in text


def test_keys_finds_the_redis_of_a_running_serve_with_no_flags(tmp_path: Path) -> None:
    var = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith("V2V_REDIS")}
    with RedisServer(var / "redis") as server:
        write_private(var / "redis" / "port", f"{server.port}\n")  # what `v2v serve` records
        done = subprocess.run([V2V, "keys", "create", "--name", "me"], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        client = redis.Redis.from_url(server.url)
        key = lookup_key(client, done.stdout.strip())
        client.close()
        assert key is not None and key.name == "me"
        assert server.password not in done.stderr
    stopped = subprocess.run([V2V, "keys", "create"], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=60)
    assert stopped.returncode == 2 and "start `v2v serve`" in stopped.stderr
    assert "Traceback" not in stopped.stderr and len(stopped.stderr.strip().splitlines()) == 1


def test_serve_prints_the_page_docs_and_redis(tmp_path: Path) -> None:
    text = service_urls("0.0.0.0", 8123, 6399, tmp_path)
    for expected in ("http://127.0.0.1:8123/", "http://127.0.0.1:8123/docs", "http://127.0.0.1:8123/redoc",
                     "http://127.0.0.1:8123/metrics", "redis://127.0.0.1:6399/0", str(tmp_path / "redis/password")):
        assert expected in text


def test_a_password_with_url_characters_is_quoted_into_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    password = "p/@#:%x y"
    url = with_password("redis://redis:6379/0", password)
    assert redis.connection.parse_url(url)["password"] == password
    assert redis.connection.parse_url(url)["host"] == "redis"
    monkeypatch.setenv("V2V_REDIS_URL", "redis://redis:6379/0")
    monkeypatch.setenv("V2V_REDIS_PASSWORD", password)
    assert resolve_redis_url() == url
    assert Settings().redis_url() == url
