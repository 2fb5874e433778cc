"""People actions: short RGB clips of the procedural people (`people_figure`, `people_render`) labelled with an
action class and a look id, for the `generate` families (action = class, look = content) and their judges.

Owns the action clip sampler (`people_action_clip`), the corpus item `action_item(spec, seed, split, i)` (a pure
function of its arguments), the on-the-fly `PeopleActionsDataset` and the folder writer behind `v2v data actions`
(read back with `corpora.clip_folder.ClipFolderDataset`, the cache for training: rendering runs at a few clips/s
per core).

Looks: look k is `sample_appearance(default_rng([looks_seed, 1, k]))`, the same look as subject k of
`v2v data people --seed looks_seed`. The `heldout` highest look ids appear only in the test split. The optional
`test_seen` split holds new clips of the training looks (motions, placements and turns drawn afresh): the protocol
of models that know their subjects, such as VideoVAE's identity attribute (the paper tests on the last third of each
subject's videos). Item i shows
action i mod A and look (i div A) mod L of its split's looks, so every A·L consecutive items cover each pair once.
Frames are rendered at `supersample` times the size and area-averaged down (no aliasing of stripes and checks).
With `paired_scenes` the A clips of one look are split into scenes of two clips (a seeded pairing of the actions): the
two clips of a scene share their background, so a scene shows one person in one place doing two actions.
With `switch_probability` > 0 a clip of a non-walking action takes up another non-walking action at a random frame
(`Motion.then`): futures that the first frames do not decide, for the `predict` families.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from corpora.clip_folder import Labels, frames_to_tensor, write_clip, write_clips_json
from corpora.layout import SequenceEntry
from corpora.synthetic.people import MOTIONS
from corpora.synthetic.people_figure import Motion, Placement, pose_at
from corpora.synthetic.people_render import (
    Appearance,
    Background,
    bake_background,
    render_figure,
    sample_appearance,
    sample_background,
)

ACTIONS = MOTIONS  # ("walk", "dance", "wave", "idle"): class id = index
SPLITS = {"train": 0, "test": 1, "test_seen": 2}
"""Split name -> the key of its items' random streams; `test_seen` uses the training looks."""
PLAIN_BACKDROP = Background(kind=0, colour=np.array([0.78, 0.76, 0.7], np.float32),
                            colour2=np.array([0.7, 0.62, 0.5], np.float32), scale=60.0, seed=12345, flat=True)
"""`plain_backdrop`'s flat wall and floor, the same for every clip (a tracking camera sees no background motion
except the floor's edge)."""


@dataclass(frozen=True)
class ActionsSpec:
    """What a clip looks like and which looks exist. `static_camera` keeps the camera fixed (walkers cross the
    frame); otherwise the camera pans with walkers and zooms slightly, as in `v2v data people`. `track_figure`
    (with a moving camera) makes person-centred crops instead, like the Weizmann crops VideoVAE trains on: the
    camera follows the figure exactly, which stays centred and fills most of the frame height. `plain_backdrop`
    puts every clip in front of one plain wall and floor (Weizmann's single scene) instead of a random textured
    background per clip. `paired_scenes` (for the identity-pair critic of MoCoGAN, ours): every clip shares its
    background with one other clip of its look doing another action (`scene_of`). `switch_probability`: the share
    of dance, wave and idle clips that change to another of the three at a frame drawn from `switch_after` ..
    frames − 1 (walkers keep walking: their speed is the placement's)."""

    height: int = 64
    width: int = 64
    frames: int = 16
    looks: int = 48
    heldout: int = 8
    looks_seed: int = 0
    static_camera: bool = True
    supersample: int = 2
    turn_probability: float = 0.5
    track_figure: bool = False
    plain_backdrop: bool = False
    paired_scenes: bool = False
    switch_probability: float = 0.0
    switch_after: int = 2

    def __post_init__(self) -> None:
        if self.track_figure and self.static_camera:
            raise ValueError("track_figure needs a moving camera (static_camera=False)")
        if min(self.height, self.width) < 16 or self.frames < 1 or self.supersample < 1:
            raise ValueError("need height and width >= 16, frames >= 1 and supersample >= 1")
        switching = self.switch_probability > 0
        if not 0.0 <= self.switch_probability <= 1.0 or (switching and not 0 <= self.switch_after < self.frames):
            raise ValueError("need switch_probability in [0, 1] and switch_after in 0..frames-1")
        if not 0 < self.heldout < self.looks:
            raise ValueError(f"heldout must be in 1..looks-1 (both splits need looks), got {self.heldout}")


