"""`v2v export RUN --name NAME`: ship a run's latest generator (or the average of its last checkpoints,
`--average-last N`, or its moving average, `--ema`) as fp16 safetensors plus a manifest card.

The card (`app.contracts.ModelCard`), written by the card writer of the family's job kind (`translate_card`,
`predict_card`, `generate_card`), replaces any card of the same name; the rest of the manifest is kept. Its measured
quality comes from a `v2v eval --out` report (`--quality-from REPORT`: the figures `evaluation.card_quality` picks for
the model, so that the card quotes exactly what the eval command measured), then `--quality JSON|FILE` (notes such
as how it was trained, merged last). Its kind, size multiple, reference range and family options come from the family
in the registry, so the API can refuse what the model cannot run. A vid2vid run whose config has first_frame
"single_image" needs `--first-frame-run`: a `v2v train single` run of the same preset and single-image config; its
generator goes to NAME.first_frame.safetensors (the card's `extra_weights["first_frame"]`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("run", help="training run folder (with checkpoints/step_*.json)")
    parser.add_argument("--name", required=True, help="public model name in the manifest")
    parser.add_argument("--checkpoint", default=None, help="a step_*.json of the run (default: the latest)")
    parser.add_argument("--ema", action="store_true",
                        help="ship the checkpoint's moving average of the generator (a run trained with --ema)")
    parser.add_argument("--average-last", type=int, default=1, metavar="N",
                        help="ship the uniform average of the run's last N checkpoints up to --checkpoint (a "
                             "checkpoint soup; default 1: that checkpoint alone)")
    parser.add_argument("--recalibrate-bn", type=int, default=0, metavar="BATCHES",
                        help="generate models: measure the batch norms' running statistics again for the shipped "
                             "weights over BATCHES random batches (64 is plenty; the moving average's own statistics "
                             "are averaged too and can leave it drawing blank frames); default 0: keep them")
    parser.add_argument("--checkpoints-dir", default="checkpoints", help="where the weights file goes")
    parser.add_argument("--manifest", default=None, help="manifest path (default: CHECKPOINTS_DIR/manifest.json)")
    parser.add_argument("--description", default="")
    parser.add_argument("--first-frame-run", default=None,
                        help='a `v2v train single` run: the first-frame generator of a first_frame "single_image" run')
    parser.add_argument("--first-frame-checkpoint", default=None,
                        help="a step_*.json of the --first-frame-run (default: the latest)")
    parser.add_argument("--quality", default=None,
                        help="measured quality merged into the card's quality: a JSON object, inline or in a file")
    parser.add_argument("--quality-from", type=Path, default=None,
                        help="a `v2v eval --out` report: the model's measured figures go into the card's quality")
    parser.add_argument("--quality-model", default=None,
                        help="the model's name in the --quality-from report (default: --name)")
    parser.add_argument("--config", default=None,
                        help="settings without weights merged into the run's config on the card, a JSON object (e.g. "
                             "'{\"label_gate\": true}'); one that changes the weights fails the export")


def translate_card(name: str, meta: dict[str, Any], weights: Any, extra: dict[str, Any], description: str) -> Any:
    """The manifest card of a translate run (its checkpoint metadata `meta`)."""
    from app.contracts import LabelSpec, ModelCard, OptionSpec, OutputSpec, ReferenceSpec, TranslateInputs
    from models.core.labels import CITYSCAPES_NAMES, CITYSCAPES_PALETTE
    from models.registry import get_family

    family = get_family(meta["family"])
    config = family.config(meta["preset"], meta["config"])
    labels = meta["labels"]
    n = int(labels["num_classes"])
    segmentation = labels["type"] == "segmentation"
    label_spec = LabelSpec(type=labels["type"], num_classes=n if segmentation else 0,
                           class_names=list(CITYSCAPES_NAMES[:n]) if segmentation else [],
                           palette=[tuple(int(v) for v in c) for c in CITYSCAPES_PALETTE[:n]] if segmentation else [],
                           channels=int(labels["channels"]))
    references = ReferenceSpec(min=1, max=family.max_references(config)) if family.max_references else None
    return ModelCard(
        name=name, family=family.name, preset=meta["preset"], description=description,
        inputs=TranslateInputs(labels=label_spec, references=references),
        output=OutputSpec(height=int(meta["height"]), width=int(meta["width"]),
                          size_multiple=family.size_multiple(config)),
        options={k: OptionSpec(min=o.min, max=o.max, default=o.default, description=o.description,
                               seconds_per_unit=o.seconds_per_unit) for k, o in family.options.items()},
        weights=weights, extra_weights=extra, config=meta["config"],
        quality={"trained_steps": meta["step"], "data": meta["train_config"]["data"]},
    )


def predict_card(name: str, meta: dict[str, Any], weights: Any, extra: dict[str, Any], description: str) -> Any:
    """The manifest card of a predict run: up to the run's `n_past` context frames (one image is a context too), a
    horizon up to three times the trained `n_future` (the papers evaluate past the training length), up to
    `MAX_SAMPLES` samples, at the run's frame size; the attributes a job may ask for (value names by attribute,
    e.g. {"action": ["walk", ...]}) from the metadata's `attributes`, when the run recorded any."""
    from app.contracts import IntRange, ModelCard, OptionSpec, OutputSpec, PredictInputs
    from models.registry import get_family

    family = get_family(meta["family"])
    config = family.config(meta["preset"], meta["config"])
    n_past, n_future = int(meta["n_past"]), int(meta["n_future"])
    attributes = {str(k): [str(v) for v in values] for k, values in meta.get("attributes", {}).items()}
    return ModelCard(
        name=name, family=family.name, preset=meta["preset"], description=description,
        inputs=PredictInputs(context_frames=IntRange(min=1, max=n_past), horizon=IntRange(min=1, max=3 * n_future),
                             num_samples=IntRange(min=1, max=MAX_SAMPLES), attributes=attributes),
        output=OutputSpec(height=int(meta["height"]), width=int(meta["width"]),
                          size_multiple=family.size_multiple(config)),
        options={k: OptionSpec(min=o.min, max=o.max, default=o.default, description=o.description,
                               seconds_per_unit=o.seconds_per_unit) for k, o in family.options.items()},
        weights=weights, extra_weights=extra, config=meta["config"],
        quality={"trained_steps": meta["step"], "data": meta["train_config"]["data"],
                 **data_generator(meta["train_config"]["data"])},
    )


