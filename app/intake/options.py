"""The `options` form field of `POST /v1/jobs`: a JSON object, parsed defensively and validated strictly.

Common options (`OutputOptions`: fps, max_frames, seed, height, width) and kind options (`KindOptions`: num_samples,
num_frames, horizon, class, seeds, attributes) are typed (a generate card may also name `class` after what its classes
are, e.g. `action`, and take each named seed as `<name>_seed`); any other key must be one of the card's family options
(`ModelCard.options`, integers within their range). Nothing is coerced: `"3"` is not an integer.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.contracts import GenerateInputs, ModelCard, OutputOptions
from app.errors import ApiError

MAX_OPTIONS_CHARS = 8192
MAX_INT_DIGITS = 12


class KindOptions(BaseModel):
    """Options of some job kinds; the kind's intake refuses those that do not apply to it."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    num_samples: int | None = Field(default=None, ge=1, le=64, description="predict, generate: videos to make.")
    num_frames: int | None = Field(default=None, ge=1, le=10_000, description="generate: frames per video.")
    horizon: int | None = Field(default=None, ge=1, le=10_000, description="predict: frames to predict.")
    class_name: str | None = Field(default=None, alias="class", max_length=64,
                                   description="generate: one of the model's classes (GET /v1/models).")
    seeds: dict[str, int] = Field(default_factory=dict, description="generate: named seeds the model understands.")
    truncation: float | None = Field(default=None, gt=0, le=1, allow_inf_nan=False,
                                     description="generate: ψ in (0, 1], the scale of every latent drawn (1: the "
                                                 "paper's sampling; lower: more typical, steadier clips, less "
                                                 "variety).")
    attributes: dict[str, str] = Field(default_factory=dict, description="predict: attribute values to ask for.")


KIND_OPTIONS = {"num_samples": ("predict", "generate"), "num_frames": ("generate",), "horizon": ("predict",),
                "class_name": ("generate",), "seeds": ("generate",), "truncation": ("generate",),
                "attributes": ("predict",)}
"""KindOptions field -> the job kinds that take it."""


class ParsedOptions(BaseModel):
    output: OutputOptions
    kind: KindOptions
    family: dict[str, int]


def _bad(message: str) -> ApiError:
    return ApiError(400, "bad_options", message)


def _small_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"integer with more than {MAX_INT_DIGITS} digits")
    return int(text)


def _load(raw: str | None) -> dict[str, Any]:
    if raw is None or not raw.strip():
        return {}
    if len(raw) > MAX_OPTIONS_CHARS:
        raise _bad(f"`options` is longer than {MAX_OPTIONS_CHARS} characters")
    try:
        value = json.loads(raw, parse_int=_small_int)
    except (ValueError, RecursionError) as exc:
        raise _bad(f"`options` must be a JSON object: {exc}") from exc
    if not isinstance(value, dict):
        raise _bad("`options` must be a JSON object")
    return value


def _aliases(card: ModelCard) -> dict[str, str | None]:
    """A generate card's other option names: its `class_option` (e.g. "action") → None (it is `class`), and
    `<name>_seed` → name for each of its named seeds (it is `seeds[name]`). Other kinds have none."""
    inputs = card.inputs
    if not isinstance(inputs, GenerateInputs):
        return {}
    aliases: dict[str, str | None] = {f"{name}_seed": name for name in inputs.seeds}
    if inputs.class_option:
        aliases[inputs.class_option] = None
    return aliases


def _with_aliases_resolved(data: dict[str, Any], aliases: dict[str, str | None]) -> dict[str, Any]:
    """`data` with every alias made canonical; the same option given under both names is refused."""
    data = dict(data)
    for alias in [a for a in aliases if a in data]:
        seed = aliases[alias]
        if seed is None:
            if "class" in data:
                raise _bad(f"give the class once: `class` or `{alias}`, not both")
            data["class"] = data.pop(alias)
            continue
        seeds = data.get("seeds", {})
        if not isinstance(seeds, dict):
            raise _bad("`seeds` must be a JSON object of named seeds")
        if seed in seeds:
            raise _bad(f"give the {seed} seed once: `{alias}` or `seeds.{seed}`, not both")
        data["seeds"] = {**seeds, seed: data.pop(alias)}
    return data


def parse_options(raw: str | None, card: ModelCard) -> ParsedOptions:
    """Split and validate the options of a job on `card`; ApiError 400 `bad_options` on anything wrong."""
    aliases = _aliases(card)
    data = _with_aliases_resolved(_load(raw), aliases)
    output_keys = set(OutputOptions.model_fields)
    kind_keys = {f.alias or name for name, f in KindOptions.model_fields.items()}
    family = {k: v for k, v in data.items() if k not in output_keys | kind_keys}
    unknown = sorted(set(family) - set(card.options))
    if unknown:
        valid = sorted(output_keys | _kind_options_taken(card) | set(card.options) | set(aliases))
        raise _bad(f"unknown options {unknown} for model {card.name!r}; valid options: {', '.join(valid)}")
    for name, value in family.items():
        spec = card.options[name]
        if type(value) is not int or not spec.min <= value <= spec.max:
            raise _bad(f"option {name!r} must be an integer in {spec.min}..{spec.max}")
    problems = []
    try:
        output = OutputOptions.model_validate({k: v for k, v in data.items() if k in output_keys})
    except ValidationError as exc:
        problems.append(_described(exc))
    try:
        kind = KindOptions.model_validate({k: v for k, v in data.items() if k in kind_keys})
    except ValidationError as exc:
        problems.append(_described(exc))
    if problems:
        raise _bad(f"invalid options: {'; '.join(problems)}")
    defaults = {name: spec.default for name, spec in card.options.items()}
    return ParsedOptions(output=output, kind=kind, family={**defaults, **family})


_LISTED_BY = {"class_name": "classes", "seeds": "seeds", "attributes": "attributes"}
"""Kind options that apply only when the card's `inputs` lists something under this field."""


def _kind_options_taken(card: ModelCard) -> set[str]:
    """The kind options a job on `card` may set: those of its kind, less those its card lists nothing for (`class`
    on an unconditional generator, `attributes` on a predict model without any...)."""
    fields = KindOptions.model_fields
    return {fields[name].alias or name for name, kinds in KIND_OPTIONS.items()
            if card.kind in kinds and (name not in _LISTED_BY or getattr(card.inputs, _LISTED_BY[name]))}


def _described(exc: ValidationError) -> str:
    """Pydantic's errors as a user reads them: `class: Input should be a valid string (got 3); fps: ...`."""
    parts = []
    for error in exc.errors(include_url=False, include_context=False):
        where = ".".join(str(part) for part in error["loc"]) or "options"
        given = repr(error.get("input"))
        parts.append(f"{where}: {error['msg']} (got {given if len(given) <= 40 else given[:37] + '...'})")
    return "; ".join(parts)

