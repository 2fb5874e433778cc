"""People actions: determinism, held-out looks, actions that differ in motion, the static camera, Dataset items as
pure functions of the index, the folder cache and `v2v data actions`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from cli.main import main
from corpora.clip_folder import ClipFolderDataset
from corpora.synthetic.people import PeopleDataConfig, appearance_of
from corpora.synthetic.people_actions import (
    ACTIONS,
    ActionClip,
    ActionsSpec,
    PeopleActionsDataset,
    action_item,
    look_appearance,
    look_ids,
    people_action_clip,
    scene_of,
    write_actions_dataset,
)

SMALL = ActionsSpec(height=32, width=32, frames=10, supersample=1)


@pytest.fixture(scope="module")
def clips() -> dict[str, list[ActionClip]]:
    """Three static-camera clips per action, different looks and seeds."""
    return {a: [people_action_clip([9, s], a, s * 7, SMALL) for s in range(3)] for a in ACTIONS}


def test_same_seed_same_clip_and_other_seeds_differ() -> None:
    a, b = action_item(SMALL, 4, "train", 6), action_item(SMALL, 4, "train", 6)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.keypoints, b.keypoints)
    assert a.frames.shape == (10, 32, 32, 3) and a.frames.dtype == np.uint8 and a.keypoints.shape == (10, 25, 3)
    assert not np.array_equal(a.frames, action_item(SMALL, 5, "train", 6).frames)


def test_held_out_looks_appear_only_in_test() -> None:
    spec = ActionsSpec()
    train, test = look_ids(spec, "train"), look_ids(spec, "test")
    assert train == tuple(range(40)) and test == tuple(range(40, 48))
    items = [(i, action_item(SMALL, 0, "test", i)) for i in (0, 5, 31, 33)]
    for i, clip in items:
        assert clip.look == 40 + (i // 4) % 8 and clip.action == i % 4
    assert action_item(SMALL, 0, "train", 0).look == 0
    # look k is subject k of `v2v data people --seed looks_seed`, so classifiers can share looks across corpora
    people = PeopleDataConfig(out=Path("unused"), seed=0)
    assert np.array_equal(look_appearance(spec, 41).shirt, appearance_of(people, 41).shirt)
    with pytest.raises(ValueError, match="unknown action"):
        people_action_clip(0, "jump", 0, SMALL)


def _motion(clip: ActionClip) -> tuple[float, float, float]:
    """Per-frame motion of the body relative to its hips, of the ankles relative to the hips, and of the pixels;
    keypoint motion in figure heights."""
    kp = clip.keypoints[..., :2]  # (T, 25, 2)
    height = np.ptp(kp[..., 1], axis=1).mean()
    rel = kp - kp[:, 8:9]  # (T, 25, 2) relative to the mid-hip
    body = np.abs(np.diff(rel, axis=0)).mean() / height
    ankles = np.abs(np.diff(rel[:, [11, 14]], axis=0)).mean() / height
    pixels = np.abs(np.diff(clip.frames.astype(np.float32), axis=0)).mean()
    return float(body), float(ankles), float(pixels)


def test_actions_differ_in_motion(clips: dict[str, list[ActionClip]]) -> None:
    stats = {a: np.array([_motion(c) for c in cs]) for a, cs in clips.items()}  # (3, 3) per action
    for a, cs in clips.items():
        assert all(c.action == ACTIONS.index(a) for c in cs)
    idle = stats["idle"].max(axis=0)
    for moving in ("walk", "dance"):
        assert (stats[moving][:, 0] > 3 * idle[0]).all() and (stats[moving][:, 2] > 2 * idle[2]).all(), moving
    assert (stats["walk"][:, 1] > 10 * idle[1]).all()  # legs swing
    walk_travel = [abs(c.keypoints[-1, 8, 0] - c.keypoints[0, 8, 0]) for c in clips["walk"]]
    assert min(walk_travel) > 2.0  # the walker crosses the frame (pixels at 32x32, 10 frames)

    def wrist_up(c: ActionClip) -> float:  # right wrist above the right shoulder
        return float((c.keypoints[:, 4, 1] < c.keypoints[:, 2, 1]).mean())

    assert all(wrist_up(c) == 1.0 for c in clips["wave"])
    assert all(wrist_up(c) == 0.0 for c in clips["walk"] + clips["idle"])


def test_static_camera_keeps_the_background_fixed(clips: dict[str, list[ActionClip]]) -> None:
    for clip in clips["walk"] + clips["dance"]:
        assert clip.figure.any(axis=(1, 2)).all()  # the figure is in every frame
        for t in range(1, len(clip.frames)):
            background = ~clip.figure[0] & ~clip.figure[t]  # (H, W)
            assert background.mean() > 0.5
            assert np.array_equal(clip.frames[t][background], clip.frames[0][background])
    panned = people_action_clip([9, 0], "walk", 0, ActionsSpec(height=32, width=32, frames=10, supersample=1,
                                                               static_camera=False))
    background = ~panned.figure[0] & ~panned.figure[-1]
    assert np.abs(panned.frames[-1][background].astype(int) - panned.frames[0][background]).mean() > 1.0


def test_tracked_clips_keep_the_figure_centred_and_large() -> None:
    """Person-centred crops: the walker stays in the middle and fills most of the height while the background
    scrolls behind it; the same walk on a static camera crosses the frame with a smaller figure."""
    tracked = ActionsSpec(height=32, width=32, frames=10, supersample=1, static_camera=False, track_figure=True)
    for seed in range(3):
        clip = people_action_clip([9, seed], "walk", seed, tracked)
        hips = clip.keypoints[:, 8, 0]  # (T,) mid-hip x
        assert np.abs(hips - 15.5).max() < 2.0
        rows = clip.figure.any(axis=2)  # (T, H)
        assert (rows.sum(axis=1) >= 0.75 * 32).all()
        background = ~clip.figure[0] & ~clip.figure[-1]
        assert np.abs(clip.frames[-1][background].astype(int) - clip.frames[0][background]).mean() > 1.0
        static = people_action_clip([9, seed], "walk", seed, SMALL)
        assert abs(static.keypoints[-1, 8, 0] - static.keypoints[0, 8, 0]) > 2.0
    with pytest.raises(ValueError, match="moving camera"):
        ActionsSpec(track_figure=True)


def test_plain_backdrop_is_the_same_behind_every_clip() -> None:
    plain = ActionsSpec(height=32, width=32, frames=4, supersample=1, plain_backdrop=True)
    a, b = people_action_clip([9, 0], "idle", 0, plain), people_action_clip([9, 1], "wave", 5, plain)
    background = ~a.figure[0] & ~b.figure[0]  # (H, W)
    background[int(0.85 * 32):] = False  # the floor line's height varies with the clip's ground
    assert np.array_equal(a.frames[0][background], b.frames[0][background])
    textured = people_action_clip([9, 1], "wave", 5, replace(plain, plain_backdrop=False))
    assert not np.array_equal(textured.frames[0][background], b.frames[0][background])
    # the backdrop replaces only the background draw: the figure's motion is the same as on a textured one
    assert np.allclose(textured.keypoints, b.keypoints)


def test_paired_scenes_share_a_background_between_two_actions_of_one_look(tmp_path: Path) -> None:
    paired = ActionsSpec(height=32, width=32, frames=4, looks=8, heldout=2, supersample=1, paired_scenes=True)
    scenes = [scene_of(0, "train", i) for i in range(24)]
    pairings = set()
    for group in range(6):  # the four clips of a look (one per action): two scenes of two clips
        own = scenes[4 * group: 4 * group + 4]
        assert sorted(own.count(s) for s in set(own)) == [2, 2]
        pairings.add(frozenset(frozenset(a for a in range(4) if own[a] == s) for s in set(own)))
    assert len(pairings) > 1  # which actions share a scene is drawn per look
    first = scenes.index(scenes[0], 1)
    a, b = action_item(paired, 0, "train", 0), action_item(paired, 0, "train", first)
    assert a.look == b.look and a.action != b.action
    background = ~a.figure[0] & ~b.figure[0]  # (H, W)
    background[int(0.85 * 32):] = False  # the floor line's height varies with the clip's ground
    assert np.array_equal(a.frames[0][background], b.frames[0][background])
    other = next(i for i in range(4) if scenes[i] != scenes[0])
    assert not np.array_equal(action_item(paired, 0, "train", other).frames[0][background], a.frames[0][background])
    # without the option the clip's motion is the same: only the background is the scene's
    alone = action_item(replace(paired, paired_scenes=False), 0, "train", first)
    assert np.allclose(alone.keypoints, b.keypoints)
    write_actions_dataset(tmp_path, paired, 8, 4)
    labels = json.loads((tmp_path / "dataset.json").read_text())["clips"]
    assert [labels[f"train_actions_{i:06d}"]["scene"] for i in range(8)] == scenes[:8]


def test_switching_clips_take_up_another_action_after_their_switch_frame(tmp_path: Path) -> None:
    spec = ActionsSpec(height=32, width=32, frames=12, looks=8, heldout=2, supersample=1, switch_probability=1.0)
    items = {i: action_item(spec, 0, "train", i) for i in range(8)}
    for i, clip in items.items():
        if ACTIONS[clip.action] == "walk":  # walkers keep walking
            assert clip.then is None
            continue
        assert clip.then is not None and clip.switch_at is not None and 2 <= clip.switch_at < 12
        assert clip.then != clip.action and ACTIONS[clip.then] != "walk"
        steady = action_item(replace(spec, switch_probability=0.0), 0, "train", i)
        t = clip.switch_at
        assert np.array_equal(clip.frames[: t + 1], steady.frames[: t + 1])  # the same clip up to the switch
        if t + 2 < 12:
            assert not np.allclose(clip.keypoints[t + 2:], steady.keypoints[t + 2:])  # then another action
    write_actions_dataset(tmp_path, spec, 8, 0)
    labels = json.loads((tmp_path / "dataset.json").read_text())["clips"]
    for i, clip in items.items():
        label = labels[f"train_actions_{i:06d}"]
        assert (label.get("then"), label.get("switch_at")) == (clip.then, clip.switch_at)
    with pytest.raises(ValueError, match="switch"):
        ActionsSpec(switch_probability=1.5)


def test_supersampled_clips_keep_keypoints_in_output_pixels() -> None:
    big = people_action_clip(3, "wave", 2, ActionsSpec(height=32, width=32, frames=2, supersample=2))
    ys, xs = np.nonzero(big.figure[0])
    kx, ky = big.keypoints[0, :, 0], big.keypoints[0, :, 1]
    assert xs.min() - 1 <= kx.min() and kx.max() <= xs.max() + 1
    assert ys.min() - 1 <= ky.min() and ky.max() <= ys.max() + 1


def test_dataset_items_are_pure_functions_of_seed_split_and_index() -> None:
    ds = PeopleActionsDataset(SMALL, "test", length=8, seed=2)
    item = ds[5]
    assert item["frames"].shape == (10, 3, 32, 32) and item["frames"].dtype == torch.float32
    assert item["frames"].min() >= -1 and item["frames"].max() <= 1 and item["frames"].min() < -0.5
    assert item["action"].item() == 1 and item["look"].item() == 41
    assert torch.equal(item["frames"], PeopleActionsDataset(SMALL, "test", length=8, seed=2)[5]["frames"])
    unit = PeopleActionsDataset(SMALL, "test", length=8, seed=2, signed=False)[5]["frames"]
    assert torch.allclose(unit * 2 - 1, item["frames"])
    with pytest.raises(IndexError):
        ds[8]


def test_seen_test_clips_are_new_clips_of_the_training_looks() -> None:
    assert look_ids(ActionsSpec(), "test_seen") == look_ids(ActionsSpec(), "train")
    for i in (0, 1, 6):
        seen, train = action_item(SMALL, 0, "test_seen", i), action_item(SMALL, 0, "train", i)
        assert (seen.look, seen.action) == (train.look, train.action)
        assert not np.array_equal(seen.frames, train.frames)  # same person and action, another clip


def test_the_written_cache_holds_the_datasets_items(tmp_path: Path) -> None:
    spec = ActionsSpec(height=16, width=16, frames=4, supersample=1)
    stats = write_actions_dataset(tmp_path, spec, train_clips=2, test_clips=1, seed=3, pose=True)
    assert stats["clips"] == 3
    folder = ClipFolderDataset(tmp_path, "train", signed=True)
    on_the_fly = PeopleActionsDataset(spec, "train", length=2, seed=3)
    for i in range(2):
        assert torch.equal(folder[i]["frames"], on_the_fly[i]["frames"])
        assert folder[i]["action"] == on_the_fly[i]["action"] and folder[i]["look"] == on_the_fly[i]["look"]
    meta = json.loads((tmp_path / "dataset.json").read_text())
    assert meta["generator"]["heldout_looks"] == list(range(40, 48)) and meta["generator"]["static_camera"]
    assert meta["sequences"]["test_actions_000000"] == {"split": "test", "appearance": 40}
    assert len(list((tmp_path / "train_openpose" / "train_actions_000001").glob("*.json"))) == 4


def test_cli_writes_an_actions_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "actions"
    argv = ["data", "actions", "--out", str(out), "--size", "16", "--frames", "3", "--train-clips", "2",
            "--test-clips", "1", "--seen-test-clips", "2", "--looks", "6", "--heldout", "2", "--pan"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["clips"] == 5
    test = ClipFolderDataset(out, "test")
    assert len(test) == 1 and test[0]["look"].item() == 4 and test[0]["frames"].shape == (3, 3, 16, 16)
    seen = ClipFolderDataset(out, "test_seen")
    assert len(seen) == 2 and [seen[i]["look"].item() for i in range(2)] == [0, 0]
    sequences = json.loads((out / "dataset.json").read_text())["sequences"]
    assert sequences["test_seen_actions_000001"]["split"] == "test_seen"
    assert main(["data", "actions", "--out", str(out), "--heldout", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("v2v data actions: heldout") and err.count("\n") == 1