def data_generator(data: str) -> dict[str, Any]:
    """{"data_generator": the settings the training data set was made with} (its dataset.json's `generator`, e.g.
    the people-actions camera and backdrop options), so a sample input can be drawn like the training clips; {} when
    the data set is not on this machine or recorded none."""
    meta_path = Path(data) / "dataset.json"
    if not meta_path.is_file():
        return {}
    generator = json.loads(meta_path.read_text()).get("generator")
    return {"data_generator": generator} if isinstance(generator, dict) else {}


def generate_card(name: str, meta: dict[str, Any], weights: Any, extra: dict[str, Any], description: str) -> Any:
    """The manifest card of a generate run, from its checkpoint metadata's `generate` block (frame range, class
    names, named seeds, fps): 1..GENERATE_MAX_SAMPLES videos per job at the run's frame size."""
    from app.contracts import GenerateInputs, IntRange, ModelCard, OptionSpec, OutputSpec
    from models.registry import get_family

    family = get_family(meta["family"])
    config = family.config(meta["preset"], meta["config"])
    spec = meta["generate"]
    return ModelCard(
        name=name, family=family.name, preset=meta["preset"], description=description,
        inputs=GenerateInputs(num_frames=frame_range(spec),
                              num_samples=IntRange(min=1, max=GENERATE_MAX_SAMPLES),
                              classes=list(spec["classes"]), seeds=list(spec["seeds"]),
                              class_option=spec.get("class_option")),
        output=OutputSpec(height=int(meta["height"]), width=int(meta["width"]),
                          size_multiple=family.size_multiple(config), fps=float(spec["fps"])),
        options={k: OptionSpec(min=o.min, max=o.max, default=o.default, description=o.description,
                               seconds_per_unit=o.seconds_per_unit) for k, o in family.options.items()},
        weights=weights, extra_weights=extra, config=meta["config"],
        quality={"trained_steps": meta["step"], "data": meta["train_config"]["data"],
                 "trained_frames": spec.get("trained_frames"), "frame_stride": spec.get("frame_stride")},
    )


def frame_range(spec: dict[str, Any]) -> Any:
    """A generate card's frames per video: the run's range, whose default is the trained clip length (a family that
    makes any length, as MoCoGAN, is asked for what it learned unless a job says otherwise)."""
    from app.contracts import IntRange

    lo, hi, trained = int(spec["num_frames"]["min"]), int(spec["num_frames"]["max"]), spec.get("trained_frames")
    return IntRange(min=lo, max=hi, default=int(trained) if trained is not None and lo <= trained <= hi else None)


GENERATE_MAX_SAMPLES = 16

MAX_SAMPLES = 20
CARD_WRITERS = {"translate": translate_card, "predict": predict_card, "generate": generate_card}
"""The card writer of each job kind (the family's kind, from the registry, decides)."""


