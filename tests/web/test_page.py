"""The web page in real headless Chromium against a real `v2v serve` (Redis, worker, API): paste the key, start the
shipped sample of a model in one click, watch the live progress, and play the result next to its input; then the
job list cancels and deletes. Chromium comes from Debian's `chromium` package (`make setup-browser`)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.contracts import DEFAULT_MANIFEST, load_manifest
from app.samples import load_samples
from cli.redis_server import free_port
from tests.web.cdp import Browser, find_chromium

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = find_chromium()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH: `make setup-browser` (apt-get install chromium)"),
]


@contextlib.contextmanager
def serving(var: Path, **env: str) -> Iterator[tuple[str, str]]:
    """A real `v2v serve` on free ports (CPU worker); yields (base URL, API key)."""
    port, redis_port = free_port(), free_port()
    environment = dict(os.environ, OMP_NUM_THREADS="1", **env)
    argv = [str(Path(sys.executable).parent / "v2v"), "serve", "--var", str(var), "--port", str(port),
            "--redis-port", str(redis_port), "--device", "cpu"]
    log = var.parent / f"{var.name}-serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=REPO, env=environment, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        assert f"web page  {base}/" in log.read_text()  # `v2v serve` says where the page is
        yield base, (var / "api-key").read_text().strip()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`v2v serve` with the shipped models and samples."""
    with serving(tmp_path_factory.mktemp("web") / "var") as running:
        yield running


@pytest.fixture(scope="module")
def kinds_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`v2v serve` with the test-only predict (`echo`) and generate (`noise`) families, and a digits sample for echo
    made by `v2v data samples`' maker."""
    from corpora.samples import make_samples
    from tests.families import echo_family, noise_family

    root = tmp_path_factory.mktemp("kinds")
    manifest = root / "checkpoints" / "manifest.json"
    manifest.parent.mkdir()
    manifest.write_text(json.dumps({"models": {"echo": echo_family.CARD, "noise": noise_family.CARD}}))
    make_samples(root / "samples", ["echo"], manifest)
    env = {"V2V_MANIFEST": str(manifest), "V2V_SAMPLES_DIR": str(root / "samples"),
           "V2V_FAMILY_MODULES": "tests.families.echo_family,tests.families.noise_family"}
    with serving(root / "var", **env) as running:
        yield running


def job_samples(base: str, key: str, job_id: str) -> int:
    return int(httpx.get(f"{base}/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"}).json()["samples"])


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[Browser]:
    assert CHROMIUM is not None
    chromium = Browser(CHROMIUM, tmp_path / "profile")
    yield chromium
    chromium.close()


SERVED = load_manifest(DEFAULT_MANIFEST).models
SAMPLES = load_samples()


@pytest.mark.parametrize("model", sorted(SERVED))
def test_sample_from_the_page_plays_next_to_its_input(service: tuple[str, str], browser: Browser, model: str) -> None:
    images = 2 * len(SAMPLES.get(model, {}).get("references", []))  # few-shot: each reference and its labels
    run_sample_from_the_page(service, browser, model, SERVED[model].inputs.kind, len(SERVED), images,
                             '{"max_frames": 4}')


@pytest.mark.parametrize(("model", "kind", "options", "samples", "help"), [
    ("echo", "predict", '{"num_samples": 2}', 2, "seed, num_samples 1..4, horizon 1..8"),
    ("noise", "generate", '{"num_samples": 3, "num_frames": 4}', 3, "num_samples 1..4, num_frames 1..24 (default 6)")])
def test_predict_and_generate_from_the_page_show_every_sample(kinds_service: tuple[str, str], browser: Browser,
                                                              model: str, kind: str, options: str,
                                                              samples: int, help: str) -> None:
    run_sample_from_the_page(kinds_service, browser, model, kind, 2, 0, options)
    assert help in browser.eval("document.querySelector('#options-help').textContent")  # what the box takes
    assert browser.eval("document.querySelector('#results').classList.contains('grid')")
    assert browser.eval("document.querySelectorAll('#results video').length") == samples
    if kind == "predict":
        assert browser.eval("document.querySelectorAll('#inputs video').length") == 2  # context and true future


def run_sample_from_the_page(service: tuple[str, str], browser: Browser, model: str, kind: str, models: int,
                             images: int, options: str) -> None:
    """Paste the key, pick `model`, press "Try the sample", wait until its result plays; then delete the job."""
    base, key = service
    browser.goto(base + "/")
    browser.eval(f"document.querySelector('#key').value = {json.dumps(key)};"
                 "document.querySelector('#save-key').click()")
    browser.wait_for(f"document.querySelector('#model').options.length === {models}", 30)
    assert browser.eval("localStorage.getItem('v2v.key')") == key

    browser.eval("""(() => { const s = document.querySelector('#model'); s.value = '""" + model + """';
        s.dispatchEvent(new Event('change'));
        document.querySelector('#options').value = '""" + json.dumps(options)[1:-1] + """';
        document.querySelector('#try-sample').click(); })()""")
    browser.wait_for("!document.querySelector('#job-view').hidden", 30)
    job_id = browser.eval("document.querySelector('#job-id').textContent")
    assert job_id, browser.console
    # The input plays on the left while the job runs; the progress comes from the event stream.
    if kind != "generate":
        browser.wait_for("(document.querySelector('#inputs video') || {}).readyState >= 2", 30)
    state = browser.wait_for("""(() => { const v = document.querySelector('#results video');
        return v && v.readyState >= 2 && v.currentTime > 0 &&
            {ready: v.readyState, time: v.currentTime, width: v.videoWidth, height: v.videoHeight,
             status: document.querySelector('#status').textContent,
             progress: document.querySelector('#progress-text').textContent}; })()""", 240)
    done, _, total = state["progress"].partition(" frames")[0].partition(" / ")
    assert state["status"] == "succeeded" and done == total and int(done) > 0
    if kind == "translate":  # the result has the input's own size
        size = browser.eval("[document.querySelector('#inputs video').videoWidth, "
                            "document.querySelector('#inputs video').videoHeight]")
        assert [state["width"], state["height"]] == size
    else:
        assert state["width"] > 0 and state["height"] > 0
    samples = job_samples(base, key, job_id)
    browser.wait_for(f"document.querySelectorAll('#results video').length === {samples}", 30)
    assert browser.eval("document.querySelectorAll('#inputs img').length") == images
    job = httpx.get(f"{base}/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"}).json()
    assert job["status"] == "succeeded"

    # The key's jobs: listed, then deleted from the page.
    browser.wait_for(f"!!document.querySelector('tr[data-job=\"{job_id}\"]')", 15)
    browser.eval(f"""[...document.querySelectorAll('tr[data-job="{job_id}"] button')]
        .find(b => b.textContent === 'delete').click()""")
    browser.wait_for(f"!document.querySelector('tr[data-job=\"{job_id}\"]')", 15)
    assert httpx.get(f"{base}/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"}).status_code == 404
