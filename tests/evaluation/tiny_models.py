"""A manifest of tiny translate models with (random, exported) weights, for `v2v eval` tests."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from models import build_generator, get_family
from models.core.checkpoints import export_generator_fp16
from models.core.labels import CITYSCAPES_PALETTE


def write_tiny_manifest(root: Path, untrained: bool = False) -> Path:
    """`street` (vid2vid-tiny, 35 Cityscapes classes, 32x64) and `people` (fs_vid2vid-tiny, pose, 64x32, K <= 2);
    with `untrained`, also a card without weights."""
    torch.manual_seed(0)  # tiny random weights, exported as a trained model would be
    street_sha = export_generator_fp16(build_generator("vid2vid-tiny", label_channels=35), root / "street.safetensors")
    people_sha = export_generator_fp16(build_generator("fs_vid2vid-tiny"), root / "people.safetensors")
    palette = [[int(v) for v in c] for c in CITYSCAPES_PALETTE]
    models = {
        "street": {"name": "street", "family": "vid2vid", "preset": "vid2vid-tiny", "config": {"label_channels": 35},
                   "inputs": {"kind": "translate",
                              "labels": {"type": "segmentation", "num_classes": 35, "channels": 35,
                                         "palette": palette}},
                   "output": {"height": 32, "width": 64, "size_multiple": 4},
                   "options": _family_options("vid2vid"),
                   "weights": {"file": "street.safetensors", "sha256": street_sha}},
        "people": {"name": "people", "family": "fs_vid2vid", "preset": "fs_vid2vid-tiny",
                   "inputs": {"kind": "translate", "labels": {"type": "pose", "channels": 3},
                              "references": {"min": 1, "max": 2}},
                   "output": {"height": 64, "width": 32, "size_multiple": 16},
                   "options": _family_options("fs_vid2vid"),
                   "weights": {"file": "people.safetensors", "sha256": people_sha}},
    }
    if untrained:
        models["untrained"] = {"name": "untrained", "family": "vid2vid", "preset": "vid2vid-tiny",
                               "inputs": {"kind": "translate", "labels": {"type": "edges", "channels": 1}},
                               "output": {"height": 32, "width": 32, "size_multiple": 4}}
    path = root / "manifest.json"
    path.write_text(json.dumps({"models": models}))
    return path


def _family_options(family: str) -> dict[str, Any]:
    """The family's job options as a card lists them (what `v2v export` writes)."""
    return {name: dataclasses.asdict(option) for name, option in get_family(family).options.items()}
