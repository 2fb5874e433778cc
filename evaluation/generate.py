"""The `generate` protocol of `v2v eval` (reference §3.6, §9.2): served generate models scored by our own judges.

Clips come from the served pipeline (the worker's runner loaded it: the same weights, sha256 checked), streamed
with `GenerateStart` exactly as a job would, at the action judge's clip length, resized to the judges' size. Rows:
the trained model, the same model at initialisation (the family's untrained weights: the floor), real held-out clips
scored by the same code (the reference), and a shuffled-frames control (each frame from another real clip).

- MCS: for `clips_per_class` clips per requested class, how often the action judge names that class.
- ACD-hist: mean over clips of the mean pairwise L1 distance between per-frame 8x8x8 RGB histograms (sum 1).
- ACD-app: the same with the L2 distance between the appearance judge's features.
- identity kept: for `swap_contents` fixed content seeds, one clip per class with a fresh motion seed each; the
  share of clips whose appearance top-1 (majority over frames) is that content's most frequent one.
- coverage: distinct training looks (appearance top-1 of a clip's middle frame) among `coverage` random clips
  (real: random train clips).
- FD-own: Fréchet distance between action-judge features of the MCS clips and of the real held-out clips (real row:
  train clips vs held-out clips). IS-own: exp(E KL(p(y|x) || p(y))) of the action judge on random-class clips.
These are our judges' numbers on our data: never compare them with published IS/FVD/ACD values.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import linalg
from torch.nn import functional as F

from evaluation.clips import load_clips, windows
from evaluation.generate_previews import write_grid_previews
from evaluation.judges import Judge, load_judges
from models.core.family import GenerateStart, Pipeline, WeightsRef

DEFAULT_JUDGES = Path(__file__).resolve().parent.parent / "checkpoints" / "judges"
BATCH = 16


@torch.inference_mode()
def generate_clips(pipeline: Pipeline, n: int, frames: int, size: int, seed: int, class_id: int | None = None,
                   seeds: dict[str, int] | None = None) -> torch.Tensor:
    """n clips through the pipeline's stream, as a job makes them: (n, frames, 3, size, size) in [-1, 1] (resized)."""
    out = []
    for first in range(0, n, BATCH):
        b = min(BATCH, n - first)
        rng = torch.Generator().manual_seed(seed * 100_003 + first)
        state = pipeline.start(GenerateStart(b, frames, size, size, class_id, dict(seeds or {})), rng)
        steps: list[torch.Tensor] = []
        while sum(s.shape[1] for s in steps) < frames:
            step, state = pipeline.step(state, None, rng)
            steps.append(step.frames.float().cpu())  # (b, k, 3, h, w)
        clip = torch.cat(steps, dim=1)[:, :frames]  # (b, T, 3, h, w)
        if clip.shape[-2:] != (size, size):
            clip = F.interpolate(clip.flatten(0, 1), size=(size, size), mode="area").view(b, frames, 3, size, size)
        out.append(clip.clamp(-1, 1))
    return torch.cat(out)


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


@torch.no_grad()
def _batched(net: torch.nn.Module, x: torch.Tensor, fn: str = "forward") -> torch.Tensor:
    method = getattr(net, fn)
    return torch.cat([method(x[i:i + 64]) for i in range(0, len(x), 64)])


def appearance_features(judge: Judge, clips: torch.Tensor) -> torch.Tensor:
    """(N, T, 3, S, S) -> (N, T, D) appearance features."""
    return _batched(judge.net, clips.flatten(0, 1), "embed").view(*clips.shape[:2], -1)


def look_of(judge: Judge, clips: torch.Tensor) -> torch.Tensor:
    """(N, T, 3, S, S) -> (N,) the appearance judge's top-1 look, majority over frames."""
    top = _batched(judge.net, clips.flatten(0, 1)).argmax(1).view(*clips.shape[:2])  # (N, T)
    return torch.mode(top, dim=1).values


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


def content_scores(judges: dict[str, Judge], clips: torch.Tensor) -> dict[str, float]:
    return {"acd_hist": mean_pairwise(histograms(clips), 1.0),
            "acd_app": mean_pairwise(appearance_features(judges["appearance"], clips), 2.0)}


# ------------------------------------------------------------------------------------------------ rows


