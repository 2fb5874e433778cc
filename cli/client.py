"""`v2v submit`, `v2v status`, `v2v wait`: a small HTTP client for a running service (httpx + tqdm).

The key comes from --key, else $V2V_API_KEY, else the file $V2V_API_KEY_FILE (default ./var/api-key,
written by `v2v serve`). Functions take an `httpx.Client`, so tests can pass an in-process one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from app.samples import DEFAULT_SAMPLES_DIR, sample_files

DEFAULT_SERVER = "http://127.0.0.1:8000"
TERMINAL = {"succeeded", "failed", "canceled"}


class ClientError(Exception):
    """The service refused a request; `code` is its machine-readable error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.code = code


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--server", default=os.environ.get("V2V_SERVER", DEFAULT_SERVER),
                        help="the service's URL (env: V2V_SERVER)")
    parser.add_argument("--key", default=None,
                        help="API key (default: $V2V_API_KEY, then the file $V2V_API_KEY_FILE, ./var/api-key)")
    if command == "submit":
        parser.add_argument("--model", required=True, help="served model (GET /v1/models, `v2v models`)")
        parser.add_argument("--sample", action="store_true",
                            help="upload the model's shipped sample input (samples/manifest.json); files given "
                                 "with --video/--references/--reference-labels replace its own")
        parser.add_argument("--video", type=Path, default=None,
                            help="translate: label video or zip of PNG frames; predict: context video, zip or image; "
                                 "generate: omit")
        parser.add_argument("--truth", type=Path, default=None, help="predict: the true future frames (optional)")
        parser.add_argument("--references", nargs="*", type=Path, default=[])
        parser.add_argument("--reference-labels", nargs="*", type=Path, default=[])
        parser.add_argument("--webhook", default=None, help="URL told about the job's events (signed POSTs)")
        parser.add_argument("--webhook-events", default=None,
                            help="comma-separated: running, progress, succeeded, failed, canceled, completed "
                                 "(default on the server: completed)")
        parser.add_argument("--idempotency-key", default=None,
                            help="retry-safe submit: the same key returns the job made first instead of a new one")
        parser.add_argument("--options", default=None,
                            help="JSON, e.g. '{\"max_frames\": 30}' or '{\"num_samples\": 4}' (GET /v1/models lists "
                                 "each model's options)")
    else:
        parser.add_argument("job_id")
    if command == "wait":
        parser.add_argument("-o", "--output", type=Path, default=None,
                            help="where to save the result mp4 (sample i > 0: OUT_0i.mp4; the seeds and per-sample "
                                 "figures of a generate or predict job: OUT.json)")
        parser.add_argument("--interval", type=float, default=1.0,
                            help="seconds before reconnecting when the event stream drops (default 1)")


