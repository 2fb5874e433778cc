"""`GET /v1/jobs/{id}/events`: a job's live progress as server-sent events (`app.events`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from app.deps import CurrentKey, RedisDep
from app.events import SSE_HEADERS, job_events
from app.jobs import fetch_owned, to_public
from app.schemas import ErrorBody, JobPublic

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_EXAMPLE = (
    'event: status\ndata: {"id":"...","status":"running","progress":{"frames_done":0,"frames_total":30},...,'
    '"eta_s":null}\n\nevent: progress\ndata: {...,"progress":{"frames_done":8,"frames_total":30},"eta_s":5.5}\n\n'
    'event: done\ndata: {...,"status":"succeeded",...,"eta_s":0.0}\n\n'
)


@router.get(
    "/{job_id}/events",
    summary="Watch a job's progress (server-sent events)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {"example": _EXAMPLE}},
              "description": "`status`, `progress` and a last `done` event; each carries the job's JSON plus `eta_s`"},
        401: {"model": ErrorBody, "description": "unauthorized"},
        404: {"model": ErrorBody, "description": "not_found"},
    },
)
def watch_job(job_id: str, request: Request, key: CurrentKey, client: RedisDep) -> StreamingResponse:
    """Server-sent events while the job runs: `status` (its status changed), `progress` (frames done changed) and one
    last `done` (succeeded, failed or canceled), after which the stream ends. Each event's data is the job as in
    `GET /v1/jobs/{id}` plus `eta_s`, the estimated seconds left. A job deleted meanwhile ends it with `error`."""
    fetch_owned(client, job_id, key.key_id)  # 404 before the stream starts

    def read() -> JobPublic:
        return to_public(fetch_owned(client, job_id, key.key_id), client)

    settings = request.app.state.settings
    stream = job_events(read, request.is_disconnected, interval_s=settings.EVENTS_INTERVAL_S)
    return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)
