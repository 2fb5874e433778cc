"""Fixtures of the reliability tests: the API fixtures of tests/app, plus a real API subprocess factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.app.fixtures import api_key, auth, client, seg_mp4, settings, submit  # noqa: F401
from tests.app.media import write_manifest
from tests.reliability.servers import ApiProcess, api_env

StartApi = Callable[..., ApiProcess]


@pytest.fixture()
def start_api(tmp_path: Path, media_root: Path, live_worker: str) -> Iterator[StartApi]:
    """start_api(redis_url, manifest=None, **V2V settings) -> a running uvicorn API; all stopped after the test.
    A worker heartbeat (`live_worker`) lets it accept jobs whether or not a test runs a real worker."""
    started: list[ApiProcess] = []

    def start(redis_url: str, manifest: Path | None = None, **overrides: object) -> ApiProcess:
        manifest = manifest or write_manifest(tmp_path / "manifest.json")
        env = api_env(redis_url, media_root, manifest, tmp_path / "api-tmp", **overrides)
        api = ApiProcess(env=env, log_path=tmp_path / f"api-{len(started)}.log")
        started.append(api)
        return api.start()

    yield start
    for api in started:
        api.stop()
