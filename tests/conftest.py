"""Session-wide fixtures: one real redis-server for the whole run, a clean database per test; an API client and key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from cli.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture()
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """URL of the session's real Redis, flushed before and after the test."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield redis_server.url
    client.flushall()
    client.close()


@pytest.fixture()
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture()
def media_root(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    return root


@pytest.fixture()
def square_data(tmp_path: Path) -> Path:
    """A tiny translate data set: a textured square moving over a textured background, with exact flow."""
    from tests.moving_square import make_moving_square

    return make_moving_square(tmp_path / "data")


@pytest.fixture()
def live_worker(redis_client: redis.Redis) -> str:
    """A heartbeat that counts as a live worker for the next hour, for API tests that queue jobs no worker runs."""
    from app.liveness import WORKERS_ALIVE_KEY, redis_now

    redis_client.zadd(WORKERS_ALIVE_KEY, {"test-worker": redis_now(redis_client) + 3600})
    return "test-worker"


@pytest.fixture()
def client(redis_url: str, media_root: Path, manifest: Path) -> Iterator[TestClient]:
    """The API on the real Redis with the requesting module's `manifest` fixture and default limits (the tests that
    run jobs through a real worker process; tests/app and its neighbours define their own)."""
    from app.config import Settings
    from app.main import create_app

    settings = Settings(REDIS_URL=redis_url, MEDIA_ROOT=media_root, MANIFEST=manifest)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture()
def auth(redis_client: redis.Redis) -> dict[str, str]:
    """Bearer headers of a fresh API key."""
    from app.auth import create_api_key

    return {"Authorization": f"Bearer {create_api_key(redis_client, 'tests')[1]}"}
