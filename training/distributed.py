"""Data-parallel training over several processes (`torchrun --nproc-per-node N v2v train ...`): gloo on CPUs, NCCL
on GPUs, for every family's recipe, without the recipe knowing.

- The cluster comes from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT); without it, one
  process (rank 0 of 1) and nothing here does anything.
- `--batch` stays the *global* batch: rank r takes items [r·B/W, (r+1)·B/W) of each step's B items (B must be a
  multiple of W), so the run sees exactly the clips a one-process run sees.
- Every optimiser's `step()` first averages its parameters' gradients over the ranks (all-reduce), so with losses
  that are batch means and per-sample normalisation the update equals the one-process update of the global batch
  (up to float summation order; `tests/training/test_distributed.py`). BatchNorm layers use the global batch's
  statistics on GPUs (converted to SyncBatchNorm, which shares the layers' parameters); on CPUs PyTorch has no
  synchronised BatchNorm, so there they normalise with each rank's own half of the batch (close, not equal).
- Rank 0 broadcasts every module's parameters and buffers at the start (and after a resume), writes the log (losses
  averaged over the ranks), the samples and the checkpoints.
- Recipes that draw their own per-step noise seed it with `step_seed(seed, step)`, which folds in the rank, so the
  ranks' shards get different latents (with one process it is the plain per-step seed: resumes are unchanged).
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Cluster:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def cluster_from_env() -> Cluster:
    """The process's place in a torchrun job (RANK, WORLD_SIZE, LOCAL_RANK), else a one-process cluster."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Cluster()
    return Cluster(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", os.environ["RANK"])))


def current_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def step_seed(seed: int, step: int) -> int:
    """The seed of a recipe's per-step noise: (seed, step) and, under data parallelism, the rank."""
    return seed * 1_000_003 + step + current_rank() * 7_919_000_003


def device_for(cluster: Cluster, device: torch.device) -> torch.device:
    """One GPU per local rank under CUDA; the CPU as it is."""
    if device.type == "cuda" and cluster.world > 1:
        return torch.device("cuda", cluster.local_rank)
    return device


def start(cluster: Cluster, device: torch.device) -> None:
    """Join the process group (NCCL for CUDA, else gloo); nothing for one process."""
    if cluster.world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=cluster.rank,
                                world_size=cluster.world)


def stop(finished: bool = True) -> None:
    """Leave the process group. After a finished run every rank first waits for the others: a rank that tears gloo
    down while rank 0 still writes its last checkpoint can abort the process at exit. A failed rank leaves at once
    (the others would wait forever)."""
    if dist.is_available() and dist.is_initialized():
        if finished:
            dist.barrier()
        dist.destroy_process_group()


def leave(cluster: Cluster, code: int) -> int:
    """A rank of a data-parallel run ends its process here, once its work is written: logging and stdio are flushed,
    then `os._exit(code)` skips the interpreter's teardown, in which gloo's worker threads can still abort a rank
    that finished cleanly (SIGABRT, "terminate called without an active exception"; seen about once in 30 runs
    under load). One process returns `code` and exits normally."""
    if cluster.world <= 1:
        return code
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


def shard(cluster: Cluster, batch: int) -> tuple[int, int]:
    """(offset, size) of this rank's items within each step's `batch` items."""
    if batch % cluster.world:
        raise ValueError(f"--batch {batch} must be a multiple of the {cluster.world} processes")
    size = batch // cluster.world
    return cluster.rank * size, size


def synchronise_batch_norm(modules: dict[str, nn.Module], device: torch.device) -> None:
    """On CUDA, every nested BatchNorm becomes a SyncBatchNorm (same Parameter objects: optimisers stay valid)."""
    if device.type != "cuda":
        return
    for module in modules.values():
        for name, child in list(module.named_children()):
            module.add_module(name, nn.SyncBatchNorm.convert_sync_batchnorm(child))


def broadcast_modules(modules: dict[str, nn.Module]) -> None:
    """Every rank gets rank 0's parameters and buffers."""
    for module in modules.values():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)


def average_gradients_on_step(optimizers: dict[str, torch.optim.Optimizer], world: int) -> None:
    """Make each optimiser average its parameters' gradients over the ranks before it steps (a step pre-hook)."""

    def average(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        for group in optimizer.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)
                    param.grad.div_(world)

    for optimizer in optimizers.values():
        optimizer.register_step_pre_hook(average)


def mean_over_ranks(values: dict[str, float]) -> dict[str, float]:
    """The ranks' mean of each logged number (same keys on every rank)."""
    if not values:
        return values
    names = sorted(values)
    packed = torch.tensor([float(values[n]) for n in names], dtype=torch.float64)  # (K,)
    dist.all_reduce(packed, op=dist.ReduceOp.SUM)
    packed /= dist.get_world_size()
    return {name: float(v) for name, v in zip(names, packed.tolist(), strict=True)}
