"""Train the judges (`v2v judges train`) on a clip folder: a people-actions one (`v2v data actions`) gets the action
and appearance judges, a one-digit moving MNIST one (`v2v data digits --variant class`) the digit judge.

- action: `ActionJudge` on windows of `frames` frames every `stride`-th frame (random start, random horizontal
  flip, and with `degrade_probability` pixel noise or blur: `evaluation.degrade`) of the train split; its held-out
  accuracy is measured on the test split, whose looks it never saw (the gate: >= 95 % before it may judge), clean and
  under fixed degradations (on the card).
- appearance: `AppearanceJudge` on single frames of the train split's looks (flipped, degraded as above); every
  `holdout_every`-th clip of each look is kept out of training (other motions and backgrounds) and gives the
  held-out accuracy.
- digit: the same 2-D CNN on single frames of the train split, labelled by the clip's digit class, plus a reject
  class "none" trained on frames that show no single digit (`non_digits`: flat, noise, blobs, two digits), so a
  blank or smeared generated frame is not called a confident digit; every item degraded as above; its held-out
  accuracy is measured on every frame of the test split, whose digit images it never saw (the gate: >= 97 %).

Adam with cosine decay to 0 for every judge. Deterministic for a seed, one thread is enough (a few minutes each at
32x32).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from corpora.clip_folder import usable_stride
from evaluation.clips import ClipSet, load_clips, windows
from evaluation.degrade import DEGRADED_CHECKS, degrade, degraded_copy
from evaluation.judges import NONE, ActionJudge, AppearanceJudge, JudgeCard, data_generator, save_judge

log = logging.getLogger("v2v.judges")


@dataclass(frozen=True)
class JudgeTrainConfig:
    data: Path
    out: Path
    size: int = 32
    frames: int = 8
    stride: int = 2
    action_steps: int = 1500
    appearance_steps: int = 1500
    batch: int = 32
    lr: float = 1e-3
    action_width: int = 16
    appearance_width: int = 32
    holdout_every: int = 6
    seed: int = 0
    action_gate: float = 0.95
    appearance_gate: float = 0.8
    digit_steps: int = 2000
    digit_width: int = 16
    digit_gate: float = 0.97
    degrade_probability: float = 0.5
    """Share of every judge's training items seen through pixel noise or blur (`evaluation.degrade`)."""


JUDGES_OF_CORPUS: dict[str, tuple[str, ...]] = {"people_actions": ("action", "appearance"), "moving_digits": ("digit",)}
"""Which judges a clip folder's generator (dataset.json `generator.name`) gets."""


def judges_for(root: Path) -> tuple[str, ...]:
    """The judges a clip folder can train (from its dataset.json generator); ValueError when none fits."""
    generator = data_generator(root)
    which = JUDGES_OF_CORPUS.get(str(generator.get("name")), ())
    if not which:
        raise ValueError(f"{root}: no judge fits data made by {generator.get('name')!r} "
                         f"(judged corpora: {', '.join(JUDGES_OF_CORPUS)})")
    if which == ("digit",) and generator.get("digits") != 1:
        raise ValueError(f"{root}: the digit judge needs one digit per clip (v2v data digits --variant class)")
    return which


