"""What each job kind feeds the per-job loop: the pipeline's start inputs, one condition per step, the output size.

- translate: the label video (decoded frame by frame, encoded by the card's `LabelEncoder`) and the reference images;
  every output frame is resized back to the upload's own size, and the stream ends with the labels (or max_frames).
- predict: the last `context_frames` frames of the context upload (video, zip or one image) at the run size;
  `horizon` steps with no condition; output at the run size.
- generate: nothing uploaded; `num_frames` steps with no condition; output at the run size.

Decoding problems become clear, non-retryable job errors (`decode_failed`, `bad_references`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import torch

from app.contracts import (
    GenerateInputs,
    GenerateJob,
    JobSpec,
    ModelCard,
    PredictJob,
    TranslateInputs,
    TranslateJob,
)
from models.core.family import GenerateStart, PredictStart, StartInputs, TranslateStart
from models.core.label_codec import DENSEPOSE_OPENPOSE
from models.core.labels import rgb_to_tensor
from workers.errors import JobError
from workers.labels_input import LabelEncoder
from workers.video_io import DecodeError, read_image_rgb, read_label_frames, read_png_rgb


def resize_rgb(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (height, width, 3): area when shrinking, bilinear when growing."""
    if frame.shape[:2] == (height, width):
        return frame
    shrink = frame.shape[0] > height or frame.shape[1] > width
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


class InputSource(Protocol):
    start: StartInputs
    samples: int
    """Videos the job makes (B of every step's frames)."""
    seeds: dict[str, int]
    """Named seeds the job asked for (reported with the result)."""
    limit: int | None
    """The most frames per sample this job writes (None: until the conditions end)."""

    def conditions(self, first: int) -> Iterator[torch.Tensor | None]:
        """The condition of every step from frame `first` on (earlier frames are skipped)."""
        ...

    def output_size(self) -> tuple[int, int]:
        """(height, width) of the written frames (known once the first condition was read)."""
        ...

    def video_frames(self, sample: int, frame_paths: list[Path]) -> Iterator[np.ndarray]:
        """What sample `sample`'s video shows, given its written frames (e.g. predict: the context first)."""
        ...

    def report(self, frame_paths: list[list[Path]]) -> dict[str, Any]:
        """What the kind adds to the job's result (e.g. predict: scores against the true future), JSON-able."""
        ...

    def worded(self, description: dict[str, Any]) -> dict[str, Any]:
        """The family's description of the finished stream (`Describable`) in the card's words (e.g. generate: each
        sample's class by name, as a job asks for it)."""
        ...


class _Unworded:
    """The family's description as it is."""

    def worded(self, description: dict[str, Any]) -> dict[str, Any]:
        return description


class _PlainOutput(_Unworded):
    """Videos of the written frames as they are; nothing to report."""

    def video_frames(self, sample: int, frame_paths: list[Path]) -> Iterator[np.ndarray]:
        return (read_png_rgb(p) for p in frame_paths)

    def report(self, frame_paths: list[list[Path]]) -> dict[str, Any]:
        return {}


