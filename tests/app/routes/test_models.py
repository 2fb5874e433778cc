"""GET /v1/models: the catalogue without internals, and a plain note on untrained weights."""

from __future__ import annotations


def test_models_list_input_specs_and_hides_internals(client):
    response = client.get("/v1/models")  # public: no key needed
    assert response.status_code == 200
    cards = {m["name"]: m for m in response.json()["models"]}
    assert set(cards) == {"street", "edges", "people"}
    street = cards["street"]
    assert street["label_type"] == "segmentation" and street["height"] == 64
    assert street["classes"][1] == {"id": 1, "name": "road", "color": [128, 64, 128]}
    assert cards["people"]["references"] == {"min": 1, "max": 3}
    assert cards["street"]["references"] is None
    for card in cards.values():
        assert not {"sha256", "weights", "preset", "config"} & set(card)


def test_untrained_models_say_so(client):
    cards = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert cards["street"]["trained"] is False and "untrained weights" in cards["street"]["note"]
    assert cards["edges"]["trained"] is True and cards["edges"]["note"] is None
