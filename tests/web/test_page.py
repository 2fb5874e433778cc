"""The web page in real headless Chromium against a real `v2v serve` (Redis, worker, API): paste the key, start the
shipped sample of a model in one click, watch the live progress, and play the result next to its input; then the
job list cancels and deletes. Chromium comes from Debian's `chromium` package (`make setup-browser`)."""

from __future__ import annotations

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

from cli.redis_server import free_port
from tests.web.cdp import Browser, find_chromium

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = find_chromium()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH: `make setup-browser` (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A real `v2v serve` on free ports (CPU worker, the shipped models); yields (base URL, API key)."""
    var = tmp_path_factory.mktemp("var")
    port, redis_port = free_port(), free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    argv = [str(Path(sys.executable).parent / "v2v"), "serve", "--var", str(var), "--port", str(port),
            "--redis-port", str(redis_port), "--device", "cpu"]
    log = var.parent / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
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
        yield base, (var / "api-key").read_text().strip()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[Browser]:
    assert CHROMIUM is not None
    chromium = Browser(CHROMIUM, tmp_path / "profile")
    yield chromium
    chromium.close()


@pytest.mark.parametrize(("model", "size", "images"), [("street", (256, 128), 0), ("edges", (256, 192), 0),
                                                       ("people", (128, 256), 4)])
def test_sample_from_the_page_plays_next_to_its_input(service: tuple[str, str], browser: Browser, model: str,
                                                      size: tuple[int, int], images: int) -> None:
    base, key = service
    browser.goto(base + "/")
    browser.eval(f"document.querySelector('#key').value = {json.dumps(key)};"
                 "document.querySelector('#save-key').click()")
    browser.wait_for("document.querySelector('#model').options.length >= 3", 30)
    assert browser.eval("localStorage.getItem('v2v.key')") == key

    browser.eval("""(() => { const s = document.querySelector('#model'); s.value = '""" + model + """';
        s.dispatchEvent(new Event('change'));
        document.querySelector('#options').value = '{"max_frames": 4}';
        document.querySelector('#try-sample').click(); })()""")
    browser.wait_for("!document.querySelector('#job-view').hidden", 30)
    job_id = browser.eval("document.querySelector('#job-id').textContent")
    assert job_id, browser.console
    # The input plays on the left while the job runs; the progress comes from the event stream.
    browser.wait_for("(document.querySelector('#inputs video') || {}).readyState >= 2", 30)
    state = browser.wait_for("""(() => { const v = document.querySelector('#results video');
        return v && v.readyState >= 2 && v.currentTime > 0 &&
            {ready: v.readyState, time: v.currentTime, width: v.videoWidth, height: v.videoHeight,
             status: document.querySelector('#status').textContent,
             progress: document.querySelector('#progress-text').textContent}; })()""", 240)
    assert state["status"] == "succeeded" and state["progress"].startswith("4 / 4")
    assert (state["width"], state["height"]) == size  # the sample's own size
    assert browser.eval("document.querySelectorAll('#inputs img').length") == images  # few-shot: the references
    job = httpx.get(f"{base}/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"}).json()
    assert job["status"] == "succeeded"

    # The key's jobs: listed, then deleted from the page.
    browser.wait_for(f"!!document.querySelector('tr[data-job=\"{job_id}\"]')", 15)
    browser.eval(f"""[...document.querySelectorAll('tr[data-job="{job_id}"] button')]
        .find(b => b.textContent === 'delete').click()""")
    browser.wait_for(f"!document.querySelector('tr[data-job=\"{job_id}\"]')", 15)
    assert httpx.get(f"{base}/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"}).status_code == 404
