"""The `generate` protocol of `v2v eval` (reference §3.6, §9.2): served generate models scored by our own judges.

Clips come from the served pipeline (the worker's runner loaded it: the same weights, sha256 checked), streamed
with `GenerateStart` exactly as a job would, resized to the judges' size. Which judges score is decided by the data
(`evaluation.judges.applicable`: a judge's card names the corpus it knows), never by a model's family; a model's
classes and named seeds come from its card. Scored clips: the action judge's window (its frames, every stride-th
data frame) when it applies, else up to `DEFAULT_FRAMES` consecutive frames. A model that recorded its training
frame stride (card quality `frame_stride`, in data frames) is asked for a longer clip and subsampled so its clips
cover the same time as the real windows; without it its frames are taken to be one judge stride apart. Rows: the
trained model, the same model at initialisation (the family's untrained weights: the floor), real held-out clips
scored by the same code (the reference), and a shuffled-frames control (each frame from another real clip).

- MCS (class-conditional models, action judge): for `clips_per_class` clips per requested class, how often the
  action judge names that class. Unconditional models: n/a, and `clips_per_class` random clips stand in.
- ACD-hist: mean over clips of the mean pairwise L1 distance between per-frame 8x8x8 RGB histograms (sum 1).
- ACD-app (appearance judge): the same with the L2 distance between the appearance judge's features.
- identity kept (appearance judge, models with a "content" seed): for `swap_contents` fixed content seeds, one clip
  per class with a fresh motion seed each; the share of clips whose appearance top-1 (majority over frames) is that
  content's most frequent one; also with only the class or only the motion changed (`evaluation.identity`). Real
  row: the same share over each look's clips that the appearance judge never saw (its held-out train clips, other
  actions and backgrounds), the judge's own ceiling.
- coverage (appearance judge): distinct training looks (top-1 of a clip's middle frame) among `coverage` random
  clips (real: random train clips).
- FD-own / IS-own: Fréchet distance between judge features of the scored clips and of the real held-out clips
  (real row: train clips vs held-out clips), and exp(E KL(p(y|x) || p(y))) on random clips, in the action judge's
  clip space when it applies, else the digit judge's frame space.
- digit confident / digit kept (digit judge): share of frames whose top class is a digit (not the judge's reject
  class "none") with probability >= `CONFIDENT`, and the mean over clips of the share of a clip's frames that keep
  the clip's majority digit; digit classes: distinct majority digits among the random clips.
These are our judges' numbers on our data: never compare them with published IS/FVD/ACD values.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import linalg
from torch.nn import functional as F

from evaluation.clips import ClipSet, load_clips, windows
from evaluation.generate_previews import write_grid_previews
from evaluation.identity import batched, look_of, model_identity_kept, real_identity_kept
from evaluation.judges import NONE, Judge, applicable, load_judges
from evaluation.two_sample import two_sample_report
from models.core.family import GenerateStart, Pipeline, WeightsRef

DEFAULT_JUDGES = Path(__file__).resolve().parent.parent / "checkpoints" / "judges"
BATCH = 16
DEFAULT_FRAMES = 16
"""Scored clip length when no clip judge (action) applies."""
DEFAULT_SIZE = 32
"""Scored frame size when no judge applies."""
CONFIDENT = 0.9
"""A frame counts as a confident digit when the digit judge's top probability is at least this."""
LABELS = ("action", "look", "label")
"""Integer clip labels the protocol reads when a corpus has them."""


@dataclass(frozen=True)
class ClipWindow:
    """What a scored clip is: `frames` frames, one every `stride` data frames, at size x size."""

    frames: int
    stride: int
    size: int


@torch.inference_mode()
def generate_clips(pipeline: Pipeline, n: int, frames: int, size: int, seed: int, class_id: int | None = None,
                   seeds: dict[str, int] | None = None, truncation: float = 1.0) -> torch.Tensor:
    """n clips through the pipeline's stream, as a job makes them (with its truncation ψ): (n, frames, 3, size, size)
    in [-1, 1] (resized)."""
    out = []
    for first in range(0, n, BATCH):
        b = min(BATCH, n - first)
        rng = torch.Generator().manual_seed(seed * 100_003 + first)
        state = pipeline.start(GenerateStart(b, frames, size, size, class_id, dict(seeds or {}), truncation), rng)
        steps: list[torch.Tensor] = []
        while sum(s.shape[1] for s in steps) < frames:
            step, state = pipeline.step(state, None, rng)
            steps.append(step.frames.float().cpu())  # (b, k, 3, h, w)
        clip = torch.cat(steps, dim=1)[:, :frames]  # (b, T, 3, h, w)
        if clip.shape[-2:] != (size, size):
            clip = F.interpolate(clip.flatten(0, 1), size=(size, size), mode="area").view(b, frames, 3, size, size)
        out.append(clip.clamp(-1, 1))
    return torch.cat(out)


