"""Judges for generated video, trained here on our own data (reference §9.2): no pretrained network is downloaded.

- `ActionJudge`: a small 3-D CNN on clips (B, T, 3, S, S) in [-1, 1] -> action logits; its penultimate features
  (global average of the last conv) are the feature space of FD-own.
- `AppearanceJudge`: a small 2-D CNN on frames (B, 3, S, S) -> logits over the training looks; its penultimate
  features are the content descriptor of ACD-app.
- the digit judge: the same 2-D CNN on single frames of one-digit moving MNIST -> logits over the 10 digit classes
  and a reject class `NONE` (its gate: >= 97 % on frames of held-out digit images).

Each card names the corpus it judges (`JudgeCard.corpus`: fields of a clip folder's dataset.json `generator` that
must match, e.g. {"name": "moving_digits", "digits": 1}); `applicable` picks the judges that fit a data folder.

Shipped as fp16 safetensors with a sha256 each in `<dir>/manifest.json` (`JudgeCard`): the input size, frames and
stride, the class names and the measured held-out accuracy. `load_judges` checks the hashes; a judge whose held-out
accuracy is under its gate (`JudgeCard.gate`) is refused.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.core.checkpoints import export_generator_fp16, load_weights

MANIFEST = "manifest.json"
NONE = "none"
"""The digit judge's reject class: frames that show no single digit."""


def _block3d(i: int, o: int, pool: tuple[int, int, int] | None) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv3d(i, o, 3, padding=1, bias=False), nn.BatchNorm3d(o), nn.ReLU(inplace=True)]
    return layers + ([nn.MaxPool3d(pool)] if pool else [])


def _block2d(i: int, o: int, pool: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]
    return layers + ([nn.MaxPool2d(2)] if pool else [])


class ActionJudge(nn.Module):
    """3-D CNN: 3 -> w -> 2w -> 4w -> 8w channels, pooled to a (8w,) feature, then a linear head."""

    def __init__(self, classes: int, width: int = 16) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(*_block3d(3, w, (1, 2, 2)), *_block3d(w, 2 * w, (2, 2, 2)),
                                      *_block3d(2 * w, 4 * w, (2, 2, 2)), *_block3d(4 * w, 8 * w, None))
        self.head = nn.Linear(8 * w, classes)

    def embed(self, clips: torch.Tensor) -> torch.Tensor:
        """clips (B, T, 3, S, S) in [-1, 1] -> (B, 8w) features."""
        x = self.features(clips.transpose(1, 2))  # (B, 8w, T', S', S')
        return x.mean(dim=(2, 3, 4))  # (B, 8w)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(clips))  # (B, classes)


class AppearanceJudge(nn.Module):
    """2-D CNN on single frames: 3 -> w -> 2w -> 4w -> 4w channels, pooled to a (4w,) feature, then a linear head."""

    def __init__(self, classes: int, width: int = 32) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(*_block2d(3, w, True), *_block2d(w, 2 * w, True), *_block2d(2 * w, 4 * w, True),
                                      *_block2d(4 * w, 4 * w, False))
        self.head = nn.Linear(4 * w, classes)

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, 3, S, S) in [-1, 1] -> (B, 4w) features."""
        return self.features(frames).mean(dim=(2, 3))  # (B, 4w)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(frames))  # (B, classes)


@dataclass(frozen=True)
class JudgeCard:
    """One shipped judge: what it takes, what it says, how good it is on held-out data."""

    file: str
    sha256: str
    kind: str  # "action" (clips) or "appearance" (frames)
    classes: list[str]
    width: int
    size: int
    frames: int  # clip length (action); 1 for the appearance judge
    stride: int
    heldout_accuracy: float
    heldout: str  # what the held-out accuracy was measured on
    gate: float  # minimum held-out accuracy before the judge may judge
    params: int
    data: str
    extra: dict[str, Any] = field(default_factory=dict)
    corpus: dict[str, Any] = field(default_factory=dict)
    """dataset.json `generator` fields a data folder must have for this judge to judge it (empty: any)."""


NETWORKS: dict[str, type[nn.Module]] = {"action": ActionJudge, "appearance": AppearanceJudge, "digit": AppearanceJudge}
"""The network of each judge kind (clips for "action", single frames for the others)."""


def build(card: JudgeCard) -> nn.Module:
    return NETWORKS[card.kind](len(card.classes), card.width)


def save_judge(out_dir: Path, name: str, module: nn.Module, card: dict[str, Any]) -> JudgeCard:
    """Write `<out_dir>/<name>.safetensors` (fp16) and its card into the manifest (other judges kept)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    file = f"{name}.safetensors"
    sha = export_generator_fp16(module, out_dir / file)
    judge = JudgeCard(file=file, sha256=sha, params=sum(p.numel() for p in module.parameters()), **card)
    path = out_dir / MANIFEST
    manifest = json.loads(path.read_text()) if path.exists() else {}
    manifest[name] = asdict(judge)
    partial = path.with_name(MANIFEST + ".partial")
    partial.write_text(json.dumps(manifest, indent=1))
    partial.replace(path)
    return judge


@dataclass
class Judge:
    card: JudgeCard
    net: nn.Module


def load_judges(judges_dir: Path, device: torch.device | str = "cpu") -> dict[str, Judge]:
    """Every judge of the manifest, sha256-checked, float32, eval mode; ValueError for one under its gate."""
    path = Path(judges_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"no judges in {judges_dir} (train them: v2v judges train --data DIR --out DIR)")
    judges = {}
    for name, raw in json.loads(path.read_text()).items():
        card = JudgeCard(**raw)
        if card.heldout_accuracy < card.gate:
            raise ValueError(f"judge {name} reached {card.heldout_accuracy:.3f} on {card.heldout}, under its gate "
                             f"{card.gate}: it may not judge")
        net = build(card)
        load_weights(net, Path(judges_dir) / card.file, card.sha256)
        judges[name] = Judge(card, net.to(device).eval())
    return judges


def data_generator(root: Path) -> dict[str, Any]:
    """The `generator` block of a clip folder's dataset.json (what made the data: name and settings)."""
    return dict(json.loads((Path(root) / "dataset.json").read_text()).get("generator", {}))


def applicable(judges: dict[str, Judge], root: Path) -> dict[str, Judge]:
    """The judges whose corpus fields all match the data folder's generator (judges without a corpus: all)."""
    generator = data_generator(root)
    return {name: judge for name, judge in judges.items()
            if all(generator.get(k) == v for k, v in judge.card.corpus.items())}
