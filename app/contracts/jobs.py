"""Job payloads: what the API enqueues (`JobSpec`, with its per-kind `inputs`) and what the worker returns.

Paths are absolute, inside the media root, chosen by the API. The worker validates the payload again before running.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class JobKind(StrEnum):
    TRANSLATE = "translate"
    PREDICT = "predict"
    GENERATE = "generate"


class OutputOptions(BaseModel):
    """Options every kind understands (validated strictly: no coercion of strings or floats to integers)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    fps: float | None = Field(default=None, ge=1, le=120, description="Output frame rate; default: the input's "
                              "(translate, predict) or the model's (generate).")
    max_frames: int | None = Field(default=None, ge=1, le=100_000, description="Stop after this many frames.")
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="Seed of every random draw of the job.")
    height: int | None = Field(default=None, ge=16, le=2048, description="Run at this size; default: the model's. "
                               "Must be a multiple of the model's `size_multiple`.")
    width: int | None = Field(default=None, ge=16, le=2048)


class TranslateJob(BaseModel):
    kind: Literal["translate"] = "translate"
    labels_path: str
    """The uploaded label video, or a zip of PNG frames."""
    labels_kind: Literal["video", "zip", "keypoints"]
    labels_canvas: tuple[int, int] | None = None
    """keypoints: (width, height) of the frames the keypoints were measured on (the rendered label size)."""
    reference_paths: list[str] = Field(default_factory=list)
    reference_label_paths: list[str] = Field(default_factory=list)


class PredictJob(BaseModel):
    kind: Literal["predict"] = "predict"
    context_path: str
    context_kind: Literal["video", "zip", "image"]
    context_frames: int
    """Context frames the model conditions on (the last ones of the upload)."""
    horizon: int
    num_samples: int
    truth_path: str | None = None
    """Optional true future (video or zip): the result then scores each sample against it."""
    truth_kind: Literal["video", "zip"] | None = None
    attributes: dict[str, int] = Field(default_factory=dict)


class GenerateJob(BaseModel):
    kind: Literal["generate"] = "generate"
    num_samples: int
    num_frames: int
    class_id: int | None = None
    seeds: dict[str, int] = Field(default_factory=dict)
    truncation: float = 1.0


JobInputs = Annotated[TranslateJob | PredictJob | GenerateJob, Field(discriminator="kind")]


class JobSpec(BaseModel):
    """What the API enqueues and the worker runs."""

    job_id: str
    owner: str
    """Id of the API key that created the job (never the key itself)."""
    model: str
    job_dir: str
    """Folder that holds `frames/`, `state/` and the result videos."""
    frames_total: int
    """Frames per sample the worker will write (after max_frames)."""
    fps: float
    options: OutputOptions = Field(default_factory=OutputOptions)
    family_options: dict[str, int] = Field(default_factory=dict)
    """The card's family options, validated by the API against their ranges (e.g. {"finetune_steps": 100})."""
    inputs: JobInputs

    @property
    def samples(self) -> int:
        """Videos the job makes."""
        return 1 if isinstance(self.inputs, TranslateJob) else self.inputs.num_samples


class JobResult(BaseModel):
    """What the job function returns (RQ stores it as the job's result)."""

    frames: int
    """Frames per sample."""
    fps: float
    width: int
    height: int
    video_path: str
    """The first sample's video."""
    videos: list[str] = Field(default_factory=list)
    """File names (in the job folder) of every sample's video, in sample order."""
    seconds: float
    resumed_from_frame: int = 0
    seeds: dict[str, int] = Field(default_factory=dict)
    report: dict[str, object] = Field(default_factory=dict)
    """What the kind and the family add: predict with a true future, per-sample PSNR/SSIM and the best sample;
    generate, the seeds each sample used."""
