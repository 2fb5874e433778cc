"""`/v1/jobs`: submit, read, list, download (result video with Range, frames zip), cancel, delete.

Plain `def` routes: the Redis client is synchronous, so FastAPI runs them in its threadpool and the event loop
never blocks. Another key's job is always 404, never 403.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse, StreamingResponse

from app.deps import CurrentKey, ManifestDep, QueueDep, RedisDep, SettingsDep, StorageDep
from app.errors import ApiError
from app.idempotency import claim, settle
from app.idempotency import release as release_idempotency
from app.intake import SubmitForm, Upload, submit_job
from app.jobs import delete_job, fetch_owned, list_jobs, request_cancel, to_public
from app.ranges import check_range
from app.schemas import ErrorBody, JobList, JobPublic, JobStatus
from app.webhooks import check_address, parse_events, register

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody, "description": "missing or invalid API key"},
    404: {"model": ErrorBody, "description": "no such job for this key"},
}


def _upload(file: UploadFile) -> Upload:
    return Upload(file=file.file, size=file.size)


SINGLE_PARTS = ("model", "video", "truth", "options", "webhook", "webhook_events")
"""Form parts a job takes once; `references` and `reference_labels` repeat, one part per image."""


async def refuse_repeated_parts(request: Request, _key: CurrentKey) -> None:
    """400 `repeated_field` when a part that a job takes once comes twice (FastAPI would keep one and drop the
    other silently). After the key check; the form is the one FastAPI already parsed (Starlette caches it)."""
    form = await request.form()
    for name in SINGLE_PARTS:
        count = len(form.getlist(name))
        if count > 1:
            raise ApiError(400, "repeated_field", f"send `{name}` once per job, not {count} times")


@router.post(
    "",
    summary="Submit a job (model + the inputs its kind takes)",
    status_code=202,
    dependencies=[Depends(refuse_repeated_parts)],
    response_model=JobPublic,
    responses={
        400: {"model": ErrorBody, "description": "bad input (code says which)"},
        401: _ERRORS[401],
        409: {"model": ErrorBody, "description": "idempotency_in_progress"},
        413: {"model": ErrorBody, "description": "upload_too_large"},
        415: {"model": ErrorBody, "description": "unsupported_container"},
        429: {"model": ErrorBody, "description": "too_many_jobs / upload_quota_exceeded"},
        507: {"model": ErrorBody, "description": "insufficient_storage"},
    },
)
def create_job(
    request: Request,
    response: Response,
    key: CurrentKey,
    settings: SettingsDep,
    manifest: ManifestDep,
    client: RedisDep,
    queue: QueueDep,
    storage: StorageDep,
    model: Annotated[str, Form(description="Served model name (GET /v1/models); its `kind` decides the inputs.")],
    video: Annotated[UploadFile | None, File(
        description="translate: the label video (mp4/mov/avi/webm/mkv) or a zip of PNG frames (pose models: or a zip "
        "of OpenPose *_keypoints.json files, one per frame, plus an optional canvas.json {width, height}); predict: "
        "the context "
        "(a video, a zip of PNG frames, or one PNG/JPEG image); generate: omit.")] = None,
    references: Annotated[list[UploadFile] | None, File(
        description="translate models with references (GET /v1/models `inputs.references`): 1..K example images.")
    ] = None,
    reference_labels: Annotated[list[UploadFile] | None, File(
        description="The label image of each reference (required with references: same count, same order).")
    ] = None,
    truth: Annotated[UploadFile | None, File(
        description="predict, optional: the true future frames (video or zip); each sample is scored against it.")
    ] = None,
    options: Annotated[str | None, Form(
        description="JSON object. Every kind: fps (1..120), max_frames, seed, height and width (multiples of the "
        "model's size_multiple). predict: num_samples, horizon, attributes {name: value}. generate: num_samples, "
        "num_frames, class, seeds {name: int}. Plus the model's own options (GET /v1/models `options`, e.g. "
        "finetune_steps). Integers must be JSON integers.")] = None,
    webhook: Annotated[str | None, Form(
        description="Optional http(s) URL told about the job's events (POST, JSON, signed: `X-V2V-Signature: "
        "sha256=<HMAC-SHA256 of the body with your key's secret, GET /v1/webhooks/secret>`; retried with backoff). "
        "Private and loopback addresses are refused unless the service allows them.")] = None,
    webhook_events: Annotated[str | None, Form(
        description="Which events reach the webhook: comma-separated or a JSON list of running, progress, "
        "succeeded, failed, canceled, completed (= the last three; the default).")] = None,
    idempotency_key: Annotated[str | None, Header(
        alias="Idempotency-Key", description="Retry-safe create: a repeat with the same key returns the job the "
        "first request made (200, `Idempotent-Replayed: true`) instead of making another.")] = None,
) -> JobPublic:
    counters = request.app.state.metrics
    try:
        if idempotency_key is not None:
            earlier = claim(client, key.key_id, idempotency_key, settings.IDEMPOTENCY_TTL_S)
            if earlier is not None:
                replay = _replay(client, earlier, key.key_id)
                if replay is not None:
                    response.status_code = 200
                    response.headers["Idempotent-Replayed"] = "true"
                    response.headers["Location"] = f"/v1/jobs/{earlier}"
                    return replay
                settle(client, key.key_id, idempotency_key, "pending", settings.IDEMPOTENCY_TTL_S)
        events = parse_events(webhook_events) if webhook else []
        if webhook:
            check_address(webhook, settings.WEBHOOK_ALLOWED_NETWORKS)
        form = SubmitForm(
            model=model,
            video=_upload(video) if video is not None else None,
            references=[_upload(f) for f in references or []],
            reference_labels=[_upload(f) for f in reference_labels or []],
            truth=_upload(truth) if truth is not None else None,
            options=options,
        )
        spec = submit_job(form, key.key_id, settings, manifest, client, queue, storage, request.app.state.api_name)
    except ApiError as exc:
        counters.refused.labels(exc.code).inc()
        if idempotency_key is not None and exc.code not in ("idempotency_in_progress", "bad_idempotency_key"):
            release_idempotency(client, key.key_id, idempotency_key)
        raise
    if webhook:
        register(client, spec.job_id, key.key_id, webhook, events, settings.RETENTION_S)
    if idempotency_key is not None:
        settle(client, key.key_id, idempotency_key, spec.job_id, settings.IDEMPOTENCY_TTL_S)
    counters.submitted.labels(spec.model, spec.inputs.kind).inc()
    uploads = [video, truth, *(references or []), *(reference_labels or [])]
    counters.upload_bytes.labels(spec.model).inc(sum(f.size or 0 for f in uploads if f is not None))
    job = fetch_owned(client, spec.job_id, key.key_id)
    response.headers["Location"] = f"/v1/jobs/{spec.job_id}"
    return to_public(job, client)


def _replay(client: RedisDep, job_id: str, owner: str) -> JobPublic | None:
    """The job an earlier request with the same Idempotency-Key made (None when it is gone)."""
    try:
        return to_public(fetch_owned(client, job_id, owner), client)
    except ApiError:
        return None


@router.get("", summary="List your jobs, newest first", response_model=JobList, responses={401: _ERRORS[401]})
def get_jobs(
    key: CurrentKey,
    client: RedisDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Offset pagination: use `next_offset`.")] = 0,
) -> JobList:
    """The caller's jobs, newest first (offset pagination)."""
    jobs, next_offset = list_jobs(client, key.key_id, offset, limit)
    return JobList(jobs=jobs, next_offset=next_offset)


