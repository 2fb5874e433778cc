"""SVG-LP's training recipe, driven by the generic loop (`training.loop.TrainingLoop`): reference §4.4.

Owns the run config (`SvgTrainConfig`: `v2v train svg_lp` flags map onto its fields), the sequence data, one Adam
per module (encoder, decoder, frame predictor, posterior, prior: lr 2e-3, betas (0.9, 0.999), the paper's setting;
batch 16 by default on this CPU, the paper's 100 on a GPU), the teacher-forced pass and the loss Σ MSE + β Σ KL.
SVG-FP and the deterministic variant (z off, no KL) are presets of the same family, trained by this recipe.

Data (`--data DIR`): a clip folder from `v2v data digits` (or any `corpora.clip_folder` corpus). When the folder was
written by the moving-digits generator, training clips are drawn on the fly from the same generator, spec, seed and
split (item i of the folder is item i of the stream, and the stream goes on with fresh clips: the paper trains on
an endless stream of Stochastic Moving MNIST); any other clip corpus is read from disk, item i = clip i mod N.
Frames are resized to the preset's square size and converted to its channels (RGB mean for a grey model).

The run's `n_past` / `n_future` / `beta` become the model config's `context_frames` / `future_frames` /
`kl_weight` (recorded in the checkpoint's `config`, so the exported card serves what was trained).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from corpora.clip_folder import ClipFolderDataset
from corpora.moving_digits import DigitsSpec, MovingDigitsDataset
from models.core.frames import to_unit_frames
from models.families.svg_lp.config import PRESETS, SvgLpConfig
from models.families.svg_lp.losses import SVG_ADAM, svg_lp_loss
from models.families.svg_lp.networks import SvgLp
from training.distributed import step_seed
from training.precision import in_fp32
from training.recipe import StepLog
from training.recipe_parts import PresetRecipe, PresetRunConfig, model_config_from_preset


@dataclass(frozen=True)
class SvgTrainConfig(PresetRunConfig):
    """One SVG training run. `n_past`, `n_future`, `beta`: None = the preset's (after `overrides`)."""

    preset: str = "svg_lp-small"
    steps: int = 5000
    batch: int = 16
    lr: float = SVG_ADAM.learning_rate
    beta1: float = SVG_ADAM.betas[0]
    beta2: float = SVG_ADAM.betas[1]
    checkpoint_every: int = 500
    sample_every: int = 500
    n_past: int | None = None
    n_future: int | None = None
    beta: float | None = None
    """β, the KL weight (0 for the deterministic variant)."""


