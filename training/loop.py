"""The one training loop, for every family: it drives a `training.recipe.Recipe`.

Batches: item i of the recipe's data set is a pure function of i and the loop asks for items
`step * batch ... steps * batch`, so a resumed run continues with exactly the clips it would have seen. Every step's
losses go to `RUN/log.jsonl`; sample pictures to `RUN/samples/`; checkpoints to `RUN/checkpoints/` (`training.state`).
A run stops early, after the step in progress, on SIGTERM / SIGINT (a second one kills) or at its `deadline` (a
time budget: `v2v train --max-minutes`); the caller then writes the final checkpoint, so `--resume` loses nothing.
Under torchrun the loop is data-parallel (`training.distributed`): each rank takes its share of every step's items,
gradients are averaged at every optimiser step, and rank 0 alone writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from training import distributed
from training.ema import GeneratorAverage, checked_decay
from training.recipe import Recipe


@dataclass
class StepResult:
    """One optimisation step as logged (floats named as in log.jsonl)."""

    step: int
    losses: dict[str, float]
    seconds: float
    info: dict[str, int] = field(default_factory=dict)


def pick_device(choice: str) -> torch.device:
    """`auto`: CUDA when available, else CPU."""
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


class TrainingLoop:
    """`fit()` trains the recipe to `run.steps`; `resume()` first restores the latest checkpoint."""

    def __init__(self, recipe: Recipe, cluster: distributed.Cluster | None = None) -> None:
        self.recipe = recipe
        self.run = recipe.run
        self.out = Path(recipe.run.out)
        self.step = 0
        self.cluster = cluster or distributed.Cluster()
        self.deadline: float | None = None
        """`time.monotonic()` after which `fit` stops (after the step in progress); None: no time budget."""
        self.stop_reason: str | None = None
        """Why the last `fit` ended before `run.steps` ("signal", "time budget"), None when it did not."""
        self._signalled = False
        self.warm_start: dict[str, Any] | None = None
        """Where the generator came from when the run began from trained weights (`training.warm_start`)."""
        self.average: GeneratorAverage | None = None
        """The generator's moving average (`--ema`), updated after every step; None: not kept."""
        if self.cluster.world > 1:
            distributed.shard(self.cluster, self.run.batch)  # refuse a batch the ranks cannot split
            distributed.synchronise_batch_norm(recipe.modules(), recipe.device)
            distributed.average_gradients_on_step(recipe.optimizers(), self.cluster.world)
            distributed.broadcast_modules(recipe.modules())

    def fit(self) -> list[StepResult]:
        """Train from `self.step` to `run.steps`, checkpointing and sampling on schedule."""
        run, results, main = self.run, [], self.cluster.is_main
        self.out.mkdir(parents=True, exist_ok=True)
        bar = tqdm(total=run.steps, initial=self.step, disable=not (run.progress and main),
                   desc=f"train {self.out.name}")
        log_path = self.out / "log.jsonl" if main else Path(os.devnull)
        self.stop_reason, self._signalled = None, False
        with bar, open(log_path, "a") as log, self._stop_on_signals():
            for batch in self._batches():
                result = self.train_step(batch)
                results.append(result)
                row = {"step": result.step, **result.info, "seconds": round(result.seconds, 4), **result.losses}
                log.write(json.dumps(row) + "\n")
                log.flush()
                bar.update(1)
                bar.set_postfix({k: f"{v:.3f}" for k, v in list(result.losses.items())[:2]})
                if main and run.checkpoint_every > 0 and (self.step % run.checkpoint_every == 0
                                                          or self.step == run.steps):
                    self.save_checkpoint()
                if main and run.sample_every > 0 and self.step % run.sample_every == 0:
                    self.write_sample(batch)
                if self.step < run.steps and self._should_stop():
                    break
        return results

    def _should_stop(self) -> bool:
        """Stop now? (a signal arrived or the deadline passed; under torchrun when any rank says so)."""
        reason = "signal" if self._signalled else None
        if reason is None and self.deadline is not None and time.monotonic() >= self.deadline:
            reason = "time budget"
        if self.cluster.world > 1:
            anyone = distributed.mean_over_ranks({"stop": float(reason is not None)})["stop"] > 0
            reason = reason or ("another rank stopped" if anyone else None)
        self.stop_reason = reason
        return reason is not None

    @contextlib.contextmanager
    def _stop_on_signals(self) -> Iterator[None]:
        """While training: the first SIGTERM / SIGINT asks for a clean stop; the handlers go back afterwards (a
        second signal then acts as usual). Only the main thread can install handlers; elsewhere nothing changes."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

        def ask_to_stop(signum: int, _frame: object) -> None:
            self._signalled = True
            signal.signal(signum, previous[signum])  # a second signal: the usual behaviour

        for sig in previous:
            signal.signal(sig, ask_to_stop)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def train_step(self, batch: Any) -> StepResult:
        started = time.perf_counter()
        logged = self.recipe.train_step(batch, self.step)
        if self.average is not None:
            self.average.update()
        self.step += 1
        losses = distributed.mean_over_ranks(logged.losses) if self.cluster.world > 1 else logged.losses
        return StepResult(self.step, losses, time.perf_counter() - started, logged.info)

    def average_generator(self, decay: float) -> None:
        """Keep the generator's moving average from now on at `decay` (a resumed average continues, at `decay`)."""
        if self.average is None:
            self.average = GeneratorAverage(self.recipe.modules()["G"], decay)
        else:
            self.average.decay = checked_decay(decay)

    def write_sample(self, batch: Any) -> Path:
        return self.recipe.write_sample(batch, self.out / "samples" / f"step_{self.step:07d}.png")

    def save_checkpoint(self) -> Path:
        from training.state import save_checkpoint

        return save_checkpoint(self)

    def resume(self, path: Path | None = None) -> bool:
        """Restore the latest (or given) checkpoint of this run; False when there is none."""
        from training.state import latest_checkpoint, load_checkpoint

        path = path or latest_checkpoint(self.out)
        if path is None:
            return False
        load_checkpoint(self, path)
        if self.cluster.world > 1:
            distributed.broadcast_modules(self.recipe.modules())
        return True

    def start_from(self, source: str, manifest: Path, every_network: bool = False) -> None:
        """Begin this (fresh) run from the generator of `source` (and its other networks): see
        `training.warm_start`."""
        from training.warm_start import warm_start

        self.warm_start = warm_start(self.recipe, source, manifest, every_network).to_json()
        if self.cluster.world > 1:
            distributed.broadcast_modules(self.recipe.modules())

    def _batches(self) -> Iterator[Any]:
        run = self.run
        offset, size = distributed.shard(self.cluster, run.batch)
        indices = [step * run.batch + offset + i for step in range(self.step, run.steps) for i in range(size)]
        loader = torch.utils.data.DataLoader(self.recipe.dataset(), batch_size=size, sampler=indices,
                                             num_workers=run.workers, collate_fn=self.recipe.collate)
        yield from loader