@router.get("/{job_id}", summary="A job's status, progress, error and links", response_model=JobPublic,
            responses=_ERRORS)
def get_job(job_id: str, key: CurrentKey, client: RedisDep) -> JobPublic:
    return to_public(fetch_owned(client, job_id, key.key_id), client)


def _require_succeeded(public: JobPublic) -> None:
    if public.status != JobStatus.SUCCEEDED:
        raise ApiError(409, "not_ready", f"job {public.id} is {public.status.value}; results exist once it succeeded")


@router.get(
    "/{job_id}/result",
    summary="Download a result video (mp4; Range requests)",
    response_class=FileResponse,
    responses={
        **_ERRORS,
        200: {"content": {"video/mp4": {}}, "description": "H.264 mp4"},
        206: {"content": {"video/mp4": {}}, "description": "the requested byte range"},
        409: {"model": ErrorBody, "description": "not_ready"},
        416: {"model": ErrorBody, "description": "range_not_satisfiable"},
    },
)
def get_result(
    job_id: str,
    key: CurrentKey,
    client: RedisDep,
    storage: StorageDep,
    range_header: Annotated[str | None, Header(alias="range")] = None,
    sample: Annotated[int, Query(ge=0, le=63, description="Which video of a multi-sample job (0 = the first).")] = 0,
) -> FileResponse:
    """The result video (of sample `sample`); supports `Range: bytes=...` (206 / 416)."""
    public = to_public(fetch_owned(client, job_id, key.key_id), client)
    _require_succeeded(public)
    if sample >= public.samples:
        raise ApiError(404, "not_found", f"job {job_id} made {public.samples} video(s); no sample {sample}")
    path = storage.result_path(job_id, sample)
    if not path.is_file():
        raise ApiError(404, "not_found", f"the result of job {job_id} is no longer stored")
    check_range(range_header, path.stat().st_size)
    return FileResponse(path, media_type="video/mp4", filename=f"{job_id}.mp4", content_disposition_type="inline")


