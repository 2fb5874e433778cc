"""Predict jobs: context frames (a video, a zip of PNG frames, or one image) and optionally the true future
(`truth`, scored against each sample); how many samples, how far, and attribute values the model understands."""

from __future__ import annotations

from app.config import Settings
from app.contracts import ModelCard, PredictInputs, PredictJob
from app.errors import ApiError
from app.intake.common import Accepted, IntakeContext, SubmitForm, limits_of
from app.intake.kinds import check_range, refuse_foreign_options
from app.intake.options import ParsedOptions
from app.probe import image_extension, probe_image, probe_labels

_EXTENSIONS = {"mp4": ".mp4", "mov": ".mov", "matroska": ".mkv", "webm": ".webm", "avi": ".avi"}
_IMAGE_SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff")


class PredictIntake:
    samples_at_random = True

    def check(self, form: SubmitForm, card: ModelCard, options: ParsedOptions, settings: Settings) -> None:
        assert isinstance(card.inputs, PredictInputs)
        refuse_foreign_options(card, options)
        if form.video is None:
            raise ApiError(400, "missing_video", f"model {card.name!r} needs context frames (`video`: a video, a zip "
                                                 "of PNG frames or one image)")
        if form.references or form.reference_labels:
            raise ApiError(400, "too_many_references", f"model {card.name!r} takes no reference images")
        spec, kind = card.inputs, options.kind
        check_range("num_samples", kind.num_samples or 1, spec.num_samples, card)
        check_range("horizon", kind.horizon, spec.horizon, card)
        for name, value in kind.attributes.items():
            if value not in spec.attributes.get(name, []):
                raise ApiError(400, "bad_options", f"model {card.name!r} has no attribute {name}={value!r} "
                                                   f"(attributes: {spec.attributes or 'none'})")

    def accept(self, form: SubmitForm, ctx: IntakeContext) -> Accepted:
        assert form.video is not None and isinstance(ctx.card.inputs, PredictInputs)
        spec, kind, settings = ctx.card.inputs, ctx.options.kind, ctx.settings
        raw = ctx.storage.save_upload(form.video.file, ctx.job_id, "context.upload", settings.MAX_UPLOAD_BYTES)
        with open(raw, "rb") as handle:
            head = handle.read(4)
        if head.startswith(_IMAGE_SIGNATURES):
            probe_image(raw, settings.MAX_WIDTH, settings.MAX_HEIGHT, what="context image")
            context, context_kind, fps, frames = raw.with_name("context" + image_extension(raw)), "image", None, 1
        else:
            probe = probe_labels(raw, limits_of(settings))
            context_kind, fps, frames = probe.kind, probe.fps, probe.frames
            context = raw.with_name("context.zip" if probe.kind == "zip" else "context" + _EXTENSIONS[probe.format])
        if frames < spec.context_frames.min:
            raise ApiError(400, "too_few_frames", f"model {ctx.card.name!r} needs at least {spec.context_frames.min} "
                                                  f"context frames, got {frames}")
        raw.rename(context)
        truth_path = truth_kind = None
        if form.truth is not None:
            raw_truth = ctx.storage.save_upload(form.truth.file, ctx.job_id, "truth.upload", settings.MAX_UPLOAD_BYTES)
            truth = probe_labels(raw_truth, limits_of(settings))
            truth_kind = truth.kind
            truth_name = "truth.zip" if truth.kind == "zip" else "truth" + _EXTENSIONS[truth.format]
            truth_path = raw_truth.with_name(truth_name)
            raw_truth.rename(truth_path)
        horizon, samples = check_range("horizon", kind.horizon, spec.horizon, ctx.card), kind.num_samples or 1
        attributes = {name: spec.attributes[name].index(value) for name, value in kind.attributes.items()}
        inputs = PredictJob(context_path=str(context), context_kind=context_kind,  # type: ignore[arg-type]
                            context_frames=min(frames, spec.context_frames.max), horizon=horizon, num_samples=samples,
                            truth_path=str(truth_path) if truth_path else None, truth_kind=truth_kind,
                            attributes=attributes)
        return Accepted(inputs=inputs, frames_total=horizon, samples=samples, fps=fps)
