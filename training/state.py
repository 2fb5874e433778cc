"""Training checkpoints: RUN/checkpoints/step_XXXXXXX.{safetensors,optim.pt,json}, for any recipe.

Writes and restores everything a run needs to continue exactly: every module of `recipe.modules()` (safetensors, keys
prefixed `<name>.`), every optimiser and loss scaler by name and the RNG states (`torch.save`), and a JSON with the
recipe's metadata, the step and, for a warm-started run, where its generator came from (`warm_start`); with `--ema`,
the generator's moving average too (keys `G_ema.`, its decay in the JSON). Every file is written to `.partial` and
renamed; the JSON is written last, so a checkpoint without its JSON is ignored. Checkpoints of the earlier two-family
trainer (optimisers stored as `opt_g` / `opt_d` / `opt_dt`) load too: they are converted on the fly.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from training.ema import PREFIX as EMA_PREFIX
from training.ema import GeneratorAverage

if TYPE_CHECKING:
    from training.loop import TrainingLoop

FORMAT = 2


def checkpoint_stem(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"step_{step:07d}"


def run_checkpoints(run_dir: Path) -> list[Path]:
    """The JSONs of a run's complete checkpoints, oldest first."""
    return sorted((Path(run_dir) / "checkpoints").glob("step_*.json"))


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The JSON of the highest-step complete checkpoint of a run, or None."""
    found = run_checkpoints(run_dir)
    return found[-1] if found else None


def read_checkpoint_meta(json_path: Path) -> dict[str, Any]:
    return json.loads(Path(json_path).read_text())


def _atomic(path: Path, write: Any) -> None:
    partial = path.with_name(path.name + ".partial")
    write(partial)
    os.replace(partial, path)


def _weights(loop: TrainingLoop) -> dict[str, torch.Tensor]:
    exclude = loop.recipe.checkpoint_exclude
    tensors = {f"{name}.{k}": v for name, module in loop.recipe.modules().items()
               for k, v in module.state_dict().items()}
    return {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items() if not k.startswith(exclude)}


def save_checkpoint(loop: TrainingLoop) -> Path:
    """Write the loop's state at its current step; returns the JSON path."""
    recipe = loop.recipe
    stem = checkpoint_stem(loop.out, loop.step)
    stem.parent.mkdir(parents=True, exist_ok=True)
    weights = _weights(loop)
    if loop.average is not None:
        weights.update({f"{EMA_PREFIX}.{k}": v for k, v in loop.average.state_dict().items()})
    _atomic(stem.with_suffix(".safetensors"), lambda p: save_file(weights, str(p)))
    optim = {
        "format": FORMAT,
        "optimizers": {name: opt.state_dict() for name, opt in recipe.optimizers().items()},
        "scalers": {name: scaler.state_dict() for name, scaler in recipe.scalers().items()},
        "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
    }
    _atomic(stem.with_suffix(".optim.pt"), lambda p: torch.save(optim, p))
    meta = {**recipe.metadata(), "step": loop.step, "weights": stem.with_suffix(".safetensors").name,
            "format": FORMAT}
    if loop.warm_start is not None:
        meta["warm_start"] = loop.warm_start
    if loop.average is not None:
        meta["ema_decay"] = loop.average.decay
    json_path = stem.with_suffix(".json")
    _atomic(json_path, lambda p: p.write_text(json.dumps(meta, indent=1)))
    return json_path


def module_weights(json_path: Path, name: str = "G") -> dict[str, torch.Tensor]:
    """The state dict of module `name` stored in a checkpoint (prefix removed); "G" is the generator."""
    tensors = load_file(str(Path(json_path).with_suffix(".safetensors")))
    prefix = f"{name}."
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def generator_weights(json_path: Path) -> dict[str, torch.Tensor]:
    return module_weights(json_path, "G")


def averaged_generator_weights(json_paths: list[Path]) -> dict[str, torch.Tensor]:
    """The uniform average of the generators stored in `json_paths` (a checkpoint "soup": averaging the last
    checkpoints of a GAN run smooths the noise a single late snapshot carries). Floating tensors are averaged in fp32
    and keep their dtype; integer ones (BatchNorm's batch counters) are the last checkpoint's."""
    if not json_paths:
        raise ValueError("no checkpoints to average")
    last = generator_weights(json_paths[-1])
    if len(json_paths) == 1:
        return last
    totals = {key: value.to(torch.float32, copy=True) for key, value in last.items() if value.is_floating_point()}
    for path in json_paths[:-1]:
        state = generator_weights(path)
        if state.keys() != last.keys():
            raise ValueError(f"{path.name} and {json_paths[-1].name} hold different generators")
        for key, total in totals.items():
            total += state[key].float()
    return {key: (totals[key] / len(json_paths)).to(value.dtype) if key in totals else value
            for key, value in last.items()}


def _converted(optim: dict[str, Any], names: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Optimiser and scaler states by name; the first trainer's lists (G, D_image, D_temporal0..) map in order."""
    if optim.get("format") == FORMAT:
        return optim["optimizers"], optim["scalers"]
    states = [optim["opt_g"], optim["opt_d"], *optim["opt_dt"]]
    if len(states) != len(names):
        raise ValueError(f"checkpoint has {len(states)} optimisers, the run has {names}")
    return dict(zip(names, states, strict=True)), dict(zip(names, optim["scalers"], strict=True))


def load_checkpoint(loop: TrainingLoop, json_path: Path) -> None:
    """Restore weights, optimiser/scaler states, RNG states and step into a freshly built loop."""
    recipe = loop.recipe
    json_path = Path(json_path)
    recipe.check_resume(read_checkpoint_meta(json_path))
    meta = read_checkpoint_meta(json_path)
    tensors = load_file(str(json_path.with_suffix(".safetensors")), device=str(recipe.device))
    for name, module in recipe.modules().items():
        prefix = f"{name}."
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        kept = {k: v for k, v in module.state_dict().items() if f"{prefix}{k}".startswith(recipe.checkpoint_exclude)}
        module.load_state_dict({**state, **kept}, strict=True)
    optim = torch.load(json_path.with_suffix("").with_suffix(".optim.pt"), map_location=recipe.device,
                       weights_only=False)
    optimizers, scalers = _converted(optim, list(recipe.optimizers()))
    for name, opt in recipe.optimizers().items():
        opt.load_state_dict(optimizers[name])
    for name, scaler in recipe.scalers().items():
        scaler.load_state_dict(scalers[name])
    rng = optim["rng"]
    torch.set_rng_state(rng["torch"].cpu())
    np.random.set_state(rng["numpy"])
    random.setstate(rng["python"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
    loop.step = int(meta["step"])
    loop.warm_start = meta.get("warm_start")
    average = {k[len(EMA_PREFIX) + 1:]: v for k, v in tensors.items() if k.startswith(f"{EMA_PREFIX}.")}
    if average:
        loop.average = GeneratorAverage(recipe.modules()["G"], float(meta["ema_decay"]), average)