def _zip_stream(files: list[tuple[str, str]]) -> Iterator[bytes]:
    """Write a stored (uncompressed: PNGs are compressed already) zip of `files` chunk by chunk."""

    class _Sink:
        def __init__(self) -> None:
            self.chunks: list[bytes] = []

        def write(self, data: bytes) -> int:
            self.chunks.append(bytes(data))
            return len(data)

        def flush(self) -> None:
            pass

    sink = _Sink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED) as archive:  # type: ignore[arg-type]
        for path, name in files:
            archive.write(path, arcname=name)
            yield b"".join(sink.chunks)
            sink.chunks.clear()
    yield b"".join(sink.chunks)


@router.get(
    "/{job_id}/frames",
    summary="Download the generated frames (zip of PNGs)",
    responses={**_ERRORS, 200: {"content": {"application/zip": {}}}, 409: {"model": ErrorBody}},
)
def get_frames(job_id: str, key: CurrentKey, client: RedisDep, storage: StorageDep) -> StreamingResponse:
    """A zip of the generated PNG frames, streamed."""
    public = to_public(fetch_owned(client, job_id, key.key_id), client)
    _require_succeeded(public)
    folder = storage.frames_dir(job_id)
    files = sorted(p for p in folder.rglob("*.png")) if folder.is_dir() else []
    if not files:
        raise ApiError(404, "not_found", f"job {job_id} has no stored frames")
    return StreamingResponse(
        _zip_stream([(str(p), f"frames/{p.relative_to(folder).as_posix()}") for p in files]),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{job_id}-frames.zip"'},
    )


@router.post("/{job_id}/cancel", summary="Cancel a job", response_model=JobPublic, responses=_ERRORS)
def cancel_job(job_id: str, key: CurrentKey, settings: SettingsDep, client: RedisDep) -> JobPublic:
    """Cancel: a queued job stops at once; a running one stops after its current frame. Idempotent."""
    job = fetch_owned(client, job_id, key.key_id)
    request_cancel(client, job, settings)
    return to_public(job, client)


@router.delete("/{job_id}", summary="Delete a job and its files", status_code=204, responses=_ERRORS)
def remove_job(job_id: str, key: CurrentKey, settings: SettingsDep, client: RedisDep, storage: StorageDep) -> Response:
    """Cancel the job, then delete its record and every file it has."""
    job = fetch_owned(client, job_id, key.key_id)
    delete_job(client, job, key.key_id, settings)
    storage.remove_job(job_id)
    return Response(status_code=204)