def run(args: argparse.Namespace) -> int:
    from app.contracts import WeightsFile
    from models.core.checkpoints import export_generator_fp16
    from models.families.vid2vid.first_frame import load_single_image_generator
    from models.registry import build_generator, get_family
    from training.batch_norm_statistics import recalibrate
    from training.ema import PREFIX as EMA_PREFIX
    from training.state import (
        averaged_generator_weights,
        generator_weights,
        latest_checkpoint,
        module_weights,
        read_checkpoint_meta,
    )

    run_dir = Path(args.run)
    ckpt = Path(args.checkpoint) if args.checkpoint else latest_checkpoint(run_dir)
    if ckpt is None:
        raise FileNotFoundError(f"no checkpoint under {run_dir}/checkpoints (train first: v2v train ...)")
    soup = averaged_checkpoints(run_dir, ckpt, args.average_last)
    meta = read_checkpoint_meta(ckpt)
    if args.ema and len(soup) > 1:
        raise ValueError("--ema and --average-last are exclusive")
    if args.ema and "ema_decay" not in meta:
        raise ValueError(f"--ema: {ckpt} holds no moving average (train with --ema DECAY)")
    if args.recalibrate_bn < 0:
        raise ValueError(f"--recalibrate-bn must be >= 0, got {args.recalibrate_bn}")
    if args.recalibrate_bn and get_family(meta["family"]).kind != "generate":
        raise ValueError("--recalibrate-bn: only generate models draw their own batches (this run trained a "
                         f"{get_family(meta['family']).kind} model)")
    meta = {**meta, "config": {**meta["config"], **json_object(args.config, "--config")}}
    if meta["family"] == "single":
        raise ValueError(f"{run_dir} trained a first-frame generator: export the vid2vid run it belongs to, with "
                         f"--first-frame-run {run_dir}")
    single = _first_frame_checkpoint(args, meta)  # (checkpoint, meta) or None; checked before anything is written
    measured = {**evaluated_quality(args.quality_from, args.quality_model or args.name),
                **measured_quality(args.quality)}  # read before anything is written, too

    # 1. The generator with the run's weights, exported as fp16.
    gen = build_generator(meta["preset"], **_typed_overrides(meta["preset"], meta["config"]))
    try:
        state = module_weights(ckpt, EMA_PREFIX) if args.ema else averaged_generator_weights(soup)
        gen.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # a --config setting that changes the network
        raise ValueError(f"{ckpt} does not fit the config {meta['config']}: {str(exc).splitlines()[0]}") from exc
    if args.recalibrate_bn:
        recalibrate(gen, batches=args.recalibrate_bn)
    out_dir = Path(args.checkpoints_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights_name = f"{args.name}.safetensors"
    weights = WeightsFile(file=weights_name, sha256=export_generator_fp16(gen, out_dir / weights_name))
    extra = {}
    if single is not None:
        single_ckpt, single_meta = single
        single_gen = load_single_image_generator(single_meta["preset"], single_meta["config"], None, None, "cpu")
        single_gen.load_state_dict(generator_weights(single_ckpt), strict=True)
        first_name = f"{args.name}.first_frame.safetensors"
        extra["first_frame"] = WeightsFile(file=first_name,
                                           sha256=export_generator_fp16(single_gen, out_dir / first_name))

    # 2. The manifest card.
    kind = get_family(meta["family"]).kind
    if kind not in CARD_WRITERS:
        raise ValueError(f"{run_dir} trained a {kind} model: export writes {', '.join(CARD_WRITERS)} cards only")
    card = CARD_WRITERS[kind](args.name, meta, weights, extra, args.description)
    if "warm_start" in meta:  # the generator's whole training: the source's steps, then this run's
        earlier = meta["warm_start"]
        whole = {"trained_steps": earlier["trained_steps"] + meta["step"], "warm_started_from": earlier["source"]}
        card = card.model_copy(update={"quality": {**card.quality, **whole}})
    if len(soup) > 1:
        steps = [read_checkpoint_meta(path)["step"] for path in soup]
        card = card.model_copy(update={"quality": {**card.quality, "averaged_checkpoints": steps}})
    if args.ema:
        card = card.model_copy(update={"quality": {**card.quality, "ema_decay": meta["ema_decay"]}})
    if args.recalibrate_bn:
        card = card.model_copy(update={"quality": {**card.quality, "batch_norm_recalibrated": args.recalibrate_bn}})
    if measured:
        card = card.model_copy(update={"quality": {**card.quality, **measured}})
    if single is not None:
        card = card.model_copy(update={"quality": {**card.quality, "first_frame_trained_steps": single[1]["step"]}})
    write_card(Path(args.manifest) if args.manifest else out_dir / "manifest.json", card)
    sys.stdout.write(f"exported {args.name}: {out_dir / weights_name} sha256 {weights.sha256}\n")
    for extra_name, file in extra.items():
        sys.stdout.write(f"  {extra_name}: {out_dir / file.file} sha256 {file.sha256}\n")
    return 0


def averaged_checkpoints(run_dir: Path, ckpt: Path, count: int) -> list[Path]:
    """`--average-last`: the run's last `count` checkpoints up to and including `ckpt`, oldest first."""
    if count < 1:
        raise ValueError(f"--average-last must be at least 1, got {count}")
    if count == 1:
        return [ckpt]
    from training.state import run_checkpoints

    upto = [path for path in run_checkpoints(run_dir) if path.name <= ckpt.name]
    if len(upto) < count or upto[-1].name != ckpt.name:
        raise ValueError(f"--average-last {count}: {run_dir}/checkpoints holds {len(upto)} checkpoints up to "
                         f"{ckpt.name}")
    return upto[-count:]


def evaluated_quality(report_path: Path | None, model: str) -> dict[str, Any]:
    """`--quality-from`: model's figures in a `v2v eval --out` report, plus the report's path; {} when not given."""
    if report_path is None:
        return {}
    from evaluation.card_quality import card_quality

    return {**card_quality(json.loads(report_path.read_text()), model), "eval_report": str(report_path)}


def measured_quality(value: str | None) -> dict[str, Any]:
    """`--quality`: a JSON object given inline (`'{"psnr_db": 17.2}'`) or a file holding one; {} when not given."""
    if not value:
        return {}
    return json_object(value if value.lstrip()[:1] in ("{", "[") else Path(value).read_text(), "--quality")


def json_object(text: str | None, flag: str) -> dict[str, Any]:
    """`text` parsed as a JSON object ({} when not given); anything else is a clear error naming `flag`."""
    if not text:
        return {}
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"{flag} must be a JSON object, got {type(value).__name__}")
    return value


