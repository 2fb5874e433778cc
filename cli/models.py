"""`v2v models`: the served models of the manifest (with their label input) and the registry's presets."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from app.contracts import DEFAULT_MANIFEST, load_manifest


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--manifest", type=Path, default=Path(os.environ.get("V2V_MANIFEST", DEFAULT_MANIFEST)))
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from models import list_presets

    manifest = load_manifest(args.manifest)
    presets = list_presets()
    if args.json:
        served = {name: card.model_dump(mode="json") for name, card in manifest.models.items()}
        sys.stdout.write(json.dumps({"models": served, "presets": presets}, indent=1) + "\n")
        return 0
    lines = ["served models:"]
    for name, card in manifest.models.items():
        refs = f", K {card.references.min}..{card.references.max}" if card.references else ""
        state = "trained" if card.trained else "untrained"
        lines.append(
            f"  {name:<10} {card.family.value:<11} {card.labels.type.value:<13} {card.height}x{card.width}"
            f"{refs}  preset {card.preset} ({state})"
        )
    lines.append("registry presets:")
    lines += [f"  {preset}" for preset in presets]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
