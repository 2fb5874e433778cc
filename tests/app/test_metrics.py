"""`/metrics`: the API's submit counters (accepted by model and kind, refused by code, upload bytes), queue gauges,
Prometheus text format; `V2V_METRICS_TOKEN` guards it when set."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.main import create_app


def scrape(client: TestClient, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


def test_submit_counters_and_queue_gauges(client: TestClient, auth, seg_mp4: Path) -> None:
    ok = client.post("/v1/jobs", data={"model": "street"}, headers=auth,
                     files={"video": ("v.mp4", seg_mp4.read_bytes(), "video/mp4")})
    bad = client.post("/v1/jobs", data={"model": "nope"}, headers=auth,
                      files={"video": ("v.mp4", seg_mp4.read_bytes(), "video/mp4")})
    assert ok.status_code == 202 and bad.status_code == 400
    samples = scrape(client)
    assert value(samples, "v2v_jobs_submitted_total", model="street", kind="translate") == 1
    assert value(samples, "v2v_upload_bytes_total", model="street") == seg_mp4.stat().st_size
    assert value(samples, "v2v_submit_refused_total", code="unknown_model") == 1
    assert value(samples, "v2v_queue_depth") == 1 and value(samples, "v2v_jobs", status="queued") == 1
    assert value(samples, "v2v_workers_alive") == 1 and value(samples, "v2v_redis_up") == 1


def test_metrics_token(settings) -> None:
    with TestClient(create_app(settings.model_copy(update={"METRICS_TOKEN": "s3cret"}))) as client:
        assert client.get("/metrics").json()["error"]["code"] == "unauthorized"
        assert value(scrape(client, authorization="Bearer s3cret"), "v2v_redis_up") == 1


def test_the_grafana_dashboard_only_queries_metrics_we_export() -> None:
    import json
    import re

    dashboard = json.loads((Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json").read_text())
    names = {n for p in dashboard["panels"] for t in p["targets"] for n in re.findall(r"v2v_[a-z_]+", t["expr"])}
    exported = {"v2v_workers_alive", "v2v_queue_depth", "v2v_queue_oldest_wait_seconds", "v2v_redis_up", "v2v_jobs",
                "v2v_jobs_finished_total", "v2v_worker_frames_per_second", "v2v_worker_frames_total",
                "v2v_frame_duration_seconds_bucket", "v2v_job_duration_seconds_bucket",
                "v2v_queue_wait_seconds_bucket", "v2v_jobs_submitted_total", "v2v_submit_refused_total",
                "v2v_upload_bytes_total", "v2v_worker_heartbeat_age_seconds"}
    assert names and names <= exported, names - exported