@dataclass(frozen=True, eq=False)
class ActionClip:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    action: int  # index into ACTIONS
    look: int
    keypoints: np.ndarray  # (T, 25, 3) BODY_25 [x, y, confidence] in output pixels
    figure: np.ndarray  # (T, H, W) bool: pixels the figure touches (the rest is background)
    then: int | None = None  # the action taken up from frame `switch_at` on (`switch_probability`)
    switch_at: int | None = None
    scene: int | None = None  # `paired_scenes`: the id shared with the other clip of its scene (`scene_of`)


def look_ids(spec: ActionsSpec, split: str) -> tuple[int, ...]:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    first_test = spec.looks - spec.heldout
    return tuple(range(first_test, spec.looks)) if split == "test" else tuple(range(first_test))


def look_appearance(spec: ActionsSpec, look: int) -> Appearance:
    return sample_appearance(np.random.default_rng([spec.looks_seed, 1, look]))


def sample_action_motion(rng: np.random.Generator, action: str, spec: ActionsSpec) -> tuple[Motion, Placement]:
    """Motion and placement of one clip at the render size (ranges of `people.sample_sequence`, per action)."""
    h, w, n = spec.height * spec.supersample, spec.width * spec.supersample, spec.frames
    direction = float(rng.choice([-1.0, 1.0]))
    freq = {"walk": rng.uniform(0.04, 0.08), "dance": rng.uniform(0.03, 0.07)}.get(action, rng.uniform(0.02, 0.05))
    turn = rng.uniform(0.1, 0.4) if rng.random() < spec.turn_probability else 0.0
    motion = Motion(kind=action, freq=float(freq), phase=float(rng.uniform(0, 2 * np.pi)),
                    amp=float(rng.uniform(0.6, 1.3)), turn=float(turn), turn_freq=float(rng.uniform(0.01, 0.04)),
                    direction=direction)
    scale = h * (rng.uniform(0.78, 0.88) if spec.track_figure else rng.uniform(0.6, 0.85))
    if action == "walk":  # a stride-like speed, capped so the walker stays in frame over the clip
        vx = direction * min(scale * freq * rng.uniform(0.4, 0.7), 0.4 * w / max(n, 1))
    else:
        vx = rng.uniform(-0.1, 0.1) * h / 256
    pan, zoom = 0.0, 0.0
    if spec.track_figure:
        pan = vx
    elif not spec.static_camera:
        pan = vx * rng.uniform(0.4, 1.0)
        zoom = rng.uniform(-0.004, 0.004)
    drift = (vx - pan) * n  # net image-space travel of the figure over the clip
    jitter = rng.uniform(-0.06, 0.06) * w
    ground = h * rng.uniform(0.9, 0.97)
    if spec.track_figure:
        jitter, ground = jitter / 4, h * rng.uniform(0.94, 0.97)
    place = Placement(x0=float(w / 2 - drift / 2 + jitter), vx=float(vx),
                      ground=float(ground), scale=float(scale), pan=float(pan),
                      zoom=float(zoom), cx=w / 2, cy=h / 2)
    if spec.switch_probability > 0 and action != "walk":  # drawn last: clips without the option are unchanged
        switches = rng.random() < spec.switch_probability
        then = str(rng.choice([a for a in ACTIONS if a not in ("walk", action)]))
        switch_at = int(rng.integers(spec.switch_after, spec.frames))
        if switches:
            motion = replace(motion, then=then, switch_at=switch_at)
    return motion, place