class Recipe(PresetRecipe):
    """SVG-LP / SVG-FP / deterministic SVG on clips of one split."""

    family = "svg_lp"
    run_config_type = SvgTrainConfig
    supports_amp = True

    @classmethod
    def train_config(cls, **values: Any) -> SvgTrainConfig:
        """The run config from flags (None keeps a default); n_past/n_future/beta resolved from the preset."""
        config = super().train_config(**values)
        base = model_config_from_preset(PRESETS, config.preset, config.overrides, SvgLpConfig, cls.family)
        return dataclasses.replace(
            config,
            n_past=base.context_frames if config.n_past is None else config.n_past,
            n_future=base.future_frames if config.n_future is None else config.n_future,
            beta=base.kl_weight if config.beta is None else config.beta,
        )

    def __init__(self, config: SvgTrainConfig) -> None:
        if config.n_past is None:
            config = self.train_config(**asdict(config))
        self.config = c = config
        self._setup_run(c)
        self.overrides = {**c.overrides, "context_frames": c.n_past, "future_frames": c.n_future,
                          "kl_weight": c.beta}
        self.model_config = model_config_from_preset(PRESETS, c.preset, self.overrides, SvgLpConfig, self.family)
        self.model = SvgLp(self.model_config).to(self.device)
        self._dataset, self.data_info = sequence_dataset(Path(c.data), c.split, self.model_config.sequence_frames,
                                                         length=max(c.steps, 1) * c.batch)
        parts = {"encoder": self.model.encoder, "decoder": self.model.decoder, "predictor": self.model.predictor,
                 "posterior": self.model.posterior, "prior": self.model.prior}
        self._optimizers = {name: torch.optim.Adam(module.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
                            for name, module in parts.items() if module is not None}

    # -- the loop's interface --------------------------------------------------------------------------------
    def collate(self, items: list[dict[str, torch.Tensor]]) -> torch.Tensor:
        """(B, T, C, S, S) in [0, 1]: the first n_past + n_future frames at the model's size and channels."""
        cfg, t = self.model_config, self.model_config.sequence_frames
        frames = torch.stack([item["frames"][:t] for item in items])  # (B, T, C_data, H, W) in [0, 1]
        b = frames.shape[0]
        data = frames.flatten(0, 1)  # (B·T, C_data, H, W)
        if data.shape[1] == 1:
            data = data.expand(-1, 3, -1, -1)
        model = to_unit_frames(data * 2 - 1, cfg.image_channels, cfg.image_size)  # (B·T, C, S, S)
        return model.view(b, t, *model.shape[1:])

    def modules(self) -> dict[str, nn.Module]:
        return {"G": self.model}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self._optimizers

    def train_step(self, batch: torch.Tensor, step: int) -> StepLog:
        frames = batch.to(self.device)  # (B, T, C, S, S)
        self.model.train()
        with self.autocast():
            out = self.model(frames, self._noise(step))
        out = in_fp32(out)  # the loss in fp32 whatever the forward's precision
        losses = svg_lp_loss(out, frames, self.model_config.kl_weight)
        for opt in self._optimizers.values():
            opt.zero_grad(set_to_none=True)
        losses.total.backward()
        for opt in self._optimizers.values():
            opt.step()
        steps = frames.shape[1] - 1
        return StepLog({"loss": float(losses.total.detach()), "mse": float(losses.reconstruction.detach()) / steps,
                        "kl": float(losses.kl.detach()) / steps})

    def write_sample(self, batch: torch.Tensor, path: Path) -> Path:
        """Rows: the truth, then 3 samples of the first sequence (context then prediction), grey PNG."""
        frames = batch[:1].to(self.device)  # (1, T, C, S, S)
        n_past = self.model_config.context_frames
        rows = [frames[0]]
        self.model.eval()
        generator = torch.Generator().manual_seed(self.config.seed)
        with torch.no_grad():
            context = frames[:, :n_past].expand(3, -1, -1, -1, -1)  # (3, n_past, C, S, S)
            state = self.model.start(context[:, 0])
            for t in range(1, n_past):
                state = self.model.observe(context[:, t], state, generator)
            predicted = []
            for _ in range(frames.shape[1] - n_past):
                frame, state = self.model.predict(state, generator)
                predicted.append(frame)
            samples = torch.cat([context, torch.stack(predicted, 1)], 1)  # (3, T, C, S, S)
        self.model.train()
        rows.extend(samples)
        grid = torch.cat([torch.cat(list(row.mean(1)), dim=1) for row in rows], dim=0)  # (4·S, T·S)
        image = (grid.clamp(0, 1) * 255).round().byte().cpu().numpy()
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.stem + ".partial.png")
        if not cv2.imwrite(str(partial), np.ascontiguousarray(image)):
            raise OSError(f"could not write {partial}")
        partial.replace(path)
        return path

    def checkpoint_config(self) -> dict[str, Any]:
        """The preset overrides with the run's n_past / n_future / beta as model config fields."""
        return self.overrides

    def metadata(self) -> dict[str, Any]:
        cfg = self.model_config
        return self.run_metadata(n_past=cfg.context_frames, n_future=cfg.future_frames, data_info=self.data_info)

    # -- helpers ---------------------------------------------------------------------------------------------
    def _noise(self, step: int) -> torch.Generator:
        """The step's z noise: a pure function of (seed, step), so a resumed run draws exactly the same."""
        generator = torch.Generator(device=self.device)
        return generator.manual_seed(step_seed(self.config.seed, step))


def sequence_dataset(root: Path, split: str, frames: int, length: int) -> tuple[torch.utils.data.Dataset,
                                                                               dict[str, Any]]:
    """Training sequences of `root` (module docstring) and a JSON description of them."""
    meta = json.loads((root / "dataset.json").read_text())
    generator = dict(meta.get("generator", {}))
    if generator.get("name") == "moving_digits":
        names = {f.name for f in dataclasses.fields(DigitsSpec)}
        spec = DigitsSpec(**{**{k: v for k, v in generator.items() if k in names}, "frames": frames})
        seed = int(generator.get("seed", 0))
        dataset = MovingDigitsDataset(spec, split=split, length=length, seed=seed, channels=1)
        return dataset, {"source": "moving_digits stream", "folder": str(root), "spec": asdict(spec), "seed": seed,
                         "split": split}
    folder = ClipFolderDataset(root, split)
    if len(folder) == 0:
        raise ValueError(f"{root} has no {split} clips")
    return _Cycled(folder, length), {"source": "clip folder", "folder": str(root), "split": split,
                                     "clips": len(folder)}


class _Cycled(torch.utils.data.Dataset):
    """Item i = item i mod N of a finite data set, `length` items in all."""

    def __init__(self, inner: torch.utils.data.Dataset, length: int) -> None:
        self.inner, self.length, self.size = inner, length, len(inner)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Any:
        return self.inner[index % self.size]
