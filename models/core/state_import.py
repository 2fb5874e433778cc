"""Reading state dicts written by other code bases (the original vid2vid / few-shot vid2vid) and mapping them onto
our modules, tensor by tensor, with nothing left over or missing.

`read_state_dict` loads a `.pth` with `torch.load(weights_only=True)` (zip or the legacy torch-0.4 serialisation;
never unpickles arbitrary objects). `GroupMap` pairs source key groups with one of our submodules: the entries of
each side are matched in order (module registration order, which `state_dict()` keeps), shape by shape; the first
mismatch raises `ImportMismatch` naming both keys. `num_batches_tracked` is optional on the source side (files
from torch 0.4 have none): ours is copied from the source when there, else set to 0. torch only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

COUNTER = "num_batches_tracked"


class ImportMismatch(ValueError):
    """A source checkpoint does not fit the architecture it is mapped onto (the message names the first mismatch)."""


@dataclass
class ImportResult:
    """What a family's importer hands the `v2v import` command: everything a model card and its files need."""

    preset: str
    config_overrides: dict[str, Any]
    """JSON-ready overrides of `preset` (a card's `config`)."""
    weights: dict[str, dict[str, torch.Tensor]]
    """Our state dicts: "generator" and any extra network of the family (e.g. "first_frame")."""
    labels: dict[str, Any]
    """The card's label spec: type, num_classes, channels."""
    sources: list[str]
    notes: list[str] = field(default_factory=list)
    """Things the user must know (printed)."""


def read_state_dict(path: Path | str) -> dict[str, torch.Tensor]:
    """The tensors of a saved state dict (a bare `state_dict()`, or one under "state_dict" / "model"), in file
    order, without a `module.` (DataParallel) prefix."""
    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling refusal is the same user error
        raise ImportMismatch(f"{path}: not a plain tensor state dict readable with weights_only=True ({exc})") from exc
    for wrapper in ("state_dict", "model"):
        if isinstance(loaded, dict) and isinstance(loaded.get(wrapper), dict):
            loaded = loaded[wrapper]
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise ImportMismatch(f"{path}: expected a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in loaded.items()}


def group_of(key: str) -> str:
    """The first component of a key ("model_down_seg.1.weight" -> "model_down_seg")."""
    return key.split(".", 1)[0]


@dataclass(frozen=True)
class GroupMap:
    """Source groups (first key components, concatenated in this order) -> our submodule at `target` ("" = root)."""

    sources: tuple[str, ...]
    target: str


def _module_of(key: str) -> str:
    return key.rsplit(".", 1)[0]


def map_state_dict(source: dict[str, torch.Tensor], module: nn.Module, groups: Sequence[GroupMap],
                   where: str, ignore: Iterable[str] = ()) -> dict[str, torch.Tensor]:
    """Our full state dict for `module`, filled from `source` group by group (see the module docstring).

    Args:
        source: the original state dict (file order).
        groups: every source group must appear in exactly one GroupMap, every tensor of `module` be covered.
        where: a name for messages (the file).
        ignore: source keys known to carry nothing (e.g. running statistics of instance norms that never use them).
    Returns:
        a state dict `module.load_state_dict(..., strict=True)` accepts.
    """
    ignored = set(ignore)
    target_sd = module.state_dict()
    used_groups = {g for m in groups for g in m.sources}
    stray = [k for k in source if group_of(k) not in used_groups and k not in ignored]
    if stray:
        raise ImportMismatch(f"{where}: tensor {stray[0]} {tuple(source[stray[0]].shape)} has no place in our "
                             f"architecture (groups we map: {sorted(used_groups)})")
    out: dict[str, torch.Tensor] = {}
    module_pairs: dict[str, str] = {}  # our module path -> source module path (for num_batches_tracked)
    for m in groups:
        src = [k for g in m.sources for k in source if group_of(k) == g and k not in ignored
               and not k.endswith(COUNTER)]
        prefix = f"{m.target}." if m.target else ""
        dst = [k for k in target_sd if k.startswith(prefix) and not k.endswith(COUNTER)]
        for i in range(max(len(src), len(dst))):
            if i >= len(src):
                raise ImportMismatch(f"{where}: our {dst[i]} {tuple(target_sd[dst[i]].shape)} has no source tensor "
                                     f"(groups {list(m.sources)} end after {len(src)} tensors)")
            if i >= len(dst):
                raise ImportMismatch(f"{where}: tensor {src[i]} {tuple(source[src[i]].shape)} is left over (our "
                                     f"{m.target or 'model'} has {len(dst)} tensors)")
            s, d = src[i], dst[i]
            if tuple(source[s].shape) != tuple(target_sd[d].shape) or s.rsplit(".", 1)[1] != d.rsplit(".", 1)[1]:
                raise ImportMismatch(f"{where}: tensor {s} {tuple(source[s].shape)} does not fit our {d} "
                                     f"{tuple(target_sd[d].shape)}")
            out[d] = source[s].to(target_sd[d].dtype)
            module_pairs[_module_of(d)] = _module_of(s)
    for d, value in target_sd.items():
        if d.endswith(COUNTER):
            s = f"{module_pairs.get(_module_of(d), '?')}.{COUNTER}"
            out[d] = (source[s].to(value.dtype).reshape(value.shape) if s in source
                      else torch.zeros(value.shape, dtype=value.dtype))
    missing = [d for d in target_sd if d not in out]
    if missing:
        raise ImportMismatch(f"{where}: our {missing[0]} {tuple(target_sd[missing[0]].shape)} is not in any "
                             "mapped group")
    return out


def instance_norm_buffers(source: dict[str, torch.Tensor]) -> list[str]:
    """Running-statistics keys of source modules without affine parameters (instance norms with
    track_running_stats, as pix2pixHD builds them; in training mode they never read these buffers)."""
    out = []
    for k in source:
        name = k.rsplit(".", 1)[1]
        if name in ("running_mean", "running_var", COUNTER) and f"{_module_of(k)}.weight" not in source:
            out.append(k)
    return out