def people_action_clip(
    rng_or_seed: np.random.Generator | int | Sequence[int], action: str | int, look: int, spec: ActionsSpec,
    scene_background: Background | None = None,
) -> ActionClip:
    """Render one clip of look `look` doing `action` (a name or an index into ACTIONS) over a random background
    (`scene_background` when given, unless the spec's plain backdrop; the rng's draws are the same either way)."""
    rng = rng_or_seed if isinstance(rng_or_seed, np.random.Generator) else np.random.default_rng(rng_or_seed)
    name = ACTIONS[action] if isinstance(action, int) else action
    if name not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; valid: {', '.join(ACTIONS)}")
    if not 0 <= look < spec.looks:
        raise ValueError(f"look must be in 0..{spec.looks - 1}, got {look}")
    app = look_appearance(spec, look)
    k = spec.supersample
    rh, rw = spec.height * k, spec.width * k
    background = sample_background(rng)  # drawn either way, so the other draws do not depend on the backdrop
    if scene_background is not None:
        background = scene_background
    if spec.plain_backdrop:
        background = PLAIN_BACKDROP
    background = replace(background, scale=background.scale * rh / 256)  # pattern size relative to the frame
    motion, place = sample_action_motion(rng, name, spec)
    texture = bake_background(background, place, spec.frames, rh, rw)
    frames = np.zeros((spec.frames, spec.height, spec.width, 3), dtype=np.uint8)  # (T, H, W, 3)
    figure = np.zeros((spec.frames, spec.height, spec.width), dtype=bool)  # (T, H, W)
    keypoints = np.zeros((spec.frames, 25, 3))  # (T, 25, 3)
    for t in range(spec.frames):
        pose = pose_at(app.proportions, motion, place, t)
        frame = render_figure(app, background, place, pose, t, rh, rw, None, texture)
        rgb = frame.rgb if k == 1 else cv2.resize(frame.rgb, (spec.width, spec.height), interpolation=cv2.INTER_AREA)
        frames[t] = rgb
        figure[t] = (frame.owner >= 0).reshape(spec.height, k, spec.width, k).any(axis=(1, 3))  # any sub-pixel
        keypoints[t] = pose.keypoints
        keypoints[t, :, :2] = (pose.keypoints[:, :2] + 0.5) / k - 0.5  # render -> output pixel centres
    then = None if motion.then is None else ACTIONS.index(motion.then)
    return ActionClip(frames=frames, action=ACTIONS.index(name), look=look, keypoints=keypoints, figure=figure,
                      then=then, switch_at=None if then is None else motion.switch_at)


