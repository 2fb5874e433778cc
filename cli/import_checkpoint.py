"""`v2v import FOLDER --name NAME`: serve a checkpoint trained with the original code (NVIDIA/vid2vid or
NVlabs/few-shot-vid2vid).

Reads the original checkpoint folder (vid2vid: `<epoch>_net_G0.pth` ... one file per spatial scale, plus the optional
single-image first-frame generator `<epoch>_net_G_<size>.pth`; few-shot: `<epoch>_net_G.pth`) with
`torch.load(weights_only=True)`, infers the architecture from the tensor shapes, maps every tensor onto our modules
(the first mismatch is a one-line error) and writes our format: NAME.safetensors (fp16, or fp32 with --dtype fp32),
NAME.first_frame.safetensors when there is a first-frame generator, and a model card (sha256, config overrides) in the
manifest, ready to serve. The family-specific mapping lives in `models.families.<family>.original`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

FAMILY_MODULES = {"vid2vid": "models.families.vid2vid.original", "fs_vid2vid": "models.families.fs_vid2vid.original"}


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("folder", help="original checkpoint folder (e.g. checkpoints/label2city_2048, or checkpoints/ "
                                       "holding it and label2city_single/)")
    parser.add_argument("--name", required=True, help="public model name in the manifest")
    parser.add_argument("--family", choices=["auto", *FAMILY_MODULES], default="auto",
                        help="auto: vid2vid when *_net_G0.pth exists, few-shot when *_net_G.pth does")
    parser.add_argument("--epoch", default="latest", help="the original --which_epoch (file name prefix)")
    parser.add_argument("--single-g", default=None, help="vid2vid: the single-image first-frame generator file "
                                                          "(default: the one *_net_G_<size>.pth under FOLDER)")
    parser.add_argument("--fg-labels", type=int, nargs="+", default=None,
                        help="vid2vid: the original --fg_labels (default 26, Cityscapes car)")
    parser.add_argument("--label-nc", type=int, default=None,
                        help="vid2vid: the original --label_nc (default: from the shapes; Cityscapes 35)")
    parser.add_argument("--norm-statistics", choices=["per_frame", "running"], default="per_frame",
                        help="vid2vid BatchNorm at inference: per_frame = what the original test script computed "
                             "(default); running = eval mode with the stored running statistics")
    parser.add_argument("--remove-face-labels", choices=["auto", "on", "off"], default="auto",
                        help="few-shot pose: the original --remove_face_labels (auto: on for 6-channel pose labels)")
    parser.add_argument("--dtype", choices=["fp16", "fp32"], default="fp16", help="stored weight precision")
    parser.add_argument("--height", type=int, default=None, help="default output height of the card")
    parser.add_argument("--width", type=int, default=None, help="default output width of the card")
    parser.add_argument("--checkpoints-dir", default="checkpoints", help="where the weights files go")
    parser.add_argument("--manifest", default=None, help="manifest path (default: CHECKPOINTS_DIR/manifest.json)")
    parser.add_argument("--description", default="")


def detect_family(folder: Path) -> str:
    """vid2vid when a per-scale generator file is under `folder`, fs_vid2vid when a single `*_net_G.pth` is."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    names = [p.name for p in folder.rglob("*.pth")]
    if any(n.endswith("_net_G0.pth") for n in names):
        return "vid2vid"
    if any(n.endswith("_net_G.pth") for n in names):
        return "fs_vid2vid"
    raise FileNotFoundError(f"no original generator under {folder}: expected <epoch>_net_G0.pth (vid2vid) or "
                            "<epoch>_net_G.pth (few-shot vid2vid)")


def default_size(family: str, labels: dict[str, Any]) -> tuple[int, int]:
    """A CPU-friendly default card size: 256x512 for street scenes, 256x256 otherwise."""
    return (256, 512) if family == "vid2vid" else (256, 256)


def run(args: argparse.Namespace) -> int:
    import torch

    from app.contracts import WeightsFile
    from cli.export import translate_card, write_card
    from models.core.checkpoints import save_state_dict

    folder = Path(args.folder)
    family = detect_family(folder) if args.family == "auto" else args.family
    module = importlib.import_module(FAMILY_MODULES[family])
    options = {"epoch": args.epoch, "single_g": args.single_g, "fg_labels": args.fg_labels,
               "label_nc": args.label_nc, "norm_statistics": args.norm_statistics,
               "remove_face_labels": {"auto": None, "on": True, "off": False}[args.remove_face_labels]}
    result = module.import_checkpoint(folder, options)
    height, width = default_size(family, result.labels)
    meta = {"family": family, "preset": result.preset, "config": result.config_overrides, "labels": result.labels,
            "height": args.height or height, "width": args.width or width, "step": 0,
            "train_config": {"data": "imported"}}
    translate_card("check", meta, None, {}, "")  # the card must build (family, preset, config) before writing

    out_dir = Path(args.checkpoints_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if args.dtype == "fp16" else torch.float32
    files: dict[str, Any] = {}
    for network, state in result.weights.items():
        file = f"{args.name}.safetensors" if network == "generator" else f"{args.name}.{network}.safetensors"
        files[network] = WeightsFile(file=file, sha256=save_state_dict(state, out_dir / file, dtype))
    extra = {k: v for k, v in files.items() if k != "generator"}
    card = translate_card(args.name, meta, files["generator"], extra,
                          args.description or f"Imported from the original {family} code: {folder}")
    card = card.model_copy(update={"quality": {"imported_from": [Path(s).name for s in result.sources],
                                               "weights_dtype": args.dtype}})
    manifest_path = Path(args.manifest) if args.manifest else out_dir / "manifest.json"
    write_card(manifest_path, card)
    sys.stdout.write(f"imported {family} {folder} as {args.name} ({args.dtype}): {manifest_path}\n")
    for network, file in files.items():
        sys.stdout.write(f"  {network}: {out_dir / file.file} sha256 {file.sha256}\n")
    for note in result.notes:
        sys.stdout.write(f"  note: {note}\n")
    return 0
