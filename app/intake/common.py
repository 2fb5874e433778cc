"""Turning one `POST /v1/jobs` form into a queued job: model, options, per-kind inputs, quota, save, probe, enqueue.

On any refusal the job's folder is removed and the day's upload allowance is given back, so a bad input loses nothing
and leaves nothing behind.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import redis
from rq import Queue

from app.config import Settings
from app.contracts import JobInputs, JobSpec, Manifest, ModelCard
from app.errors import ApiError
from app.intake.options import ParsedOptions, parse_options
from app.jobs import enqueue_job
from app.limits import release, reserve, settle
from app.liveness import live_workers
from app.probe import Limits, image_extension, probe_image
from app.storage import MediaStorage, new_job_id


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its stream and (when the client sent it) its size."""

    file: BinaryIO
    size: int | None


@dataclass(frozen=True)
class SubmitForm:
    model: str
    video: Upload | None
    references: list[Upload]
    reference_labels: list[Upload]
    truth: Upload | None
    options: str | None

    def uploads(self) -> list[Upload]:
        return [u for u in (self.video, *self.references, *self.reference_labels, self.truth) if u is not None]


@dataclass(frozen=True)
class Accepted:
    """What a kind's intake made of the saved uploads."""

    inputs: JobInputs
    frames_total: int
    """Frames per sample."""
    samples: int
    fps: float | None
    """The input's frame rate (None: the model's default)."""


@dataclass(frozen=True)
class IntakeContext:
    job_id: str
    card: ModelCard
    options: ParsedOptions
    settings: Settings
    storage: MediaStorage


class KindIntake(Protocol):
    samples_at_random: bool
    """The kind draws samples (generate, predict): a job that names no `seed` gets a fresh random one, kept in its
    spec (so a resumed job makes the same videos) and reported with its result; False: seed 0 (translate)."""

    def check(self, form: SubmitForm, card: ModelCard, options: ParsedOptions, settings: Settings) -> None:
        """Refuse what is wrong before anything is stored (counts, option ranges, missing or extra uploads)."""
        ...

    def accept(self, form: SubmitForm, ctx: IntakeContext) -> Accepted:
        """Save and probe the uploads; the kind's job inputs."""
        ...


def find_model(manifest: Manifest, name: str) -> ModelCard:
    card = manifest.models.get(name)
    if card is None:
        valid = ", ".join(sorted(manifest.models))
        raise ApiError(400, "unknown_model", f"unknown model {name!r}; valid models: {valid}")
    return card


def check_run_size(card: ModelCard, options: ParsedOptions, settings: Settings) -> None:
    """A run size must be a multiple of the model's `size_multiple` and within the service's limits."""
    multiple = card.output.size_multiple
    height = options.output.height or card.output.height
    width = options.output.width or card.output.width
    if height % multiple or width % multiple:
        raise ApiError(400, "bad_size", f"model {card.name!r} runs at sizes that are multiples of {multiple}; "
                                        f"got {height}x{width}")
    if height > settings.MAX_HEIGHT or width > settings.MAX_WIDTH:
        raise ApiError(400, "resolution_too_large", f"run size {height}x{width} is over the limit "
                                                    f"{settings.MAX_HEIGHT}x{settings.MAX_WIDTH}")


def limits_of(settings: Settings) -> Limits:
    return Limits(
        max_frames=settings.MAX_FRAMES,
        max_width=settings.MAX_WIDTH,
        max_height=settings.MAX_HEIGHT,
        max_duration_s=settings.MAX_DURATION_S,
        max_zip_uncompressed_bytes=settings.MAX_ZIP_UNCOMPRESSED_BYTES,
        zip_fps=settings.ZIP_FPS,
    )


def save_image(ctx: IntakeContext, upload: Upload, stem: str) -> Path:
    """Save, check and name (`<stem>.png` / `.jpg`) one still image."""
    settings = ctx.settings
    path = ctx.storage.save_upload(upload.file, ctx.job_id, f"{stem}.upload", settings.MAX_REFERENCE_BYTES)
    probe_image(path, settings.MAX_WIDTH, settings.MAX_HEIGHT, what=stem)
    final = path.with_name(stem + image_extension(path))
    path.rename(final)
    return final


def _intakes() -> dict[str, KindIntake]:
    from app.intake.generate import GenerateIntake
    from app.intake.predict import PredictIntake
    from app.intake.translate import TranslateIntake

    return {"translate": TranslateIntake(), "predict": PredictIntake(), "generate": GenerateIntake()}


def submit_job(form: SubmitForm, owner: str, settings: Settings, manifest: Manifest, client: redis.Redis,
               queue: Queue, storage: MediaStorage, api_name: str) -> JobSpec:
    """Validate and queue one job; returns its spec. Raises ApiError (4xx/503/507) on refusal. `api_name` is the
    calling API process (its reservation is journaled under it, so a crash mid-submit is recovered)."""
    card = find_model(manifest, form.model)
    options = parse_options(form.options, card)
    intake = _intakes()[card.kind]
    check_run_size(card, options, settings)
    intake.check(form, card, options, settings)
    if live_workers(client) == 0:
        raise ApiError(503, "no_workers", "no worker is alive to run the job (no heartbeat in the last seconds); "
                                          "start `v2v worker` and try again")
    storage.ensure_writable()
    declared = sum(u.size or 0 for u in form.uploads())
    job_id = new_job_id()
    reservation = reserve(client, owner, job_id, declared, settings, api_name)
    try:
        accepted = intake.accept(form, IntakeContext(job_id, card, options, settings, storage))
        frames = min(accepted.frames_total, options.output.max_frames or accepted.frames_total)
        output = options.output
        if intake.samples_at_random and "seed" not in output.model_fields_set:
            output = output.model_copy(update={"seed": secrets.randbelow(2**31)})
        spec = JobSpec(job_id=job_id, owner=owner, model=card.name, job_dir=str(storage.job_dir(job_id)),
                       frames_total=frames, fps=output.fps or accepted.fps or card.output.fps,
                       options=output, family_options=options.family, inputs=accepted.inputs)
        extra_s = sum(card.options[k].seconds_per_unit * v for k, v in options.family.items())
        enqueue_job(queue, spec, settings, settings.job_timeout_s(frames * accepted.samples, extra_s))
    except BaseException:
        storage.remove_job(job_id)
        release(client, reservation)
        raise
    settle(client, reservation)
    return spec
