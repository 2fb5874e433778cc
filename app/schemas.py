"""Public API shapes (pydantic): what routes return, documented in the OpenAPI schema at /docs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


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


class JobPublic(BaseModel):
    id: str
    model: str
    status: JobStatus
    progress: Progress
    fps: float
    created_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    cancel_requested: bool = False
    error: ErrorDetail | None = None
    links: JobLinks


class JobList(BaseModel):
    """Offset pagination: pass `next_offset` back as `offset` for the next page (null on the last page)."""

    jobs: list[JobPublic]
    next_offset: int | None


class ClassPublic(BaseModel):
    id: int
    name: str
    color: tuple[int, int, int]


class ReferenceRange(BaseModel):
    min: int
    max: int


class ModelPublic(BaseModel):
    name: str
    family: str
    description: str
    label_type: str
    label_channels: int
    classes: list[ClassPublic]
    height: int
    width: int
    references: ReferenceRange | None = Field(description="Few-shot models: how many example images a job takes.")
    trained: bool
    note: str | None = Field(description="Plain warning, e.g. when the weights are untrained.")
    quality: dict[str, object]


class ModelList(BaseModel):
    models: list[ModelPublic]


class Health(BaseModel):
    status: str
    workers: int | None = None