def write_card(manifest_path: Path, card: Any) -> None:
    """Put `card` into the manifest (replacing a card of the same name, keeping the others), atomically."""
    from app.contracts import Manifest

    models = {}
    if manifest_path.exists():
        models = dict(Manifest.model_validate(json.loads(manifest_path.read_text())).models)
    models[card.name] = card
    partial = manifest_path.with_name(manifest_path.name + ".partial")
    partial.write_text(json.dumps(Manifest(models=models).model_dump(mode="json"), indent=1) + "\n")
    os.replace(partial, manifest_path)


def _first_frame_checkpoint(args: argparse.Namespace, meta: dict[str, Any]) -> tuple[Path, dict[str, Any]] | None:
    """The --first-frame-run's checkpoint and metadata, checked against the vid2vid run (`meta`): required exactly
    when the run's config has a single-image generator, of the same preset config and label encoding."""
    from models.families.vid2vid.first_frame import single_image_config
    from training.state import latest_checkpoint, read_checkpoint_meta

    try:
        wanted = single_image_config(meta["preset"], meta["config"]) if meta["family"] == "vid2vid" else None
    except (KeyError, ValueError):
        wanted = None
    if args.first_frame_run is None:
        if wanted is not None:
            raise ValueError(f'{args.run} generates its first frames with a single-image generator (first_frame '
                             f'"single_image"): pass --first-frame-run RUN (a `v2v train single` run)')
        return None
    if wanted is None:
        raise ValueError(f'--first-frame-run needs a vid2vid run whose config has first_frame "single_image"; '
                         f"{args.run} has none")
    run_dir = Path(args.first_frame_run)
    ckpt = Path(args.first_frame_checkpoint) if args.first_frame_checkpoint else latest_checkpoint(run_dir)
    if ckpt is None:
        raise FileNotFoundError(f"no checkpoint under {run_dir}/checkpoints")
    single_meta = read_checkpoint_meta(ckpt)
    if single_meta["family"] != "single":
        raise ValueError(f"{run_dir} is a {single_meta['family']} run, not a `v2v train single` run")
    got = single_image_config(single_meta["preset"], single_meta["config"])
    if got != wanted:
        raise ValueError(f"{run_dir} trained single_image {got}, but {args.run} needs {wanted}")
    seen, served = single_meta["labels"], meta["labels"]
    if (seen["type"], seen["num_classes"]) != (served["type"], served["num_classes"]):
        raise ValueError(f"{run_dir} trained on labels {seen}, {args.run} on {served}")
    return ckpt, single_meta


def _typed_overrides(preset: str, overrides: dict[str, object]) -> dict[str, object]:
    from models.core.checkpoints import config_overrides_from_json
    from models.registry import get_preset_config

    return config_overrides_from_json(type(get_preset_config(preset)), overrides)
