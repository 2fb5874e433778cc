"""POST /v1/jobs: a refused input gets its 4xx code, leaves no files; a good one queues the exact spec."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient
from pydantic import ValidationError
from rq.job import Job
from rq.serializers import JSONSerializer

from app.contracts import JOB_FUNCTION, IntRange
from tests.app.media import PALETTE, png_bytes, png_zip, seg_frame, seg_video, write_video


def post(client: TestClient, auth: dict[str, str], video: tuple[str, bytes], model: str = "street", **extra):
    files: list[tuple[str, tuple[str, bytes, str]]] = [
        ("video", (video[0], video[1], "application/octet-stream"))
    ]
    for field in ("references", "reference_labels"):
        for name, data in extra.pop(field, []):
            files.append((field, (name, data, "image/png")))
    data = {"model": model, **extra}
    return client.post("/v1/jobs", data=data, files=files, headers=auth)


def job_dirs(media_root: Path) -> list[Path]:
    jobs = media_root / "jobs"
    return list(jobs.iterdir()) if jobs.exists() else []


def test_good_upload_queues_exact_spec(
    client, auth, seg_mp4: Path, redis_client: redis.Redis, media_root: Path
):
    response = post(client, auth, ("../../etc/passwd.mp4", seg_mp4.read_bytes()), options='{"max_frames": 4}')

    assert response.status_code == 202, response.text
    body = response.json()
    assert response.headers["location"] == f"/v1/jobs/{body['id']}"
    assert body["status"] == "queued" and body["progress"] == {"frames_done": 0, "frames_total": 4}
    job = Job.fetch(body["id"], connection=redis_client, serializer=JSONSerializer)
    assert job.func_name == JOB_FUNCTION and job.origin == "gpu" and job.retries_left == 2
    spec = job.kwargs["spec"]
    job_dir = media_root.resolve() / "jobs" / body["id"]
    assert spec == {
        "job_id": body["id"],
        "owner": spec["owner"],
        "model": "street",
        "job_dir": str(job_dir),
        "frames_total": 4,
        "fps": 15.0,
        "options": {
            "fps": None,
            "max_frames": 4,
            "seed": 0,
            "height": None,
            "width": None,
        },
        "family_options": {},
        "inputs": {
            "kind": "translate",
            "labels_path": str(job_dir / "input" / "labels.mp4"),
            "labels_kind": "video",
            "labels_canvas": None,
            "reference_paths": [],
            "reference_label_paths": [],
        },
    }
    assert spec["owner"].startswith("key_")
    assert sorted(p.name for p in (job_dir / "input").iterdir()) == ["labels.mp4"]
    assert job.timeout == 300 + 10 * 4


def test_zip_of_pngs_is_accepted_with_zip_fps(client, auth, tmp_path: Path, redis_client: redis.Redis):
    archive = png_zip(tmp_path / "f.zip", [seg_frame(i) for i in range(3)])
    response = post(client, auth, ("frames.zip", archive.read_bytes()))
    assert response.status_code == 202, response.text
    spec = Job.fetch(response.json()["id"], connection=redis_client, serializer=JSONSerializer).kwargs["spec"]
    assert spec["inputs"]["labels_kind"] == "zip" and spec["frames_total"] == 3 and spec["fps"] == 15.0
    assert spec["inputs"]["labels_path"].endswith("input/labels.zip")


def _truncated(path: Path) -> bytes:
    data = path.read_bytes()
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("empty", 400, "empty_file"),
        ("text", 400, "not_a_video"),
        ("truncated", 400, "corrupt_video"),
        ("mpegts", 415, "unsupported_container"),
        ("too_big", 413, "upload_too_large"),
        ("too_many_frames", 400, "too_many_frames"),
        ("too_large", 400, "resolution_too_large"),
        ("too_long", 400, "too_long"),
        ("not_palette", 400, "labels_do_not_match_model"),
        ("zip_not_png", 400, "corrupt_video"),
    ],
)
def test_bad_label_upload_is_refused_and_leaves_nothing(
    case: str,
    status: int,
    code: str,
    client,
    auth,
    seg_mp4: Path,
    tmp_path: Path,
    media_root: Path,
    redis_client: redis.Redis,
):
    rng = np.random.default_rng(0)
    videos = {
        "empty": lambda: b"",
        "text": lambda: b"this is a text file, not a video\n" * 20,
        "truncated": lambda: _truncated(seg_mp4),
        "mpegts": lambda: write_video(tmp_path / "a.ts", [seg_frame(0)]).read_bytes(),
        "too_big": lambda: rng.integers(0, 255, 300_000, dtype=np.uint8).tobytes(),
        "too_many_frames": lambda: seg_video(tmp_path / "long.mp4", n=41, size=32).read_bytes(),
        "too_large": lambda: seg_video(tmp_path / "big.mp4", n=2, size=160).read_bytes(),
        "too_long": lambda: write_video(
            tmp_path / "slow.mp4", [seg_frame(i) for i in range(4)], fps=1
        ).read_bytes(),
        "not_palette": lambda: write_video(
            tmp_path / "green.mp4", [np.full((64, 64, 3), (0, 255, 0), np.uint8)] * 2
        ).read_bytes(),
        "zip_not_png": lambda: _zip_with_text(tmp_path / "bad.zip"),
    }
    response = post(client, auth, ("labels.mp4", videos[case]()))

    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert job_dirs(media_root) == []
    assert redis_client.llen("rq:queue:gpu") == 0


def _zip_with_text(path: Path) -> bytes:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("00000.png", b"not really a png")
    return path.read_bytes()


@pytest.mark.parametrize(
    ("model", "extra", "code"),
    [
        ("nope", {}, "unknown_model"),
        ("street", {"options": "{not json"}, "bad_options"),
        ("street", {"options": '{"fps": -1}'}, "bad_options"),
        ("street", {"options": '{"colour": "red"}'}, "bad_options"),
        ("street", {"options": '{"finetune_steps": 10}'}, "bad_options"),  # few-shot models only
        ("people", {"options": '{"finetune_steps": 201}'}, "bad_options"),
        ("people", {}, "missing_references"),
        ("people", {"references": [("r.png", b"x")] * 4}, "too_many_references"),
        ("street", {"references": [("r.png", b"x")]}, "too_many_references"),
        ("people", {"references": [("r.png", b"not an image")]}, "missing_reference_labels"),
        ("people", {"references": [("r.png", b"not an image")], "reference_labels": [("l.png", b"x")]},
         "bad_reference_image"),
        ("street", {"options": '{"height": 72}'}, "bad_size"),  # not a multiple of 16
        ("people", {"options": '{"width": 40}'}, "bad_size"),
        ("street", {"options": '{"max_frames": "3"}'}, "bad_options"),  # no coercion
        ("street", {"options": '{"fps": 1e-9}'}, "bad_options"),
        ("street", {"options": '{"seed": ' + "9" * 5000 + "}"}, "bad_options"),  # over the JSON int digit limit
        ("street", {"options": "[" * 5000 + "]" * 5000}, "bad_options"),  # deeply nested
        ("street", {"options": '{"num_samples": 2}'}, "bad_options"),  # generate/predict only
        ("noise", {}, "unexpected_upload"),  # generate models take no files
        (
            "people",
            {"references": [("r.png", b"x")], "reference_labels": [("a", b"x"), ("b", b"x")]},
            "reference_labels_mismatch",
        ),
    ],
)
def test_bad_request_fields_are_refused(model, extra, code, client, auth, media_root: Path):
    pose = np.zeros((64, 64, 3), np.uint8)
    pose[20:40, 30:34] = (255, 0, 85)
    video = write_video(media_root.parent / "pose.mp4", [pose] * 3).read_bytes()
    response = post(client, auth, ("v.mp4", video), model=model, **extra)

    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    if code == "unknown_model":
        assert "edges, future, noise, people, street" in response.json()["error"]["message"]
    assert job_dirs(media_root) == []


def test_few_shot_job_saves_references_under_server_names(client, auth, media_root: Path, redis_client):
    pose = np.zeros((64, 64, 3), np.uint8)
    pose[20:40, 30:34] = (255, 0, 85)
    video = write_video(media_root.parent / "pose.mp4", [pose] * 3).read_bytes()
    ref = png_bytes(np.full((64, 48, 3), 200, np.uint8))
    response = post(
        client,
        auth,
        ("v.mp4", video),
        model="people",
        references=[("/tmp/evil name.png", ref)] * 2,
        reference_labels=[("l.png", png_bytes(pose))] * 2,
        options='{"finetune_steps": 100}',
    )

    assert response.status_code == 202, response.text
    job = Job.fetch(response.json()["id"], connection=redis_client, serializer=JSONSerializer)
    spec = job.kwargs["spec"]
    assert spec["family_options"] == {"finetune_steps": 100}
    assert job.timeout == 300 + 10 * 3 + 5 * 100  # the option's seconds_per_unit extends the time limit
    inputs = spec["inputs"]
    assert [Path(p).name for p in inputs["reference_paths"]] == ["reference_00.png", "reference_01.png"]
    assert [Path(p).name for p in inputs["reference_label_paths"]] == [
        "reference_label_00.png",
        "reference_label_01.png",
    ]
    assert all(Path(p).is_file() for p in inputs["reference_paths"])


def test_edges_model_refuses_colour_video(client, auth, seg_mp4: Path, media_root: Path):
    response = post(client, auth, ("v.mp4", seg_mp4.read_bytes()), model="edges")
    assert response.status_code == 400 and response.json()["error"]["code"] == "labels_do_not_match_model"


def test_jobs_in_flight_are_capped_per_key(client, auth, seg_mp4: Path, redis_client):
    data = seg_mp4.read_bytes()
    for _ in range(3):
        assert post(client, auth, ("v.mp4", data)).status_code == 202
    response = post(client, auth, ("v.mp4", data))
    assert response.status_code == 429 and response.json()["error"]["code"] == "too_many_jobs"


def test_palette_colours_in_json_match_test_model(client):
    cards = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert [tuple(c) for c in cards["street"]["inputs"]["labels"]["palette"]] == PALETTE
    assert json.dumps(cards)  # serialisable


def test_daily_upload_allowance_is_enforced_and_refunded_on_refusal(
    settings, seg_mp4: Path, redis_client, auth
):
    from app.main import create_app

    tight = settings.model_copy(update={"MAX_UPLOAD_BYTES_PER_KEY_PER_DAY": seg_mp4.stat().st_size + 10})
    with TestClient(create_app(tight)) as client:
        assert post(client, auth, ("v.mp4", b"not a video")).status_code == 400  # refused: bytes given back
        assert post(client, auth, ("v.mp4", seg_mp4.read_bytes())).status_code == 202
        response = post(client, auth, ("v.mp4", seg_mp4.read_bytes()))
    assert response.status_code == 429 and response.json()["error"]["code"] == "upload_quota_exceeded"


def test_no_live_worker_refuses_new_jobs_with_503(client, auth, seg_mp4: Path, redis_client: redis.Redis,
                                                  media_root: Path, live_worker: str) -> None:
    from app.liveness import WORKERS_ALIVE_KEY

    redis_client.zrem(WORKERS_ALIVE_KEY, live_worker)
    response = post(client, auth, ("v.mp4", seg_mp4.read_bytes()))
    assert response.status_code == 503 and response.json()["error"]["code"] == "no_workers"
    assert job_dirs(media_root) == []
    redis_client.zadd(WORKERS_ALIVE_KEY, {"back": float(redis_client.time()[0])})  # a worker beats again
    assert post(client, auth, ("v.mp4", seg_mp4.read_bytes())).status_code == 202


def test_generate_and_predict_jobs_are_validated_per_kind(client, auth, redis_client: redis.Redis,
                                                          tmp_path: Path) -> None:
    ok = client.post("/v1/jobs", data={"model": "noise", "options": json.dumps(
        {"num_samples": 3, "num_frames": 10, "class": "down", "seeds": {"content": 5}, "seed": 2})}, headers=auth)
    assert ok.status_code == 202, ok.text
    assert ok.json()["kind"] == "generate" and ok.json()["samples"] == 3
    spec = Job.fetch(ok.json()["id"], connection=redis_client, serializer=JSONSerializer).kwargs["spec"]
    assert spec["inputs"] == {"kind": "generate", "num_samples": 3, "num_frames": 10, "class_id": 1,
                              "seeds": {"content": 5}, "truncation": 1.0}
    assert spec["frames_total"] == 10 and spec["fps"] == 15.0 and spec["options"]["seed"] == 2  # the job's own
    # The card's own names for the same options: its class_option ("direction") and `<seed>_seed`.
    ok = client.post("/v1/jobs", data={"model": "noise", "options": json.dumps(
        {"direction": "down", "content_seed": 5})}, headers=auth)
    assert ok.status_code == 202, ok.text
    spec = Job.fetch(ok.json()["id"], connection=redis_client, serializer=JSONSerializer).kwargs["spec"]
    assert (spec["inputs"]["class_id"], spec["inputs"]["seeds"]) == (1, {"content": 5})
    assert spec["inputs"]["num_frames"] == spec["frames_total"] == 12  # no num_frames: the card's default
    assert spec["options"]["seed"] != 0  # no seed: a fresh random one, kept in the spec for an identical resume
    assert client.delete(f"/v1/jobs/{ok.json()['id']}", headers=auth).status_code == 204  # within the key's job limit
    ok = client.post("/v1/jobs", data={"model": "noise", "options": json.dumps({"truncation": 0.5})}, headers=auth)
    assert ok.status_code == 202, ok.text
    spec = Job.fetch(ok.json()["id"], connection=redis_client, serializer=JSONSerializer).kwargs["spec"]
    assert spec["inputs"]["truncation"] == 0.5
    assert client.delete(f"/v1/jobs/{ok.json()['id']}", headers=auth).status_code == 204
    for options, code in [({"num_samples": 5}, "bad_options"), ({"num_frames": 25}, "bad_options"),
                          ({"class": "left"}, "bad_options"), ({"seeds": {"motion": 1}}, "bad_options"),
                          ({"direction": "left"}, "bad_options"), ({"motion_seed": 1}, "bad_options"),
                          ({"class": "up", "direction": "up"}, "bad_options"), ({"content_seed": "5"}, "bad_options"),
                          ({"content_seed": 5, "seeds": {"content": 5}}, "bad_options"),
                          ({"content_seed": 5, "seeds": [1]}, "bad_options"),
                          ({"horizon": 3}, "bad_options"), ({"width": 36}, "bad_size"),
                          ({"truncation": 0}, "bad_options"), ({"truncation": 1.5}, "bad_options"),
                          ({"truncation": "0.5"}, "bad_options")]:
        response = client.post("/v1/jobs", data={"model": "noise", "options": json.dumps(options)}, headers=auth)
        assert (response.status_code, response.json()["error"]["code"]) == (400, code), options
    response = client.post("/v1/jobs", data={"model": "noise", "options": '{"class": 3, "fps": "x"}'}, headers=auth)
    message = response.json()["error"]["message"]  # each wrong field named, in words, with what was sent
    assert "class: Input should be a valid string (got 3)" in message and "fps: " in message and "'x'" in message

    frames = [np.full((32, 32, 3), 40 * i, np.uint8) for i in range(3)]
    context = write_video(tmp_path / "context.mp4", frames).read_bytes()
    files = {"video": ("c.mp4", context, "video/mp4")}
    ok = client.post("/v1/jobs", data={"model": "future", "options": json.dumps(
        {"horizon": 6, "num_samples": 2, "attributes": {"action": "wave"}})}, files=files, headers=auth)
    assert ok.status_code == 202, ok.text
    spec = Job.fetch(ok.json()["id"], connection=redis_client, serializer=JSONSerializer).kwargs["spec"]
    assert spec["inputs"]["kind"] == "predict" and spec["inputs"]["context_kind"] == "video"
    assert (spec["inputs"]["horizon"], spec["inputs"]["num_samples"], spec["inputs"]["context_frames"]) == (6, 2, 3)
    assert spec["inputs"]["attributes"] == {"action": 1} and spec["frames_total"] == 6
    image = {"video": ("still.png", png_bytes(frames[1]), "image/png")}
    response = client.post("/v1/jobs", data={"model": "future"}, files=image, headers=auth)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "too_few_frames")  # needs 2
    response = client.post("/v1/jobs", data={"model": "future", "options": '{"truncation": 0.5}'}, files=files,
                           headers=auth)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "bad_options")  # generate only
    ok = client.post("/v1/jobs", data={"model": "future"}, files=files, headers=auth)
    spec = Job.fetch(ok.json()["id"], connection=redis_client, serializer=JSONSerializer).kwargs["spec"]
    assert spec["inputs"]["horizon"] == spec["frames_total"] == 10  # no horizon and no default on the card: max
    response = client.post("/v1/jobs", data={"model": "future"}, headers=auth)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "missing_video")


def test_a_range_default_lies_inside_the_range() -> None:
    assert IntRange(min=1, max=64, default=8).value_or_default(None) == 8
    assert IntRange(min=1, max=64, default=8).value_or_default(3) == 3
    assert IntRange(min=1, max=30).value_or_default(None) == 30
    with pytest.raises(ValidationError, match="default 65 outside 1..64"):
        IntRange(min=1, max=64, default=65)


@pytest.mark.parametrize("repeated", ["video", "model", "options"])
def test_a_part_sent_twice_is_refused_and_leaves_nothing(repeated: str, client, auth, seg_mp4: Path,
                                                         media_root: Path, redis_client: redis.Redis):
    video = ("v.mp4", seg_mp4.read_bytes(), "application/octet-stream")
    files = [("video", video)] + ([("video", video)] if repeated == "video" else [])
    data = {"model": ["street", "street"] if repeated == "model" else "street",
            "options": ['{"max_frames": 4}'] * 2 if repeated == "options" else '{"max_frames": 4}'}
    response = client.post("/v1/jobs", data=data, files=files, headers=auth)

    assert response.status_code == 400, response.text
    assert response.json()["error"] == {"code": "repeated_field",
                                        "message": f"send `{repeated}` once per job, not 2 times"}
    assert job_dirs(media_root) == [] and redis_client.llen("rq:queue:gpu") == 0
    unauthorised = client.post("/v1/jobs", data=data, files=files)
    assert unauthorised.status_code == 401  # the key is checked first
