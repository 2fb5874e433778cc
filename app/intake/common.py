"""Turning one `POST /v1/jobs` form into a queued job: check, save, probe, build the JobSpec, enqueue.

On any refusal the job's folder is removed and the day's upload allowance is given back, so a bad input
loses nothing and leaves nothing behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import redis
from pydantic import ValidationError
from rq import Queue

from app.config import Settings
from app.contracts import JobSpec, Manifest, ModelCard, ModelFamily, OutputOptions
from app.errors import ApiError
from app.jobs import enqueue_job
from app.limits import release, reserve
from app.probe import Limits, check_labels_match, image_extension, probe_image, probe_labels
from app.storage import MediaStorage, new_job_id

_EXTENSIONS = {"mp4": ".mp4", "mov": ".mov", "matroska": ".mkv", "webm": ".webm", "avi": ".avi"}


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its stream and (when the client sent it) its size."""

    file: BinaryIO
    size: int | None


@dataclass(frozen=True)
class SubmitForm:
    model: str
    video: Upload
    references: list[Upload]
    reference_labels: list[Upload]
    options: str | None


def parse_options(raw: str | None) -> OutputOptions:
    if raw is None or not raw.strip():
        return OutputOptions()
    try:
        return OutputOptions.model_validate(json.loads(raw))
    except (json.JSONDecodeError, ValidationError, TypeError) as exc:
        raise ApiError(400, "bad_options", f"`options` must be a JSON object of output options: {exc}") from exc


def find_model(manifest: Manifest, name: str) -> ModelCard:
    card = manifest.models.get(name)
    if card is None:
        valid = ", ".join(sorted(manifest.models))
        raise ApiError(400, "unknown_model", f"unknown model {name!r}; valid models: {valid}")
    return card


def check_options(card: ModelCard, options: OutputOptions) -> None:
    """Options that only some model families understand."""
    if options.finetune_steps and card.family != ModelFamily.FS_VID2VID:
        raise ApiError(
            400,
            "bad_options",
            f"`finetune_steps` applies to few-shot models only; model {card.name!r} is {card.family.value}",
        )


def check_reference_counts(card: ModelCard, form: SubmitForm, settings: Settings) -> None:
    refs, labels = len(form.references), len(form.reference_labels)
    if card.family != ModelFamily.FS_VID2VID or card.references is None:
        if refs or labels:
            raise ApiError(400, "too_many_references", f"model {card.name!r} takes no reference images")
        return
    most = min(card.references.max, settings.MAX_REFERENCES)
    if refs < card.references.min:
        raise ApiError(
            400,
            "missing_references",
            f"model {card.name!r} needs {card.references.min}..{most} reference images",
        )
    if refs > most:
        raise ApiError(400, "too_many_references", f"model {card.name!r} takes at most {most} reference images")
    if labels and labels != refs:
        raise ApiError(
            400,
            "reference_labels_mismatch",
            f"got {refs} references but {labels} reference_labels (same count)",
        )


def limits_of(settings: Settings) -> Limits:
    return Limits(
        max_frames=settings.MAX_FRAMES,
        max_width=settings.MAX_WIDTH,
        max_height=settings.MAX_HEIGHT,
        max_duration_s=settings.MAX_DURATION_S,
        max_zip_uncompressed_bytes=settings.MAX_ZIP_UNCOMPRESSED_BYTES,
        zip_fps=settings.ZIP_FPS,
    )


def _save_image(storage: MediaStorage, job_id: str, upload: Upload, stem: str, settings: Settings) -> Path:
    """Save, check and name (`<stem>.png` / `.jpg`) one reference image."""
    path = storage.save_upload(upload.file, job_id, f"{stem}.upload", settings.MAX_REFERENCE_BYTES)
    probe_image(path, settings.MAX_WIDTH, settings.MAX_HEIGHT, what=stem)
    final = path.with_name(stem + image_extension(path))
    path.rename(final)
    return final


def submit_job(
    form: SubmitForm,
    owner: str,
    settings: Settings,
    manifest: Manifest,
    client: redis.Redis,
    queue: Queue,
    storage: MediaStorage,
) -> JobSpec:
    """Validate and queue one job; returns its spec. Raises ApiError (4xx/507) on refusal."""
    options = parse_options(form.options)
    card = find_model(manifest, form.model)
    check_options(card, options)
    check_reference_counts(card, form, settings)
    uploads = [form.video, *form.references, *form.reference_labels]
    declared = sum(u.size or 0 for u in uploads)
    job_id = new_job_id()
    reservation = reserve(client, owner, job_id, declared, settings)
    try:
        raw = storage.save_upload(form.video.file, job_id, "labels.upload", settings.MAX_UPLOAD_BYTES)
        probe = probe_labels(raw, limits_of(settings))
        check_labels_match(probe.first_frame, card, settings.SEGMENTATION_MAX_PALETTE_DISTANCE)
        labels_path = raw.with_name("labels.zip" if probe.kind == "zip" else "labels" + _EXTENSIONS[probe.format])
        raw.rename(labels_path)
        refs = [_save_image(storage, job_id, u, f"reference_{i:02d}", settings) for i, u in enumerate(form.references)]
        ref_labels = [
            _save_image(storage, job_id, u, f"reference_label_{i:02d}", settings)
            for i, u in enumerate(form.reference_labels)
        ]
        spec = JobSpec(
            job_id=job_id,
            owner=owner,
            model=card.name,
            labels_path=str(labels_path),
            labels_kind=probe.kind,
            reference_paths=[str(p) for p in refs],
            reference_label_paths=[str(p) for p in ref_labels],
            job_dir=str(storage.job_dir(job_id)),
            frames_total=min(probe.frames, options.max_frames or probe.frames),
            fps=options.fps or probe.fps,
            options=options,
        )
        enqueue_job(queue, spec, settings)
    except BaseException:
        storage.remove_job(job_id)
        release(client, reservation)
        raise
    return spec
