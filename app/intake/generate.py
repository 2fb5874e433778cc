"""Generate jobs: no upload; how many videos, how many frames, an optional class, named seeds and truncation."""

from __future__ import annotations

from app.config import Settings
from app.contracts import GenerateInputs, GenerateJob, ModelCard
from app.errors import ApiError
from app.intake.common import Accepted, IntakeContext, SubmitForm
from app.intake.kinds import check_range, refuse_foreign_options
from app.intake.options import ParsedOptions


class GenerateIntake:
    samples_at_random = True

    def check(self, form: SubmitForm, card: ModelCard, options: ParsedOptions, settings: Settings) -> None:
        assert isinstance(card.inputs, GenerateInputs)
        refuse_foreign_options(card, options)
        if form.uploads():
            raise ApiError(400, "unexpected_upload", f"model {card.name!r} generates from seeds: send no files")
        spec, kind = card.inputs, options.kind
        check_range("num_samples", kind.num_samples or 1, spec.num_samples, card)
        check_range("num_frames", kind.num_frames, spec.num_frames, card)
        if kind.class_name is not None and kind.class_name not in spec.classes:
            valid = ", ".join(spec.classes) or "none (unconditional model)"
            raise ApiError(400, "bad_options", f"unknown class {kind.class_name!r}; classes of {card.name!r}: {valid}")
        unknown = sorted(set(kind.seeds) - set(spec.seeds))
        if unknown:
            raise ApiError(400, "bad_options", f"model {card.name!r} has no seeds {unknown} (seeds: "
                                               f"{', '.join(spec.seeds) or 'only `seed`'})")
        if any(not 0 <= v < 2**31 for v in kind.seeds.values()):
            raise ApiError(400, "bad_options", "seeds must be in 0..2^31-1")

    def accept(self, form: SubmitForm, ctx: IntakeContext) -> Accepted:
        assert isinstance(ctx.card.inputs, GenerateInputs)
        spec, kind = ctx.card.inputs, ctx.options.kind
        frames = check_range("num_frames", kind.num_frames, spec.num_frames, ctx.card)
        samples = kind.num_samples or 1
        class_id = spec.classes.index(kind.class_name) if kind.class_name is not None else None
        inputs = GenerateJob(num_samples=samples, num_frames=frames, class_id=class_id, seeds=dict(kind.seeds),
                             truncation=kind.truncation if kind.truncation is not None else 1.0)
        return Accepted(inputs=inputs, frames_total=frames, samples=samples, fps=None)
