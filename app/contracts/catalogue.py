"""The model catalogue (`checkpoints/manifest.json`, `GET /v1/models`): one card per served model.

A card names its family and preset (checked by the worker against the registry at start-up), says what a job of its
kind takes (`inputs`, a union on `kind`), what it gives (`output`: size, the size multiple a run size must respect),
the family options a job may set (`options`, with ranges the API checks), its weights with their sha256, and its
measured quality.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer, model_validator


class LabelType(StrEnum):
    SEGMENTATION = "segmentation"
    POSE = "pose"
    EDGES = "edges"


class LabelSpec(BaseModel):
    """How a translate model reads its label video."""

    model_config = ConfigDict(frozen=True)

    type: LabelType
    num_classes: int = 0
    """Segmentation only: number of class ids (Cityscapes label ids: 35)."""
    class_names: list[str] = Field(default_factory=list)
    palette: list[tuple[int, int, int]] = Field(default_factory=list)
    """Segmentation only: RGB colour of each class id; uploads decode to the nearest colour."""
    channels: int = 0
    """Channels the generator sees per label frame."""


class IntRange(BaseModel):
    model_config = ConfigDict(frozen=True)

    min: int
    max: int
    default: int | None = None
    """What a job that names no value gets (e.g. a generator's trained clip length); None: `max`."""

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        if self.min > self.max:
            raise ValueError(f"range min {self.min} > max {self.max}")
        if self.default is not None and not self.min <= self.default <= self.max:
            raise ValueError(f"range default {self.default} outside {self.min}..{self.max}")
        return self

    @model_serializer(mode="wrap")
    def _without_unset_default(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        """A range without a default is written as {min, max}, as before defaults existed."""
        data = handler(self)
        if data.get("default") is None:
            data.pop("default", None)
        return data

    def value_or_default(self, value: int | None) -> int:
        """`value` when a job gave one, else the range's default (`max` when it names none)."""
        if value is not None:
            return value
        return self.default if self.default is not None else self.max


class ReferenceSpec(IntRange):
    """Translate models with example images: how many a job may give (each with its label image)."""

    min: int = 1
    max: int = 8


class TranslateInputs(BaseModel):
    """A label video (+ references): the upload is required."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["translate"] = "translate"
    labels: LabelSpec
    references: ReferenceSpec | None = None
    """None: the model takes no reference images."""


class PredictInputs(BaseModel):
    """Context frames (a video, a zip of frames or one image) in; sampled futures out."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["predict"] = "predict"
    context_frames: IntRange
    """How many context frames the model conditions on (extra frames are cut from the start)."""
    horizon: IntRange
    """Predicted frames per sample."""
    num_samples: IntRange = IntRange(min=1, max=16)
    attributes: dict[str, list[str]] = Field(default_factory=dict)
    """Attributes a job may ask for, with their values (e.g. {"action": ["walk", "wave"]})."""


class GenerateInputs(BaseModel):
    """No upload: seeds (and optionally a class) in; N videos out."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["generate"] = "generate"
    num_frames: IntRange
    """Frames per video (min == max: the family's fixed clip length); its default: the trained clip length."""
    num_samples: IntRange = IntRange(min=1, max=16)
    classes: list[str] = Field(default_factory=list)
    """Class names a job may request (`options.class`), e.g. actions; empty: unconditional."""
    seeds: list[str] = Field(default_factory=list)
    """Named seeds the model understands besides `seed` (e.g. "content", "motion"); each may also be given as the
    option `<name>_seed` (`content_seed`)."""
    class_option: str | None = None
    """Another name of `options.class` for this model, what its classes are (e.g. "action": `{"action": "wave"}`)."""


CardInputs = Annotated[TranslateInputs | PredictInputs | GenerateInputs, Field(discriminator="kind")]


class OutputSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    height: int
    width: int
    """Size the model runs at unless a job's options say otherwise."""
    size_multiple: int = 1
    """A run height/width must be a multiple of this."""
    fps: float = 15.0
    """Frame rate of videos made without an input video (generate)."""


class OptionSpec(BaseModel):
    """An integer option of the model's family that a job may set."""

    model_config = ConfigDict(frozen=True)

    min: int
    max: int
    default: int
    description: str = ""
    seconds_per_unit: float = 0.0
    """Worst-case seconds each unit of the option adds to a job (its time limit grows by value x this)."""


class WeightsFile(BaseModel):
    model_config = ConfigDict(frozen=True)

    file: str
    """File under `checkpoints/` (fp16 safetensors)."""
    sha256: str


class ModelCard(BaseModel):
    """One served model, as listed in `checkpoints/manifest.json` and by `GET /v1/models`."""

    model_config = ConfigDict(frozen=True)

    name: str
    family: str
    """Registry family (`models.list_families()`); the worker refuses to start on an unknown one."""
    preset: str
    description: str = ""
    inputs: CardInputs
    output: OutputSpec
    options: dict[str, OptionSpec] = Field(default_factory=dict)
    weights: WeightsFile | None = None
    """None: the architecture runs with untrained weights (`trained` is false)."""
    extra_weights: dict[str, WeightsFile] = Field(default_factory=dict)
    """Extra networks the family names (e.g. a "first_frame" single-image generator)."""
    config: dict[str, object] = Field(default_factory=dict)
    """Preset overrides the weights were trained with."""
    quality: dict[str, object] = Field(default_factory=dict)
    """Measured figures (`v2v eval`), with the data they came from."""

    @property
    def kind(self) -> str:
        return self.inputs.kind

    @property
    def trained(self) -> bool:
        return self.weights is not None


class Manifest(BaseModel):
    models: dict[str, ModelCard]


DEFAULT_MANIFEST = Path(__file__).resolve().parent.parent.parent / "checkpoints" / "manifest.json"


def load_manifest(path: Path = DEFAULT_MANIFEST) -> Manifest:
    """Read the model catalogue; keys of `models` are the public model names."""
    return Manifest.model_validate(json.loads(Path(path).read_text()))
