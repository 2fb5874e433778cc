"""Every `v2v` command written in the README and the docs parses with today's CLI: its subcommand exists, every flag
it uses exists and takes the value it is given, and the families and presets it names are registered. (A reader
copies these commands; a renamed flag must not leave them stale.) Mentions that are not whole commands (`v2v eval`
alone, `v2v export RUN --ema`, fragments with `...`) are checked as far as they go: their flags must exist."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import re
import shlex
from pathlib import Path

import pytest

from cli.main import SUBCOMMANDS
from models.registry import list_families, list_presets

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), ROOT / "benchmarks" / "README.md"]
_SHELL_END = re.compile(r"\)|&&|\|\||;|\s[|>]\s|\s2?>")  # where a command embedded in shell text ends
_PLACEHOLDER = re.compile(r"^[A-Z][A-Z_]*$|[|\[\]<>]|\.\.\.")  # RUN, N, street|people, [--devices all], <id>, ...


def documented_commands(text: str) -> list[str]:
    """The argument strings after `v2v` in fenced shell blocks (with `\\` continuations) and inline code."""
    found = []
    for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", text, re.S):
        for line in re.sub(r"\s*\\\n\s*", " ", block).splitlines():
            match = re.search(r"(?:^|\s|\$\()(?:\S*/)?v2v\s+(.*)$", line.split(" # ")[0].strip())
            if match and not line.lstrip().startswith("#"):
                found.append(match.group(1))
    prose = re.sub(r"\s*\n\s*", " ", re.sub(r"```.*?```", "", text, flags=re.S))
    found += [m.group(1) for m in re.finditer(r"`(?:\S*/)?v2v\s+([^`]+)`", prose)]
    return [_SHELL_END.split(command)[0].strip() for command in found]


def _parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"v2v {command}", exit_on_error=False)
    importlib.import_module(SUBCOMMANDS[command][0]).add_arguments(parser, command)
    return parser


def _problem(argv: list[str]) -> str | None:
    """Why `v2v ARGV` would not parse, ignoring what a mention leaves out (required arguments, a flag's value at
    the end) or holds in place of a value (placeholders)."""
    if argv[0] not in SUBCOMMANDS:
        return None if _PLACEHOLDER.search(argv[0]) else f"unknown subcommand {argv[0]!r}"
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            _parser(argv[0]).parse_args(argv[1:])
    except SystemExit:
        message = errors.getvalue().strip().splitlines()[-1]
    except argparse.ArgumentError as error:
        message = str(error)
    else:
        return None
    if "the following arguments are required" in message or (
            "expected one argument" in message and argv[-1].startswith("--")):
        return None
    unrecognized = message.split("unrecognized arguments: ")[1].split() if "unrecognized" in message else []
    offending = unrecognized or re.findall(r"'([^']*)'", message)[:1]
    return None if offending and all(_PLACEHOLDER.search(word) for word in offending) else message


def _registry_problems(argv: list[str]) -> list[str]:
    families, presets = set(list_families()), set(list_presets())
    problems = []
    if argv[0] == "train" and len(argv) > 1 and not _PLACEHOLDER.search(argv[1]):
        family = argv[1].split(":")[0]
        if family not in families and family != "single":
            problems.append(f"unknown family {family!r}")
    for flag, value in zip(argv, argv[1:], strict=False):
        if flag == "--preset" and not _PLACEHOLDER.search(value) and value not in presets:
            problems.append(f"unknown preset {value!r}")
    return problems


def test_the_extractor_finds_commands_in_blocks_inline_and_shell_text() -> None:
    text = ("Run `v2v eval --data d\n--model m` or:\n\n```bash\nid=$(.venv/bin/v2v submit --model street --sample) "
            "&& v2v wait \"$id\"\nOMP_NUM_THREADS=1 v2v train svg_lp --data d --preset p \\\n    --out o  # a note\n"
            "```\n")
    assert documented_commands(text) == ["submit --model street --sample", "train svg_lp --data d --preset p --out o",
                                         "eval --data d --model m"]
    assert _problem(["eval", "--data", "d", "--no-such-flag"]) is not None
    assert _problem(["export", "RUN", "--ema"]) is None  # a mention: its placeholder and missing --name are fine
    assert _registry_problems(["train", "svg_lp", "--preset", "svg_lp-nonexistent"]) == [
        "unknown preset 'svg_lp-nonexistent'"]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_documented_commands_parse_with_the_cli(document: Path) -> None:
    stale = []
    for command in documented_commands(document.read_text()):
        argv = shlex.split(command)
        problems = [*filter(None, [_problem(argv)]), *_registry_problems(argv)] if argv else []
        stale += [f"v2v {command[:120]}: {problem}" for problem in problems]
    assert not stale, "\n".join(stale)
