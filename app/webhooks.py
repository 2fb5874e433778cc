"""Webhooks: a job may name a URL that is told about its events, signed, retried, never blocking a worker.

A job submitted with `webhook` (and optionally `webhook_events`) is registered in Redis (`v2v:webhook:<job_id>`,
plus the set `WATCHED`). A dispatcher in the API process (`WebhookDispatcher`, two threads) does the rest:
- the *watcher* reads each watched job's public record every `interval_s` (under a short Redis lock, so several API
  processes do not double it) and, on a change the job's filter wants, schedules a delivery: `running` (a worker
  started it), `progress` (frames done changed), and the terminal `succeeded`, `failed`, `canceled` (`completed`
  in a filter means all three; the default filter);
- the *sender* POSTs due deliveries (a sorted set by due time; each claimed with ZREM, so exactly one process sends
  it) with a JSON body `{"id", "event", "created_at", "job"}` and the headers `X-V2V-Event`, `X-V2V-Delivery` and
  `X-V2V-Signature: sha256=<hex HMAC-SHA256 of the body with the key's webhook secret>`; anything but a 2xx is
  retried after `backoff_s`, doubling, up to `max_attempts`.
Workers never talk to webhook receivers: they only write the job record they write anyway.

Addresses: only http(s) URLs whose host resolves to public addresses are accepted (checked at submit and again
before each delivery, and each delivery connects to the very address it checked: the URL's host is pinned to it,
with the name kept in `Host` and as the TLS server name, so a DNS answer that changes after the check (DNS
rebinding) cannot turn a delivery towards a private address); private, loopback, link-local, reserved and
multicast ranges are refused unless listed in `V2V_WEBHOOK_ALLOWED_NETWORKS` (e.g. `["127.0.0.1/32"]` for a
local receiver). The secret of a key is made on first use and read with `GET /v1/webhooks/secret`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import redis

from app.contracts import KEY_PREFIX
from app.errors import ApiError
from app.schemas import TERMINAL, JobPublic

log = logging.getLogger(__name__)

EVENTS = ("running", "progress", "succeeded", "failed", "canceled")
COMPLETED = ("succeeded", "failed", "canceled")
WATCHED = f"{KEY_PREFIX}webhooks:watched"
DUE = f"{KEY_PREFIX}webhooks:due"
SCAN_LOCK = f"{KEY_PREFIX}webhooks:scan-lock"
MAX_URL_LENGTH = 2048


def hook_key(job_id: str) -> str:
    return f"{KEY_PREFIX}webhook:{job_id}"


def delivery_key(delivery_id: str) -> str:
    return f"{KEY_PREFIX}webhooks:delivery:{delivery_id}"


def secret_key(owner: str) -> str:
    return f"{KEY_PREFIX}owner:{owner}:webhook-secret"


def webhook_secret(client: redis.Redis, owner: str) -> str:
    """The key's signing secret (made on first use)."""
    client.set(secret_key(owner), f"whsec_{secrets.token_urlsafe(32)}", nx=True)
    return str(client.get(secret_key(owner)).decode())  # type: ignore[union-attr]


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def parse_events(raw: str | None) -> list[str]:
    """`webhook_events`: comma-separated or a JSON list of EVENTS (`completed` = the three terminal ones)."""
    if raw is None or not raw.strip():
        return list(COMPLETED)
    try:
        names = json.loads(raw) if raw.strip().startswith("[") else raw.split(",")
    except ValueError as exc:
        raise ApiError(400, "bad_webhook", "webhook_events must be a JSON list or comma-separated names") from exc
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ApiError(400, "bad_webhook", "webhook_events must be a list of event names")
    chosen: list[str] = []
    for name in (n.strip() for n in names):
        expanded = COMPLETED if name == "completed" else (name,)
        for event in expanded:
            if event not in EVENTS:
                raise ApiError(400, "bad_webhook", f"unknown webhook event {event!r}; valid: completed, "
                                                   f"{', '.join(EVENTS)}")
            if event not in chosen:
                chosen.append(event)
    return chosen