def _flip(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    flip = torch.from_numpy(rng.random(x.shape[0]) < 0.5)  # (B,)
    return torch.where(flip.view(-1, *[1] * (x.dim() - 1)), x.flip(-1), x)


def degraded_accuracies(net: torch.nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Held-out accuracy on each of `DEGRADED_CHECKS` (what the card reports beside the clean accuracy)."""
    return {check: round(accuracy(net, degraded_copy(inputs, check), labels), 4) for check in DEGRADED_CHECKS}


@torch.no_grad()
def accuracy(net: torch.nn.Module, inputs: torch.Tensor, labels: torch.Tensor, batch: int = 64) -> float:
    net.eval()
    hits = sum(int((net(inputs[i:i + batch]).argmax(1) == labels[i:i + batch]).sum())
               for i in range(0, len(inputs), batch))
    net.train()
    return hits / len(inputs)


def train_action(config: JudgeTrainConfig, train: ClipSet, test: ClipSet
                 ) -> tuple[ActionJudge, float, dict[str, float]]:
    c = config
    torch.manual_seed(c.seed)
    rng = np.random.default_rng([c.seed, 1])
    net = ActionJudge(len(train.classes), c.action_width)
    opt = torch.optim.Adam(net.parameters(), lr=c.lr)
    # Cosine decay to 0: at a constant lr a judge at 100 % held-out fell to chance in its last 250 steps.
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(c.action_steps, 1))
    labels = train.labels["action"]
    held_rng = np.random.default_rng([c.seed, 2])
    held = torch.cat([windows(test.frames, c.frames, c.stride, held_rng) for _ in range(2)])  # (2N, T, 3, S, S)
    held_labels = test.labels["action"].repeat(2)
    for step in range(c.action_steps):
        idx = torch.from_numpy(rng.integers(0, len(train), c.batch))
        x = _flip(windows(train.frames[idx], c.frames, c.stride, rng), rng)  # (B, T, 3, S, S)
        x = degrade(x, rng, c.degrade_probability)
        loss = F.cross_entropy(net(x), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % 250 == 0:
            log.info("action step %d loss %.4f held-out %.4f", step + 1, loss.item(), accuracy(net, held, held_labels))
    return net.eval(), accuracy(net, held, held_labels), degraded_accuracies(net, held, held_labels)


def appearance_holdout(looks: torch.Tensor, every: int = JudgeTrainConfig.holdout_every) -> torch.Tensor:
    """(N,) look labels of the train clips → (N,) bool: the clips the appearance judge never trains on (every
    `every`-th clip of each look, in clip order), its held-out set."""
    seen: dict[int, int] = {}
    held = []
    for look in looks.tolist():
        seen[look] = seen.get(look, 0) + 1
        held.append(seen[look] % every == 0)
    return torch.tensor(held, dtype=torch.bool)


def train_appearance(config: JudgeTrainConfig, train: ClipSet
                     ) -> tuple[AppearanceJudge, float, list[int], dict[str, float]]:
    c = config
    torch.manual_seed(c.seed + 1)
    rng = np.random.default_rng([c.seed, 3])
    looks = sorted(set(train.labels["look"].tolist()))
    index_of = {look: i for i, look in enumerate(looks)}
    target = torch.tensor([index_of[v] for v in train.labels["look"].tolist()])  # (N,)
    held = appearance_holdout(train.labels["look"], c.holdout_every)
    fit_ids, held_ids = torch.nonzero(~held).flatten(), torch.nonzero(held).flatten()
    if len(held_ids) == 0:
        raise ValueError(f"no train look has {c.holdout_every} clips: nothing to hold out (lower holdout_every)")
    t0 = train.frames.shape[1]
    held_frames = train.frames[held_ids][:, ::max(t0 // 4, 1)].flatten(0, 1).float() / 127.5 - 1  # (M, 3, S, S)
    held_labels = target[held_ids].repeat_interleave(len(range(0, t0, max(t0 // 4, 1))))
    net = AppearanceJudge(len(looks), c.appearance_width)
    opt = torch.optim.Adam(net.parameters(), lr=c.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(c.appearance_steps, 1))
    for step in range(c.appearance_steps):
        clip = fit_ids[torch.from_numpy(rng.integers(0, len(fit_ids), c.batch))]
        frame = torch.from_numpy(rng.integers(0, t0, c.batch))
        x = _flip(train.frames[clip, frame].float() / 127.5 - 1, rng)  # (B, 3, S, S)
        x = degrade(x, rng, c.degrade_probability)
        loss = F.cross_entropy(net(x), target[clip])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % 250 == 0:
            log.info("appearance step %d loss %.4f held-out %.4f", step + 1, loss.item(),
                     accuracy(net, held_frames, held_labels))
    degraded = degraded_accuracies(net, held_frames, held_labels)
    return net.eval(), accuracy(net, held_frames, held_labels), looks, degraded


def non_digits(frames: torch.Tensor, labels: torch.Tensor, n: int, rng: np.random.Generator) -> torch.Tensor:
    """n grey frames (n, 3, S, S) in [-1, 1] that show no single digit, for the digit judge's reject class, in four
    kinds: a constant level with faint noise, pixel noise, smooth blobs (coarse noise upsampled, through tanh) and
    two real frames of different digits overlaid. `frames` (N, T, 3, S, S) uint8, `labels` (N,) their digits."""
    size = frames.shape[-1]
    kind = rng.integers(0, 4, n)
    out = torch.empty(n, 1, size, size)
    for i, k in enumerate(kind.tolist()):
        if k == 0:
            x = torch.full((1, size, size), float(rng.uniform(-1, 1)))
            x += torch.from_numpy(rng.normal(0, 0.05, (1, size, size))).float()
        elif k == 1:
            x = torch.from_numpy(rng.uniform(-1, 1, (1, size, size)) * rng.uniform(0.2, 1.0)
                                 + rng.uniform(-0.5, 0.5)).float()
        elif k == 2:
            cells = int(rng.choice([2, 4, 8]))
            coarse = torch.from_numpy(rng.normal(0, 1, (1, 1, cells, cells))).float()
            smooth = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)[0]
            x = torch.tanh(smooth * float(rng.uniform(0.5, 3.0)) + float(rng.uniform(-1, 1)))
        else:
            a = int(rng.integers(len(frames)))
            others = torch.nonzero(labels != labels[a]).flatten()
            b = int(others[int(rng.integers(len(others)))]) if len(others) else a
            t = frames.shape[1]
            pair = torch.maximum(frames[a, int(rng.integers(t)), :1], frames[b, int(rng.integers(t)), :1])
            x = pair.float() / 127.5 - 1
        out[i] = x.clamp(-1, 1)
    return out.expand(-1, 3, -1, -1)  # (n, 3, S, S)


def train_digit(config: JudgeTrainConfig, train: ClipSet, test: ClipSet
                ) -> tuple[AppearanceJudge, float, float, dict[str, float]]:
    """The digit judge on single frames (random clip, random frame) labelled by the clip's digit, plus a quarter
    batch of `non_digits` labelled "none" (class 10), each item degraded as above with `degrade_probability` (a
    digit seen through noise or blur is still that digit; a judge trained on clean frames only called 87 % of real
    held-out digits "none" through noise of σ 0.05). Returns the judge, its accuracy on every frame of the held-out
    digit images, the share of held-out non-digit frames it rejects and its held-out accuracy through
    `DEGRADED_CHECKS`."""
    c = config
    torch.manual_seed(c.seed + 2)
    rng = np.random.default_rng([c.seed, 4])
    labels, t0 = train.labels["label"], train.frames.shape[1]
    held = test.frames.flatten(0, 1)  # (M, 3, S, S) uint8: every frame of the held-out digit images
    held_labels = test.labels["label"].repeat_interleave(test.frames.shape[1])  # (M,)
    held_none = non_digits(test.frames, test.labels["label"], 512, np.random.default_rng([c.seed, 6]))
    net = AppearanceJudge(11, c.digit_width)
    opt = torch.optim.Adam(net.parameters(), lr=c.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(c.digit_steps, 1))
    none = max(c.batch // 4, 1)
    for step in range(c.digit_steps):
        clip = torch.from_numpy(rng.integers(0, len(train), c.batch))
        frame = torch.from_numpy(rng.integers(0, t0, c.batch))
        real = train.frames[clip, frame].float() / 127.5 - 1  # (B, 3, S, S)
        x = torch.cat([real, non_digits(train.frames, labels, none, rng)])  # (B + B/4, 3, S, S)
        x = degrade(x, rng, c.degrade_probability)
        target = torch.cat([labels[clip], torch.full((none,), 10)])
        loss = F.cross_entropy(net(x), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % 250 == 0:
            log.info("digit step %d loss %.4f", step + 1, loss.item())
    rejected = accuracy(net, held_none, torch.full((len(held_none),), 10))
    held_images = held.float() / 127.5 - 1  # (M, 3, S, S)
    return (net.eval(), accuracy(net, held_images, held_labels), rejected,
            degraded_accuracies(net, held_images, held_labels))


def train_judges(config: JudgeTrainConfig, which: tuple[str, ...] | None = None) -> dict[str, JudgeCard]:
    """Train and ship the judges (default: those that fit the data, `judges_for`); returns their cards."""
    c = config
    which = which or judges_for(c.data)
    common = {"size": c.size, "data": str(c.data), "corpus": {"name": data_generator(c.data).get("name")}}
    cards = {}
    if "digit" in which:
        started = time.perf_counter()
        train, test = load_clips(c.data, "train", c.size, ("label",)), load_clips(c.data, "test", c.size, ("label",))
        net, acc, rejected, degraded = train_digit(c, train, test)
        cards["digit"] = save_judge(c.out, "digit", net, {
            **common, "corpus": {"name": "moving_digits", "digits": 1}, "kind": "digit",
            "classes": [*(str(k) for k in range(10)), NONE], "width": c.digit_width, "frames": 1, "stride": 1,
            "heldout_accuracy": round(acc, 4), "gate": c.digit_gate,
            "heldout": f"every frame of {len(test)} test clips (held-out digit images)",
            "extra": {"steps": c.digit_steps, "batch": c.batch, "seconds": round(time.perf_counter() - started),
                      "non_digits_rejected": round(rejected, 4), "degrade_probability": c.degrade_probability,
                      "degraded_heldout_accuracy": degraded,
                      "non_digits": "512 held-out frames: constant, noise, smooth blobs, two digits overlaid"}})
    if not {"action", "appearance"} & set(which):
        return cards
    train = load_clips(c.data, "train", c.size)
    stride = usable_stride(train.frames.shape[1], c.frames, c.stride)
    if "action" in which:
        started = time.perf_counter()
        test = load_clips(c.data, "test", c.size)
        net, acc, degraded = train_action(c, train, test)
        held_looks = sorted(set(test.labels["look"].tolist()))
        cards["action"] = save_judge(c.out, "action", net, {
            **common, "kind": "action", "classes": train.classes, "width": c.action_width, "frames": c.frames,
            "stride": stride, "heldout_accuracy": round(acc, 4), "gate": c.action_gate,
            "heldout": f"{len(test)} test clips x 2 windows, held-out looks {held_looks}",
            "extra": {"steps": c.action_steps, "batch": c.batch, "seconds": round(time.perf_counter() - started),
                      "degrade_probability": c.degrade_probability, "degraded_heldout_accuracy": degraded}})
    if "appearance" in which:
        started = time.perf_counter()
        net, acc, looks, degraded = train_appearance(c, train)
        cards["appearance"] = save_judge(c.out, "appearance", net, {
            **common, "kind": "appearance", "classes": [f"look_{k}" for k in looks], "width": c.appearance_width,
            "frames": 1, "stride": 1, "heldout_accuracy": round(acc, 4), "gate": c.appearance_gate,
            "heldout": f"every {c.holdout_every}th train clip of each look (unseen motions and backgrounds)",
            "extra": {"steps": c.appearance_steps, "batch": c.batch, "seconds": round(time.perf_counter() - started),
                      "degrade_probability": c.degrade_probability, "degraded_heldout_accuracy": degraded}})
    return cards
