"""Synthetic people: determinism, held-out appearances, pose-map colours, exact ground-truth flow."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from app.contracts.openpose import load_openpose_json
from corpora.layout import read_png
from corpora.synthetic.people import (
    PeopleDataConfig,
    appearance_of,
    generate_people_dataset,
)
from corpora.synthetic.people_figure import Motion, Placement, pose_at
from corpora.synthetic.people_render import bake_background, render_figure, sample_background
from models.core.openpose import BODY_EDGES, render_openpose
from models.core.warp import warp

CONFIG = {"subjects": 3, "heldout": 1, "frames": 3, "height": 64, "width": 32, "sequences_per_subject": 2, "seed": 5}


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("people")
    generate_people_dataset(PeopleDataConfig(out=out, **CONFIG))
    return out


def test_same_seed_same_bytes(small_set: Path, tmp_path: Path) -> None:
    generate_people_dataset(PeopleDataConfig(out=tmp_path, **CONFIG))
    assert _tree_bytes(small_set) == _tree_bytes(tmp_path)


def test_heldout_appearances_only_in_test(small_set: Path) -> None:
    meta = json.loads((small_set / "dataset.json").read_text())
    assert meta["label_type"] == "pose" and meta["heldout_appearances"] == [2]
    seqs = meta["sequences"]
    train = {v["appearance"] for v in seqs.values() if v["split"] == "train"}
    test = {v["appearance"] for v in seqs.values() if v["split"] == "test"}
    assert train == {0, 1} and test == {2} and not train & test
    assert sorted(p.name for p in (small_set / "test_B").iterdir()) == ["person_002_0", "person_002_1"]
    assert sorted(p.name for p in (small_set / "train_B").iterdir()) == [
        "person_000_0", "person_000_1", "person_001_0", "person_001_1"]


def test_appearances_differ_between_subjects() -> None:
    config = PeopleDataConfig(out=Path("unused"), **CONFIG)
    a, b = appearance_of(config, 0), appearance_of(config, 1)
    assert not np.allclose(a.shirt, b.shirt)
    assert np.allclose(appearance_of(config, 0).shirt, a.shirt)


def test_pose_maps_use_only_table_colours_and_match_keypoint_json(small_set: Path) -> None:
    allowed = {c for _, _, c in BODY_EDGES} | {(0, 0, 0)}
    label = read_png(small_set / "train_A" / "person_000_0" / "00001.png")
    assert label.shape == (64, 32, 3)
    colours = {tuple(int(v) for v in c) for c in np.unique(label.reshape(-1, 3), axis=0)}
    assert colours <= allowed and len(colours) > 5
    keypoints = load_openpose_json(small_set / "train_openpose" / "person_000_0" / "00001_keypoints.json")
    assert np.array_equal(render_openpose(keypoints.body, 64, 32), label)


@pytest.mark.parametrize(("seed", "kind", "baked"), [(0, "walk", False), (1, "dance", True), (2, "wave", True)])
def test_ground_truth_flow_reproduces_the_next_frame(seed: int, kind: str, baked: bool) -> None:
    config = PeopleDataConfig(out=Path("unused"), subjects=3, heldout=0, height=128, width=64, seed=seed)
    app = appearance_of(config, 0)
    bg = dataclasses.replace(sample_background(np.random.default_rng(seed)), kind=1, scale=24.0)  # wallpaper stripes
    motion = Motion(kind=kind, freq=0.06, phase=0.5, amp=1.2, turn=0.3, turn_freq=0.03, direction=1.0)
    place = Placement(x0=28.0, vx=1.5, ground=120.0, scale=100.0, pan=0.6, zoom=0.004, cx=32.0, cy=64.0)
    p0, p1, p2 = (pose_at(app.proportions, motion, place, t) for t in (3, 4, 5))
    texture = bake_background(bg, place, 6, 128, 64) if baked else None  # what the data set writer uses
    prev = render_figure(app, bg, place, p1, 4, 128, 64, p0, texture)
    cur = render_figure(app, bg, place, p2, 5, 128, 64, p1, texture)
    assert cur.flow is not None
    v, u = np.mgrid[0:128, 0:64]
    tu = np.clip(np.rint(u + cur.flow[..., 0]), 0, 63).astype(int)
    tv = np.clip(np.rint(v + cur.flow[..., 1]), 0, 127).astype(int)
    visible = prev.owner[tv, tu] == cur.owner  # the same part (or background) is seen there at t-1
    assert visible.mean() > 0.85
    image = torch.from_numpy(prev.rgb).permute(2, 0, 1)[None].float()
    warped = warp(image, torch.from_numpy(cur.flow).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    err = np.abs(warped - cur.rgb).mean(-1)[visible]
    err_zero = np.abs(prev.rgb.astype(np.float32) - cur.rgb).mean(-1)[visible]
    assert err.mean() < 3.0
    assert err.mean() < 0.5 * err_zero.mean()
    assert np.median(err) < 1.0
