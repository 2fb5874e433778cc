"""API keys: hashed storage, the initial key file, auth switched off on loopback only."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.auth import API_KEYS, bearer_token, create_api_key, ensure_initial_key, hash_key, lookup_key
from app.config import Settings
from app.main import create_app


def test_keys_are_stored_hashed(redis_client: redis.Redis):
    key_id, plaintext = create_api_key(redis_client, "alice")
    stored = redis_client.hgetall(API_KEYS)
    assert list(stored) == [hash_key(plaintext).encode()]
    assert plaintext.encode() not in b"".join(stored.values())
    assert lookup_key(redis_client, plaintext).key_id == key_id
    assert lookup_key(redis_client, plaintext + "x") is None


def test_initial_key_is_created_once_with_mode_0600(redis_client: redis.Redis, tmp_path: Path):
    key_file = tmp_path / "var" / "api-key"
    first = ensure_initial_key(redis_client, key_file)
    assert first is not None and key_file.read_text().strip() == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert ensure_initial_key(redis_client, key_file) is None  # known key: nothing new
    redis_client.delete(API_KEYS)  # a fresh Redis forgets it: a new key replaces the file
    second = ensure_initial_key(redis_client, key_file)
    assert second not in (None, first) and lookup_key(redis_client, second) is not None


def test_bearer_token_parsing():
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert (
        bearer_token("Basic abc") is None and bearer_token(None) is None and bearer_token("Bearer ") is None
    )


def test_auth_off_is_refused_off_loopback(settings: Settings):
    with pytest.raises(ValidationError, match="V2V_AUTH_ENABLED=false is refused"):
        Settings(**{**settings.model_dump(), "AUTH_ENABLED": False, "BIND_HOST": "0.0.0.0"})


def test_auth_off_on_loopback_serves_anonymous_without_a_key(settings: Settings, seg_mp4: Path):
    open_settings = Settings(**{**settings.model_dump(), "AUTH_ENABLED": False, "BIND_HOST": "127.0.0.1"})
    with TestClient(create_app(open_settings)) as client:
        response = client.post(
            "/v1/jobs",
            data={"model": "street"},
            files={"video": ("v.mp4", seg_mp4.read_bytes(), "video/mp4")},
        )
        assert response.status_code == 202, response.text
        assert [j["id"] for j in client.get("/v1/jobs").json()["jobs"]] == [response.json()["id"]]