class ModelClips:
    """A served model's clips in the scored window: asks for enough frames to cover the window at the model's frame
    stride (card quality `frame_stride`; absent: one window stride) and keeps every k-th."""

    def __init__(self, pipeline: Pipeline, card: Any, window: ClipWindow, truncation: float = 1.0) -> None:
        self.pipeline, self.window, self.truncation = pipeline, window, truncation
        longest = int(card.inputs.num_frames.max)
        model_stride = int(card.quality.get("frame_stride") or window.stride)
        self.every = max(window.stride // model_stride, 1) if window.stride % model_stride == 0 else 1
        if (window.frames - 1) * self.every + 1 > longest:
            self.every = 1
        if window.frames > longest:
            raise ValueError(f"model {card.name} makes at most {longest} frames; the judges score {window.frames}")

    def __call__(self, n: int, seed: int, class_id: int | None = None, seeds: dict[str, int] | None = None
                 ) -> torch.Tensor:
        w = self.window
        frames = (w.frames - 1) * self.every + 1
        clips = generate_clips(self.pipeline, n, frames, w.size, seed, class_id, seeds,
                               self.truncation)  # (n, frames, 3, S, S)
        return clips[:, ::self.every]  # (n, T, 3, S, S)


# ------------------------------------------------------------------------------------------------ measures


def histograms(clips: torch.Tensor, bins: int = 8) -> torch.Tensor:
    """(N, T, 3, H, W) in [-1, 1] -> (N, T, bins^3) colour histograms that sum to 1."""
    q = ((clips + 1) / 2 * bins).long().clamp(0, bins - 1)  # (N, T, 3, H, W)
    index = (q[:, :, 0] * bins + q[:, :, 1]) * bins + q[:, :, 2]  # (N, T, H, W)
    flat = index.flatten(2)  # (N, T, HW)
    hist = torch.zeros(*flat.shape[:2], bins**3).scatter_add_(2, flat, torch.ones_like(flat, dtype=torch.float))
    return hist / flat.shape[2]


def mean_pairwise(features: torch.Tensor, p: float) -> float:
    """(N, T, D) -> mean over clips of the mean Lp distance between the T frames' descriptors."""
    n, t = features.shape[:2]
    d = torch.cdist(features.double(), features.double(), p=p)  # (N, T, T)
    return float(d.sum(dim=(1, 2)).mean() / (t * (t - 1)))


def appearance_features(judge: Judge, clips: torch.Tensor) -> torch.Tensor:
    """(N, T, 3, S, S) -> (N, T, D) appearance features."""
    return batched(judge.net, clips.flatten(0, 1), "embed").view(*clips.shape[:2], -1)


def frechet(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to (N, D) and (M, D) features."""
    xa, xb = a.double().numpy(), b.double().numpy()
    mu_a, mu_b = xa.mean(0), xb.mean(0)
    eps = 1e-6 * np.eye(xa.shape[1])  # keeps the product's square root defined with few clips
    cov_a, cov_b = np.cov(xa, rowvar=False) + eps, np.cov(xb, rowvar=False) + eps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(cov_a @ cov_b)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * np.real(root)))


def inception_score(logits: torch.Tensor) -> float:
    p = logits.double().softmax(1)  # (N, K)
    marginal = p.mean(0, keepdim=True)
    return float(math.exp(float((p * (p.clamp_min(1e-12).log() - marginal.log())).sum(1).mean())))


def digit_scores(judge: Judge, clips: torch.Tensor) -> dict[str, float]:
    """The digit judge on every frame of (N, T, 3, S, S). A frame is a confident digit when its top class is a digit
    (not the judge's reject class "none") with probability >= `CONFIDENT`; a clip's label is its most frequent digit
    among frames whose top class is a digit, and kept is the share of its frames with that top class ("none" frames
    are not kept; a clip without digit frames keeps none). Digit classes: distinct clip labels."""
    names = list(judge.card.classes)
    p = batched(judge.net, clips.flatten(0, 1)).softmax(1).view(*clips.shape[:2], -1)  # (N, T, K)
    confidence, top = p.max(dim=2)  # (N, T), (N, T)
    is_digit = top != names.index(NONE) if NONE in names else torch.ones_like(top, dtype=torch.bool)  # (N, T)
    votes = (F.one_hot(top, p.shape[2]) * is_digit[..., None]).sum(1)  # (N, K)
    label, voted = votes.argmax(1), votes.sum(1) > 0  # (N,), (N,)
    kept = (top == label[:, None]) & is_digit  # (N, T)
    return {"digit_confident": float(((confidence >= CONFIDENT) & is_digit).float().mean()),
            "digit_kept": float(kept.float().mean()),
            "digit_classes": int(label[voted].unique().numel())}


class Scorer:
    """The applicable judges and the measures they allow, shared by every row (real, trained, initial)."""

    def __init__(self, judges: dict[str, Judge]) -> None:
        self.action, self.appearance = judges.get("action"), judges.get("appearance")
        self.digit = judges.get("digit")

    def features(self, clips: torch.Tensor) -> torch.Tensor | None:
        """FD-own features: the action judge's per clip, else the digit judge's per frame."""
        if self.action is not None:
            return batched(self.action.net, clips, "embed")  # (N, D)
        if self.digit is not None:
            return batched(self.digit.net, clips.flatten(0, 1), "embed")  # (N·T, D)
        return None

    def inception(self, clips: torch.Tensor) -> float | None:
        if self.action is not None:
            return inception_score(batched(self.action.net, clips))
        if self.digit is not None:
            return inception_score(batched(self.digit.net, clips.flatten(0, 1)))
        return None

    def content(self, clips: torch.Tensor) -> dict[str, float]:
        row = {"acd_hist": mean_pairwise(histograms(clips), 1.0)}
        if self.appearance is not None:
            row["acd_app"] = mean_pairwise(appearance_features(self.appearance, clips), 2.0)
        return row

    def random(self, clips: torch.Tensor, reference: torch.Tensor | None, fd_clips: torch.Tensor) -> dict[str, Any]:
        """Coverage, IS-own, FD-own (of `fd_clips` against the `reference` features) and the digit measures."""
        row: dict[str, Any] = {}
        if self.appearance is not None:
            middle = clips.shape[1] // 2
            row["coverage"] = int(look_of(self.appearance, clips[:, middle:middle + 1]).unique().numel())
        row["is_own"] = self.inception(clips)
        features = self.features(fd_clips)
        if features is not None and reference is not None:
            row["fd_own"] = frechet(features, reference)
        if self.digit is not None:
            row.update(digit_scores(self.digit, clips))
        return row


# ------------------------------------------------------------------------------------------------ rows


def score_model(clips: ModelClips, scorer: Scorer, card: Any, reference: torch.Tensor | None, config: Any,
                real: torch.Tensor | None = None) -> dict[str, Any]:
    """One model's row; with `real` (held-out clips of the window), also the real-vs-generated two-sample test on
    as many of its random clips."""
    classes, seed, n = list(card.inputs.classes), config.seed, config.clips_per_class
    per_class = [clips(n, seed + 1 + c, class_id=c) for c in range(len(classes))]
    controlled = torch.cat(per_class) if per_class else clips(n, seed)
    row: dict[str, Any] = {"clips": len(controlled)}
    if classes and scorer.action is not None:
        requested = torch.arange(len(classes)).repeat_interleave(n)
        agrees = (batched(scorer.action.net, controlled).argmax(1) == requested).float()  # (classes * n,)
        row["mcs"] = float(agrees.mean())
        per_class = agrees.view(len(classes), n)  # (classes, n)
        row["mcs_per_class"] = {name: float(a.mean()) for name, a in zip(classes, per_class, strict=True)}
    row.update(scorer.content(controlled))
    random_clips = clips(config.coverage, seed + 1000)
    row.update(scorer.random(random_clips, reference, controlled if classes else random_clips))
    if real is not None:
        row["two_sample"] = two_sample_report(real, random_clips[:len(real)], config)
        row["two_sample_accuracy"] = row["two_sample"].get("accuracy")
    if scorer.appearance is not None:
        row.update(model_identity_kept(scorer.appearance, clips, len(classes), list(card.inputs.seeds), seed,
                                       config.swap_contents))
    return row


def _label_names(root: Path) -> tuple[str, ...]:
    clips = json.loads((Path(root) / "dataset.json").read_text()).get("clips", {})
    first = next(iter(clips.values()), {})
    return tuple(k for k in LABELS if isinstance(first.get(k), int))


def score_real(scorer: Scorer, window: ClipWindow, root: Path, split: str, coverage: int, seed: int,
               config: Any = None) -> tuple[dict[str, Any], dict[str, Any], torch.Tensor | None, torch.Tensor]:
    """The real held-out clips' row (with, given `config`, the two-sample test of train clips against them: the
    floor a model can reach), the shuffled-frames control, the held-out judge features and the held-out clips."""
    labels = _label_names(root)
    test: ClipSet = load_clips(root, split, window.size, labels)
    train: ClipSet = load_clips(root, "train", window.size, labels)
    rng = np.random.default_rng([seed, 5])
    real = windows(test.frames, window.frames, window.stride, rng)  # (N, T, 3, S, S)
    reference = scorer.features(real)
    row: dict[str, Any] = {"clips": len(real)}
    if "action" in test.labels and scorer.action is not None:
        row["mcs"] = float((batched(scorer.action.net, real).argmax(1) == test.labels["action"]).float().mean())
    row.update(scorer.content(real))
    picked = torch.from_numpy(rng.choice(len(train), min(coverage, len(train)), replace=False))
    train_clips = windows(train.frames[picked], window.frames, window.stride, rng)
    row.update(scorer.random(real, reference, train_clips))
    if scorer.appearance is not None:  # looks of random train clips (the held-out looks are not in the judge)
        middle = window.frames // 2
        row["coverage"] = int(look_of(scorer.appearance, train_clips[:, middle:middle + 1]).unique().numel())
        if "look" in train.labels:
            row["identity_kept"] = real_identity_kept(scorer.appearance, train, window.frames, window.stride,
                                                      np.random.default_rng([seed, 6]))
    perms = [torch.from_numpy(rng.permutation(len(real))) for _ in range(window.frames)]
    shuffled = torch.stack([real[perms[t], t] for t in range(window.frames)], dim=1)  # frame t from another clip
    control = {"clips": len(real), **scorer.content(shuffled)}
    if config is not None:
        row["two_sample"] = two_sample_report(real, train_clips[:len(real)], config)
        row["two_sample_accuracy"] = row["two_sample"].get("accuracy")
    return row, control, reference, real


def scored_window(judges: dict[str, Judge], root: Path) -> ClipWindow:
    """The action judge's clip window when it applies, else `DEFAULT_FRAMES` consecutive frames (fewer when the
    data's clips are shorter), at the judges' size."""
    size = next((j.card.size for j in judges.values()), DEFAULT_SIZE)
    if "action" in judges:
        return ClipWindow(judges["action"].card.frames, judges["action"].card.stride, size)
    first = next(iter(json.loads((Path(root) / "dataset.json").read_text())["sequences"]))
    split = "train" if first.startswith("train") else "test"
    length = len(list((Path(root) / f"{split}_B" / first).glob("*.png")))
    return ClipWindow(min(DEFAULT_FRAMES, length), 1, size)


def evaluate(cards: dict[str, Any], pipelines: dict[str, Pipeline], config: Any) -> dict[str, Any]:
    """The generate protocol over `cards` (their served `pipelines`); one report section "generate"."""
    from models import get_family

    device = torch.device(config.device)
    judges_dir = Path(config.judges) if config.judges else DEFAULT_JUDGES
    root = Path(config.data[0])
    judges = applicable(load_judges(judges_dir, device="cpu"), root)
    scorer, window = Scorer(judges), scored_window(judges, root)
    real, control, reference, real_clips = score_real(scorer, window, root, config.split, config.coverage,
                                                      config.seed, config)
    models = {}
    for name, card in cards.items():
        classes = list(card.inputs.classes)
        family = get_family(card.family)
        initial = family.load(family.config(card.preset, card.config), {"generator": WeightsRef()}, device)
        psi = config.truncation
        models[name] = {"trained": score_model(ModelClips(pipelines[name], card, window, psi), scorer, card,
                                               reference, config, real_clips),
                        "initial": score_model(ModelClips(initial, card, window, psi), scorer, card, reference,
                                               config),
                        "classes": classes, "trained_steps": card.quality.get("trained_steps")}
        if config.previews is not None:
            size, frames = card.output.height, min(16, int(card.inputs.num_frames.max))
            clips = [generate_clips(pipelines[name], 4, frames, size, config.seed + 7, class_id=c, truncation=psi)
                     for c in range(len(classes))] or [generate_clips(pipelines[name], 4, frames, size,
                                                                      config.seed + 7, truncation=psi)]
            models[name]["previews"] = write_grid_previews(Path(config.previews), name, torch.stack(clips),
                                                           classes, fps=card.output.fps)
    judge_cards = {k: {"heldout_accuracy": j.card.heldout_accuracy, "heldout": j.card.heldout,
                       "sha256": j.card.sha256} for k, j in judges.items()}
    return {"generate": {"data": str(root), "split": config.split, "judges": judge_cards, "real": real,
                         "shuffled_frames": control, "models": models,
                         "settings": {"clips_per_class": config.clips_per_class, "coverage": config.coverage,
                                      "swap_contents": config.swap_contents, "seed": config.seed,
                                      "frames": window.frames, "stride": window.stride, "size": window.size,
                                      "confident": CONFIDENT, "truncation": config.truncation}}}


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


COLUMNS = (("mcs", "MCS", 3), ("acd_hist", "ACD-hist", 3), ("acd_app", "ACD-app", 3),
           ("identity_kept", "identity kept", 3), ("identity_kept_class", "kept, class changed", 3),
           ("identity_kept_motion", "kept, motion changed", 3), ("coverage", "coverage", 3), ("fd_own", "FD-own", 2),
           ("is_own", "IS-own", 2), ("digit_confident", f"digit conf. ≥ {CONFIDENT}", 3),
           ("digit_kept", "digit kept", 3), ("digit_classes", "digit classes", 3),
           ("two_sample_accuracy", "two-sample acc. (0.5: indistinguishable)", 3))
"""Table columns: row key, header, decimals. A column no row has is left out."""


def markdown_table(report: dict[str, Any]) -> str:
    """The "generate" section of a report as a Markdown table."""
    g = report["generate"]
    judges = ", ".join(f"{k} {v['heldout_accuracy']:.1%} on {v['heldout']}" for k, v in g["judges"].items())
    rows: list[tuple[str, str, dict[str, Any]]] = []
    psi = g["settings"].get("truncation", 1.0)
    drawn = "" if psi == 1 else f", truncation ψ {psi:g}"
    for name, m in g["models"].items():
        rows += [(name, f"trained ({m['trained_steps']} steps{drawn})", m["trained"]),
                 (name, f"initialisation{drawn}", m["initial"])]
    rows += [("real clips", "-", g["real"]), ("shuffled real frames", "-", g["shuffled_frames"])]
    columns = [c for c in COLUMNS if any(r.get(c[0]) is not None for _, _, r in rows)]
    lines = [f"Generate models on `{g['data']}` (real rows: split `{g['split']}`), scored by our own judges "
             f"({judges or 'none apply'}). MCS, identity kept, coverage (distinct training looks among "
             f"{g['settings']['coverage']} clips), IS-own and the digit shares: higher is better; ACD (content "
             "distance within a clip) and FD-own (judge features vs real held-out clips): lower is better; the "
             "two-sample accuracy is a 3-D CNN's held-out accuracy telling the row's clips from real held-out ones "
             "(real row: train clips), 0.5 = indistinguishable. Our judges' numbers: not comparable with published "
             "IS/FVD.", "",
             "| model | weights | " + " | ".join(h for _, h, _ in columns) + " | clips |",
             "|---|---|" + "---|" * len(columns) + "---|"]
    for name, weights, r in rows:
        cells = " | ".join(_fmt(r.get(k), d) for k, _, d in columns)
        lines.append(f"| {name} | {weights} | {cells} | {r.get('clips', '-')} |")
    per_class = [(name, m["trained"]["mcs_per_class"]) for name, m in g["models"].items()
                 if m["trained"].get("mcs_per_class")]
    if per_class:
        lines += ["", "MCS per requested class (trained weights): " + "; ".join(
            f"{name}: " + ", ".join(f"{c} {v:.2f}" for c, v in shares.items()) for name, shares in per_class)]
    return "\n".join(lines) + "\n"
