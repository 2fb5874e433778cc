"""`v2v train FAMILY[:RECIPE]`: train a family's recipe with the one training loop (`training.loop`).

FAMILY is a registry family (`v2v models`), RECIPE one of its training recipes ("default" when omitted); a recipe
name alone works when only one family has it (`single` = `vid2vid:single`). The flags below are the translate
recipes' (vid2vid, few-shot vid2vid) on a data set folder (docs/conventions.md layout).

`single` trains the single-image first-frame generator (reference §1.6) of a vid2vid preset whose config has
`single_image` (first_frame "single_image"; or set both with --config) on single frames; export it together with a
vid2vid run of the same preset and config: `v2v export VID2VID_RUN --name N --first-frame-run SINGLE_RUN`.
Flags map one to one onto `models.families.vid2vid.schedule.TrainConfig`; unset flags keep the family's defaults.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"size must be HxW, e.g. 64x128, got {text!r}") from err
    return h, w


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("family", metavar="FAMILY[:RECIPE]",
                        help="a registry family (`v2v models` lists them), optionally with a recipe; single = "
                             "vid2vid:single, the first-frame generator of a vid2vid preset/config with single_image")
    parser.add_argument("--data", required=True, help="data set folder (dataset.json, train_A, train_B, ...)")
    parser.add_argument("--preset", required=True, help="registry preset, e.g. vid2vid-street-small")
    parser.add_argument("--out", required=True, help="run folder: checkpoints/, log.jsonl, samples/")
    parser.add_argument("--config", default=None, help='JSON preset overrides, e.g. \'{"ngf": 16}\'')
    parser.add_argument("--steps", type=int, default=None, help="optimisation steps in all")
    parser.add_argument("--size", type=_size, default=None, help="training size HxW (default 64x64)")
    parser.add_argument("--clip-frames", type=int, default=None, help="frames per clip at the start (single: 1)")
    parser.add_argument("--max-clip-frames", type=int, default=None, help="cap of the doubling clip length")
    parser.add_argument("--clip-double-every", type=int, default=None, help="double the clip length every N steps")
    parser.add_argument("--max-t-step", type=int, default=None, help="largest random temporal stride")
    parser.add_argument("--no-flip", action="store_true", help="no random horizontal flips")
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None, help="base learning rate (vid2vid 2e-4, few-shot 4e-4)")
    parser.add_argument("--ttur", action=argparse.BooleanOptionalAction, default=None,
                        help="G lr/2, D lr*2, betas (0, 0.9) (few-shot default)")
    parser.add_argument("--decay-start", type=int, default=None, help="step where linear lr decay to 0 starts")
    parser.add_argument("--fix-global-steps", type=int, default=None, help="train only the finest scale first")
    parser.add_argument("--single-frame-steps", type=int, default=None, help="few-shot single-frame phase")
    parser.add_argument("--gan-mode", choices=("ls", "hinge", "original"), default=None)
    parser.add_argument("--lambda-l1", type=float, default=None,
                        help="L1 reconstruction weight (default: 10 without --vgg-weights, else 0)")
    parser.add_argument("--num-d", type=int, default=None, help="spatial scales of each discriminator")
    parser.add_argument("--temporal-scales", type=int, default=None, help="video discriminator scales (0: off)")
    parser.add_argument("--vgg-weights", default=None, help="local VGG19 state dict (safetensors or .pt)")
    parser.add_argument("--references", type=int, default=None, help="few-shot K references per clip")
    parser.add_argument("--min-references", type=int, default=None,
                        help="few-shot: draw K per step from [min, --references] (default: always --references)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None)
    parser.add_argument("--amp", choices=("auto", "bf16", "fp16", "off"), default=None,
                        help="mixed precision (auto: bf16 on CUDA and on CPUs with bf16 units where it is faster, "
                             "fp16 on pre-Ampere GPUs; off: fp32). Translate families default to auto; generate and "
                             "predict families to off, take no fp16, and bf16 only where wired (TGAN, VGAN, "
                             "MoCoGAN, SVG-LP)")
    parser.add_argument("--workers", type=int, default=None, help="data loader processes (default 0)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--checkpoint-every", type=int, default=None)
    parser.add_argument("--sample-every", type=int, default=None)
    parser.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    parser.add_argument("--init-from", default=None, metavar="MODEL|RUN|CHECKPOINT",
                        help="start the generator from trained weights: a shipped model name, a run folder or a "
                             "step_*.json (the other networks and the optimisers start fresh; ignored when --resume "
                             "finds a checkpoint)")
    parser.add_argument("--init-networks", choices=("generator", "all"), default="generator",
                        help="with --init-from a run folder or checkpoint: `all` also starts the discriminators (every "
                             "other network) from it, e.g. to go on under changed settings; optimisers start fresh")
    parser.add_argument("--manifest", default=None,
                        help="where --init-from looks up shipped model names (default: the repo's checkpoints/)")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="time budget: stop after the step in progress once it is spent, checkpoint, exit 0 "
                             "(SIGTERM/SIGINT do the same; continue with --resume)")
    parser.add_argument("--ema", type=float, default=None, metavar="DECAY",
                        help="keep the generator's moving average at this decay (e.g. 0.999) in every checkpoint, "
                             "for `v2v export --ema`; a resumed run keeps its average without the flag")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="any other field of the recipe's run config (JSON value), e.g. --set beta=0.0001")


_RENAMES = {"config": "overrides", "no_flip": "flip", "num_d": "num_D", "temporal_scales": "n_scales_temporal",
            "quiet": "progress"}
_NOT_CONFIG = {"family", "size", "resume", "set", "command", "max_minutes", "init_from", "init_networks", "manifest",
               "ema"}


def _values(args: argparse.Namespace) -> dict[str, object]:
    """The flags that were given, named as config fields (unset flags keep the recipe's defaults)."""
    values: dict[str, object] = {}
    for name, value in vars(args).items():
        if name in _NOT_CONFIG or value is None or value is False:
            continue
        if name == "config":
            value = json.loads(value)
        elif name in ("no_flip", "quiet"):
            value = False
        values[_RENAMES.get(name, name)] = value
    if args.size is not None:
        values["height"], values["width"] = args.size
    for item in args.set:
        key, _, raw = item.partition("=")
        try:
            values[key.replace("-", "_")] = json.loads(raw)
        except json.JSONDecodeError:
            values[key.replace("-", "_")] = raw
    return values


def config_from_args(args: argparse.Namespace, recipe: type | None = None):  # -> the recipe's run config
    """The run's config from the flags, with the recipe's defaults where a flag is unset. A flag the recipe's config
    does not have is refused with its name (e.g. few-shot flags for a generate family)."""
    if recipe is None:
        from models.registry import find_recipe

        family, name = find_recipe(args.family)
        recipe = family.recipe(name)
    values = _values(args)
    try:
        return recipe.train_config(**values)  # type: ignore[attr-defined]
    except TypeError as exc:
        fields = getattr(recipe, "config_fields", None)
        unknown = sorted(set(values) - set(fields())) if fields else []
        what = ", ".join(unknown) if unknown else str(exc)
        raise ValueError(f"{args.family} does not take {what}") from exc


def run(args: argparse.Namespace) -> int:
    from models.registry import find_recipe
    from training import distributed, loop_for

    family, name = find_recipe(args.family)
    recipe = family.recipe(name)
    config = config_from_args(args, recipe)
    if not Path(config.data).is_dir():
        raise FileNotFoundError(f"--data {config.data}: no such data set folder (make one with `v2v data`)")
    loop = loop_for(config, recipe)  # under torchrun: data-parallel, rank 0 writes
    finished = False
    try:
        log = logging.getLogger("v2v.train")
        if args.resume and loop.resume():
            log.info("resumed at step %d", loop.step)
        elif args.init_from is not None:
            from app.contracts import DEFAULT_MANIFEST

            loop.start_from(args.init_from, Path(args.manifest) if args.manifest else DEFAULT_MANIFEST,
                            every_network=args.init_networks == "all")
            log.info("%s from %s (%d steps trained before)", args.init_networks, args.init_from,
                     loop.warm_start["trained_steps"] if loop.warm_start else 0)
        if args.ema is not None:
            loop.average_generator(args.ema)
        if args.max_minutes is not None:
            loop.deadline = time.monotonic() + 60.0 * args.max_minutes
        loop.fit()
        if loop.stop_reason is not None:
            log.warning("stopped at step %d of %d (%s); continue with --resume", loop.step, config.steps,
                        loop.stop_reason)
        if loop.cluster.is_main and (config.checkpoint_every <= 0 or loop.step % config.checkpoint_every):
            loop.save_checkpoint()  # always leave the final weights behind
        finished = True
    finally:
        distributed.stop(finished)
    if loop.cluster.is_main:
        sys.stdout.write(f"trained {loop.step} steps; next: v2v export {config.out} --name MODEL_NAME\n")
    return distributed.leave(loop.cluster, 0)
