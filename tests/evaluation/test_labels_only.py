"""`v2v eval` on a labels-only data set (hand-made street clips): the scores, the Markdown table, the preview."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from cli.main import main
from corpora.layout import read_png
from corpora.synthetic.handmade_street import HandmadeConfig, compose, generate_handmade_dataset, render
from corpora.synthetic.street import StreetDataConfig, generate_street_dataset
from evaluation.labels_only import (
    LabelClip,
    class_colour_error,
    colour_table,
    flat_render,
    flicker,
    label_warping_error,
)
from models.core.labels import CITYSCAPES_PALETTE
from tests.evaluation.tiny_models import write_tiny_manifest

METRICS = ("warping_error", "flicker", "class_colour_error", "grid_db", "grid_excess_db")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("labels_only")
    street, handmade = root / "street", root / "handmade"
    generate_street_dataset(StreetDataConfig(out=street, sequences=2, test_sequences=1, frames=3, height=32,
                                             width=64))
    generate_handmade_dataset(HandmadeConfig(out=handmade, frames=3, height=32, width=64, colours_from=street))
    write_tiny_manifest(root)
    return {"handmade": handmade, "manifest": root / "manifest.json", "root": root}


def _clip(scene: str, frames: int, height: int = 64, width: int = 128) -> LabelClip:
    rendered = [render(compose(scene, height, width), t) for t in range(frames)]
    ids = np.stack([r.ids for r in rendered]).astype(np.int64)  # (T, H, W)
    return LabelClip(torch.empty(0), ids, np.stack([r.flow for r in rendered]))


def test_eval_scores_a_labels_only_set(data: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out, md, previews = data["root"] / "eval.json", data["root"] / "eval.md", data["root"] / "previews"
    code = main(["eval", "--data", str(data["handmade"]), "--manifest", str(data["manifest"]), "--max-frames", "3",
                 "--max-sequences", "2", "--out", str(out), "--markdown", str(md), "--previews", str(previews)])
    assert code == 0
    report = json.loads(out.read_text())
    assert set(report["models"]) == {"street"}  # the few-shot pose card reads no segmentation, needs references
    street = report["models"]["street"]
    assert street["labels_only"] is True and street["reference_colours"] == "class_colours"
    assert street["sequences"] == ["handmade_00_avenue", "handmade_01_high_camera"]
    for variant in ("temporal", "frame_by_frame"):
        r = street[variant]
        assert r["frames"] == 6 and r["sequences"] == 2
        assert all(math.isfinite(r[k]) for k in METRICS)
        assert 0 <= r["warping_error"] <= 1 and 0 <= r["flicker"] <= 1 and 0 <= r["class_colour_error"] <= math.sqrt(3)
    table = md.read_text()
    assert "| street | temporal |" in table and "| street | frame by frame (temporal off) |" in table
    assert "Labels-only data" in table and "PSNR" not in table
    assert table in capsys.readouterr().out
    png = read_png(previews / "street.png")
    assert png.shape == (3 * 32, 2 * 64, 3)  # 3 frames, label | generated (no ground truth)
    np.testing.assert_array_equal(png[:32, :64], CITYSCAPES_PALETTE[read_png(
        data["handmade"] / "test_A" / "handmade_00_avenue" / "00000.png")])
    assert (previews / "street.gif").stat().st_size > 0


def test_class_colour_error_is_zero_for_the_flat_render_and_large_for_grey() -> None:
    clip = _clip("side_view", 3)
    colours = {int(c): CITYSCAPES_PALETTE[c].astype(np.float64) + 3.0 for c in np.unique(clip.ids)}
    flat = flat_render(clip.ids, colour_table(colours, CITYSCAPES_PALETTE))  # (T, H, W, 3)
    assert class_colour_error(flat, clip.ids, colours) < 1e-6
    smeared = np.stack([cv2.blur(f, (3, 3)) for f in flat])  # wrong colours only within 1 px of class borders
    assert class_colour_error(smeared, clip.ids, colours) < 1e-6
    grey = np.full_like(flat, 128)
    assert class_colour_error(grey, clip.ids, colours) > 0.3


def test_warping_error_and_flicker_use_the_labels_and_the_exact_flow() -> None:
    clip = _clip("suburb", 4)
    flat = flat_render(clip.ids, colour_table({}, CITYSCAPES_PALETTE))  # moves exactly as the labels do
    assert label_warping_error(flat, clip) < 1e-9 and flicker(flat, clip) == 0.0
    still = np.repeat(flat[:1], 4, axis=0)  # frozen: the cars do not move
    assert label_warping_error(still, clip) > 1e-3 and flicker(still, clip) == 0.0  # flat cars: their edges err
    noisy = np.clip(flat + np.random.default_rng(0).integers(-20, 21, flat.shape), 0, 255).astype(np.uint8)
    assert flicker(noisy, clip) > 0.02 and label_warping_error(noisy, clip) > 0.02
