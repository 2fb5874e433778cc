"""A served model in the worker: `setup()` loads its family's pipeline once; `run(spec, hooks)` runs one job.

The family comes from the registry (`models.get_family(card.family)`): an unknown family or preset fails at start-up
with the valid names. Sizes: a job runs at the card's output size unless its options give height/width (the API
checked them against `size_multiple`); the kind's input source decides the size of the written frames.
"""

from __future__ import annotations

from pathlib import Path

import torch

from app.contracts import JobResult, JobSpec, ModelCard
from models import get_family
from models.core.family import Compilable, Pipeline, WeightsRef
from models.core.low_precision import keep_low_precision_weights
from workers.errors import JobError
from workers.hooks import Hooks
from workers.inputs import input_source
from workers.loop import run_job
from workers.precision import Precision, choose_precision


class Runner:
    """Loads one served model once and runs its jobs."""

    def __init__(self, card: ModelCard, device: torch.device, checkpoints_dir: Path,
                 precision: Precision | None = None, compile_networks: bool = False) -> None:
        self.card = card
        self.compile_networks = compile_networks
        self.compiled: list[str] = []
        """The networks `setup` compiled (`--compile`, families whose pipeline is `Compilable`)."""
        self.device = device
        if precision is None:
            precision = choose_precision(device) if device.type == "cuda" else Precision("fp32", "default")
        self.precision = precision
        self.checkpoints_dir = checkpoints_dir
        self.family = get_family(card.family)
        self.pipeline: Pipeline | None = None
        self.low_precision_layers = 0
        """Layers given reduced-precision weight copies by `setup` (`models.core.low_precision`)."""

    def setup(self) -> None:
        """Build the pipeline (verified weights where the card has them) on the device, in eval mode."""
        card, family = self.card, self.family
        if card.kind != family.kind:
            raise ValueError(f"model {card.name}: family {family.name} serves {family.kind} jobs, the card says "
                             f"{card.kind}")
        config = family.config(card.preset, card.config)
        multiple = family.size_multiple(config)
        if card.output.size_multiple % multiple:
            raise ValueError(f"model {card.name}: output.size_multiple {card.output.size_multiple} must be a multiple "
                             f"of {multiple}, the size multiple of preset {card.preset}")
        unknown = sorted(set(card.extra_weights) - set(family.extra_weights))
        if unknown:
            raise ValueError(f"model {card.name}: family {family.name} has no extra networks {unknown} "
                             f"(it has: {list(family.extra_weights)})")
        files = {"generator": card.weights, **card.extra_weights}
        weights = {name: WeightsRef(self.checkpoints_dir / f.file, f.sha256) if f else WeightsRef()
                   for name, f in files.items()}
        self.pipeline = family.load(config, weights, self.device)
        if self.compile_networks and isinstance(self.pipeline, Compilable):
            self.compiled = self.pipeline.compile_networks()  # compiled lazily: the first job of each size pays
        if self.precision.dtype is not None and self.device.type == "cpu":
            # bf16 weight copies: no per-frame weight casts, same frames (on a GPU the casts cost ~1 % of a frame and
            # the copies would add half the weights' memory, so GPUs keep casting)
            self.low_precision_layers = keep_low_precision_weights(self.pipeline, self.precision.dtype)

    def run_size(self, spec: JobSpec) -> tuple[int, int]:
        return spec.options.height or self.card.output.height, spec.options.width or self.card.output.width

    def run(self, spec: JobSpec, hooks: Hooks) -> JobResult:
        assert self.pipeline is not None, "call setup() first"
        unknown = sorted(set(spec.family_options) - set(self.card.options))
        if unknown:
            raise JobError("bad_spec", f"model {self.card.name} has no options {unknown} (options: "
                                       f"{sorted(self.card.options) or 'none'})")
        height, width = self.run_size(spec)
        source = input_source(spec, self.card, height, width, self.device)
        return run_job(self.pipeline, source, spec, hooks, self.device, self.precision)


def make_runner(card: ModelCard, device: torch.device, checkpoints_dir: Path,
                precision: Precision | None = None, compile_networks: bool = False) -> Runner:
    """The runner of a model card (not yet set up); KeyError for an unknown family. `precision`: what the worker
    chose at start-up (`workers.precision.choose_precision`); default: the device's rule without a CPU probe
    (fp32 on CPUs). `compile_networks`: torch.compile what the family's pipeline can compile (`Compilable`)."""
    return Runner(card, device, checkpoints_dir, precision, compile_networks)
