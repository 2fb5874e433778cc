"""API test fixtures (shared with tests/cli): test catalogue, Settings on real Redis, key, TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from app.auth import create_api_key
from app.config import Settings
from app.main import create_app
from tests.app.media import seg_video, write_manifest


@pytest.fixture()
def settings(redis_url: str, media_root: Path, tmp_path: Path, live_worker: str) -> Settings:
    """API settings on the real Redis, with a worker heartbeat so that jobs are accepted (none runs them)."""
    return Settings(
        REDIS_URL=redis_url,
        MEDIA_ROOT=media_root,
        MANIFEST=write_manifest(tmp_path / "manifest.json"),
        MAX_UPLOAD_BYTES=200_000,
        MAX_REFERENCE_BYTES=100_000,
        MAX_FRAMES=40,
        MAX_WIDTH=128,
        MAX_HEIGHT=128,
        MAX_DURATION_S=2.0,
        MAX_JOBS_IN_FLIGHT=3,
    )


@pytest.fixture()
def api_key(redis_client: redis.Redis) -> str:
    return create_api_key(redis_client, "test")[1]


@pytest.fixture()
def auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


@pytest.fixture()
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture()
def seg_mp4(tmp_path: Path) -> Path:
    return seg_video(tmp_path / "labels.mp4")


@pytest.fixture()
def submit(client: TestClient, seg_mp4: Path):
    """Submit a good segmentation job with the given headers; returns its id."""

    def _submit(headers: dict[str, str]) -> str:
        response = client.post(
            "/v1/jobs",
            data={"model": "street"},
            files={"video": ("v.mp4", seg_mp4.read_bytes(), "video/mp4")},
            headers=headers,
        )
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    return _submit
