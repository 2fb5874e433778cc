"""Identity kept: whether a generate model's content seed holds a person's look (the appearance judge's reading),
and on real clips the judge's own ceiling. Also two judge reads the rest of the generate protocol uses: a batched
forward pass and a clip's look.

A model with a "content" seed is asked, for each of `swap_contents` fixed content seeds, for one clip per class:
- `identity_kept`: each clip with a fresh draw of every other seed (class and motion both change; the table's figure);
- `identity_kept_class`: every clip with the same other seeds (only the class changes), when the model has classes;
- `identity_kept_motion`: one class, a different "motion" seed per clip (only the motion changes), when the model
  names a "motion" seed.
Each is the share of a content's clips whose appearance top-1 (majority over frames) is that content's most frequent
one, averaged over contents. The two partial figures say which latent moves the look when `identity_kept` is low.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from evaluation.clips import ClipSet, windows
from evaluation.judges import Judge
from evaluation.judges_train import appearance_holdout

ClipSource = Callable[..., torch.Tensor]
"""`clips(n, seed, class_id=None, seeds=None)` -> (n, T, 3, S, S), as `evaluation.generate.ModelClips`."""
_CONTENT_BASE = 10_000
_FIXED_OTHER_SEED = 777_000


@torch.no_grad()
def batched(net: torch.nn.Module, x: torch.Tensor, fn: str = "forward") -> torch.Tensor:
    """`net.fn` over x in chunks of 64 along the first axis."""
    method = getattr(net, fn)
    return torch.cat([method(x[i:i + 64]) for i in range(0, len(x), 64)])


def look_of(judge: Judge, clips: torch.Tensor) -> torch.Tensor:
    """(N, T, 3, S, S) -> (N,) the appearance judge's top-1 look, majority over frames."""
    top = batched(judge.net, clips.flatten(0, 1)).argmax(1).view(*clips.shape[:2])  # (N, T)
    return torch.mode(top, dim=1).values


def _kept(looks: Sequence[torch.Tensor]) -> float:
    stacked = torch.cat(list(looks))
    return float((stacked == torch.mode(stacked).values).float().mean())


def model_identity_kept(judge: Judge, clips: ClipSource, classes: int, seed_names: Sequence[str], seed: int,
                        swap_contents: int) -> dict[str, float]:
    """The model's identity figures (module docstring); {} when it has no "content" seed or `swap_contents` is 0."""
    if "content" not in seed_names or swap_contents < 1:
        return {}
    per_content = max(classes, 2)
    class_of = (lambda c: c) if classes else (lambda c: None)
    both, by_class, by_motion = [], [], []
    for k in range(swap_contents):
        content = {"content": _CONTENT_BASE + k}
        both.append(_kept([look_of(judge, clips(1, seed + 2000 + k * 31 + c, class_id=class_of(c), seeds=content))
                           for c in range(per_content)]))
        if classes:
            fixed = {**content, **{n: _FIXED_OTHER_SEED + k for n in seed_names if n != "content"}}
            by_class.append(_kept([look_of(judge, clips(1, seed + 5000 + k, class_id=c, seeds=fixed))
                                   for c in range(classes)]))
        if "motion" in seed_names:
            by_motion.append(_kept([look_of(judge, clips(1, seed + 7000 + k, class_id=class_of(k % per_content),
                                                         seeds={**content, "motion": _FIXED_OTHER_SEED + 31 * k + m}))
                                    for m in range(per_content)]))
    row = {"identity_kept": float(np.mean(both))}
    if by_class:
        row["identity_kept_class"] = float(np.mean(by_class))
    if by_motion:
        row["identity_kept_motion"] = float(np.mean(by_motion))
    return row


def real_identity_kept(judge: Judge, train: ClipSet, frames: int, stride: int, rng: np.random.Generator
                       ) -> float | None:
    """Identity kept on real clips, the ceiling a generator's figure is read against: for every look, the appearance
    judge's own held-out clips of that look (other actions and backgrounds, `appearance_holdout`); the share of them
    whose top-1 look is the group's most frequent one, averaged over looks (None: no held-out clip)."""
    held = appearance_holdout(train.labels["look"])
    if not held.any():
        return None
    looks = train.labels["look"][held]  # (M,)
    predicted = look_of(judge, windows(train.frames[held], frames, stride, rng))  # (M,)
    kept = [float((group == torch.mode(group).values).float().mean())
            for group in (predicted[looks == look] for look in looks.unique())]
    return float(np.mean(kept))
