"""Few-shot vid2vid serving: the streaming pipeline, the per-reference-set cache, and per-job fine-tuning.

`start` encodes the job's references once; the started state (for K = 1 every generated weight) is cached per
reference set (keyed by the references' bytes), so jobs with the same references skip the encoding. `adapt` returns a
per-job copy fine-tuned on the references (`finetune_steps`, reference §3.9); the fine-tuned parameters are saved
through the job's scratch store, so a resumed job serves with the very same weights (no re-run, which could differ on
CUDA). The shared generator and its cache are never touched by a job's adaptation.

Served generators have their spectral norms baked in (`models.core.baking`): the weights W / σ are computed once at
load instead of at every use (123 times per frame), the same frames bit for bit, ~15 % less time per step on CPU. A
job's fine-tuning starts from a fresh, parametrized load of the weights, so it trains under spectral norm as in the
paper; the tuned copy is baked in turn.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping

import torch

from models.core.baking import bake_parametrizations
from models.core.checkpoints import build_with_weights
from models.core.family import AdaptHooks, InputError, StepOutput, TranslateStart, WeightsRef
from models.families.fs_vid2vid.finetune import finetune_on_references
from models.families.fs_vid2vid.generator import FewShotConfig, FewShotGenerator, FewShotState

REFERENCE_CACHE_SIZE = 8
FINETUNE_LR = 1e-4
"""Adam learning rate of fine-tuning on a job's references."""


def reference_key(references: torch.Tensor, reference_labels: torch.Tensor) -> str:
    """sha256 of the reference tensors (shape and bytes): equal inputs give equal keys."""
    digest = hashlib.sha256()
    for tensor in (references, reference_labels):
        cpu = tensor.detach().to("cpu", torch.float32).contiguous()
        digest.update(str(tuple(cpu.shape)).encode())
        digest.update(cpu.numpy().tobytes())
    return digest.hexdigest()


class FewShotPipeline:
    """A loaded few-shot generator (spectral norms baked) with a small cache of started states per reference set.
    `load` builds a fresh parametrized generator with the model's weights (fine-tuning starts from one)."""

    def __init__(self, load: Callable[[], FewShotGenerator], cache_size: int = REFERENCE_CACHE_SIZE,
                 generator: FewShotGenerator | None = None) -> None:
        self._load = load
        self.generator = bake_parametrizations(generator if generator is not None else load())
        self.cache_size = cache_size
        self._cache: OrderedDict[str, dict[str, torch.Tensor]] = OrderedDict()

    def start(self, inputs: TranslateStart, rng: torch.Generator) -> FewShotState:
        references, reference_labels = _references_of(inputs)
        key = reference_key(references, reference_labels) if self.cache_size else ""
        cached = self._cache.get(key) if key else None
        if cached is not None:
            self._cache.move_to_end(key)
            return FewShotState.from_tensors({k: v.clone() for k, v in cached.items()})
        state = self.generator.start(references=references, reference_labels=reference_labels)
        if key:
            self._cache[key] = {k: v.clone() for k, v in state.to_tensors().items()}
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return state

    def step(self, state: FewShotState, condition: torch.Tensor | None, rng: torch.Generator
             ) -> tuple[StepOutput, FewShotState]:
        assert condition is not None, "translate steps need the frame's labels"
        out, state = self.generator.step(condition, state, with_raw=False)  # serving needs no raw output
        return StepOutput(out.frame[:, None]), state  # (1, 1, 3, H, W)

    def compile_networks(self) -> list[str]:
        return self.generator.compile_networks()

    def state_to_tensors(self, state: FewShotState) -> dict[str, torch.Tensor]:
        return state.to_tensors()

    def state_from_tensors(self, tensors: dict[str, torch.Tensor]) -> FewShotState:
        return FewShotState.from_tensors(tensors)

    def adapt(self, inputs: TranslateStart, options: Mapping[str, int], seed: int, hooks: AdaptHooks
              ) -> FewShotPipeline:
        """This pipeline, or (finetune_steps > 0) an uncached copy fine-tuned on the job's references: restored
        from the job's scratch store when an earlier attempt saved it, else tuned now and saved."""
        steps = int(options.get("finetune_steps", 0))
        if not steps:
            return self
        references, reference_labels = _references_of(inputs)
        settings = {"steps": str(steps), "seed": str(seed), "lr": repr(FINETUNE_LR),
                    "references": reference_key(references, reference_labels)}
        generator = self._load()  # a fresh parametrized copy: the shared loaded model is never mutated
        tunable = {id(p) for p in generator.finetune_parameters()}
        named = {name: p for name, p in generator.named_parameters() if id(p) in tunable}
        saved = hooks.load_tensors("finetuned", settings)
        if saved is not None and set(saved) == set(named):
            with torch.no_grad():
                for name, p in named.items():
                    p.copy_(saved[name])
        else:
            finetune_on_references(generator, references, reference_labels, steps, lr=FINETUNE_LR, seed=seed,
                                   on_step=hooks.on_step)
            hooks.save_tensors("finetuned", named, settings)
        return FewShotPipeline(self._load, cache_size=0, generator=generator)


def _references_of(inputs: TranslateStart) -> tuple[torch.Tensor, torch.Tensor]:
    if inputs.references is None or inputs.reference_labels is None:
        raise InputError("few-shot models need reference images and their label images")
    return inputs.references, inputs.reference_labels


def load_pipeline(config: FewShotConfig, weights: Mapping[str, WeightsRef], device: torch.device) -> FewShotPipeline:
    ref = weights.get("generator", WeightsRef())
    return FewShotPipeline(lambda: build_with_weights(FewShotGenerator, config, ref, device))  # type: ignore[arg-type,return-value]