class TranslateSource(_PlainOutput):
    def __init__(self, spec: JobSpec, inputs: TranslateJob, card_inputs: TranslateInputs, height: int, width: int,
                 device: torch.device) -> None:
        self.spec, self.inputs, self.device = spec, inputs, device
        self.encoder = LabelEncoder(card_inputs.labels, height, width)
        self.limit = spec.options.max_frames
        self.samples, self.seeds = 1, {}
        self._size: tuple[int, int] | None = None
        references = reference_labels = None
        if inputs.reference_paths:
            references, reference_labels = self._references(height, width)
        self.start = TranslateStart(height, width, references, reference_labels)

    def conditions(self, first: int) -> Iterator[torch.Tensor | None]:
        inputs = self.inputs
        try:
            for index, frame in enumerate(read_label_frames(inputs.labels_path, inputs.labels_kind,
                                                            inputs.labels_canvas)):
                self._size = self._size or (frame.shape[0], frame.shape[1])
                if index >= first:
                    yield self.encoder(frame).to(self.device)  # (1, C, H, W)
        except DecodeError as exc:
            raise JobError("decode_failed", str(exc)) from exc

    def output_size(self) -> tuple[int, int]:
        if self._size is None:
            raise JobError("decode_failed", "the label input has no frames")
        codec = self.encoder.codec
        if codec.label_type == "pose" and codec.channels == DENSEPOSE_OPENPOSE:  # two pictures side by side
            return self._size[0], self._size[1] // 2
        return self._size

    def _references(self, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        refs, labels = self.inputs.reference_paths, self.inputs.reference_label_paths
        if len(labels) != len(refs):
            raise JobError("bad_references", "give one reference label image per reference image")
        try:
            images = [rgb_to_tensor(resize_rgb(read_image_rgb(p), height, width)) for p in refs]  # K x (3, H, W)
            maps = [self.encoder(read_image_rgb(p))[0] for p in labels]  # K x (C, H, W)
        except DecodeError as exc:
            raise JobError("bad_references", str(exc)) from exc
        references = torch.stack(images).unsqueeze(0).to(self.device)  # (1, K, 3, H, W)
        return references, torch.stack(maps).unsqueeze(0).to(self.device)  # (1, K, C, H, W)


class PredictSource(_Unworded):
    """Videos show the context (framed green) then the prediction (framed red); with the true future, the report
    scores every sample frame by frame (PSNR, SSIM) and names the best."""

    def __init__(self, spec: JobSpec, inputs: PredictJob, height: int, width: int, device: torch.device) -> None:
        self.inputs = inputs
        self.limit = min(inputs.horizon, spec.options.max_frames or inputs.horizon)
        self.samples, self.seeds = inputs.num_samples, {}
        self._size = (height, width)
        self.context_frames = _context_frames(inputs, height, width)[-inputs.context_frames:]
        context = torch.stack([rgb_to_tensor(f) for f in self.context_frames]).unsqueeze(0)  # (1, T, 3, H, W)
        self.start = PredictStart(context.to(device), inputs.num_samples, inputs.horizon, dict(inputs.attributes))

    def video_frames(self, sample: int, frame_paths: list[Path]) -> Iterator[np.ndarray]:
        for frame in self.context_frames:
            yield framed(frame, CONTEXT_COLOUR)
        for path in frame_paths:
            yield framed(read_png_rgb(path), PREDICTED_COLOUR)

    def report(self, frame_paths: list[list[Path]]) -> dict[str, Any]:
        if self.inputs.truth_path is None or self.inputs.truth_kind is None:
            return {}
        from workers.scores import score_samples

        height, width = self._size
        try:
            truth = [resize_rgb(f if f.ndim == 3 else np.repeat(f[:, :, None], 3, axis=2), height, width)
                     for f in read_label_frames(self.inputs.truth_path, self.inputs.truth_kind)]
        except DecodeError as exc:
            raise JobError("decode_failed", f"the true future: {exc}") from exc
        return score_samples(frame_paths, truth)

    def conditions(self, first: int) -> Iterator[torch.Tensor | None]:
        while True:
            yield None

    def output_size(self) -> tuple[int, int]:
        return self._size


class GenerateSource(_PlainOutput):
    """No input; the result names each sample's class as a job requests it (`class` and the card's `class_option`,
    e.g. "action"), next to the family's class id and seeds, and the job's truncation, so any sample can be asked for
    again or varied."""

    def __init__(self, spec: JobSpec, inputs: GenerateJob, card_inputs: GenerateInputs, height: int,
                 width: int) -> None:
        self.card_inputs = card_inputs
        self.limit = min(inputs.num_frames, spec.options.max_frames or inputs.num_frames)
        self.samples, self.seeds = inputs.num_samples, dict(inputs.seeds)
        self.truncation = inputs.truncation
        self._size = (height, width)
        self.start = GenerateStart(inputs.num_samples, inputs.num_frames, height, width, inputs.class_id,
                                   dict(inputs.seeds), inputs.truncation)

    def conditions(self, first: int) -> Iterator[torch.Tensor | None]:
        while True:
            yield None

    def output_size(self) -> tuple[int, int]:
        return self._size

    def worded(self, description: dict[str, Any]) -> dict[str, Any]:
        description = {**description, "truncation": self.truncation}  # a re-run needs it beside the seeds
        classes, option = self.card_inputs.classes, self.card_inputs.class_option
        samples = description.get("samples")
        if not classes or not isinstance(samples, list):
            return description
        named = []
        for sample in samples:
            class_id = sample.get("class_id", -1)
            if not 0 <= class_id < len(classes):
                named.append(sample)
                continue
            names = {"class": classes[class_id], **({option: classes[class_id]} if option else {})}
            named.append({**sample, **names})
        return {**description, "samples": named}


CONTEXT_COLOUR = (0, 200, 0)
PREDICTED_COLOUR = (220, 0, 0)


def framed(frame: np.ndarray, colour: tuple[int, int, int], width: int = 2) -> np.ndarray:
    """A copy of `frame` with a `width`-pixel border in `colour` (marks context vs prediction in videos)."""
    out = frame.copy()
    out[:width], out[-width:], out[:, :width], out[:, -width:] = colour, colour, colour, colour
    return out


def _context_frames(inputs: PredictJob, height: int, width: int) -> list[np.ndarray]:
    try:
        if inputs.context_kind == "image":
            raw = [read_image_rgb(inputs.context_path)]
        else:
            raw = list(read_label_frames(inputs.context_path, inputs.context_kind))
    except DecodeError as exc:
        raise JobError("decode_failed", str(exc)) from exc
    if not raw:
        raise JobError("decode_failed", "the context input has no frames")
    rgb = [f if f.ndim == 3 else np.repeat(f[:, :, None], 3, axis=2) for f in raw]
    return [resize_rgb(f, height, width) for f in rgb]


def input_source(spec: JobSpec, card: ModelCard, height: int, width: int, device: torch.device) -> InputSource:
    """The kind's input source for a job (the job's kind must be the card's)."""
    inputs = spec.inputs
    if inputs.kind != card.kind:
        raise JobError("bad_spec", f"model {card.name} serves {card.kind} jobs, not {inputs.kind}")
    if isinstance(inputs, TranslateJob):
        assert isinstance(card.inputs, TranslateInputs)
        return TranslateSource(spec, inputs, card.inputs, height, width, device)
    if isinstance(inputs, PredictJob):
        return PredictSource(spec, inputs, height, width, device)
    assert isinstance(card.inputs, GenerateInputs)
    return GenerateSource(spec, inputs, card.inputs, height, width)

