"""`v2v export RUN --name NAME`: ship a run's latest generator as fp16 safetensors plus a manifest entry.

The entry (`app.contracts.ModelCard`) replaces any entry of the same name; the rest of the manifest is kept.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("run", help="training run folder (with checkpoints/step_*.json)")
    parser.add_argument("--name", required=True, help="public model name in the manifest")
    parser.add_argument("--checkpoint", default=None, help="a step_*.json of the run (default: the latest)")
    parser.add_argument("--checkpoints-dir", default="checkpoints", help="where the weights file goes")
    parser.add_argument("--manifest", default=None, help="manifest path (default: CHECKPOINTS_DIR/manifest.json)")
    parser.add_argument("--description", default="")


def run(args: argparse.Namespace) -> int:
    from app.contracts import LabelSpec, Manifest, ModelCard, ReferenceSpec
    from models.checkpoints import export_generator_fp16
    from models.labels import CITYSCAPES_NAMES, CITYSCAPES_PALETTE
    from models.registry import build_generator
    from models.training.state import generator_weights, latest_checkpoint, read_checkpoint_meta

    run_dir = Path(args.run)
    ckpt = Path(args.checkpoint) if args.checkpoint else latest_checkpoint(run_dir)
    if ckpt is None:
        raise SystemExit(f"no checkpoint under {run_dir}/checkpoints")
    meta = read_checkpoint_meta(ckpt)

    # 1. The generator with the run's weights, exported as fp16.
    gen = build_generator(meta["preset"], **_typed_overrides(meta["preset"], meta["config"]))
    gen.load_state_dict(generator_weights(ckpt), strict=True)
    out_dir = Path(args.checkpoints_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights_name = f"{args.name}.safetensors"
    sha = export_generator_fp16(gen, out_dir / weights_name)

    # 2. The manifest entry.
    labels = meta["labels"]
    n = int(labels["num_classes"])
    segmentation = labels["type"] == "segmentation"
    card = ModelCard(
        name=args.name, family=meta["family"], preset=meta["preset"], description=args.description,
        labels=LabelSpec(type=labels["type"], num_classes=n if segmentation else 0,
                         class_names=list(CITYSCAPES_NAMES[:n]) if segmentation else [],
                         palette=[tuple(int(v) for v in c) for c in CITYSCAPES_PALETTE[:n]] if segmentation else [],
                         channels=int(labels["channels"])),
        height=int(meta["height"]), width=int(meta["width"]),
        references=ReferenceSpec() if meta["family"] == "fs_vid2vid" else None,
        weights=weights_name, sha256=sha, config=meta["config"], trained=True,
        quality={"trained_steps": meta["step"], "data": meta["train_config"]["data"]},
    )
    manifest_path = Path(args.manifest) if args.manifest else out_dir / "manifest.json"
    models = {}
    if manifest_path.exists():
        models = dict(Manifest.model_validate(json.loads(manifest_path.read_text())).models)
    models[args.name] = card
    text = json.dumps(Manifest(models=models).model_dump(mode="json"), indent=1)
    partial = manifest_path.with_name(manifest_path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, manifest_path)
    print(f"exported {args.name}: {out_dir / weights_name} sha256 {sha}")  # noqa: T201 - CLI output
    return 0


def _typed_overrides(preset: str, overrides: dict[str, object]) -> dict[str, object]:
    from models.checkpoints import config_overrides_from_json
    from models.registry import get_preset_config

    return config_overrides_from_json(type(get_preset_config(preset)), overrides)
