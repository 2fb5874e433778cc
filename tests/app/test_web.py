"""The page's files and the samples it offers are served by the API, without a key and without any build step."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.config import Settings
from app.contracts import DEFAULT_MANIFEST
from app.main import create_app


def test_page_and_its_assets(client: TestClient):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for asset in ("/web/app.js", "/web/style.css"):
        assert asset in page.text and client.get(asset).status_code == 200
    for element in ('id="key"', 'id="model"', 'id="try-sample"', 'id="progress"', 'id="results"', 'id="jobs"'):
        assert element in page.text


def test_samples_of_the_served_models_are_listed_and_served(settings: Settings):
    with TestClient(create_app(settings.model_copy(update={"MANIFEST": DEFAULT_MANIFEST}))) as client:
        samples = client.get("/v1/samples").json()["samples"]
        assert {"street", "edges", "people"} <= set(samples)
        people = samples["people"]
        assert len(people["references"]) == len(people["reference_labels"]) == 2
        for url in [samples["street"]["video"], people["video"], *people["references"]]:
            response = client.get(url)
            assert response.status_code == 200 and len(response.content) > 1000, url
        assert client.get("/samples/../checkpoints/manifest.json").status_code == 404
