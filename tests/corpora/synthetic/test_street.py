"""Synthetic street data: determinism, label classes, instances, layout, exactness of the ground-truth flow."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from corpora.layout import read_png
from corpora.synthetic.street import STREET_CLASSES, StreetDataConfig, generate_street_dataset
from corpora.synthetic.street_render import render_frame, visible_mask
from corpora.synthetic.street_traffic import FIRST_INSTANCE, with_cross_traffic
from corpora.synthetic.street_world import CAR, PERSON, sample_street_world
from models.core.warp import warp


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("street")
    generate_street_dataset(StreetDataConfig(out=out, sequences=3, test_sequences=1, frames=3, height=48,
                                             width=96, seed=7))
    return out


def test_same_seed_same_bytes_and_other_seed_differs(small_set: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_street_dataset(StreetDataConfig(out=again, sequences=3, test_sequences=1, frames=3, height=48,
                                             width=96, seed=7))
    assert _tree_bytes(small_set) == _tree_bytes(again)
    parallel = tmp_path / "parallel"  # output does not depend on the number of processes
    generate_street_dataset(StreetDataConfig(out=parallel, sequences=3, test_sequences=1, frames=3, height=48,
                                             width=96, seed=7, workers=2))
    assert _tree_bytes(small_set) == _tree_bytes(parallel)
    other = tmp_path / "other"
    generate_street_dataset(StreetDataConfig(out=other, sequences=1, test_sequences=0, frames=2, height=48,
                                             width=96, seed=8))
    a = (small_set / "train_B" / "street_0000" / "00000.png").read_bytes()
    assert (other / "train_B" / "street_0000" / "00000.png").read_bytes() != a


def test_layout_split_and_dataset_json(small_set: Path) -> None:
    meta = json.loads((small_set / "dataset.json").read_text())
    assert meta["label_type"] == "segmentation" and meta["num_classes"] == 35
    assert {k: v["split"] for k, v in meta["sequences"].items()} == {
        "street_0000": "train", "street_0001": "train", "street_0002": "test"}
    assert sorted(p.name for p in (small_set / "test_A").iterdir()) == ["street_0002"]
    seq = small_set / "train_A" / "street_0001"
    assert [p.name for p in sorted(seq.iterdir())] == ["00000.png", "00001.png", "00002.png"]
    flows = sorted((small_set / "train_flow" / "street_0001").iterdir())
    assert [p.name for p in flows] == ["00001.npy", "00002.npy"]  # none for frame 0
    flow = np.load(flows[0])
    assert flow.shape == (48, 96, 2) and flow.dtype == np.float16
    label = read_png(seq / "00000.png")
    assert label.shape == (48, 96) and label.dtype == np.uint8
    inst = read_png(small_set / "train_inst" / "street_0001" / "00000.png")
    assert inst.dtype == np.uint16
    assert read_png(small_set / "train_B" / "street_0001" / "00000.png").shape == (48, 96, 3)
    assert not list(small_set.rglob("*.partial*"))


def test_labels_are_street_classes_and_the_main_ones_appear() -> None:
    seen: set[int] = set()
    for seed in range(4):
        world = sample_street_world(np.random.default_rng(seed), 4, 96, 192)
        frame = render_frame(world, 2)
        ids = set(np.unique(frame.label).tolist())
        assert ids <= set(STREET_CLASSES)
        seen |= ids
        # Things get labelId * 1000 + k; stuff pixels carry their labelId.
        things = frame.instance >= 1000
        assert np.all(np.isin(frame.instance[things] // 1000, [CAR, PERSON]))
        assert np.array_equal(frame.instance[things] // 1000, frame.label[things])
        assert np.array_equal(frame.instance[~things], frame.label[~things])
    assert {7, 8, 11, 17, 21, 23, 24, 26} <= seen


def test_cars_have_distinct_instance_ids() -> None:
    world = sample_street_world(np.random.default_rng(0), 4, 96, 192)
    car_ids = world.boxes.inst[world.boxes.label == CAR]
    # Two boxes (body, cabin) per car, one id per car.
    assert len(np.unique(car_ids)) == len(car_ids) // 2


@pytest.mark.parametrize("seed", [0, 2])  # camera speeds ~1.0 and ~0.9 m/frame
def test_ground_truth_flow_reproduces_the_next_frame(seed: int) -> None:
    world = sample_street_world(np.random.default_rng(seed), 4, 96, 192)
    prev, cur = render_frame(world, 1), render_frame(world, 2)
    assert cur.flow is not None and cur.prev_depth is not None
    visible = visible_mask(cur.flow, cur.prev_depth, prev.depth)
    assert visible.mean() > 0.8
    image = torch.from_numpy(prev.rgb).permute(2, 0, 1)[None].float()  # (1, 3, H, W)
    flow = torch.from_numpy(cur.flow.astype(np.float16).astype(np.float32)).permute(2, 0, 1)[None]
    warped = warp(image, flow)[0].permute(1, 2, 0).numpy()  # (H, W, 3)
    err = np.abs(warped - cur.rgb).mean(-1)[visible]
    err_zero = np.abs(prev.rgb.astype(np.float32) - cur.rgb).mean(-1)[visible]
    assert err.mean() < 4.0
    assert err.mean() < 0.3 * err_zero.mean()
    # Away from object edges (where a re-rendered hard edge cannot match a resampled one) it is near exact.
    lab = torch.from_numpy(prev.label)[None, None].float()
    same = (warp(lab, flow)[0, 0].numpy() == cur.label) & visible
    interior = np.abs(warped - cur.rgb).mean(-1)[same]
    assert np.median(interior) < 1.0


def test_flow_is_zero_for_a_still_camera_except_on_moving_things() -> None:
    world = sample_street_world(np.random.default_rng(1), 4, 48, 96)
    still = dataclasses.replace(world.path, speed=0.0, sway=0.0, yaw_amp=0.0, pitch_amp=0.0)
    frame = render_frame(dataclasses.replace(world, path=still), 1)
    assert frame.flow is not None and np.isfinite(frame.flow).all()
    moving_boxes = world.boxes.inst[np.abs(world.boxes.vel[:, 2]) > 0]
    on_moving = np.isin(frame.instance, moving_boxes)
    assert np.abs(frame.flow[~on_moving]).max() < 1e-3
    if on_moving.any():
        assert np.abs(frame.flow[on_moving]).max() > 0.05


def test_still_camera_sequences_hold_the_background_and_leave_the_test_split_alone(tmp_path: Path) -> None:
    base = {"sequences": 6, "test_sequences": 2, "frames": 4, "height": 48, "width": 96, "seed": 3,
            "cross_traffic_share": 0.0}
    still = StreetDataConfig(out=tmp_path / "still", still_camera_share=1.0, **base)  # type: ignore[arg-type]
    moving = StreetDataConfig(out=tmp_path / "moving", still_camera_share=0.0, **base)  # type: ignore[arg-type]
    from corpora.synthetic.street import still_camera

    chosen = [i for i in range(6) if still_camera(still, i)]
    assert chosen == [0, 1, 2, 3]  # every train sequence, never a test one
    generate_street_dataset(still)
    generate_street_dataset(moving)
    test_names = ["street_0004", "street_0005"]
    for split_dir in ("test_A", "test_B", "test_flow"):
        for name in test_names:
            a, b = (_tree_bytes(tmp_path / kind / split_dir / name) for kind in ("still", "moving"))
            assert a == b, (split_dir, name)
    name = f"street_{chosen[0]:04d}"
    labels = [read_png(tmp_path / "still" / "train_A" / name / f"{t:05d}.png") for t in range(4)]
    flow = np.load(tmp_path / "still" / "train_flow" / name / "00003.npy").astype(np.float32)  # (H, W, 2)
    unchanged = (labels[3] == labels[2]) & (np.abs(flow).sum(-1) == 0)
    assert unchanged.mean() > 0.8  # the background stands still: zero flow, same labels
    moving_flow = np.load(tmp_path / "moving" / "train_flow" / name / "00003.npy").astype(np.float32)
    assert (np.abs(moving_flow).sum(-1) == 0).mean() < 0.5  # the same world with its camera travelling


def test_cross_traffic_crosses_the_road_in_view_with_exact_flow() -> None:
    world = sample_street_world(np.random.default_rng(1), 12, 64, 128)
    still = dataclasses.replace(world.path, speed=0.0, sway=0.0, yaw_amp=0.0, pitch_amp=0.0)
    world = dataclasses.replace(world, path=still)
    crossing = with_cross_traffic(world, np.random.default_rng(5), 12)
    added = slice(len(world.boxes.inst), None)
    assert (crossing.boxes.label[added] == CAR).sum() >= 2  # at least one car: body and cabin
    assert np.all(crossing.boxes.vel[added, 2] == 0) and np.all(np.abs(crossing.boxes.vel[added, 0]) > 0)
    np.testing.assert_array_equal(crossing.boxes.lo[: len(world.boxes.inst)], world.boxes.lo)  # the world is kept
    seen, agree = 0, []
    for t in range(1, 12):
        prev, cur = render_frame(crossing, t - 1), render_frame(crossing, t)
        on_crossing = (cur.instance % 1000) >= FIRST_INSTANCE  # (H, W)
        seen += int(on_crossing.sum())
        if on_crossing.sum() < 20:
            continue
        assert cur.flow is not None
        assert np.abs(cur.flow[on_crossing, 0]).mean() > 0.3  # they move sideways on screen
        ys, xs = np.nonzero(on_crossing)
        src_x = np.clip(np.rint(xs + cur.flow[ys, xs, 0]).astype(int), 0, cur.instance.shape[1] - 1)
        src_y = np.clip(np.rint(ys + cur.flow[ys, xs, 1]).astype(int), 0, cur.instance.shape[0] - 1)
        agree.append((prev.instance[src_y, src_x] == cur.instance[ys, xs]).mean())
    assert seen > 0 and agree
    assert np.mean(agree) > 0.8  # the flow carries each crossing object onto itself


def test_cross_traffic_is_train_only_and_leaves_the_test_split_alone(tmp_path: Path) -> None:
    base = {"sequences": 4, "test_sequences": 1, "frames": 3, "height": 32, "width": 64, "seed": 3,
            "still_camera_share": 0.0}
    busy = StreetDataConfig(out=tmp_path / "busy", cross_traffic_share=1.0, **base)  # type: ignore[arg-type]
    plain = StreetDataConfig(out=tmp_path / "plain", cross_traffic_share=0.0, **base)  # type: ignore[arg-type]
    from corpora.synthetic.street import cross_traffic

    assert [i for i in range(4) if cross_traffic(busy, i)] == [0, 1, 2]
    generate_street_dataset(busy)
    generate_street_dataset(plain)
    for split_dir in ("test_A", "test_B", "test_flow"):
        a, b = (_tree_bytes(tmp_path / kind / split_dir / "street_0003") for kind in ("busy", "plain"))
        assert a == b, split_dir
    a, b = (_tree_bytes(tmp_path / kind / "train_inst" / "street_0000") for kind in ("busy", "plain"))
    assert a != b  # crossing objects added to the train sequences
