"""Carry a shipped few-shot model of the legacy layout onto the corrected (original) layout, as a warm start.

    .venv/bin/python -m scripts.fs_layout_to_original --model people --out runs/people-original-init.safetensors
    v2v train fs_vid2vid --data data/people --preset fs_vid2vid-people-small \\
        --config '{"reference_choice": "nearest_label"}' --init-from runs/people-original-init.safetensors ...

See `models.families.fs_vid2vid.layout` for what carries over.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from safetensors.torch import save_file

from app.contracts import DEFAULT_MANIFEST, load_manifest
from models.core.checkpoints import load_generator
from models.families.fs_vid2vid.generator import FewShotGenerator
from models.families.fs_vid2vid.layout import carried_share, legacy_to_original


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a shipped few-shot model of the legacy layout")
    parser.add_argument("--out", type=Path, required=True, help="the corrected layout's weights (.safetensors)")
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    args = parser.parse_args(argv)
    card = load_manifest(args.manifest).models[args.model]
    if card.weights is None:
        raise SystemExit(f"{args.model} ships no weights")
    if card.config.get("flow_layout") != "legacy" and card.config.get("spectral_norm") != "everywhere":
        raise SystemExit(f"{args.model} already has the corrected layout: start from it with --init-from {args.model}")
    path = args.manifest.parent / card.weights.file
    load = lambda: load_generator(card.preset, card.config, path, card.weights.sha256, "cpu")  # noqa: E731
    parametrized, baked = load(), load()
    config = dataclasses.replace(parametrized.config, flow_layout="original", spectral_norm="original")
    target = FewShotGenerator(config)
    state = legacy_to_original(parametrized, baked, target)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(args.out),
              metadata={"family": card.family, "trained_steps": str(card.quality.get("trained_steps", 0)),
                        "from": args.model})
    sys.stdout.write(f"{args.out}: {carried_share(state, target):.1%} of the corrected generator's values carried "
                     f"from {args.model}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