def action_item(spec: ActionsSpec, seed: int, split: str, index: int) -> ActionClip:
    """Clip `index` of a split: action index mod A, look (index div A) mod L of the split's looks, the rest drawn
    from default_rng([seed, split, index]); a pure function of its arguments."""
    looks = look_ids(spec, split)
    rng = np.random.default_rng([seed, SPLITS[split], index])
    action, look = index % len(ACTIONS), looks[(index // len(ACTIONS)) % len(looks)]
    if not spec.paired_scenes:
        return people_action_clip(rng, action, look, spec)
    scene = scene_of(seed, split, index)
    background = sample_background(np.random.default_rng([seed, SPLITS[split], SCENE_STREAM, 1, scene]))
    return replace(people_action_clip(rng, action, look, spec, background), scene=scene)


SCENE_STREAM = 1_000_003
"""Key of the scene backgrounds' random streams (apart from the items' [seed, split, index])."""


def scene_of(seed: int, split: str, index: int) -> int:
    """The scene of item `index` with `paired_scenes`: items A·g .. A·g + A − 1 (one look) are paired by a seeded
    permutation of the actions; both items of a pair (the last one alone when A is odd) get the same id."""
    group, action = divmod(index, len(ACTIONS))
    pairing = np.random.default_rng([seed, SPLITS[split], SCENE_STREAM, 0, group])
    order = [int(a) for a in pairing.permutation(len(ACTIONS))]
    return group * len(ACTIONS) + order.index(action) // 2


class PeopleActionsDataset(Dataset):
    """On-the-fly people actions; item i is `action_item(spec, seed, split, i)` (a resumed run sees the same clips).

    Item: {"frames": float32 (T, 3, H, W) in [-1, 1] (docs/conventions.md; [0, 1] with signed=False), "action":
    int64 index into ACTIONS, "look": int64 look id}. Rendering costs tens of ms per clip frame: for training, write
    the corpus once (`write_actions_dataset`) and read it with `ClipFolderDataset(root, split, signed=True)`.
    """

    def __init__(self, spec: ActionsSpec = ActionsSpec(), split: str = "train", length: int = 4_000, seed: int = 0,
                 signed: bool = True) -> None:
        look_ids(spec, split)
        if length < 1:
            raise ValueError("length must be >= 1")
        self.spec, self.split, self.length, self.seed, self.signed = spec, split, length, seed, signed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        clip = action_item(self.spec, self.seed, self.split, index)
        return {"frames": frames_to_tensor(clip.frames, self.signed), "action": torch.tensor(clip.action),
                "look": torch.tensor(clip.look)}


def clip_name(split: str, index: int) -> str:
    return f"{split}_actions_{index:06d}"


def _write_one(args: tuple[Path, ActionsSpec, int, str, int, bool]) -> tuple[str, str, Labels]:
    out, spec, seed, split, index, pose = args
    clip = action_item(spec, seed, split, index)
    name = clip_name(split, index)
    write_clip(out, split, name, clip.frames, clip.keypoints if pose else None)
    labels: Labels = {"action": clip.action, "look": clip.look, "index": index}
    if clip.scene is not None:
        labels["scene"] = clip.scene
    if clip.then is not None and clip.switch_at is not None:
        labels.update(then=clip.then, switch_at=clip.switch_at)
    return name, split, labels


def write_actions_dataset(
    out: Path, spec: ActionsSpec, train_clips: int, test_clips: int, seed: int = 0, fps: float = 15.0,
    workers: int = 1, pose: bool = False, progress: Callable[[int], None] | None = None, seen_test_clips: int = 0,
) -> dict[str, float]:
    """Write `v2v data actions` (clip i of a split = the Dataset's item i); `pose` adds OpenPose JSON keypoints;
    `seen_test_clips` > 0 adds the `test_seen` split. The output does not depend on `workers`."""
    counts = {"train": train_clips, "test": test_clips, "test_seen": seen_test_clips}
    if min(counts.values()) < 0 or sum(counts.values()) < 1:
        raise ValueError("need at least one clip (train_clips, test_clips, seen_test_clips >= 0)")
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    jobs = [(out, spec, seed, split, i, pose) for split, n in counts.items() for i in range(n)]
    labels: dict[str, Labels] = {}
    entries: list[SequenceEntry] = []
    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    try:
        for name, split, label in (pool.map(_write_one, jobs, chunksize=4) if pool else map(_write_one, jobs)):
            labels[name] = label
            entries.append(SequenceEntry(name, split, int(label["look"])))
            if progress:
                progress(1)
    finally:
        if pool:
            pool.shutdown()
    generator = {"name": "people_actions", "seed": seed, "actions": list(ACTIONS),
                 "heldout_looks": list(look_ids(spec, "test")), **asdict(spec)}
    write_clips_json(out, entries, labels, generator, fps)
    seconds = time.perf_counter() - start
    clips = len(jobs)
    return {"clips": clips, "frames": clips * spec.frames, "seconds": seconds, "clips_per_second": clips / seconds}
