"""A recipe whose loss is a per-sample mean (a small MLP regressing a fixed random target function), for the
data-parallel tests: `python -m tests.training.ddp_probe RUN_DIR BATCH STEPS` trains it through `training.loop_for`,
so under torchrun's environment it runs data-parallel exactly as `v2v train` does."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from training import distributed, loop_for
from training.recipe import RunSettings, StepLog


class Items(torch.utils.data.Dataset):
    """Item i: a fixed input and its target, a pure function of i."""

    def __len__(self) -> int:
        return 10**6

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(6, generator=torch.Generator().manual_seed(index))  # (6,)
        return x, torch.tanh(x[:3]) + 0.5 * x[3:]  # (6,), (3,)


@dataclass(frozen=True)
class ProbeConfig:
    out: str
    batch: int
    steps: int
    device: str = "cpu"


class ProbeRecipe:
    checkpoint_exclude: tuple[str, ...] = ()

    def __init__(self, config: ProbeConfig) -> None:
        torch.manual_seed(0)
        self.config = config
        self.run = RunSettings(out=config.out, steps=config.steps, batch=config.batch, checkpoint_every=config.steps,
                               sample_every=0, progress=False)
        self.device = torch.device("cpu")
        self.net = nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 3))
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=1e-2)

    def dataset(self) -> torch.utils.data.Dataset:
        return Items()

    def collate(self, items: list[Any]) -> Any:
        return torch.stack([x for x, _ in items]), torch.stack([y for _, y in items])  # (B, 6), (B, 3)

    def modules(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"net": self.optimizer}

    def scalers(self) -> dict[str, torch.amp.GradScaler]:
        return {}

    def train_step(self, batch: Any, step: int) -> StepLog:
        x, y = batch
        loss = ((self.net(x) - y) ** 2).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return StepLog({"mse": float(loss.detach())})

    def write_sample(self, batch: Any, path: Path) -> Path:
        return path

    def metadata(self) -> dict[str, Any]:
        return {"family": "probe", "preset": "probe", "config": {}, "train_config": {}}

    def check_resume(self, meta: dict[str, Any]) -> None:
        return None


if __name__ == "__main__":
    out, batch, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    loop = loop_for(ProbeConfig(out, batch, steps), ProbeRecipe)
    try:
        loop.fit()
    finally:
        distributed.stop()
    distributed.leave(loop.cluster, 0)
