"""House rules that keep the code family-free where it must be: no family names in the API, the worker loop, the
training loop or the evaluation entry; networks that import only torch; small modules."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FAMILY_NAMES = re.compile(r"fs_vid2vid|few.?shot|vid2vid|mocogan|tgan|vgan|svg.?lp|savp|videovae", re.IGNORECASE)
FAMILY_FREE = ("app", "workers", "training", "evaluation")
NETWORK_FILES = ("generator.py", "blocks.py", "layers.py", "single.py", "weights.py", "flow_net.py", "networks.py",
                 "discriminator.py", "codecs.py")
STDLIB = {"__future__", "dataclasses", "math", "typing", "collections", "functools", "itertools", "enum", "abc"}


def _python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (REPO / folder).rglob("*.py"))


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    for node in ast.walk(tree):  # attribute docstrings: a bare string right after an assignment
        body = getattr(node, "body", None)
        if isinstance(body, list):
            for stmt in body:
                if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                    ids.add(id(stmt.value))
    return ids


def _is_family_name(node: ast.AST) -> bool:
    """`x.family`, `family`, `family.name`: what a family branch compares (a family's `kind` is fine)."""
    if isinstance(node, ast.Attribute) and node.attr == "family" or isinstance(node, ast.Name) and node.id == "family":
        return True
    return isinstance(node, ast.Attribute) and node.attr == "name" and _is_family_name(node.value)


def test_no_family_names_or_family_branches_in_the_family_free_layers() -> None:
    offenders = []
    for path in _python_files(*FAMILY_FREE):
        tree = ast.parse(path.read_text())
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            text = None
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
                text = node.value
            elif isinstance(node, (ast.Name, ast.Attribute, ast.alias, ast.ImportFrom)):
                text = ast.unparse(node) if not isinstance(node, ast.alias) else node.name
            if text and FAMILY_NAMES.search(text):
                offenders.append(f"{path.relative_to(REPO)}:{getattr(node, 'lineno', '?')}: {text[:60]!r}")
            if isinstance(node, ast.Compare) and any(_is_family_name(n) for n in [node.left, *node.comparators]):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: branch on a family")
    assert offenders == []


def test_networks_import_only_torch() -> None:
    checked, offenders = 0, []
    for path in sorted((REPO / "models").rglob("*.py")):
        if path.name not in NETWORK_FILES and not (path.parent.name == "core" and path.name in
                                                   ("warp.py", "discriminators.py", "losses.py", "vgg.py")):
            continue
        checked += 1
        package = ".".join(path.relative_to(REPO).parent.parts)
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                ours = name.startswith((package, "models.core"))
                if top not in ({"torch"} | STDLIB) and not ours:
                    offenders.append(f"{path.relative_to(REPO)}: imports {name}")
    assert checked >= 12 and offenders == []


@pytest.mark.parametrize("folder", ["app", "workers", "models", "corpora", "training", "evaluation", "cli"])
def test_modules_stay_small(folder: str) -> None:
    large = [f"{p.relative_to(REPO)}: {n} lines" for p in _python_files(folder)
             if (n := len(p.read_text().splitlines())) > 420]
    assert large == []


def test_the_worker_loads_no_data_set_training_or_evaluation_code() -> None:
    """The worker image ships app/, cli/, models/, workers/ only: serving must not import the rest."""
    import subprocess
    import sys

    code = ("import sys, workers.worker, workers.runner, workers.loop; from models import get_family, list_families; "
            "[get_family(n).config(sorted(get_family(n).presets)[0]) for n in list_families()]; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'corpora', 'training', 'evaluation'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120,
                            cwd=REPO)
    assert result.stdout.strip() == "[]"
