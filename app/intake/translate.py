"""Translate jobs: a label video (or zip of PNG frames) that must look like the model's labels, and for models with
references 1..K example images, each with its label image. Pose models also take a zip of OpenPose keypoint files
(`app.contracts.openpose`), rendered by the worker on the zip's canvas (default: the run size)."""

from __future__ import annotations

from app.config import Settings
from app.contracts import ModelCard, TranslateInputs, TranslateJob
from app.errors import ApiError
from app.intake.common import Accepted, IntakeContext, SubmitForm, limits_of, save_image
from app.intake.kinds import refuse_foreign_options
from app.intake.options import ParsedOptions
from app.probe import check_labels_match, probe_labels

_EXTENSIONS = {"mp4": ".mp4", "mov": ".mov", "matroska": ".mkv", "webm": ".webm", "avi": ".avi"}


class TranslateIntake:
    samples_at_random = False

    def check(self, form: SubmitForm, card: ModelCard, options: ParsedOptions, settings: Settings) -> None:
        assert isinstance(card.inputs, TranslateInputs)
        refuse_foreign_options(card, options)
        if form.video is None:
            raise ApiError(400, "missing_video", f"model {card.name!r} needs a label video (`video`)")
        if form.truth is not None:
            raise ApiError(400, "unexpected_upload", f"model {card.name!r} takes no `truth` upload")
        refs, labels = len(form.references), len(form.reference_labels)
        spec = card.inputs.references
        if spec is None:
            if refs or labels:
                raise ApiError(400, "too_many_references", f"model {card.name!r} takes no reference images")
            return
        most = min(spec.max, settings.MAX_REFERENCES)
        if refs < spec.min:
            raise ApiError(400, "missing_references", f"model {card.name!r} needs {spec.min}..{most} reference images")
        if refs > most:
            raise ApiError(400, "too_many_references", f"model {card.name!r} takes at most {most} reference images")
        if labels != refs:
            code = "missing_reference_labels" if labels == 0 else "reference_labels_mismatch"
            raise ApiError(400, code, f"got {refs} references but {labels} reference_labels: give the label image "
                                      "of each reference (same count, same order)")

    def accept(self, form: SubmitForm, ctx: IntakeContext) -> Accepted:
        assert form.video is not None and isinstance(ctx.card.inputs, TranslateInputs)
        settings = ctx.settings
        raw = ctx.storage.save_upload(form.video.file, ctx.job_id, "labels.upload", settings.MAX_UPLOAD_BYTES)
        card, output = ctx.card, ctx.options.output
        run_size = (output.width or card.output.width, output.height or card.output.height)
        keypoint_canvas = run_size if ctx.card.inputs.labels.type == "pose" else None
        probe = probe_labels(raw, limits_of(settings), keypoint_canvas)
        if probe.first_frame is not None:
            check_labels_match(probe.first_frame, ctx.card.inputs.labels, ctx.card.name,
                               settings.SEGMENTATION_MAX_PALETTE_DISTANCE)
        labels_path = raw.with_name("labels.zip" if probe.format == "zip" else "labels" + _EXTENSIONS[probe.format])
        raw.rename(labels_path)
        refs = [save_image(ctx, u, f"reference_{i:02d}") for i, u in enumerate(form.references)]
        ref_labels = [save_image(ctx, u, f"reference_label_{i:02d}") for i, u in enumerate(form.reference_labels)]
        canvas = (probe.width, probe.height) if probe.kind == "keypoints" else None
        inputs = TranslateJob(labels_path=str(labels_path), labels_kind=probe.kind, labels_canvas=canvas,
                              reference_paths=[str(p) for p in refs],
                              reference_label_paths=[str(p) for p in ref_labels])
        return Accepted(inputs=inputs, frames_total=probe.frames, samples=1, fps=probe.fps)
