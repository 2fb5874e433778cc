"""`v2v submit/status/wait` functions against the real app in process (TestClient is an httpx.Client)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rq.job import Job
from rq.job import JobStatus as RqStatus
from rq.results import Result
from rq.serializers import JSONSerializer

from cli import client as cli_client


def test_submit_wait_download(client, auth, seg_mp4: Path, redis_client, media_root: Path, tmp_path: Path):
    client.headers.update(auth)
    job = cli_client.submit(client, "street", seg_mp4, options='{"max_frames": 2}')
    assert job["status"] == "queued" and job["progress"]["frames_total"] == 2

    (media_root / "jobs" / job["id"] / "result.mp4").write_bytes(b"mp4 bytes")
    rq_job = Job.fetch(job["id"], connection=redis_client, serializer=JSONSerializer)
    rq_job.meta["progress"] = {"frames_done": 2, "frames_total": 2}
    rq_job.save_meta()
    rq_job.set_status(RqStatus.FINISHED)

    final = cli_client.wait(client, job["id"], interval=0.01, show_progress=False)
    assert final["status"] == "succeeded"
    out = cli_client.download(client, job["id"], tmp_path / "out.mp4")
    assert out.read_bytes() == b"mp4 bytes" and not (tmp_path / "out.mp4.partial").exists()


def test_refusal_becomes_client_error_with_code(client, auth, tmp_path: Path):
    client.headers.update(auth)
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    with pytest.raises(cli_client.ClientError) as err:
        cli_client.submit(client, "street", bad)
    assert err.value.code == "not_a_video"


def test_key_resolution_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    key_file = tmp_path / "api-key"
    key_file.write_text("from-file\n")
    monkeypatch.setenv("V2V_API_KEY_FILE", str(key_file))
    monkeypatch.delenv("V2V_API_KEY", raising=False)
    assert cli_client.resolve_key(None) == "from-file"
    monkeypatch.setenv("V2V_API_KEY", "from-env")
    assert cli_client.resolve_key(None) == "from-env"
    assert cli_client.resolve_key("explicit") == "explicit"


def test_save_results_writes_every_sample_and_the_seeds_json(client, auth, redis_client, media_root: Path,
                                                             tmp_path: Path):
    client.headers.update(auth)
    job = cli_client.submit(client, "noise", None, options='{"num_samples": 2, "content_seed": 5}')
    folder = media_root / "jobs" / job["id"]
    folder.mkdir(parents=True, exist_ok=True)  # a generate job uploads nothing
    (folder / "result.mp4").write_bytes(b"first")
    (folder / "result_01.mp4").write_bytes(b"second")
    rq_job = Job.fetch(job["id"], connection=redis_client, serializer=JSONSerializer)
    report = {"samples": [{"content_seed": 5, "motion_seed": 1}, {"content_seed": 5, "motion_seed": 2}]}
    outcome = {"seeds": {"seed": 0, "content": 5}, "report": report}
    Result.create(rq_job, Result.Type.SUCCESSFUL, ttl=60, return_value=outcome)
    rq_job.set_status(RqStatus.FINISHED)
    final = cli_client.wait(client, job["id"], interval=0.01, show_progress=False)
    assert final["status"] == "succeeded"

    paths = cli_client.save_results(client, final, tmp_path / "out.mp4")
    assert [p.name for p in paths] == ["out.mp4", "out_01.mp4", "out.json"]
    assert [p.read_bytes() for p in paths[:2]] == [b"first", b"second"]
    record = json.loads(paths[2].read_text())
    assert (record["id"], record["samples"]) == (job["id"], 2)
    assert record["seeds"] == final["seeds"] and record["report"] == final["report"]
