"""POST /v1/jobs for a predict model with attributes (VideoVAE-style cards): an attribute or a value the card does
not list is refused with 400 before anything is stored or queued; a listed one is queued as its index."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from tests.app.media import write_video


def _submit(client, auth, context: bytes, attributes: dict[str, str]):
    files = {"video": ("c.mp4", context, "video/mp4")}
    options = json.dumps({"horizon": 4, "attributes": attributes})
    return client.post("/v1/jobs", data={"model": "future", "options": options}, files=files, headers=auth)


@pytest.mark.parametrize("attributes", [{"action": "jump"}, {"action": "Wave"}, {"look": "walk"}])
def test_an_unlisted_attribute_value_is_refused_before_queueing(client, auth, redis_client: redis.Redis,
                                                                media_root: Path, tmp_path: Path,
                                                                attributes: dict[str, str]) -> None:
    frames = [np.full((32, 32, 3), 40 * i, np.uint8) for i in range(3)]
    context = write_video(tmp_path / "context.mp4", frames).read_bytes()
    response = _submit(client, auth, context, attributes)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "bad_options"
    jobs = media_root / "jobs"
    assert not jobs.exists() or list(jobs.iterdir()) == []
    assert redis_client.llen("rq:queue:gpu") == 0

    ok = _submit(client, auth, context, {"action": "wave"})
    assert ok.status_code == 202, ok.text
    assert redis_client.llen("rq:queue:gpu") == 1  # the queue the refused job would have gone to
    spec = Job.fetch(ok.json()["id"], connection=redis_client, serializer=JSONSerializer).kwargs["spec"]
    assert spec["inputs"]["attributes"] == {"action": 1}