def check_address(url: str, allowed: Sequence[str]) -> str:
    """Refuse (400 bad_webhook) a URL that is not http(s) or whose host resolves to a non-public address that
    `allowed` (CIDRs) does not list; returns the first address it resolved to (all of them were checked)."""
    if len(url) > MAX_URL_LENGTH:
        raise ApiError(400, "bad_webhook", f"the webhook URL is longer than {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(400, "bad_webhook", "the webhook must be an http:// or https:// URL with a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:
        raise ApiError(400, "bad_webhook", f"the webhook host {parts.hostname!r} does not resolve") from exc
    networks = [ipaddress.ip_network(n, strict=False) for n in allowed]
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if any(address in net for net in networks):
            continue
        if not address.is_global or address.is_multicast:
            raise ApiError(400, "bad_webhook", f"the webhook host resolves to {address}, a private or reserved "
                                               "address; allow such receivers with V2V_WEBHOOK_ALLOWED_NETWORKS")
    return str(infos[0][4][0]).split("%")[0]


def pinned_request(url: str, address: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """(URL with its host replaced by `address`, the `Host` header, httpx request extensions) for a request that
    connects to `address` while it still names the URL's host to the server (and, for https, in TLS SNI and the
    certificate check)."""
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    named = parts.hostname or ""
    host_header = (f"[{named}]" if ":" in named else named) + (f":{parts.port}" if parts.port else "")
    extensions = {"sni_hostname": named} if parts.scheme == "https" else {}
    return parts._replace(netloc=netloc).geturl(), {"Host": host_header}, extensions


def register(client: redis.Redis, job_id: str, owner: str, url: str, events: list[str], ttl_s: int) -> None:
    with client.pipeline() as pipe:
        pipe.hset(hook_key(job_id), mapping={"url": url, "events": json.dumps(events), "owner": owner, "last": ""})
        pipe.expire(hook_key(job_id), ttl_s)
        pipe.sadd(WATCHED, job_id)
        pipe.execute()


def transitions(previous: str, job: JobPublic) -> list[str]:
    """The events between the last seen state (`status:frames`, "" for none) and the job now."""
    old_status, _, old_frames = previous.partition(":")
    status, frames = job.status.value, job.progress.frames_done
    events = []
    if old_status in ("", "queued") and status != "queued" and (status == "running" or job.started_at is not None):
        events.append("running")
    if status == "running" and frames > 0 and str(frames) != old_frames:
        events.append("progress")
    if job.status in TERMINAL and status != old_status:
        events.append(status)
    return events


class WebhookDispatcher:
    """The watcher and sender threads of one API process (see the module docstring)."""

    def __init__(self, client: redis.Redis, read_job: Callable[[str, str], JobPublic | None],
                 allowed: Sequence[str], interval_s: float = 0.5, backoff_s: float = 1.0, max_attempts: int = 6,
                 timeout_s: float = 5.0) -> None:
        self.client, self.read_job, self.allowed = client, read_job, list(allowed)
        self.interval_s, self.backoff_s, self.max_attempts = interval_s, backoff_s, max_attempts
        self.http = httpx.Client(timeout=timeout_s, follow_redirects=False)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(f,), name=f"webhooks-{f.__name__}", daemon=True)
                         for f in (self.watch_once, self.send_due)]

    def start(self) -> WebhookDispatcher:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self.http.close()

    def _loop(self, step: Callable[[], object]) -> None:
        while not self._stop.is_set():
            try:
                step()
            except redis.RedisError as exc:
                log.warning("webhooks: Redis unavailable (%s)", exc)
            except Exception:  # a bug in one pass must not end webhooks for good
                log.exception("webhooks: pass failed")
            self._stop.wait(self.interval_s)

    def watch_once(self) -> int:
        """One pass over the watched jobs; returns how many deliveries it scheduled."""
        if not self.client.set(SCAN_LOCK, "1", nx=True, px=max(1000, int(self.interval_s * 4000))):
            return 0
        scheduled = 0
        try:
            for raw in self.client.smembers(WATCHED):
                job_id = raw.decode()
                hook = {k.decode(): v.decode() for k, v in self.client.hgetall(hook_key(job_id)).items()}
                job = self.read_job(job_id, hook["owner"]) if hook else None
                if job is None:
                    self.client.srem(WATCHED, job_id)
                    continue
                wanted = set(json.loads(hook["events"]))
                for event in transitions(hook.get("last", ""), job):
                    if event in wanted:
                        self._schedule(job_id, hook, event, job)
                        scheduled += 1
                self.client.hset(hook_key(job_id), "last", f"{job.status.value}:{job.progress.frames_done}")
                if job.status in TERMINAL:
                    self.client.srem(WATCHED, job_id)
        finally:
            self.client.delete(SCAN_LOCK)
        return scheduled

    def _schedule(self, job_id: str, hook: dict[str, str], event: str, job: JobPublic) -> None:
        delivery_id = f"dlv_{uuid.uuid4().hex}"
        body = {"id": delivery_id, "event": event, "created_at": datetime.now(UTC).isoformat(),
                "job": job.model_dump(mode="json")}
        record = {"url": hook["url"], "owner": hook["owner"], "event": event, "attempt": 0,
                  "body": json.dumps(body, separators=(",", ":"))}
        self.client.set(delivery_key(delivery_id), json.dumps(record), ex=7 * 24 * 3600)
        self.client.zadd(DUE, {delivery_id: time.time()})

    def send_due(self) -> int:
        """Send every delivery that is due; returns how many were attempted."""
        sent = 0
        for raw in self.client.zrangebyscore(DUE, "-inf", time.time(), start=0, num=50):
            if not self.client.zrem(DUE, raw):  # another process claimed it
                continue
            delivery_id = raw.decode()
            data = self.client.get(delivery_key(delivery_id))
            if data is None:
                continue
            self._attempt(delivery_id, json.loads(data))
            sent += 1
        return sent

    def _attempt(self, delivery_id: str, record: dict[str, object]) -> None:
        body = str(record["body"]).encode()
        attempt = int(record["attempt"]) + 1  # type: ignore[call-overload]
        headers = {"Content-Type": "application/json", "User-Agent": "v2v-webhooks/1",
                   "X-V2V-Event": str(record["event"]), "X-V2V-Delivery": delivery_id,
                   "X-V2V-Attempt": str(attempt),
                   "X-V2V-Signature": sign(webhook_secret(self.client, str(record["owner"])), body)}
        try:
            url = str(record["url"])
            target, host, extensions = pinned_request(url, check_address(url, self.allowed))
            ok = self.http.post(target, content=body, headers={**headers, **host}, extensions=extensions).is_success
        except (ApiError, httpx.HTTPError) as exc:
            log.info("webhook %s attempt %d failed: %s", delivery_id, attempt, exc)
            ok = False
        if ok or attempt >= self.max_attempts:
            if not ok:
                log.warning("webhook %s dropped after %d attempts", delivery_id, attempt)
            self.client.delete(delivery_key(delivery_id))
            return
        record["attempt"] = attempt
        self.client.set(delivery_key(delivery_id), json.dumps(record), keepttl=True)
        self.client.zadd(DUE, {delivery_id: time.time() + self.backoff_s * 2 ** (attempt - 1)})
