"""An unknown option's refusal names the options that model takes: its kind's, less what its card leaves empty
(classes, named seeds, attributes), plus its family's and its aliases; never another kind's options."""

from __future__ import annotations

import json

import pytest

from app.contracts import load_manifest
from app.errors import ApiError
from app.intake.options import parse_options

OUTPUT = {"fps", "max_frames", "seed", "height", "width"}
CARDS = load_manifest().models


def _valid_options_named(model: str) -> set[str]:
    with pytest.raises(ApiError) as refused:
        parse_options(json.dumps({"colour": "red"}), CARDS[model])
    assert refused.value.status_code == 400 and refused.value.code == "bad_options"
    message = refused.value.message
    assert "unknown options ['colour']" in message
    return set(message.split("valid options: ")[1].split(", "))


@pytest.mark.parametrize(("model", "expected"), [
    ("street", OUTPUT | {"temporal"}),
    ("people", OUTPUT | {"finetune_steps"}),
    ("digits-future", OUTPUT | {"num_samples", "horizon"}),
    ("people-future-videovae", OUTPUT | {"num_samples", "horizon", "attributes"}),
    ("people-actions", OUTPUT | {"num_samples", "num_frames", "class", "action", "seeds", "content_seed",
                                 "motion_seed", "truncation"}),
])
def test_the_refusal_lists_what_the_model_takes(model: str, expected: set[str]) -> None:
    assert _valid_options_named(model) == expected


def test_an_unconditional_generator_lists_no_class_and_no_predict_options() -> None:
    named = _valid_options_named("people-actions-tgan")
    assert not named & {"class", "attributes", "horizon", "content_seed"}
    assert {"num_samples", "num_frames", "seeds", "truncation"} <= named
