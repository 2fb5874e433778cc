"""GET /v1/models: the catalogue by kind without internals, and a plain note on untrained weights."""

from __future__ import annotations


def test_models_list_kinds_inputs_sizes_and_options_and_hide_internals(client):
    response = client.get("/v1/models")  # public: no key needed
    assert response.status_code == 200
    cards = {m["name"]: m for m in response.json()["models"]}
    assert set(cards) == {"street", "edges", "people", "noise", "future"}
    street = cards["street"]
    assert street["kind"] == "translate" and street["inputs"]["labels"]["type"] == "segmentation"
    assert street["output"] == {"height": 64, "width": 64, "size_multiple": 16, "fps": 15.0}
    assert street["inputs"]["labels"]["palette"][1] == [128, 64, 128]
    assert cards["people"]["inputs"]["references"] == {"min": 1, "max": 3}
    assert cards["people"]["options"]["finetune_steps"] == {"min": 0, "max": 200, "default": 0, "description": ""}
    assert street["inputs"]["references"] is None and street["options"] == {}
    assert cards["noise"]["kind"] == "generate" and cards["noise"]["inputs"]["classes"] == ["up", "down"]
    assert cards["future"]["kind"] == "predict" and cards["future"]["inputs"]["horizon"] == {"min": 1, "max": 10}
    for card in cards.values():
        assert not {"sha256", "weights", "extra_weights", "preset", "config"} & set(card)


def test_untrained_models_say_so(client):
    cards = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert cards["street"]["trained"] is False and "untrained weights" in cards["street"]["note"]
    assert cards["edges"]["trained"] is True and cards["edges"]["note"] is None


def test_models_reports_what_live_workers_serve_in(client, redis_client) -> None:
    from app.liveness import WORKERS_ALIVE_KEY, publish_worker_info, redis_now

    now = redis_now(redis_client)
    redis_client.zadd(WORKERS_ALIVE_KEY, {"w1": now, "w2": now, "w3": now, "dead": now - 60})
    publish_worker_info(redis_client, "w1", {"device": "cpu", "precision": "fp32"})
    publish_worker_info(redis_client, "w2", {"device": "cpu", "precision": "fp32"})
    publish_worker_info(redis_client, "w3", {"device": "cuda:0", "precision": "bf16"})
    publish_worker_info(redis_client, "dead", {"device": "cuda:0", "precision": "fp16"})
    serving = client.get("/v1/models").json()["serving"]
    assert serving == [{"device": "cpu", "precision": "fp32", "workers": 2},
                       {"device": "cuda:0", "precision": "bf16", "workers": 1}]
