"""`v2v models`: the served models of the manifest (kind, inputs, size, weights) and the registry's families."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from app.contracts import DEFAULT_MANIFEST, ModelCard, TranslateInputs, load_manifest


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--manifest", type=Path, default=Path(os.environ.get("V2V_MANIFEST", DEFAULT_MANIFEST)),
                        help="model catalogue (env V2V_MANIFEST; default: checkpoints/manifest.json)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _inputs(card: ModelCard) -> str:
    if isinstance(card.inputs, TranslateInputs):
        refs = card.inputs.references
        return card.inputs.labels.type.value + (f" + {refs.min}..{refs.max} references" if refs else "")
    if card.inputs.kind == "predict":
        return f"{card.inputs.context_frames.max} context frames -> {card.inputs.horizon.max} frames"
    return f"{card.inputs.num_frames.min}..{card.inputs.num_frames.max} frames"


def run(args: argparse.Namespace) -> int:
    from models import get_family, list_families

    manifest = load_manifest(args.manifest)
    families = {name: get_family(name) for name in list_families()}
    if args.json:
        served = {name: card.model_dump(mode="json") for name, card in manifest.models.items()}
        presets = {name: sorted(f.presets) for name, f in families.items()}
        sys.stdout.write(json.dumps({"models": served, "families": presets}, indent=1) + "\n")
        return 0
    lines = ["served models (the API's GET /v1/models):"]
    width = max((len(name) for name in manifest.models), default=0)
    for name, card in manifest.models.items():
        state = "trained weights" if card.trained else "UNTRAINED (no weights shipped)"
        size = f"{card.output.height}x{card.output.width}"
        lines.append(f"  {name:<{width}} {card.kind:<9} {card.family:<11} {_inputs(card):<34} {size:<8} {state}")
    lines.append("families and their presets (train with `v2v train FAMILY --preset PRESET`):")
    for name, family in families.items():
        lines.append(f"  {name} ({family.kind}): {', '.join(sorted(family.presets))}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
