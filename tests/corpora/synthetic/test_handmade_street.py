"""Hand-made street label clips: determinism, labels-only layout, exact flow, reference colours from a street set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cli.main import main
from corpora.layout import read_png
from corpora.synthetic.handmade_street import SCENES, HandmadeConfig, compose, generate_handmade_dataset, render
from corpora.synthetic.street import STREET_CLASSES, StreetDataConfig, generate_street_dataset
from corpora.synthetic.street_world import CAR, PERSON, ROAD, SKY
from models.core.warp import warp


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def handmade(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("handmade")
    generate_handmade_dataset(HandmadeConfig(out=out, frames=4, height=64, width=128))
    return out


def test_deterministic_labels_only_layout(handmade: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_handmade_dataset(HandmadeConfig(out=again, frames=4, height=64, width=128))
    assert _tree_bytes(handmade) == _tree_bytes(again)
    meta = json.loads((handmade / "dataset.json").read_text())
    assert meta["label_type"] == "segmentation" and meta["num_classes"] == 35 and meta["labels_only"] is True
    assert meta["generator"]["name"] == "street-handmade" and "class_colours" not in meta
    seqs = meta["sequences"]
    assert len(seqs) == len(SCENES) >= 8
    assert all(info["split"] == "test" for info in seqs.values())
    assert sorted(info["appearance"] for info in seqs.values()) == list(range(len(SCENES)))
    assert sorted(p.name for p in handmade.iterdir()) == ["dataset.json", "test_A", "test_flow"]  # no test_B
    for name in seqs:
        assert [p.name for p in sorted((handmade / "test_A" / name).iterdir())] == [f"{t:05d}.png" for t in range(4)]
        flows = sorted((handmade / "test_flow" / name).iterdir())
        assert [p.name for p in flows] == ["00001.npy", "00002.npy", "00003.npy"]
        flow = np.load(flows[0])
        assert flow.shape == (64, 128, 2) and flow.dtype == np.float16
        ids = read_png(handmade / "test_A" / name / "00000.png")
        assert ids.shape == (64, 128) and ids.dtype == np.uint8
        assert set(np.unique(ids).tolist()) <= set(STREET_CLASSES)
        assert (ids == CAR).any() and (ids == SKY).any()


def test_scenes_vary_camera_and_move_cars_both_ways() -> None:
    road_tops, directions, walkers = [], set(), 0
    for name in SCENES:
        scene = compose(name, 128, 256)
        road_tops.append(int(np.argmax((scene.background == ROAD).any(axis=1))) / 128)  # ~ the horizon
        directions |= {int(np.sign(m.vx)) for m in scene.movers if (m.sprite == CAR).any()}
        walkers += any((m.sprite == PERSON).any() and m.vx != 0 for m in scene.movers)
        assert all(m.vx != 0 and isinstance(m.vx, int) and m.vy == 0 for m in scene.movers)
    assert min(road_tops) < 0.3 and max(road_tops) > 0.6  # high and low horizons
    assert directions == {-1, 1} and walkers >= 3


@pytest.mark.parametrize("name", list(SCENES))
def test_stored_flow_warps_labels_exactly(handmade: Path, name: str) -> None:
    """Warping frame t-1's ids by the stored flow gives frame t's ids wherever the same surface is seen (flow target
    inside the frame, not hidden at t-1 behind another object), and that is nearly every pixel."""
    index = list(SCENES).index(name)
    seq = f"handmade_{index:02d}_{name}"
    scene = compose(name, 64, 128)
    moving = 0
    for t in range(1, 4):
        prev = read_png(handmade / "test_A" / seq / f"{t - 1:05d}.png")
        cur = read_png(handmade / "test_A" / seq / f"{t:05d}.png")
        flow = np.load(handmade / "test_flow" / seq / f"{t:05d}.npy").astype(np.float32)  # (H, W, 2)
        assert np.array_equal(flow, np.rint(flow))  # integer px per frame
        flow_t = torch.from_numpy(flow).double().permute(2, 0, 1)[None]  # (1, 2, H, W)

        def warped(image: np.ndarray, flow_t: torch.Tensor = flow_t) -> np.ndarray:
            """Bilinear backward warp; rint only removes the sampling grid's rounding (~1e-12 in float64)."""
            return np.rint(warp(torch.from_numpy(image).double()[None, None], flow_t)[0, 0].numpy())  # (H, W)

        layer_prev = warped(render(scene, t - 1).layer)
        ys, xs = np.mgrid[0:64, 0:128]
        tx, ty = xs + flow[..., 0], ys + flow[..., 1]
        inside = (tx >= 0) & (tx <= 127) & (ty >= 0) & (ty <= 63)
        visible = inside & (layer_prev == render(scene, t).layer)  # the same object (or background) at both ends
        assert visible.mean() > 0.9
        np.testing.assert_array_equal(warped(prev)[visible], cur[visible])
        moving += int((visible & (flow != 0).any(axis=-1)).sum())
    assert moving > 0


def test_cli_colours_from_stores_class_means_and_videos(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    street = tmp_path / "street"
    generate_street_dataset(StreetDataConfig(out=street, sequences=2, test_sequences=1, frames=7, height=32,
                                             width=64))
    out = tmp_path / "handmade"
    code = main(["data", "street-handmade", "--out", str(out), "--frames", "3", "--size", "32x64",
                 "--colours-from", str(street), "--video"])
    assert code == 0
    meta = json.loads((out / "dataset.json").read_text())
    sums, counts = np.zeros((256, 3)), np.zeros(256)
    for t in (0, 5):  # every 5th frame of the train sequence
        ids = read_png(street / "train_A" / "street_0000" / f"{t:05d}.png")
        rgb = read_png(street / "train_B" / "street_0000" / f"{t:05d}.png").astype(np.float64)
        for c in np.unique(ids):
            sums[c] += rgb[ids == c].sum(axis=0)
            counts[c] += (ids == c).sum()
    expected = {str(c): (sums[c] / counts[c]).tolist() for c in np.flatnonzero(counts)}
    assert set(meta["class_colours"]) == set(expected)
    for c, rgb in expected.items():
        np.testing.assert_allclose(meta["class_colours"][c], rgb, atol=0.006)
    assert meta["class_colours_source"] == str(street)
    assert len(list((out / "test_A").glob("*.mp4"))) == len(SCENES)
    assert main(["data", "street-handmade", "--out", str(tmp_path / "x"), "--colours-from", str(tmp_path)]) == 2
    assert "no dataset.json" in capsys.readouterr().err