def score_model(pipeline: Pipeline, judges: dict[str, Judge], classes: list[str], real_features: torch.Tensor,
                config: Any) -> dict[str, Any]:
    action, appearance = judges["action"], judges["appearance"]
    frames, size, seed = action.card.frames, action.card.size, config.seed
    n = config.clips_per_class
    per_class = [generate_clips(pipeline, n, frames, size, seed + 1 + c, class_id=c) for c in range(len(classes))]
    controlled = torch.cat(per_class) if per_class else generate_clips(pipeline, n, frames, size, seed)
    row: dict[str, Any] = {"clips": len(controlled)}
    if classes:
        requested = torch.arange(len(classes)).repeat_interleave(n)
        row["mcs"] = float((_batched(action.net, controlled).argmax(1) == requested).float().mean())
    row.update(content_scores(judges, controlled))
    random_clips = generate_clips(pipeline, config.coverage, frames, size, seed + 1000)
    row["coverage"] = int(look_of(appearance, random_clips[:, frames // 2:frames // 2 + 1]).unique().numel())
    row["is_own"] = inception_score(_batched(action.net, random_clips))
    row["fd_own"] = frechet(_batched(action.net, controlled, "embed"), real_features)
    kept = []
    for k in range(config.swap_contents):
        content = {"content": 10_000 + k}
        looks = [look_of(appearance, generate_clips(pipeline, 1, frames, size, seed + 2000 + k * 31 + c,
                                                    class_id=c if classes else None, seeds=content))
                 for c in range(max(len(classes), 2))]
        stacked = torch.cat(looks)
        kept.append(float((stacked == torch.mode(stacked).values).float().mean()))
    row["identity_kept"] = float(np.mean(kept)) if kept else None
    return row


def score_real(judges: dict[str, Judge], root: Path, split: str, coverage: int, seed: int
               ) -> tuple[dict[str, Any], dict[str, Any], torch.Tensor]:
    """The real held-out clips' row, the shuffled-frames control and the held-out action features."""
    action, appearance = judges["action"], judges["appearance"]
    frames, stride, size = action.card.frames, action.card.stride, action.card.size
    test, train = load_clips(root, split, size), load_clips(root, "train", size)
    rng = np.random.default_rng([seed, 5])
    real = windows(test.frames, frames, stride, rng)  # (N, T, 3, S, S)
    real_features = _batched(action.net, real, "embed")
    row: dict[str, Any] = {"clips": len(real)}
    if "action" in test.labels:
        row["mcs"] = float((_batched(action.net, real).argmax(1) == test.labels["action"]).float().mean())
    row.update(content_scores(judges, real))
    picked = torch.from_numpy(rng.choice(len(train), min(coverage, len(train)), replace=False))
    train_clips = windows(train.frames[picked], frames, stride, rng)
    row["coverage"] = int(look_of(appearance, train_clips[:, frames // 2:frames // 2 + 1]).unique().numel())
    row["is_own"] = inception_score(_batched(action.net, real))
    row["fd_own"] = frechet(_batched(action.net, train_clips, "embed"), real_features)
    perms = [torch.from_numpy(rng.permutation(len(real))) for _ in range(frames)]
    shuffled = torch.stack([real[perms[t], t] for t in range(frames)], dim=1)  # frame t from another clip
    control = {"clips": len(real), **content_scores(judges, shuffled)}
    return row, control, real_features


def evaluate(cards: dict[str, Any], pipelines: dict[str, Pipeline], config: Any) -> dict[str, Any]:
    """The generate protocol over `cards` (their served `pipelines`); one report section "generate"."""
    from models import get_family

    device = torch.device(config.device)
    judges_dir = Path(config.judges) if config.judges else DEFAULT_JUDGES
    judges = load_judges(judges_dir, device="cpu")
    root = Path(config.data[0])
    real, control, real_features = score_real(judges, root, config.split, config.coverage, config.seed)
    models = {}
    for name, card in cards.items():
        classes = list(card.inputs.classes)
        family = get_family(card.family)
        initial = family.load(family.config(card.preset, card.config), {"generator": WeightsRef()}, device)
        models[name] = {"trained": score_model(pipelines[name], judges, classes, real_features, config),
                        "initial": score_model(initial, judges, classes, real_features, config),
                        "classes": classes, "trained_steps": card.quality.get("trained_steps")}
        if config.previews is not None:
            size = card.output.height
            clips = [generate_clips(pipelines[name], 4, 16, size, config.seed + 7, class_id=c)
                     for c in range(len(classes))] or [generate_clips(pipelines[name], 4, 16, size, config.seed + 7)]
            models[name]["previews"] = write_grid_previews(Path(config.previews), name, torch.stack(clips),
                                                           classes, fps=card.output.fps)
    judge_cards = {k: {"heldout_accuracy": j.card.heldout_accuracy, "heldout": j.card.heldout,
                       "sha256": j.card.sha256} for k, j in judges.items()}
    return {"generate": {"data": str(root), "split": config.split, "judges": judge_cards, "real": real,
                         "shuffled_frames": control, "models": models,
                         "settings": {"clips_per_class": config.clips_per_class, "coverage": config.coverage,
                                      "swap_contents": config.swap_contents, "seed": config.seed}}}


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown_table(report: dict[str, Any]) -> str:
    """The "generate" section of a report as a Markdown table."""
    g = report["generate"]
    judges = ", ".join(f"{k} {v['heldout_accuracy']:.1%} on {v['heldout']}" for k, v in g["judges"].items())
    lines = [f"Generate models on `{g['data']}` (real rows: split `{g['split']}`, held-out looks), scored by our own "
             f"judges ({judges}). MCS and identity kept, coverage (distinct training looks among "
             f"{g['settings']['coverage']} clips) and IS-own: higher is better; ACD (content distance within a "
             "clip) and FD-own (action-judge features vs real held-out clips): lower is better. Our judges' "
             "numbers: not comparable with published IS/FVD.", "",
             "| model | weights | MCS | ACD-hist | ACD-app | identity kept | coverage | FD-own | IS-own | clips |",
             "|---|---|---|---|---|---|---|---|---|---|"]

    def row(name: str, weights: str, r: dict[str, Any]) -> None:
        lines.append(f"| {name} | {weights} | {_fmt(r.get('mcs'))} | {_fmt(r.get('acd_hist'))} | "
                     f"{_fmt(r.get('acd_app'))} | {_fmt(r.get('identity_kept'))} | {_fmt(r.get('coverage'))} | "
                     f"{_fmt(r.get('fd_own'), 2)} | {_fmt(r.get('is_own'), 2)} | {r.get('clips', '-')} |")

    for name, m in g["models"].items():
        row(name, f"trained ({m['trained_steps']} steps)", m["trained"])
        row(name, "initialisation", m["initial"])
    row("real clips", "-", g["real"])
    row("shuffled real frames", "-", g["shuffled_frames"])
    return "\n".join(lines) + "\n"
