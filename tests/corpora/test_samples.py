"""Sample inputs of predict models are drawn like the data the model was trained on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import corpora.synthetic.people_actions as people_actions
from app.contracts import DEFAULT_MANIFEST, load_manifest
from cli.export import data_generator
from corpora.samples import _predict


def test_export_records_the_settings_the_data_set_was_made_with(tmp_path: Path) -> None:
    assert data_generator(str(tmp_path / "missing")) == {}
    (tmp_path / "dataset.json").write_text(json.dumps({"generator": {"name": "people_actions", "track_figure": True}}))
    assert data_generator(str(tmp_path)) == {"data_generator": {"name": "people_actions", "track_figure": True}}


@pytest.mark.parametrize("made_with", [None, {"name": "people_actions", "static_camera": False,
                                              "track_figure": True, "plain_backdrop": True, "height": 64}])
def test_an_actions_model_sample_uses_its_training_data_options(made_with: dict[str, Any] | None, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    card = load_manifest(DEFAULT_MANIFEST).models["people-future-videovae"]
    quality = {k: v for k, v in card.quality.items() if k != "data_generator"} | {"data": "data/actions32"}
    if made_with is not None:
        quality["data_generator"] = made_with
    card = card.model_copy(update={"quality": quality})
    drawn: list[people_actions.ActionsSpec] = []
    real = people_actions.people_action_clip
    monkeypatch.setattr(people_actions, "people_action_clip",
                        lambda seed, action, look, spec: drawn.append(spec) or real(seed, action, look, spec))
    sample = _predict(tmp_path, "m", card)
    (spec,) = drawn
    assert (spec.height, spec.width) == (card.output.height, card.output.width)  # the card's size, not the data's
    expected = made_with or {"static_camera": True, "track_figure": False, "plain_backdrop": False}
    assert (spec.static_camera, spec.track_figure, spec.plain_backdrop) == (
        expected["static_camera"], expected["track_figure"], expected["plain_backdrop"])
    assert (tmp_path / str(sample["video"])).stat().st_size > 0 and (tmp_path / str(sample["truth"])).is_file()
