"""`v2v requote`: a served model's measured quality quoted again from a new `v2v eval --out` report (after the
judges or the protocol changed), its weights and everything else on the card untouched.

The figures `evaluation.card_quality` picks for the model replace the card's measured ones of the same names; notes
(`--quality`) are merged last, as in `v2v export`. The report must hold the model: nothing is written otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from app.contracts import DEFAULT_MANIFEST, load_manifest


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("name", help="a served model (`v2v models` lists them)")
    parser.add_argument("--quality-from", type=Path, required=True,
                        help="a `v2v eval --out` report that scored the model")
    parser.add_argument("--quality-model", default=None, help="the model's name in the report (default: NAME)")
    parser.add_argument("--quality", default=None, help="notes merged last: a JSON object, inline or in a file")
    parser.add_argument("--manifest", type=Path, default=Path(os.environ.get("V2V_MANIFEST", DEFAULT_MANIFEST)),
                        help="model catalogue (env V2V_MANIFEST; default: checkpoints/manifest.json)")


def run(args: argparse.Namespace) -> int:
    from cli.export import evaluated_quality, measured_quality, write_card

    cards = load_manifest(args.manifest).models
    if args.name not in cards:
        raise ValueError(f"{args.name} is not in {args.manifest} (served: {', '.join(sorted(cards))})")
    measured = {**evaluated_quality(args.quality_from, args.quality_model or args.name),
                **measured_quality(args.quality)}
    card = cards[args.name]
    write_card(args.manifest, card.model_copy(update={"quality": {**card.quality, **measured}}))
    weights = card.weights.file if card.weights else "none"
    sys.stdout.write(f"requoted {args.name} from {args.quality_from} (weights {weights} unchanged)\n")
    return 0
