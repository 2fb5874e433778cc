"""Refusals shared by the kind intakes: options and uploads that a kind does not take."""

from __future__ import annotations

from app.contracts import ModelCard
from app.errors import ApiError
from app.intake.options import ParsedOptions

KIND_OPTIONS = {"num_samples": ("predict", "generate"), "num_frames": ("generate",), "horizon": ("predict",),
                "class_name": ("generate",), "seeds": ("generate",), "attributes": ("predict",)}


def refuse_foreign_options(card: ModelCard, options: ParsedOptions) -> None:
    """400 `bad_options` for a kind option set on a model of another kind."""
    for name in sorted(options.kind.model_fields_set):
        kinds = KIND_OPTIONS[name]
        if card.kind not in kinds:
            shown = "class" if name == "class_name" else name
            raise ApiError(400, "bad_options", f"option {shown!r} applies to {' and '.join(kinds)} models; model "
                                               f"{card.name!r} is a {card.kind} model")


def check_range(name: str, value: int, low: int, high: int, card: ModelCard) -> int:
    if not low <= value <= high:
        raise ApiError(400, "bad_options", f"model {card.name!r} takes {name} in {low}..{high}, got {value}")
    return value
