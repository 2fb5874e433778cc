"""Per-key limits are race-free: N concurrent submits against a limit of k get exactly k accepted, over a real
uvicorn server; a slot comes back once a job ends; the daily byte allowance admits exactly what fits."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx
import redis
from rq.job import Job
from rq.job import JobStatus as RqStatus
from rq.serializers import JSONSerializer

from app.auth import create_api_key
from app.config import Settings
from app.errors import ApiError
from app.limits import bytes_key, reserve

CONCURRENT = 12
LIMIT = 3


async def _submit_all(url: str, token: str, video: bytes, n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        return await asyncio.gather(
            *(
                http.post(
                    "/v1/jobs",
                    data={"model": "street"},
                    files={"video": ("v.mp4", video, "video/mp4")},
                    headers={"Authorization": f"Bearer {token}"},
                )
                for _ in range(n)
            )
        )


def test_concurrent_submits_get_exactly_the_limit(
    start_api, redis_url: str, redis_client: redis.Redis, seg_mp4: Path, media_root: Path
):
    _, token = create_api_key(redis_client, "racer")
    api = start_api(redis_url, MAX_JOBS_IN_FLIGHT=LIMIT, MAX_FRAMES=40, MAX_WIDTH=128, MAX_HEIGHT=128)

    responses = asyncio.run(_submit_all(api.url, token, seg_mp4.read_bytes(), CONCURRENT))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202] * LIMIT + [429] * (CONCURRENT - LIMIT), [r.text[:200] for r in responses]
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 429} == {"too_many_jobs"}
    accepted = [r.json()["id"] for r in responses if r.status_code == 202]
    assert redis_client.llen("rq:queue:gpu") == LIMIT
    assert sorted(p.name for p in (media_root / "jobs").iterdir()) == sorted(accepted)

    # A job that ends frees its slot (reconciled lazily from its rq status); the others still count.
    Job.fetch(accepted[0], connection=redis_client, serializer=JSONSerializer).set_status(RqStatus.FINISHED)
    again = asyncio.run(_submit_all(api.url, token, seg_mp4.read_bytes(), 4))
    assert sorted(r.status_code for r in again) == [202, 429, 429, 429]


def test_concurrent_byte_reservations_admit_exactly_what_fits(redis_client: redis.Redis, settings: Settings):
    per_upload, fits = 1000, 5
    tight = settings.model_copy(
        update={"MAX_UPLOAD_BYTES_PER_KEY_PER_DAY": per_upload * fits + per_upload // 2, "MAX_JOBS_IN_FLIGHT": 100}
    )
    outcomes: list[str] = []
    barrier = threading.Barrier(20)

    def one(i: int) -> None:
        client = redis.Redis.from_url(tight.REDIS_URL)
        barrier.wait(timeout=10)
        try:
            reserve(client, "owner-b", f"{i:032x}", per_upload, tight, "api-test")
            outcomes.append("ok")
        except ApiError as exc:
            outcomes.append(exc.code)
        finally:
            client.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["ok"] * fits + ["upload_quota_exceeded"] * (20 - fits)
    assert int(redis_client.get(bytes_key("owner-b"))) == per_upload * fits
    assert 0 < redis_client.ttl(bytes_key("owner-b")) <= 2 * 24 * 3600
