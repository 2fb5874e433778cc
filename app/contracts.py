"""The contract between the API process and the workers: job payloads, the model catalogue, Redis names.

Torch-free and FastAPI-free, so both processes (and the CLI) can import it. Everything that crosses Redis is
plain JSON produced from these models (`model_dump(mode="json")`).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

QUEUE_NAME = "gpu"
"""The one RQ queue every worker listens on."""

JOB_FUNCTION = "workers.tasks.run_job"
"""Dotted path of the RQ entry point; the API enqueues it by name and never imports it."""

KEY_PREFIX = "v2v:"


def cancel_key(job_id: str) -> str:
    """Redis key whose presence asks the worker running `job_id` to stop between frames."""
    return f"{KEY_PREFIX}cancel:{job_id}"


class ModelFamily(StrEnum):
    VID2VID = "vid2vid"
    FS_VID2VID = "fs_vid2vid"


class LabelType(StrEnum):
    SEGMENTATION = "segmentation"
    POSE = "pose"
    EDGES = "edges"


class LabelSpec(BaseModel):
    """How a served model reads its label video."""

    model_config = ConfigDict(frozen=True)

    type: LabelType
    num_classes: int = 0
    """Segmentation only: number of class ids (Cityscapes label ids: 35)."""
    class_names: list[str] = Field(default_factory=list)
    palette: list[tuple[int, int, int]] = Field(default_factory=list)
    """Segmentation only: RGB colour of each class id; uploads decode to the nearest colour."""
    channels: int = 0
    """Channels the generator sees per label frame."""


class ReferenceSpec(BaseModel):
    """Few-shot models only: how many example images a job may give."""

    model_config = ConfigDict(frozen=True)

    min: int = 1
    max: int = 8


class ModelCard(BaseModel):
    """One served model, as listed in `checkpoints/manifest.json` and by `GET /v1/models`."""

    model_config = ConfigDict(frozen=True)

    name: str
    family: ModelFamily
    preset: str
    """Registry preset (`models.list_presets()`) the generator is built from."""
    description: str = ""
    labels: LabelSpec
    height: int
    width: int
    """Resolution the model was trained at; jobs run at this size unless options say otherwise."""
    references: ReferenceSpec | None = None
    weights: str | None = None
    """File under `checkpoints/` (fp16 safetensors); None means the architecture runs with untrained weights."""
    sha256: str | None = None
    first_frame_weights: str | None = None
    """vid2vid with first_frame "single_image" only: file under `checkpoints/` (fp16 safetensors) of the single-image
    generator that makes the first L frames (reference §1.6); None means it runs with untrained weights."""
    first_frame_sha256: str | None = None
    """sha256 of `first_frame_weights`."""
    config: dict[str, object] = Field(default_factory=dict)
    """Preset overrides the weights were trained with."""
    trained: bool = False
    quality: dict[str, object] = Field(default_factory=dict)
    """Measured figures (`v2v eval`), with the data they came from."""


class Manifest(BaseModel):
    models: dict[str, ModelCard]


DEFAULT_MANIFEST = Path(__file__).resolve().parent.parent / "checkpoints" / "manifest.json"


def load_manifest(path: Path = DEFAULT_MANIFEST) -> Manifest:
    """Read the model catalogue; keys of `models` are the public model names."""
    return Manifest.model_validate(json.loads(path.read_text()))


class OutputOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fps: float | None = Field(default=None, gt=0, le=120, description="Output frame rate; default: the input's.")
    max_frames: int | None = Field(default=None, ge=1, description="Stop after this many frames.")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    height: int | None = Field(default=None, ge=32, le=2048, description="Run at this size; default: the model's.")
    width: int | None = Field(default=None, ge=32, le=2048)
    formats: list[Literal["mp4", "frames"]] = Field(default_factory=lambda: ["mp4"])
    finetune_steps: int = Field(
        default=0,
        ge=0,
        le=200,
        description="Few-shot models only: fine-tune the generator on the reference images for this many steps "
        "before generating (the paper uses 100); 0 = off. Slower start, closer likeness.",
    )


class JobSpec(BaseModel):
    """What the API enqueues and the worker runs. Paths are absolute, inside the media root, chosen by the API."""

    job_id: str
    owner: str
    """Id of the API key that created the job (never the key itself)."""
    model: str
    labels_path: str
    """The uploaded label video, or a zip of PNG frames."""
    labels_kind: Literal["video", "zip"]
    reference_paths: list[str] = Field(default_factory=list)
    reference_label_paths: list[str] = Field(default_factory=list)
    job_dir: str
    """Folder that holds `frames/`, `state/` and the result video."""
    frames_total: int
    """Frames the worker will generate (after max_frames), as probed by the API."""
    fps: float
    options: OutputOptions = Field(default_factory=OutputOptions)


class JobResult(BaseModel):
    """What the job function returns (RQ stores it as the job's result)."""

    frames: int
    fps: float
    width: int
    height: int
    video_path: str
    seconds: float
    resumed_from_frame: int = 0
