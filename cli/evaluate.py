"""`v2v eval`: the quality of served models on held-out data, by their job kind's protocol (evaluation.protocols)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--model", action="append", default=None, help="served model name (repeat; default: all)")
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="data set folder(s) (dataset.json)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--max-sequences", type=int, default=4)
    parser.add_argument("--max-frames", type=int, default=16, help="frames per sequence (from the start)")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 2, 4], help="few-shot reference counts")
    parser.add_argument("--reference-draws", type=int, default=3,
                        help="few-shot: random nested reference sets per sequence and K, scores averaged")
    parser.add_argument("--manifest", type=Path, default=None, help="default: checkpoints/manifest.json")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0, help="seed of the reference draws")
    parser.add_argument("--two-sample-seeds", type=int, default=3,
                        help="predict, generate: runs of the real-vs-generated classifier two-sample test (0: skip)")
    parser.add_argument("--two-sample-steps", type=int, default=300,
                        help="predict, generate: training steps of each two-sample classifier")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    parser.add_argument("--markdown", type=Path, default=None, help="write the Markdown table here")
    parser.add_argument("--previews", type=Path, default=None,
                        help="write DIR/<model>.png (label | generated | ground truth strip) and DIR/<model>.gif; "
                             "predict: DIR/<model>.png (truth | samples) and DIR/<model>.{ssim,psnr}.png (plots)")
    parser.add_argument("--samples", type=int, default=20, help="predict: futures drawn per clip (best-of-N)")
    parser.add_argument("--horizon", type=int, default=20, help="predict: predicted frames scored per clip")
    parser.add_argument("--baseline-model", default=None,
                        help="predict: a served model the others are compared with (e.g. the deterministic variant); "
                             "evaluated too")
    parser.add_argument("--judges", type=Path, default=None,
                        help="generate: the judges folder (default checkpoints/judges; `v2v judges train`)")
    parser.add_argument("--clips-per-class", type=int, default=64, help="generate: clips per requested class")
    parser.add_argument("--coverage", type=int, default=200, help="generate: random clips for look coverage")
    parser.add_argument("--swap-contents", type=int, default=50,
                        help="generate: fixed content seeds regenerated with every class (identity kept)")
    parser.add_argument("--truncation", type=float, default=1.0,
                        help="generate: draw every clip with this truncation psi in (0, 1], as a job's `truncation` "
                             "option (1: the paper's sampling)")
    parser.add_argument("--options", default=None,
                        help='translate: family options every stream runs with, as a job\'s would, a JSON object '
                             '(e.g. \'{"finetune_steps": 100}\' for people)')


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text)
    os.replace(tmp, path)


def run(args: argparse.Namespace) -> int:
    from app.contracts import DEFAULT_MANIFEST, load_manifest
    from evaluation.job_options import check_options
    from evaluation.protocols import evaluate, markdown_report
    from evaluation.translate import EvalConfig

    manifest_path = args.manifest or DEFAULT_MANIFEST
    cards = load_manifest(manifest_path).models
    if args.model:
        wanted = [*args.model, *([args.baseline_model] if args.baseline_model else [])]
        unknown = sorted(set(wanted) - set(cards))
        if unknown:
            raise KeyError(f"unknown model(s) {', '.join(unknown)}; served: {', '.join(sorted(cards))}")
        cards = {name: cards[name] for name in wanted}
    elif args.baseline_model and args.baseline_model not in cards:
        raise KeyError(f"unknown baseline model {args.baseline_model}; served: {', '.join(sorted(cards))}")
    options = json.loads(args.options) if args.options else {}
    if not isinstance(options, dict):
        raise ValueError("--options must be a JSON object")
    check_options(cards, options)
    config = EvalConfig(data=tuple(args.data), split=args.split, max_sequences=args.max_sequences,
                        max_frames=args.max_frames, references=tuple(args.k), device=args.device, seed=args.seed,
                        reference_draws=args.reference_draws, previews=args.previews, samples=args.samples,
                        horizon=args.horizon, baseline_model=args.baseline_model, judges=args.judges,
                        clips_per_class=args.clips_per_class, coverage=args.coverage,
                        swap_contents=args.swap_contents, two_sample_seeds=args.two_sample_seeds,
                        two_sample_steps=args.two_sample_steps, options=options, truncation=args.truncation)
    report = evaluate(cards, manifest_path.parent, config)
    text = json.dumps(report, indent=1, sort_keys=True)
    table = markdown_report(report)
    if args.out:
        _write_atomic(args.out, text)
    if args.markdown:
        _write_atomic(args.markdown, table)
    sys.stdout.write(table + "\n")
    return 0
