"""The shipped samples: one per served model, small, accepted by the real API; `v2v submit --sample` uploads them;
`v2v data ... --video` writes label videos the service takes."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
from fastapi.testclient import TestClient

from app.config import Settings
from app.contracts import DEFAULT_MANIFEST, load_manifest
from app.main import create_app
from app.samples import DEFAULT_SAMPLES_DIR, load_samples, sample_files
from cli import client as cli_client
from cli.main import main as v2v
from models.core.labels import CITYSCAPES_PALETTE

MAX_TOTAL_BYTES = 400 * 1024


def test_every_served_model_has_a_small_sample():
    cards = load_manifest(DEFAULT_MANIFEST).models
    served = {name for name, card in cards.items() if card.inputs.kind != "generate"}  # generate: nothing to upload
    samples = load_samples()
    assert served <= set(samples), (f"served models without a sample: {sorted(served - set(samples))}; make them "
                                    "with `v2v data samples --out samples --models NAME` and commit samples/")
    total = sum(p.stat().st_size for p in DEFAULT_SAMPLES_DIR.rglob("*") if p.is_file())
    assert total < MAX_TOTAL_BYTES
    for model in served:
        assert all(p.is_file() for paths in sample_files(model).values() for p in paths)


def test_each_sample_is_accepted_by_the_api_and_submit_sample_uploads_it(redis_url, media_root, live_worker,
                                                                         redis_client):
    from app.auth import create_api_key

    settings = Settings(REDIS_URL=redis_url, MEDIA_ROOT=media_root, MANIFEST=DEFAULT_MANIFEST)
    key = create_api_key(redis_client, "t")[1]
    with TestClient(create_app(settings)) as http:
        http.headers["Authorization"] = f"Bearer {key}"
        for model, card in load_manifest(DEFAULT_MANIFEST).models.items():
            files = cli_client.with_sample(model, None, [], []) if card.inputs.kind != "generate" else {}
            job = cli_client.submit(http, model, options='{"max_frames": 2}', **files)
            assert job["status"] == "queued" and job["model"] == model, job
            assert http.delete(f"/v1/jobs/{job['id']}").status_code == 204


def test_submit_sample_of_a_model_without_one_is_a_one_line_error(capsys):
    assert v2v(["submit", "--model", "nope", "--sample", "--server", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "no sample for model 'nope'" in err and "street" in err and "Traceback" not in err


def test_data_street_video_writes_colour_coded_label_mp4s(tmp_path: Path):
    out = tmp_path / "street"
    assert v2v(["data", "street", "--out", str(out), "--sequences", "1", "--test-sequences", "0", "--frames", "3",
                "--size", "64x128", "--video"]) == 0
    video = out / "train_A" / "street_0000.mp4"
    with av.open(str(video)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 3 and frames[0].shape == (64, 128, 3)
    ids = np.asarray(av.open(str(sorted((out / "train_A" / "street_0000").glob("*.png"))[0])).decode(video=0)
                     .__next__().to_ndarray())
    expected = CITYSCAPES_PALETTE[ids].astype(float)
    assert np.abs(frames[0].astype(float) - expected).mean() < 6  # H.264 keeps the palette colours
    assert json.loads((out / "dataset.json").read_text())["label_type"] == "segmentation"


def test_a_served_predict_model_gets_a_digits_sample_the_api_accepts(tmp_path: Path, redis_url, media_root,
                                                                      live_worker, redis_client):
    from app.auth import create_api_key
    from corpora.samples import make_samples
    from tests.app.media import write_manifest

    manifest = write_manifest(tmp_path / "manifest.json")  # serves "future", a predict model (4 context frames)
    made = make_samples(tmp_path / "samples", None, manifest)
    assert set(made) == {"street", "edges", "people", "future"}
    files = sample_files("future", tmp_path / "samples")
    with av.open(str(files["video"][0])) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 4 and frames[0].shape == (32, 32, 3) and frames[0].max() > 100  # digits on black

    settings = Settings(REDIS_URL=redis_url, MEDIA_ROOT=media_root, MANIFEST=manifest)
    key = create_api_key(redis_client, "t")[1]
    with TestClient(create_app(settings)) as http:
        http.headers["Authorization"] = f"Bearer {key}"
        files_kw = cli_client.with_sample("future", None, [], [], folder=tmp_path / "samples")
        job = cli_client.submit(http, "future", **files_kw)
    assert job["kind"] == "predict" and job["status"] == "queued", job
