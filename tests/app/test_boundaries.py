"""The API stays light: importing it loads neither torch nor cv2, and app/ never imports models or workers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
FORBIDDEN = {"torch", "cv2", "models", "workers"}


def test_importing_the_api_leaves_torch_and_cv2_unloaded():
    code = (
        "import sys, app.main, app.routes.jobs, cli.api, cli.client; "
        "print(sorted(m for m in ('torch', 'cv2', 'models', 'workers') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_app_sources_import_no_forbidden_package():
    offenders = []
    for path in APP.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
