"""Training checkpoints: RUN/checkpoints/step_XXXXXXX.{safetensors,optim.pt,json}.

Owns writing and restoring everything a run needs to continue exactly: generator and discriminator weights
(safetensors, keys prefixed `G.` / `D.`), optimizer and loss-scaler states and RNG states (`torch.save`), and a
JSON with preset, generator overrides, train config, label spec, step and schedule state. Every file is written
to `.partial` and renamed; the JSON is written last, so a checkpoint without its JSON is ignored.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from models.families.vid2vid import schedule

if TYPE_CHECKING:
    from training.trainer import Trainer


def checkpoint_stem(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"step_{step:07d}"


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The JSON of the highest-step complete checkpoint of a run, or None."""
    found = sorted((Path(run_dir) / "checkpoints").glob("step_*.json"))
    return found[-1] if found else None


def read_checkpoint_meta(json_path: Path) -> dict[str, Any]:
    return json.loads(Path(json_path).read_text())


def _atomic(path: Path, write: Any) -> None:
    partial = path.with_name(path.name + ".partial")
    write(partial)
    os.replace(partial, path)


def _weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    tensors = {f"G.{k}": v for k, v in trainer.gen.state_dict().items()}
    tensors.update({f"D.{k}": v for k, v in trainer.disc.state_dict().items() if not k.startswith("vgg.")})
    return {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}


def save_checkpoint(trainer: Trainer) -> Path:
    """Write the trainer's state at its current step; returns the JSON path."""
    stem = checkpoint_stem(trainer.out, trainer.step)
    stem.parent.mkdir(parents=True, exist_ok=True)
    weights = _weights(trainer)
    _atomic(stem.with_suffix(".safetensors"), lambda p: save_file(weights, str(p)))
    optim = {
        "opt_g": trainer.opt_g.state_dict(),
        "opt_d": trainer.opt_d.state_dict(),
        "opt_dt": [o.state_dict() for o in trainer.opt_dt],
        "scalers": [s.state_dict() for s in trainer.scalers],
        "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
    }
    _atomic(stem.with_suffix(".optim.pt"), lambda p: torch.save(optim, p))
    c = trainer.config
    meta = {
        "family": c.family,
        "preset": c.preset,
        "config": trainer.overrides,
        "train_config": dataclasses.asdict(c),
        "step": trainer.step,
        "labels": {"type": trainer.label_type, "num_classes": trainer.num_classes,
                   "channels": trainer.dataset.channels},
        "height": c.height,
        "width": c.width,
        "schedule": {"lr_factor": schedule.lr_factor(c, trainer.step),
                     "clip_frames": schedule.clip_frames_at(c, trainer.step),
                     "train_coarse_scales": schedule.train_coarse_scales(c, trainer.step),
                     "single_frame_phase": schedule.single_frame_phase(c, trainer.step)},
        "weights": stem.with_suffix(".safetensors").name,
    }
    json_path = stem.with_suffix(".json")
    _atomic(json_path, lambda p: p.write_text(json.dumps(meta, indent=1)))
    return json_path


def generator_weights(json_path: Path) -> dict[str, torch.Tensor]:
    """The generator's state dict stored in a checkpoint (prefix removed)."""
    tensors = load_file(str(Path(json_path).with_suffix(".safetensors")))
    return {k[2:]: v for k, v in tensors.items() if k.startswith("G.")}


def load_checkpoint(trainer: Trainer, json_path: Path) -> None:
    """Restore weights, optimizer/scaler states, RNG states and step into a freshly built trainer."""
    json_path = Path(json_path)
    meta = read_checkpoint_meta(json_path)
    if meta["preset"] != trainer.config.preset or meta["family"] != trainer.config.family:
        raise ValueError(f"{json_path} is a {meta['family']} {meta['preset']} checkpoint, not "
                         f"{trainer.config.family} {trainer.config.preset}")
    tensors = load_file(str(json_path.with_suffix(".safetensors")), device=str(trainer.device))
    trainer.gen.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("G.")}, strict=True)
    disc = {k[2:]: v for k, v in tensors.items() if k.startswith("D.")}
    if trainer.disc.vgg is not None:
        disc.update({f"vgg.{k}": v for k, v in trainer.disc.vgg.state_dict().items()})
    trainer.disc.load_state_dict(disc, strict=True)
    optim = torch.load(json_path.with_suffix("").with_suffix(".optim.pt"), map_location=trainer.device,
                       weights_only=False)
    trainer.opt_g.load_state_dict(optim["opt_g"])
    trainer.opt_d.load_state_dict(optim["opt_d"])
    for opt, state in zip(trainer.opt_dt, optim["opt_dt"], strict=True):
        opt.load_state_dict(state)
    for scaler, state in zip(trainer.scalers, optim["scalers"], strict=True):
        scaler.load_state_dict(state)
    rng = optim["rng"]
    torch.set_rng_state(rng["torch"].cpu())
    np.random.set_state(rng["numpy"])
    random.setstate(rng["python"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
    trainer.step = int(meta["step"])
