"""Weights of the legacy few-shot layout carried onto the corrected (original) one, as a warm start.

Our first few-shot generator departed from the original code in two ways (issue 16): spectral norm on every layer
(`spectral_norm: "everywhere"`) and conv-first residual blocks in the flow network (`flow_layout: "legacy"`). A model
trained that way (the first `people`) starts the corrected architecture from `legacy_to_original`:
- a layer spectral-normed in both keeps its stored original weight and power-iteration vectors;
- a layer the original leaves plain gets the legacy layer's effective weight W / σ, so it computes what it computed;
- the flow network's residual blocks move their convolutions (legacy `body.0`, `body.3` → `body.2`, `body.5`) and
  the norm between them (`body.1` → `body.3`); the original's input norm (`body.0`) starts from initialisation and
  the legacy closing norm (`body.4`) is dropped. Only these blocks compute something new; training settles them.
"""

from __future__ import annotations

import re

import torch

from models.core.baking import bake_parametrizations
from models.families.fs_vid2vid.generator import FewShotGenerator

_FLOW_BLOCK = re.compile(r"^(flow_network\w*\.blocks\.\d+\.body\.)(\d+)(\..+)$")
_LEGACY_TO_ORIGINAL = {"0": "2", "1": "3", "3": "5"}  # legacy body index -> original body index


def _flow_block_key(key: str) -> str | None:
    """The original-layout name of a legacy flow-network residual-block tensor (None: no counterpart)."""
    match = _FLOW_BLOCK.match(key)
    if match is None:
        return key
    index = _LEGACY_TO_ORIGINAL.get(match.group(2))
    return None if index is None else f"{match.group(1)}{index}{match.group(3)}"


def legacy_to_original(parametrized: FewShotGenerator, baked: FewShotGenerator,
                       target: FewShotGenerator) -> dict[str, torch.Tensor]:
    """A state dict for `target` (the corrected layout) from one legacy model loaded twice: `parametrized` as loaded,
    `baked` the same weights after `bake_parametrizations` (pass a second load, not a copy). Tensors of `target`
    with no legacy counterpart keep `target`'s own values."""
    bake_parametrizations(baked)
    sources: dict[str, torch.Tensor] = {}
    for state in (baked.state_dict(), parametrized.state_dict()):  # parametrized names win where both exist
        for key, value in state.items():
            renamed = _flow_block_key(key)
            if renamed is not None:
                sources[renamed] = value
    out = {}
    for key, own in target.state_dict().items():
        value = sources.get(key)
        out[key] = value.clone() if value is not None and value.shape == own.shape else own.clone()
    return out


def carried_share(state: dict[str, torch.Tensor], target: FewShotGenerator) -> float:
    """Fraction of `target`'s parameter elements whose values differ from its initialisation in `state`."""
    own = target.state_dict()
    total = sum(v.numel() for k, v in own.items() if v.is_floating_point())
    changed = sum(v.numel() for k, v in own.items() if v.is_floating_point() and not torch.equal(v, state[k]))
    return changed / total
