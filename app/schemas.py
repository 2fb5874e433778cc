"""Public API shapes (pydantic): what routes return, documented in the OpenAPI schema at /docs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from app.contracts import CardInputs, OutputSpec


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. corrupt_video, not_found.")
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class Progress(BaseModel):
    frames_done: int
    frames_total: int


class JobLinks(BaseModel):
    self: str
    result: str
    frames: str
    cancel: str
    results: list[str] = Field(default_factory=list, description="One video per sample (`?sample=i`).")


class JobPublic(BaseModel):
    id: str
    model: str
    kind: str = Field(description="translate, predict or generate.")
    samples: int = Field(default=1, description="Videos the job makes (predict, generate: num_samples).")
    status: JobStatus
    progress: Progress
    fps: float
    created_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    cancel_requested: bool = False
    error: ErrorDetail | None = None
    seeds: dict[str, int] | None = Field(default=None, description="Succeeded jobs: the seeds used (re-run with them).")
    report: dict[str, object] | None = Field(
        default=None, description="Succeeded jobs: what the kind adds (predict with `truth`: per-sample PSNR/SSIM per "
        "frame and `best_sample`; generate: the seeds each sample used).")
    links: JobLinks


class JobList(BaseModel):
    """Offset pagination: pass `next_offset` back as `offset` for the next page (null on the last page)."""

    jobs: list[JobPublic]
    next_offset: int | None


class OptionPublic(BaseModel):
    min: int
    max: int
    default: int
    description: str


class ModelPublic(BaseModel):
    """A served model: its kind, what a job of that kind takes (`inputs`), what it gives (`output`), the family
    options a job may set, whether it has trained weights, and its measured quality."""

    name: str
    family: str
    kind: str
    description: str
    inputs: CardInputs
    output: OutputSpec
    options: dict[str, OptionPublic]
    trained: bool
    note: str | None = Field(description="Plain warning, e.g. when the weights are untrained.")
    quality: dict[str, object]


class ServingGroup(BaseModel):
    """Live workers that serve on the same device type in the same precision."""

    device: str
    """e.g. "cpu", "cuda:0"."""
    precision: str
    """"fp32", "bf16" or "fp16" (chosen by each worker at start-up: the fastest that is safe on its device)."""
    workers: int


class ModelList(BaseModel):
    models: list[ModelPublic]
    serving: list[ServingGroup] | None = None
    """What the live workers run on; None while Redis does not answer."""


class Health(BaseModel):
    status: str
    workers: int | None = None
