"""Settings: V2V_* environment, defaults, and validators that fail with a fix-it message."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings, is_loopback
from app.contracts import DEFAULT_MANIFEST


def test_reads_v2v_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("V2V_REDIS_URL", "redis://example:6380/2")
    monkeypatch.setenv("V2V_MAX_FRAMES", "12")
    monkeypatch.setenv("V2V_MEDIA_ROOT", str(tmp_path))
    settings = Settings()
    assert settings.REDIS_URL == "redis://example:6380/2" and settings.MAX_FRAMES == 12
    assert settings.MEDIA_ROOT == tmp_path and settings.MANIFEST == DEFAULT_MANIFEST
    assert settings.AUTH_ENABLED is True and settings.MAX_ATTEMPTS == 3


def test_settings_are_frozen():
    with pytest.raises(ValidationError):
        Settings().MAX_FRAMES = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"MANIFEST": Path("/nonexistent/manifest.json")}, "V2V_MANIFEST"),
        ({"REDIS_URL": "localhost:6379"}, "not a Redis URL"),
        ({"MAX_FRAMES": 0}, "greater than 0"),
        ({"AUTH_ENABLED": False, "BIND_HOST": "10.0.0.5"}, "Bind to 127.0.0.1"),
    ],
)
def test_bad_values_fail_loudly(values: dict[str, object], message: str):
    with pytest.raises(ValidationError, match=message):
        Settings(**values)


def test_loopback_detection():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2") and not is_loopback("example.com")


def test_job_timeout_grows_with_frames():
    settings = Settings(JOB_TIMEOUT_BASE_S=60, JOB_TIMEOUT_PER_FRAME_S=2.5)
    assert settings.job_timeout_s(0) == 60 and settings.job_timeout_s(100) == 310
    assert settings.job_timeout_s(100, extra_s=50.0) == 360
