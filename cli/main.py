"""`v2v` entry point. Subcommand modules are imported only when chosen, so `v2v api` never loads torch.

Each module listed in SUBCOMMANDS exports `add_arguments(parser, command)` and `run(args) -> int`
(`command` lets one module serve several subcommands, e.g. submit/status/wait).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("cli.serve", "run Redis, a worker and the API on this machine (data under ./var)"),
    "api": ("cli.api", "run the HTTP API only"),
    "worker": ("cli.worker", "run GPU/CPU worker process(es) that take jobs from Redis"),
    "generate": ("cli.generate", "offline: run a served model on local inputs, video(s) out (no server)"),
    "train": ("cli.train", "train a model of any family (`v2v models` lists the families and presets)"),
    "export": ("cli.export", "export a trained run to checkpoints/ (fp16 safetensors + manifest entry)"),
    "requote": ("cli.requote", "quote a served model's measured quality again from a new `v2v eval --out` report"),
    "import": ("cli.import_checkpoint", "import an original vid2vid / few-shot vid2vid checkpoint"),
    "data": ("cli.data", "make synthetic or derived training data sets"),
    "eval": ("cli.evaluate", "measure quality of served models on held-out data"),
    "judges": ("cli.judges", "train the classifiers that judge generated video (action, appearance)"),
    "models": ("cli.models", "list served models and registry presets"),
    "keys": ("cli.keys", "create or revoke API keys"),
    "submit": ("cli.client", "send a job (translate, predict or generate) to a running service"),
    "status": ("cli.client", "show a job's status"),
    "wait": ("cli.client", "wait for a job with a progress bar, then download the result"),
}


ENVIRONMENT = (
    "environment: V2V_REDIS_URL and V2V_REDIS_PASSWORD (Redis), V2V_MANIFEST (served models), V2V_MEDIA_ROOT, "
    "V2V_API_KEY / V2V_API_KEY_FILE and V2V_SERVER (client commands), every other V2V_* setting of app/config.py; "
    "V2V_DEBUG=1 shows tracebacks."
)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except for flags and options whose default is None."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if not _shows_default(action):
            return action.help or ""
        return super()._get_help_string(action) or ""


def _shows_default(action: argparse.Action) -> bool:
    """An option with a default worth printing whose help does not say it already."""
    unset = action.default is None or action.default is False or action.default == [] or action.nargs == 0
    return not unset and action.default is not argparse.SUPPRESS and "default" not in (action.help or "").lower()


def _use_formatter(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if action.help is None and _shows_default(action):
            action.help = "(default: %(default)s)"  # argparse prints no default for an option without help
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _use_formatter(child)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="v2v", description="vid2vid video synthesis service")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in SUBCOMMANDS:
        parser.parse_args(argv)  # prints help or the usage error and exits
    command = argv[0]
    module = importlib.import_module(SUBCOMMANDS[command][0])
    command_parser = argparse.ArgumentParser(prog=f"v2v {command}", description=SUBCOMMANDS[command][1],
                                             epilog=ENVIRONMENT)
    module.add_arguments(command_parser, command)
    _use_formatter(command_parser)
    args = command_parser.parse_args(argv[1:])
    args.command = command
    try:
        return int(module.run(args) or 0)
    except (OSError, KeyError, ValueError) as exc:  # a user mistake: one line, no traceback (V2V_DEBUG=1 shows it)
        if os.environ.get("V2V_DEBUG"):
            raise
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        sys.stderr.write(f"v2v {command}: error: {message}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
