"""Webhooks on a local receiver (allowed by setting): events filtered, signed with the key's secret, retried after a
failure, the worker untouched; private addresses refused by default; idempotent create with `Idempotency-Key`."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.webhooks import WebhookDispatcher, pinned_request
from tests.app.routes.test_events import _work


class Receiver:
    """A local webhook receiver that answers 500 to its first `fail_first` requests, then 204."""

    def __init__(self, fail_first: int = 1) -> None:
        self.requests: list[tuple[dict[str, str], bytes, int]] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = 500 if len(receiver.requests) < receiver.fail_first else 204
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body, code))
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self) -> list[dict]:
        return [json.loads(body) for _, body, code in self.requests if code == 204]


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()


@pytest.fixture()
def hook_client(settings) -> Iterator[TestClient]:
    update = {"WEBHOOK_ALLOWED_NETWORKS": ["127.0.0.1/32"], "WEBHOOK_INTERVAL_S": 0.05, "WEBHOOK_BACKOFF_S": 0.1}
    with TestClient(create_app(settings.model_copy(update=update))) as test_client:
        yield test_client


def _post(client: TestClient, auth, seg_mp4, **data: str):
    return client.post("/v1/jobs", data={"model": "street", "options": '{"max_frames": 3}', **data}, headers=auth,
                       files={"video": ("v.mp4", seg_mp4.read_bytes(), "video/mp4")})


def test_webhook_is_signed_filtered_and_retried(hook_client: TestClient, auth, seg_mp4, redis_url, receiver):
    response = _post(hook_client, auth, seg_mp4, webhook=receiver.url, webhook_events="running,completed")
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    _work(redis_url, job_id, 3).join()
    deadline = time.monotonic() + 20
    while not any(d["event"] == "succeeded" for d in receiver.delivered()) and time.monotonic() < deadline:
        time.sleep(0.05)
    delivered = receiver.delivered()
    assert [d["event"] for d in delivered] == ["running", "succeeded"]  # no progress: not in the filter
    assert delivered[-1]["job"]["id"] == job_id and delivered[-1]["job"]["status"] == "succeeded"

    first_headers, _, first_code = receiver.requests[0]
    retried = [h for h, _, _ in receiver.requests if h["x-v2v-delivery"] == first_headers["x-v2v-delivery"]]
    assert first_code == 500 and len(retried) == 2 and retried[1]["x-v2v-attempt"] == "2"

    secret = hook_client.get("/v1/webhooks/secret", headers=auth).json()["secret"]
    for headers, body, _ in receiver.requests:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-v2v-signature"], expected)
        assert headers["x-v2v-event"] == json.loads(body)["event"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://10.1.2.3/x", "http://[::1]/x",
                                 "http://169.254.169.254/latest", "ftp://example.com/x", "not a url"])
def test_private_or_odd_webhook_addresses_are_refused_by_default(client: TestClient, auth, seg_mp4, url):
    response = _post(client, auth, seg_mp4, webhook=url)
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_webhook", response.text
    assert client.get("/v1/jobs", headers=auth).json()["jobs"] == []


def test_unknown_webhook_event_is_refused(hook_client: TestClient, auth, seg_mp4, receiver):
    response = _post(hook_client, auth, seg_mp4, webhook=receiver.url, webhook_events="started")
    assert response.status_code == 400 and "unknown webhook event 'started'" in response.json()["error"]["message"]


def test_idempotency_key_makes_one_job(client: TestClient, auth, seg_mp4):
    refused = client.post("/v1/jobs", data={"model": "nope"}, headers={**auth, "Idempotency-Key": "k1"},
                          files={"video": ("v.mp4", seg_mp4.read_bytes(), "video/mp4")})
    assert refused.status_code == 400  # a refused request does not use up the key
    first = client.post(
        "/v1/jobs", data={"model": "street"}, headers={**auth, "Idempotency-Key": "k1"},
        files={"video": ("v.mp4", seg_mp4.read_bytes(), "video/mp4")})
    again = client.post("/v1/jobs", data={"model": "street"}, headers={**auth, "Idempotency-Key": "k1"},
                        files={"video": ("v.mp4", seg_mp4.read_bytes(), "video/mp4")})
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    other = client.post("/v1/jobs", data={"model": "street"}, headers={**auth, "Idempotency-Key": "k2"},
                        files={"video": ("v.mp4", seg_mp4.read_bytes(), "video/mp4")})
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]
    assert len(client.get("/v1/jobs", headers=auth).json()["jobs"]) == 2


def test_v2v_submit_passes_webhook_and_idempotency_key(hook_client: TestClient, auth, seg_mp4, receiver):
    from cli import client as cli_client

    hook_client.headers.update(auth)
    first = cli_client.submit(hook_client, "street", seg_mp4, webhook=receiver.url, webhook_events="completed",
                              idempotency_key="cli-1")
    again = cli_client.submit(hook_client, "street", seg_mp4, idempotency_key="cli-1")
    assert again["id"] == first["id"]
    with pytest.raises(cli_client.ClientError) as refused:
        cli_client.submit(hook_client, "street", seg_mp4, webhook="http://10.0.0.1/x")
    assert refused.value.code == "bad_webhook"


def test_a_delivery_connects_to_the_address_it_checked(redis_client, receiver: Receiver, monkeypatch):
    """DNS rebinding: the name answers an allowed address to the check and another one afterwards; the delivery
    still reaches the checked address (pinned), naming the original host in `Host`."""
    port = receiver.server.server_address[1]
    real = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):
        if host != "rebind.test":
            return real(host, *args, **kwargs)
        checked = sys._getframe(1).f_code.co_name == "check_address"
        return real("127.0.0.1" if checked else "127.0.0.2", *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    dispatcher = WebhookDispatcher(redis_client, lambda job_id, owner: None, ["127.0.0.1/32"], 0.05, 0.1, 1, 5.0)
    record = {"url": f"http://rebind.test:{port}/hook", "body": '{"event": "succeeded"}', "attempt": 0,
              "event": "succeeded", "owner": "owner"}
    receiver.fail_first = 0
    dispatcher._attempt("delivery-1", record)
    assert [code for _, _, code in receiver.requests] == [204]
    assert receiver.requests[0][0]["host"] == f"rebind.test:{port}"


def test_pinned_request_keeps_the_name_for_host_and_tls():
    assert pinned_request("https://hooks.example.com/x?a=1", "93.184.216.34") == (
        "https://93.184.216.34/x?a=1", {"Host": "hooks.example.com"}, {"sni_hostname": "hooks.example.com"})
    assert pinned_request("http://hooks.example.com:8080/x", "2606:2800::1") == (
        "http://[2606:2800::1]:8080/x", {"Host": "hooks.example.com:8080"}, {})
