"""Job routes: result download with Range (206/416), frames zip, list, delete, isolation of keys."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import redis
from rq.job import Job
from rq.job import JobStatus as RqStatus
from rq.serializers import JSONSerializer

from app.auth import create_api_key


def _finish(redis_client: redis.Redis, media_root: Path, job_id: str, frames: int = 3) -> bytes:
    """Do what a worker does at the end: frames/, result.mp4, FINISHED."""
    job_dir = media_root / "jobs" / job_id
    (job_dir / "frames").mkdir(parents=True)
    for i in range(frames):
        (job_dir / "frames" / f"{i:06d}.png").write_bytes(b"\x89PNG fake %d" % i)
    payload = bytes(range(256)) * 40
    (job_dir / "result.mp4").write_bytes(payload)
    Job.fetch(job_id, connection=redis_client, serializer=JSONSerializer).set_status(RqStatus.FINISHED)
    return payload


@pytest.fixture()
def other_auth(redis_client: redis.Redis) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_api_key(redis_client, 'other')[1]}"}


def test_result_is_409_until_the_job_succeeded(client, auth, submit):
    job_id = submit(auth)
    response = client.get(f"/v1/jobs/{job_id}/result", headers=auth)
    assert response.status_code == 409 and response.json()["error"]["code"] == "not_ready"


def test_result_download_with_ranges(client, auth, submit, redis_client, media_root):
    job_id = submit(auth)
    payload = _finish(redis_client, media_root, job_id)

    full = client.get(f"/v1/jobs/{job_id}/result", headers=auth)
    assert full.status_code == 200 and full.content == payload
    assert full.headers["content-type"] == "video/mp4" and full.headers["accept-ranges"] == "bytes"

    part = client.get(f"/v1/jobs/{job_id}/result", headers={**auth, "Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == payload[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(payload)}"

    tail = client.get(f"/v1/jobs/{job_id}/result", headers={**auth, "Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.content == payload[-5:]

    beyond = client.get(f"/v1/jobs/{job_id}/result", headers={**auth, "Range": f"bytes={len(payload)}-"})
    assert beyond.status_code == 416 and beyond.json()["error"]["code"] == "range_not_satisfiable"
    assert beyond.headers["content-range"] == f"bytes */{len(payload)}"

    bad = client.get(f"/v1/jobs/{job_id}/result", headers={**auth, "Range": "lines=1-2"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_range"


def test_frames_zip_holds_every_frame(client, auth, submit, redis_client, media_root):
    job_id = submit(auth)
    _finish(redis_client, media_root, job_id, frames=4)
    response = client.get(f"/v1/jobs/{job_id}/frames", headers=auth)
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.namelist() == [f"frames/{i:06d}.png" for i in range(4)]
        assert archive.read("frames/000002.png") == b"\x89PNG fake 2"


def test_list_is_newest_first_and_paginated(client, auth, submit):
    ids = [submit(auth) for _ in range(3)]
    first = client.get("/v1/jobs?limit=2", headers=auth).json()
    assert [j["id"] for j in first["jobs"]] == ids[::-1][:2] and first["next_offset"] == 2
    second = client.get(f"/v1/jobs?limit=2&offset={first['next_offset']}", headers=auth).json()
    assert [j["id"] for j in second["jobs"]] == [ids[0]] and second["next_offset"] is None


def test_delete_removes_record_and_files(client, auth, submit, redis_client, media_root):
    job_id = submit(auth)
    _finish(redis_client, media_root, job_id)
    assert client.delete(f"/v1/jobs/{job_id}", headers=auth).status_code == 204
    assert not (media_root / "jobs" / job_id).exists()
    assert client.get(f"/v1/jobs/{job_id}", headers=auth).status_code == 404
    assert client.get("/v1/jobs", headers=auth).json()["jobs"] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", ""), ("GET", "/result"), ("GET", "/frames"), ("POST", "/cancel"), ("DELETE", "")],
)
def test_another_key_gets_404_and_changes_nothing(
    method, path, client, auth, other_auth, submit, redis_client, media_root
):
    job_id = submit(auth)
    _finish(redis_client, media_root, job_id)
    response = client.request(method, f"/v1/jobs/{job_id}{path}", headers=other_auth)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert client.get(f"/v1/jobs/{job_id}", headers=auth).json()["status"] == "succeeded"
    assert (media_root / "jobs" / job_id / "result.mp4").exists()


def test_another_key_does_not_see_the_job_in_its_list(client, auth, other_auth, submit):
    submit(auth)
    assert client.get("/v1/jobs", headers=other_auth).json()["jobs"] == []


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}])
def test_missing_or_bad_key_is_401(headers, client, submit, auth):
    job_id = submit(auth)
    for method, path in [("GET", "/v1/jobs"), ("GET", f"/v1/jobs/{job_id}"), ("POST", "/v1/jobs")]:
        response = client.request(method, path, headers=headers)
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"]["code"] == "unauthorized"


def test_unknown_or_malformed_job_id_is_404(client, auth):
    for job_id in ["0" * 32, "..%2F..%2Fetc", "not-an-id"]:
        response = client.get(f"/v1/jobs/{job_id}", headers=auth)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
