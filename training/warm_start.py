"""Warm starts: begin a new run from trained generator weights instead of from initialisation.

`v2v train ... --init-from SOURCE` loads the generator ("G" of `recipe.modules()`) from a shipped model (a name in
`checkpoints/manifest.json`, sha256 checked), from another run (its folder: the latest checkpoint), from one of its
`step_*.json` checkpoints, or from a `.safetensors` state dict (e.g. weights converted from another layout; its
metadata may say `family` and `trained_steps`); it must fit the run's generator exactly (same tensor names and
shapes), except that it may lack the tensors of zero-initialised extensions (`models.core.extensions`), which
then keep their initial no-op values. Everything else starts fresh: the other networks (discriminators,
classifiers), the optimisers and the step count; with `--init-networks all` a run source also gives every other
network (its discriminators: a run continued under changed settings, e.g. another instance noise, against the
critics its generator was trained with rather than fresh ones). The source goes into every
checkpoint's metadata as `warm_start`, so an export can report the generator's whole training (`trained_steps` of
the source plus this run's).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from models.core.extensions import extension_tensor_names
from training.recipe import Recipe


@dataclass(frozen=True)
class WarmStart:
    """Where a run's starting generator came from."""

    source: str
    family: str
    trained_steps: int
    sha256: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _from_manifest(name: str, manifest: Path) -> tuple[dict[str, torch.Tensor], WarmStart]:
    from app.contracts import load_manifest
    from models.core.checkpoints import verify_sha256

    models = load_manifest(manifest).models if manifest.exists() else {}
    if name not in models:
        known = ", ".join(sorted(models)) or "none"
        raise ValueError(f"--init-from {name}: not a run folder, a checkpoint or a shipped model (models: {known})")
    card = models[name]
    if card.weights is None:
        raise ValueError(f"--init-from {name}: the model ships no weights")
    path = manifest.parent / card.weights.file
    verify_sha256(path, card.weights.sha256)
    steps = card.quality.get("trained_steps", 0)
    return load_file(str(path)), WarmStart(source=name, family=card.family,
                                           trained_steps=int(steps) if isinstance(steps, int | float) else 0,
                                           sha256=card.weights.sha256)


def _from_run(path: Path) -> tuple[dict[str, torch.Tensor], WarmStart]:
    from training.state import latest_checkpoint, module_weights, read_checkpoint_meta

    checkpoint = latest_checkpoint(path) if path.is_dir() else path
    if checkpoint is None:
        raise ValueError(f"--init-from {path}: the run has no checkpoint yet")
    meta = read_checkpoint_meta(checkpoint)
    earlier = int(meta.get("warm_start", {}).get("trained_steps", 0))
    return module_weights(checkpoint, "G"), WarmStart(source=str(checkpoint), family=str(meta["family"]),
                                                      trained_steps=earlier + int(meta["step"]))


def _from_file(path: Path) -> tuple[dict[str, torch.Tensor], WarmStart]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    return load_file(str(path)), WarmStart(source=str(path), family=meta.get("family", "unknown"),
                                           trained_steps=int(meta.get("trained_steps", 0)))


def read_source(source: str, manifest: Path) -> tuple[dict[str, torch.Tensor], WarmStart]:
    """The generator state dict named by `source` (run folder, step_*.json, .safetensors file or shipped model name)
    and its origin."""
    path = Path(source)
    if _is_run(path):
        return _from_run(path)
    if path.suffix == ".safetensors" and path.is_file():
        return _from_file(path)
    return _from_manifest(source, manifest)


def warm_start(recipe: Recipe, source: str, manifest: Path, every_network: bool = False) -> WarmStart:
    """Load the generator of `source` into the recipe's "G" (cast to its dtype and device), and with `every_network`
    (a run folder or checkpoint only) each other network of `recipe.modules()` too; ValueError, naming both sides,
    when its tensors are not exactly the run's."""
    if every_network and not _is_run(Path(source)):
        raise ValueError(f"--init-networks all: {source} is not a run folder or a step_*.json checkpoint (only a run "
                         f"holds the other networks)")
    state, origin = read_source(source, manifest)
    _load_fitting(recipe, "G", state, source, origin)
    if every_network:
        from training.state import module_weights

        checkpoint = Path(origin.source)  # the run's checkpoint that `read_source` resolved
        for name in recipe.modules():
            if name != "G":
                _load_fitting(recipe, name, module_weights(checkpoint, name), source, origin)
    return origin


def _is_run(path: Path) -> bool:
    """A run folder or one of its step_*.json checkpoints."""
    return path.is_dir() or (path.suffix == ".json" and path.is_file())


def _named(module: str) -> str:
    return "generator" if module == "G" else f"network {module}"


def _load_fitting(recipe: Recipe, name: str, state: dict[str, torch.Tensor], source: str, origin: WarmStart) -> None:
    """Load `state` into the recipe's module `name`, which it must fit exactly (less zero-initialised extensions)."""
    network = recipe.modules()[name]
    own = network.state_dict()
    optional = extension_tensor_names(network)  # additions that start as a no-op: the source may lack them
    missing, unexpected = sorted(set(own) - set(state) - optional), sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        run = recipe.metadata()
        raise ValueError(f"--init-from {source}: its {origin.family} {_named(name)} does not fit this run's "
                         f"{run['family']} preset {run['preset']} (missing {missing[:3]}, unexpected "
                         f"{unexpected[:3]}, other shapes {wrong[:3]})")
    network.load_state_dict({k: v.to(dtype=own[k].dtype, device=own[k].device) for k, v in state.items()},
                            strict=False)
