"""The sample inputs shipped in `samples/` (made by `v2v data samples`): one short input per served model.

`samples/manifest.json` maps a model name to its files, relative to the folder: `video`, and for models with
references `references` + `reference_labels` (lists). Read by the CLI (`v2v submit --sample`) and by the API, which
serves them to the web page under `/samples/...`. Torch-free.
"""

from __future__ import annotations

import json
from pathlib import Path

MANIFEST = "manifest.json"
DEFAULT_SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"
FILE_FIELDS = ("video", "truth", "references", "reference_labels")


def load_samples(folder: Path = DEFAULT_SAMPLES_DIR) -> dict[str, dict[str, object]]:
    """The manifest ({} when the folder has none)."""
    path = folder / MANIFEST
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return data if isinstance(data, dict) else {}


def sample_files(model: str, folder: Path = DEFAULT_SAMPLES_DIR) -> dict[str, list[Path]]:
    """`model`'s sample as {field: [paths]} (fields of FILE_FIELDS that it has); ValueError with the fix if none."""
    manifest = load_samples(folder)
    if not manifest:
        raise ValueError(f"no samples at {folder} (no {MANIFEST}); make them with `v2v data samples --out {folder}`")
    if model not in manifest:
        raise ValueError(f"no sample for model {model!r}; samples exist for: {', '.join(sorted(manifest))}")
    entry = manifest[model]
    files: dict[str, list[Path]] = {}
    for field in FILE_FIELDS:
        value = entry.get(field)
        if value:
            names = [value] if isinstance(value, str) else list(value)
            files[field] = [folder / str(v) for v in names]
    return files