def resolve_key(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    if os.environ.get("V2V_API_KEY"):
        return os.environ["V2V_API_KEY"]
    key_file = Path(os.environ.get("V2V_API_KEY_FILE", "var/api-key"))
    return key_file.read_text().strip() if key_file.is_file() else None


def _check(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    try:
        error = response.json()["error"]
        raise ClientError(response.status_code, str(error["code"]), str(error["message"]))
    except (ValueError, KeyError, TypeError):
        raise ClientError(response.status_code, "http_error", response.text[:200]) from None


def submit(
    http: httpx.Client,
    model: str,
    video: Path | None = None,
    references: list[Path] | None = None,
    reference_labels: list[Path] | None = None,
    options: str | None = None,
    truth: Path | None = None,
    webhook: str | None = None,
    webhook_events: str | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Upload a job (files are streamed from disk); returns the job JSON."""
    with ExitStack() as stack:
        files: list[tuple[str, tuple[str, Any, str]]] = []
        singles = (("video", [video] if video else []), ("truth", [truth] if truth else []))
        for field, paths in (*singles, ("references", references or []), ("reference_labels", reference_labels or [])):
            files += [
                (field, (p.name, stack.enter_context(open(p, "rb")), "application/octet-stream"))
                for p in paths
            ]
        data = {"model": model, **({"options": options} if options else {})}
        data.update({k: v for k, v in (("webhook", webhook), ("webhook_events", webhook_events)) if v})
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return dict(_check(http.post("/v1/jobs", data=data, files=files, headers=headers)).json())


def with_sample(model: str, video: Path | None, references: list[Path], reference_labels: list[Path],
                truth: Path | None = None, folder: Path = DEFAULT_SAMPLES_DIR) -> dict[str, Any]:
    """submit()'s file arguments for `model`'s shipped sample, where the caller gave none of its own."""
    files = sample_files(model, folder)
    return {
        "video": video or (files["video"][0] if "video" in files else None),
        "references": references or files.get("references", []),
        "reference_labels": reference_labels or files.get("reference_labels", []),
        "truth": truth or (files["truth"][0] if "truth" in files else None),
    }


def status(http: httpx.Client, job_id: str) -> dict[str, Any]:
    return dict(_check(http.get(f"/v1/jobs/{job_id}")).json())


def download(http: httpx.Client, job_id: str, output: Path, sample: int = 0) -> Path:
    """Stream sample `sample`'s result video to `output` (via a .partial file renamed into place)."""
    partial = output.with_name(output.name + ".partial")
    with http.stream("GET", f"/v1/jobs/{job_id}/result", params={"sample": sample}) as response:
        if not response.is_success:
            response.read()
            _check(response)
        with open(partial, "wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
    partial.replace(output)
    return output


def save_results(http: httpx.Client, job: dict[str, Any], output: Path) -> list[Path]:
    """A succeeded job's videos at `output` (sample i > 0 at OUT_01.mp4, ...), and, when the job reports seeds or
    per-sample figures (generate and predict jobs), OUT.json with them: what re-makes or varies each sample."""
    paths = []
    for sample in range(int(job.get("samples", 1))):
        name = output if sample == 0 else output.with_name(f"{output.stem}_{sample:02d}{output.suffix}")
        paths.append(download(http, job["id"], name, sample))
    if job.get("seeds") or job.get("report"):
        record = output.with_suffix(".json")
        fields = ("id", "model", "kind", "samples", "seeds", "report")
        record.write_text(json.dumps({k: job.get(k) for k in fields}, indent=2) + "\n")
        paths.append(record)
    return paths


def events(http: httpx.Client, job_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The job's server-sent events (`GET /v1/jobs/{id}/events`) as (event, data) pairs, until the server ends it."""
    with http.stream("GET", f"/v1/jobs/{job_id}/events", headers={"Accept": "text/event-stream"}) as response:
        if not response.is_success:
            response.read()
            _check(response)
        event, data = "message", []
        for line in response.iter_lines():
            if line == "":
                if data:
                    yield event, json.loads("\n".join(data))
                event, data = "message", []
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())


def wait(
    http: httpx.Client, job_id: str, interval: float = 1.0, show_progress: bool = True, reconnects: int = 10
) -> dict[str, Any]:
    """Follow the job's live events (reconnecting after `interval` s when the stream drops) with a progress bar of
    frames and the ETA, until it ends; returns the final job JSON."""
    job = status(http, job_id)
    with tqdm(total=job["progress"]["frames_total"], unit="frame", disable=not show_progress) as bar:

        def show(job: dict[str, Any]) -> None:
            bar.total = job["progress"]["frames_total"]
            bar.update(job["progress"]["frames_done"] - bar.n)
            eta = job.get("eta_s")
            bar.set_postfix_str(job["status"] + (f", ~{eta:.0f}s left" if eta else ""))

        show(job)
        failures = 0
        while job["status"] not in TERMINAL:
            try:
                for event, data in events(http, job_id):
                    if event == "error":
                        error = data.get("error", {})
                        raise ClientError(404, str(error.get("code", "not_found")), str(error.get("message", "")))
                    job = data
                    show(job)
            except httpx.TransportError:
                failures += 1
                if failures > reconnects:
                    raise
                time.sleep(interval)
            if job["status"] not in TERMINAL:
                job = status(http, job_id)
                show(job)
        return job


def run(args: argparse.Namespace) -> int:
    key = resolve_key(args.key)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=args.server, headers=headers, timeout=httpx.Timeout(30.0, read=300.0)) as http:
        try:
            if args.command == "submit":
                files = {"video": args.video, "references": args.references,
                         "reference_labels": args.reference_labels, "truth": args.truth}
                if args.sample:
                    files = with_sample(args.model, **files)
                job = submit(http, args.model, options=args.options, webhook=args.webhook,
                             webhook_events=args.webhook_events, idempotency_key=args.idempotency_key, **files)
                sys.stdout.write(job["id"] + "\n")
                return 0
            if args.command == "status":
                sys.stdout.write(json.dumps(status(http, args.job_id), indent=2) + "\n")
                return 0
            job = wait(http, args.job_id, args.interval)
            if job["status"] != "succeeded":
                error = job.get("error") or {}
                sys.stderr.write(f"job {job['status']}: {error.get('code', '')} {error.get('message', '')}\n")
                return 1
            if args.output:
                for path in save_results(http, job, args.output):
                    sys.stdout.write(f"{path}\n")
            return 0
        except ClientError as exc:
            sys.stderr.write(f"v2v {args.command}: {exc}\n")
            return 1
        except httpx.HTTPError as exc:
            sys.stderr.write(f"v2v {args.command}: cannot reach {args.server}: {exc}\n")
            return 1
