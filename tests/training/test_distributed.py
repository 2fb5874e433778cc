"""Data-parallel training (`torchrun ... v2v train`): two CPU processes (gloo) with a global batch end where one
process with the same batch ends, parameter for parameter, for a recipe whose loss is a per-sample mean; a real
family (vid2vid) trains data-parallel through `v2v train` with rank 0 alone writing the run folder, and lands near
the one-process run (its discriminators use BatchNorm, which PyTorch synchronises across processes on GPUs only, and
some of its losses are normalised by sums over the batch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cli.redis_server import free_port
from tests.moving_square import make_moving_square

REPO = Path(__file__).resolve().parents[2]
STEPS = 3


def _train_argv(data: Path, run: Path, batch: int) -> list[str]:
    return [sys.executable, "-m", "cli.main", "train", "vid2vid", "--data", str(data), "--preset", "vid2vid-tiny",
            "--out", str(run), "--steps", str(STEPS), "--batch", str(batch), "--size", "32x32", "--clip-frames", "3",
            "--num-d", "1", "--temporal-scales", "1", "--checkpoint-every", str(STEPS), "--sample-every", "0",
            "--device", "cpu", "--quiet", "--no-flip", "--set", "norm_D=instance"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return {**env, "OMP_NUM_THREADS": "1", **extra}


def _weights(run: Path, steps: int = STEPS) -> dict[str, torch.Tensor]:
    return load_file(str(run / "checkpoints" / f"step_{steps:07d}.safetensors"))


def _ranks(argv: list[str], world: int = 2) -> None:
    """Run `argv` as `world` torchrun-style processes on this machine; fail with a rank's stderr."""
    port = str(free_port())
    ranks = [subprocess.Popen(argv, cwd=REPO, stderr=subprocess.PIPE,
                              env=_env(RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                                       MASTER_PORT=port)) for r in range(world)]
    for proc in ranks:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-3000:]


@pytest.mark.timeout(300)
def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path: Path):
    probe = [sys.executable, "-m", "tests.training.ddp_probe"]
    subprocess.run([*probe, str(tmp_path / "single"), "8", "60"], cwd=REPO, env=_env(), check=True, timeout=120)
    _ranks([*probe, str(tmp_path / "parallel"), "8", "60"])
    one, two = _weights(tmp_path / "single", 60), _weights(tmp_path / "parallel", 60)
    assert set(one) == set(two) and one
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=1e-5, atol=1e-6, msg=key)
    log = [json.loads(line) for line in (tmp_path / "parallel" / "log.jsonl").read_text().splitlines()]
    single_log = [json.loads(line) for line in (tmp_path / "single" / "log.jsonl").read_text().splitlines()]
    first, last = (sum(row["mse"] for row in rows) / len(rows) for rows in (log[:10], log[-10:]))
    assert len(log) == 60 and last < 0.6 * first  # it learns
    assert log[0]["mse"] == pytest.approx(single_log[0]["mse"], rel=1e-5)  # logged: the mean over the ranks


@pytest.mark.timeout(600)
def test_vid2vid_trains_data_parallel_through_v2v_train(tmp_path: Path):
    data = make_moving_square(tmp_path / "data", frames=5, size=32)
    single, parallel = tmp_path / "single", tmp_path / "parallel"
    subprocess.run(_train_argv(data, single, 2), cwd=REPO, env=_env(), check=True, timeout=300)
    _ranks(_train_argv(data, parallel, 2))
    one, two = _weights(single), _weights(parallel)
    assert set(one) == set(two)
    generator = [k for k in one if k.startswith("G.") and one[k].is_floating_point()]
    assert generator
    for key in generator:  # three Adam steps from the same start: the same direction, nearly the same place
        torch.testing.assert_close(two[key], one[key], rtol=0.05, atol=2e-3, msg=key)
    assert len((parallel / "log.jsonl").read_text().splitlines()) == STEPS  # rank 0 alone logs
    assert sorted(p.name for p in (parallel / "checkpoints").iterdir()) == sorted(
        p.name for p in (single / "checkpoints").iterdir())


def test_a_batch_the_ranks_cannot_split_is_refused():
    from training.distributed import Cluster, shard

    assert shard(Cluster(1, 2, 1), 8) == (4, 4)
    with pytest.raises(ValueError, match="multiple of the 2 processes"):
        shard(Cluster(0, 2, 0), 3)
