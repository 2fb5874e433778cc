"""API settings: one frozen `Settings` read from `V2V_*` environment variables, validated at startup.

`get_settings()` builds it once (cached); tests and the CLI pass a `Settings(...)` to `create_app` instead.
Validators fail loudly with a message that says how to fix the value.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.contracts import DEFAULT_MANIFEST
from app.redis_url import with_password
from app.samples import DEFAULT_SAMPLES_DIR

MB = 1024 * 1024
DAY_S = 24 * 3600


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    """Everything the API process can be told. Env: `V2V_<FIELD>` (e.g. `V2V_REDIS_URL`)."""

    model_config = SettingsConfigDict(env_prefix="V2V_", frozen=True, extra="ignore")

    REDIS_URL: str = "redis://127.0.0.1:6379/0"
    REDIS_PASSWORD: str | None = None
    """Put into REDIS_URL URL-quoted (`redis_url()`), so any characters are safe (compose passes it this way)."""
    MEDIA_ROOT: Path = Path("./var/media")
    MANIFEST: Path = DEFAULT_MANIFEST
    SAMPLES_DIR: Path = DEFAULT_SAMPLES_DIR
    """Sample inputs the web page offers (`samples/manifest.json`, made by `v2v data samples`)."""
    API_KEY_FILE: Path = Path("./var/api-key")
    """Where `v2v serve` writes the first API key (plaintext, mode 0600); the CLI client reads it."""

    # Upload and input limits.
    MAX_UPLOAD_BYTES: int = Field(default=500 * MB, gt=0)
    MAX_REFERENCE_BYTES: int = Field(default=20 * MB, gt=0)
    MAX_ZIP_UNCOMPRESSED_BYTES: int = Field(default=4096 * MB, gt=0)
    MAX_FRAMES: int = Field(default=3000, gt=0)
    MAX_WIDTH: int = Field(default=2048, gt=0)
    MAX_HEIGHT: int = Field(default=2048, gt=0)
    MAX_DURATION_S: float = Field(default=600.0, gt=0)
    MAX_REFERENCES: int = Field(default=8, gt=0)
    ZIP_FPS: float = Field(default=15.0, gt=0, le=120)
    """Frame rate of a zip of PNG frames unless the job's options give one."""
    SEGMENTATION_MAX_PALETTE_DISTANCE: float = Field(default=40.0, gt=0)
    """Mean RGB distance of the first frame to the model's palette above which the labels are refused."""

    # Auth and per-key limits.
    AUTH_ENABLED: bool = True
    BIND_HOST: str = "127.0.0.1"
    MAX_JOBS_IN_FLIGHT: int = Field(default=4, gt=0)
    MAX_UPLOAD_BYTES_PER_KEY_PER_DAY: int = Field(default=10 * 1024 * MB, gt=0)

    # Queue and lifetime of records and files.
    RESULT_TTL_S: int = Field(default=7 * DAY_S, gt=0)
    FAILURE_TTL_S: int = Field(default=7 * DAY_S, gt=0)
    RETENTION_S: int = Field(default=7 * DAY_S, gt=0)
    JOB_TIMEOUT_BASE_S: int = Field(default=300, gt=0)
    JOB_TIMEOUT_PER_FRAME_S: float = Field(default=10.0, ge=0)
    MAX_ATTEMPTS: int = Field(default=3, ge=1, le=10)
    CANCEL_TTL_S: int = Field(default=DAY_S, gt=0)
    RETENTION_SWEEP_INTERVAL_S: int = Field(default=3600, gt=0)
    API_DEAD_AFTER_S: float = Field(default=15.0, gt=0)
    """An API process silent this long is dead: another (or its restart) gives back what its unfinished submits
    reserved and removes their partial uploads (`app.limits.recover_abandoned`)."""
    WEBHOOK_ALLOWED_NETWORKS: list[str] = Field(default_factory=list)
    """CIDRs webhook receivers may be in although private/loopback (default none), e.g. `["127.0.0.1/32"]`."""
    WEBHOOK_INTERVAL_S: float = Field(default=0.5, gt=0, le=10)
    WEBHOOK_BACKOFF_S: float = Field(default=2.0, gt=0)
    """First retry delay of a failed delivery; doubles per attempt."""
    WEBHOOK_MAX_ATTEMPTS: int = Field(default=6, ge=1, le=20)
    WEBHOOK_TIMEOUT_S: float = Field(default=5.0, gt=0, le=60)
    IDEMPOTENCY_TTL_S: int = Field(default=DAY_S, gt=0)
    METRICS_TOKEN: str | None = None
    """When set, `GET /metrics` needs `Authorization: Bearer <token>` (Prometheus `authorization` config)."""
    EVENTS_INTERVAL_S: float = Field(default=0.5, gt=0, le=10)
    """How often `GET /v1/jobs/{id}/events` reads the job's record for changes."""

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if not self.AUTH_ENABLED and not is_loopback(self.BIND_HOST):
            raise ValueError(
                f"V2V_AUTH_ENABLED=false is refused with V2V_BIND_HOST={self.BIND_HOST!r}: anyone on the "
                "network could use the service. Bind to 127.0.0.1 or set V2V_AUTH_ENABLED=true."
            )
        if not self.MANIFEST.is_file():
            raise ValueError(
                f"V2V_MANIFEST={self.MANIFEST} does not exist: point it at a model catalogue such as "
                f"{DEFAULT_MANIFEST}."
            )
        for network in self.WEBHOOK_ALLOWED_NETWORKS:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError as exc:
                message = f"V2V_WEBHOOK_ALLOWED_NETWORKS: {network!r} is not a CIDR such as 127.0.0.1/32"
                raise ValueError(message) from exc
        if not self.REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f"V2V_REDIS_URL={self.REDIS_URL!r} is not a Redis URL: use redis://host:port/db or unix:///path"
            )
        return self

    def redis_url(self) -> str:
        """REDIS_URL with REDIS_PASSWORD in it (`app.redis_url.with_password`)."""
        return with_password(self.REDIS_URL, self.REDIS_PASSWORD)

    def job_timeout_s(self, frames: int, extra_s: float = 0.0) -> int:
        """RQ job timeout for a job writing `frames` frames in all, plus `extra_s` for work its options add (the
        card's `OptionSpec.seconds_per_unit`, e.g. fine-tuning steps)."""
        return int(self.JOB_TIMEOUT_BASE_S + self.JOB_TIMEOUT_PER_FRAME_S * frames + extra_s)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings from the environment, built on first use."""
    return Settings()
