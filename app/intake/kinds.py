"""Refusals shared by the kind intakes: options and uploads that a kind does not take."""

from __future__ import annotations

from app.contracts import IntRange, ModelCard
from app.errors import ApiError
from app.intake.options import KIND_OPTIONS, ParsedOptions


def refuse_foreign_options(card: ModelCard, options: ParsedOptions) -> None:
    """400 `bad_options` for a kind option set on a model of another kind."""
    for name in sorted(options.kind.model_fields_set):
        kinds = KIND_OPTIONS[name]
        if card.kind not in kinds:
            shown = "class" if name == "class_name" else name
            raise ApiError(400, "bad_options", f"option {shown!r} applies to {' and '.join(kinds)} models; model "
                                               f"{card.name!r} is a {card.kind} model")


def check_range(name: str, given: int | None, allowed: IntRange, card: ModelCard) -> int:
    """The job's value of option `name` (the range's default when it gave none); 400 `bad_options` outside it."""
    value = allowed.value_or_default(given)
    if not allowed.min <= value <= allowed.max:
        raise ApiError(400, "bad_options", f"model {card.name!r} takes {name} in {allowed.min}..{allowed.max}, "
                                           f"got {value}")
    return value
