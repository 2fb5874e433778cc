"""The contract between the API process and the workers: the model catalogue, job payloads, Redis names.

Torch-free and FastAPI-free, so both processes (and the CLI) import it. Everything that crosses Redis is plain JSON
made from these models (`model_dump(mode="json")`). Cards and job specs carry their per-kind part as a discriminated
union on `kind` (`translate`, `predict`, `generate`); the API and the worker know kinds, never families.
"""

from app.contracts.catalogue import (
    DEFAULT_MANIFEST,
    CardInputs,
    GenerateInputs,
    IntRange,
    LabelSpec,
    LabelType,
    Manifest,
    ModelCard,
    OptionSpec,
    OutputSpec,
    PredictInputs,
    ReferenceSpec,
    TranslateInputs,
    WeightsFile,
    load_manifest,
)
from app.contracts.jobs import (
    GenerateJob,
    JobInputs,
    JobKind,
    JobResult,
    JobSpec,
    OutputOptions,
    PredictJob,
    TranslateJob,
)

QUEUE_NAME = "gpu"
"""The one RQ queue every worker listens on."""

JOB_FUNCTION = "workers.tasks.run_job"
"""Dotted path of the RQ entry point; the API enqueues it by name and never imports it."""

KEY_PREFIX = "v2v:"


def cancel_key(job_id: str) -> str:
    """Redis key whose presence asks the worker running `job_id` to stop between frames."""
    return f"{KEY_PREFIX}cancel:{job_id}"


__all__ = [
    "DEFAULT_MANIFEST", "JOB_FUNCTION", "KEY_PREFIX", "QUEUE_NAME", "CardInputs", "GenerateInputs", "GenerateJob",
    "IntRange", "JobInputs", "JobKind", "JobResult", "JobSpec", "LabelSpec", "LabelType", "Manifest", "ModelCard",
    "OptionSpec", "OutputOptions", "OutputSpec", "PredictInputs", "PredictJob", "ReferenceSpec", "TranslateInputs",
    "TranslateJob", "WeightsFile", "cancel_key", "load_manifest",
]
