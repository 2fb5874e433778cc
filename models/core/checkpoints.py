"""Checkpoint files: generator weights (safetensors + sha256), fp16 export, stream-state files, config JSON.

Every file is written to `<name>.partial` and renamed into place, so a reader never sees half a file. Weights
are a module's state dict; loading checks the file's sha256 first (`ChecksumError` on mismatch) and casts
into the module's own dtype, so fp16 files load into a float32 module. This is the one module under `models/`
that does file I/O (safetensors only); the networks themselves stay pure.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import types
import typing
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch
from safetensors.torch import load_file, save_file
from torch import nn


class ChecksumError(ValueError):
    """A weights file's sha256 differs from the expected one (corrupt, truncated or the wrong file)."""


class StreamState(Protocol):
    """What `save_state` / `load_state` need from a generator's streaming state."""

    def to_tensors(self) -> dict[str, torch.Tensor]: ...


S = TypeVar("S")


def sha256_file(path: Path | str) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _save_tensors_atomic(
    tensors: dict[str, torch.Tensor], path: Path | str, metadata: dict[str, str] | None = None
) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    save_file(tensors, str(partial), metadata=metadata)
    os.replace(partial, path)


def save_weights(module: nn.Module, path: Path | str, dtype: torch.dtype | None = None) -> str:
    """Write `module.state_dict()` as safetensors (floating tensors cast to `dtype`); returns the sha256."""
    tensors: dict[str, torch.Tensor] = {}
    for name, tensor in module.state_dict().items():
        tensor = tensor.detach().cpu()
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        tensors[name] = tensor.contiguous().clone()  # clone: safetensors refuses shared storage
    _save_tensors_atomic(tensors, path)
    return sha256_file(path)


def save_state_dict(state: dict[str, torch.Tensor], path: Path | str, dtype: torch.dtype | None = None) -> str:
    """Write a state dict as safetensors (floating tensors cast to `dtype`), atomically; returns the sha256."""
    tensors = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().cpu().contiguous()
               .clone() for k, v in state.items()}
    _save_tensors_atomic(tensors, path)
    return sha256_file(path)


def export_generator_fp16(module: nn.Module, path: Path | str) -> str:
    """Shipped-weights format: the generator's state dict in float16 safetensors; returns the sha256."""
    return save_weights(module, path, dtype=torch.float16)


def verify_sha256(path: Path | str, expected_sha256: str) -> None:
    """Raise `ChecksumError` unless the file's sha256 equals `expected_sha256`."""
    actual = sha256_file(path)
    if actual != expected_sha256.lower():
        raise ChecksumError(f"{path}: sha256 {actual} does not match the expected {expected_sha256}")


def load_weights(module: nn.Module, path: Path | str, expected_sha256: str | None) -> None:
    """Load a safetensors state dict into `module` (strict), after checking the sha256 when one is given.

    Tensors are cast to the dtype of the module's own entries (fp16 files load into float32 modules).
    """
    if expected_sha256 is not None:
        verify_sha256(path, expected_sha256)
    own = module.state_dict()
    loaded = load_file(str(path))
    cast = {k: v.to(own[k].dtype) if k in own else v for k, v in loaded.items()}
    module.load_state_dict(cast, strict=True)


# ----------------------------------------------------------------------------------------------------
# streaming state


def save_state(state: StreamState, path: Path | str) -> None:
    """Write a streaming state (`state.to_tensors()`) as safetensors, atomically."""
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state.to_tensors().items()}
    _save_tensors_atomic(tensors, path)


def load_state(state_cls: Any, path: Path | str, device: torch.device | str = "cpu") -> Any:
    """Read a state written by `save_state`: `state_cls.from_tensors(tensors)`, tensors on `device`."""
    return state_cls.from_tensors(load_file(str(path), device=str(device)))


# ----------------------------------------------------------------------------------------------------
# config <-> JSON


def config_to_dict(config: Any) -> dict[str, Any]:
    """A frozen config dataclass as JSON-ready primitives (tuples become lists, nested configs dicts)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        return value

    return plain(config)


def _from_json(hint: Any, value: Any) -> Any:
    """Convert a JSON value back to the field type `hint` (lists → tuples, dicts → nested dataclasses)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        for arg in typing.get_args(hint):
            if arg is not type(None) and (isinstance(value, dict) == dataclasses.is_dataclass(arg)):
                return _from_json(arg, value)
        return value
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return config_from_dict(hint, value)  # type: ignore[arg-type]
    if origin is tuple and isinstance(value, list):
        args = typing.get_args(hint)
        inner = args[0] if args else Any
        return tuple(_from_json(inner, v) for v in value)
    return value


def config_overrides_from_json(config_cls: type, overrides: dict[str, Any]) -> dict[str, Any]:
    """Typed overrides for `dataclasses.replace` from JSON ones; unknown fields raise TypeError."""
    hints = typing.get_type_hints(config_cls)
    fields = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise TypeError(f"unknown {config_cls.__name__} fields {unknown}; valid: {sorted(fields)}")
    return {k: _from_json(hints[k], v) for k, v in overrides.items()}


def config_from_dict(config_cls: type[S], data: dict[str, Any]) -> S:
    """Rebuild a config dataclass from `config_to_dict` output."""
    return config_cls(**config_overrides_from_json(config_cls, data))


def load_generator(
    preset: str,
    config_overrides: dict[str, Any],
    weights_path: Path | None,
    sha256: str | None,
    device: torch.device | str,
) -> nn.Module:
    """Build preset `preset` with JSON `config_overrides` (a manifest's `config`), load and check the
    weights if given, move to `device` (float32) and switch to eval mode."""
    from models.registry import build_generator, get_preset_config

    base = get_preset_config(preset)
    model = build_generator(preset, **config_overrides_from_json(type(base), config_overrides))
    if weights_path is not None:
        load_weights(model, weights_path, sha256)
    return model.to(device).eval()


BUILD_SEED = 0
"""Seed for building networks before their weights load: untrained networks are identical in every process."""


def build_with_weights(build: Any, config: Any, weights: Any, device: torch.device | str) -> nn.Module:
    """`build(config)` under a fixed seed (global RNG untouched), its weights loaded and sha256-checked when
    `weights.path` is set (`models.core.family.WeightsRef`), on `device`, in eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(BUILD_SEED)
        module = build(config)
    if weights.path is not None:
        load_weights(module, weights.path, weights.sha256)
    return module.to(device).eval()
