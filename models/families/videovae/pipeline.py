"""VideoVAE serving for the `predict` kind: context frames (one image is enough) and attributes in, `num_samples`
sampled futures out, one frame per step (reference §6.4, mode 2 "first frame + attributes").

Owns the conversion of the service's frames ((1, T, 3, H, W) in [-1, 1], any size) to the model's ((T, 3, S, S),
area-shrunk or bilinearly grown), the choice of each sample's attributes and the stream: h_0, c_0 ~ N(0, I) per
sample, every context frame through the posterior chain (z ~ q_dy, then the LSTM), then per step z ~ p([φ(h), a]),
x̂ = Dec(z), and x̂ re-encoded for the LSTM input.

Attributes (`PredictStart.attributes`, class ids): "action" and "look" (the model's identity). A requested one is
used for every sample. A missing one is read from the context by the model's own attribute classifier (per-frame
softmax averaged over the context frames): the look is its most likely value (the person stays who they are), the
action is drawn per sample from it (one frame rarely tells the action, so each sample may follow another). A model
trained with `look_dropout` is given no look instead (a blank identity block): it keeps the look of the context it
observed, which may be one it never learned. `describe(state)` reports every sample's attributes (look None: the
context's own) and which were requested.

All randomness comes from the job's `rng` (a CPU `torch.Generator`; noise is drawn on the CPU and moved), so samples
are the same on every device and a job resumes exactly from `state_to_tensors`. Each sample is one batch row and
the model runs in eval mode (BatchNorm running statistics, no dropout), so rows never influence each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from models.core.checkpoints import build_with_weights
from models.core.family import InputError, PredictStart, StepOutput, WeightsRef
from models.core.frames import resize_square
from models.families.videovae.config import VideoVaeConfig
from models.families.videovae.networks import BLANK_LOOK, VideoVae, VideoVaeState, attribute_vector

ATTRIBUTES = ("action", "look")
"""Attribute names a job may set, in the order of the model's one-hot blocks (action, identity)."""


@dataclass(frozen=True)
class VideoVaePredictState:
    model: VideoVaeState
    actions: torch.Tensor  # (B,) int64, on the CPU
    looks: torch.Tensor  # (B,) int64, on the CPU
    requested: torch.Tensor  # (2,) int64: 1 where the job asked for ATTRIBUTES[i]


class VideoVaePipeline:
    """A loaded VideoVAE (eval mode) streaming attribute-controlled futures of a context."""

    def __init__(self, model: VideoVae) -> None:
        self.model = model
        self.config: VideoVaeConfig = model.config
        self.device = next(model.parameters()).device

    def start(self, inputs: PredictStart, rng: torch.Generator) -> VideoVaePredictState:
        """Pick each sample's attributes, then observe the context (shared by every sample); no frame is emitted."""
        cfg, b = self.config, inputs.num_samples
        if b < 1 or inputs.context.shape[1] < 1:
            raise InputError("a predict job needs at least one context frame and one sample")
        if cfg.image_channels != 3:
            raise InputError(f"this VideoVAE model takes {cfg.image_channels} colour channels, not RGB")
        unknown = sorted(set(inputs.attributes) - set(ATTRIBUTES))
        if unknown:
            raise InputError(f"VideoVAE has no attributes {unknown} (attributes: {', '.join(ATTRIBUTES)})")
        sizes = {"action": cfg.num_actions, "look": cfg.num_identities}
        for name, value in inputs.attributes.items():
            if not 0 <= int(value) < sizes[name]:
                raise InputError(f"{name} must be in 0..{sizes[name] - 1}, got {value}")
        context = resize_square(inputs.context[0].to(self.device).float(), cfg.image_size).clamp(-1, 1)  # (T, 3, S, S)
        actions, looks = self._attributes(inputs.attributes, context, b, rng)  # (B,), (B,) on the CPU
        state = self.model.start(attribute_vector(actions, looks, cfg).to(self.device), rng)
        for frame in context:  # the posterior chain on every context frame
            state = self.model.observe(frame.unsqueeze(0).expand(b, -1, -1, -1), state, rng)
        requested = torch.tensor([int(name in inputs.attributes) for name in ATTRIBUTES])
        return VideoVaePredictState(state, actions, looks, requested)

    def step(self, state: VideoVaePredictState, condition: torch.Tensor | None, rng: torch.Generator
             ) -> tuple[StepOutput, VideoVaePredictState]:
        frame, model_state = self.model.predict(state.model, rng)  # (B, 3, S, S) in [-1, 1]
        new = VideoVaePredictState(model_state, state.actions, state.looks, state.requested)
        return StepOutput(frame.float().unsqueeze(1)), new  # frames (B, 1, 3, S, S)

    def state_to_tensors(self, state: VideoVaePredictState) -> dict[str, torch.Tensor]:
        return {**state.model.to_tensors(), "actions": state.actions, "looks": state.looks,
                "requested": state.requested}

    def state_from_tensors(self, tensors: dict[str, torch.Tensor]) -> VideoVaePredictState:
        model = VideoVaeState.from_tensors({k: v.to(self.device) for k, v in tensors.items()
                                            if k not in ("actions", "looks", "requested")})
        return VideoVaePredictState(model, tensors["actions"].cpu(), tensors["looks"].cpu(),
                                    tensors["requested"].cpu())

    def describe(self, state: VideoVaePredictState) -> dict[str, Any]:
        """Under "attributes" (one key: the worker merges it into the job's report): each sample's attribute ids
        (indices into the card's value lists) and which ones the job asked for (the others were read from the
        context)."""
        requested = [name for name, flag in zip(ATTRIBUTES, state.requested.tolist(), strict=True) if flag]
        per_sample = [{"action": int(a), "look": None if k == BLANK_LOOK else int(k)}
                      for a, k in zip(state.actions.tolist(), state.looks.tolist(), strict=True)]
        return {"attributes": {"requested": requested, "inferred": [n for n in ATTRIBUTES if n not in requested],
                               "per_sample": per_sample}}

    # -- helpers ---------------------------------------------------------------------------------------------
    def _attributes(self, asked: Mapping[str, int], context: torch.Tensor, b: int, rng: torch.Generator
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,) action and look ids: the requested ones, else read from the context by the attribute classifier (the
        look BLANK_LOOK where the model learned to take it from the context)."""
        if "action" in asked and "look" in asked:
            return torch.full((b,), int(asked["action"])), torch.full((b,), int(asked["look"]))
        with torch.no_grad():
            logits = self.model.classify(context, None)  # per frame: (T, num_actions), (T, num_identities)
        action_p = logits.action.float().softmax(1).mean(0).cpu()  # (num_actions,)
        look_p = logits.identity.float().softmax(1).mean(0).cpu()  # (num_identities,)
        drawn = torch.multinomial(action_p, b, replacement=True, generator=rng)  # (B,)
        actions = torch.full((b,), int(asked["action"])) if "action" in asked else drawn
        inferred_look = BLANK_LOOK if self.config.look_dropout > 0 else int(look_p.argmax())
        looks = torch.full((b,), int(asked["look"]) if "look" in asked else inferred_look)
        return actions.long(), looks.long()


def load(config: VideoVaeConfig, weights: Mapping[str, WeightsRef], device: torch.device) -> VideoVaePipeline:
    """The serving pipeline: the model with its (sha256-checked) weights on `device`, in eval mode."""
    return VideoVaePipeline(build_with_weights(VideoVae, config, weights.get("generator", WeightsRef()), device))
