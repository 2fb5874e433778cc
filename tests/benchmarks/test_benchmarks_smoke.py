"""Smoke: every benchmark script runs with --quick on the tiny presets and writes well-formed JSON.

No timing assertions (speed is measured by `benchmarks/`, never asserted in tests). The scripts run in-process
(no second torch import); the torch thread count is restored afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _keep_threads() -> Iterator[None]:
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _run(main, tmp_path: Path, *extra: str) -> dict:  # type: ignore[no-untyped-def]
    out, md = tmp_path / "out.json", tmp_path / "out.md"
    returned = main(["--quick", "--threads", "1", "--device", "cpu", "--out", str(out), "--markdown", str(md), *extra])
    payload = json.loads(out.read_text())
    assert payload == json.loads(json.dumps(returned))
    assert md.read_text().count("|") > 10
    for key in ("date", "torch", "device", "torch_threads", "note"):
        assert key in payload["env"]
    assert payload["env"]["torch_threads"] == 1
    return payload


def _is_pos(x: object) -> bool:
    return isinstance(x, int | float) and x > 0


def test_bench_generators_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.bench_generators import main

    p = _run(main, tmp_path)
    assert json.loads(capsys.readouterr().out) == p  # stdout carries the same JSON
    assert p["benchmark"] == "generators"
    assert _is_pos(p["matmul_reference"]["start"]["gflops"]) and _is_pos(p["matmul_reference"]["end"]["gflops"])
    rows = p["results"]
    assert {r["preset"] for r in rows} == {"vid2vid-tiny", "fs_vid2vid-tiny"}
    assert sorted(r["k"] for r in rows if r["family"] == "fs_vid2vid") == [1, 2]
    for r in rows:
        assert _is_pos(r["macs_per_frame"])
        assert r["macs_per_frame_by_op"]["convolution"] > 0
        assert sum(r["macs_per_frame_by_op"].values()) == r["macs_per_frame"]
        assert _is_pos(r["parameters"]) and len(r["size"]) == 2
        t = r["timed"]
        if t is None:  # the MACs-only (meta device) case
            assert r["size"] == [128, 128]
            continue
        assert _is_pos(t["ms_per_frame"]["median"]) and t["ms_per_frame"]["n"] == p["settings"]["steps"]
        assert _is_pos(t["gflops"]) and _is_pos(t["matmul_gflops"]) and _is_pos(t["ratio_to_matmul"])
        assert _is_pos(t["macs_per_frame"])
        if r["family"] == "fs_vid2vid":
            assert _is_pos(t["start_ms"]["median"]) and _is_pos(r["macs_start"])
        else:
            assert t["start_ms"] is None and r["macs_start"] is None
    # MACs scale with pixels (fully convolutional): 128x128 is 16x the 32x32 count of the same preset.
    tiny = {tuple(r["size"]): r["macs_per_frame"] for r in rows if r["preset"] == "vid2vid-tiny"}
    assert tiny[(128, 128)] == pytest.approx(16 * tiny[(32, 32)], rel=0.01)


def test_bench_memory_quick(tmp_path: Path) -> None:
    from benchmarks.bench_memory import main

    p = _run(main, tmp_path)
    assert p["benchmark"] == "memory" and p["settings"]["lengths"] == [2, 4, 8]
    assert [c["preset"] for c in p["cases"]] == ["vid2vid-tiny", "fs_vid2vid-tiny"]
    for case in p["cases"]:
        assert [r["frames"] for r in case["runs"]] == [2, 4, 8]
        s = case["streaming"]
        assert s["state_bytes_constant"] is True and _is_pos(s["state_bytes"])
        assert all(_is_pos(x) for x in s["peak_rss_mb"])
        assert isinstance(s["peak_growth_mb"], float | int) and isinstance(s["peak_slope_kb_per_frame"], float | int)
        assert [r["kept_frames"] for r in case["control_runs"]] == [2, 8]
        for r in case["runs"]:
            assert r["rss_samples_mb"][-1][0] == r["frames"]


def test_bench_jobs_quick(tmp_path: Path) -> None:
    import workers.inputs as inputs
    import workers.loop as loop
    from benchmarks.bench_jobs import main

    originals = (loop.write_png_atomic, inputs.read_label_frames, inputs.LabelEncoder)
    p = _run(main, tmp_path)
    assert (loop.write_png_atomic, inputs.read_label_frames, inputs.LabelEncoder) == originals  # restored
    assert p["benchmark"] == "jobs" and p["settings"]["preset"] == "vid2vid-tiny"
    assert p["frames"] == p["settings"]["frames"] == 6
    assert _is_pos(p["job_s"]["median"]) and _is_pos(p["pure_generator_steps_s"]["median"])
    assert isinstance(p["overhead_fraction"], float) and p["overhead_fraction"] < 1
    parts = p["breakdown_s"]
    for name in ("decode", "label_encode", "generator_step", "to_rgb", "png_write", "state_save", "mp4_mux", "other"):
        assert name in parts and name in p["breakdown_ms_per_frame"]


def test_bench_savings_quick(tmp_path: Path) -> None:
    from benchmarks.bench_savings import main

    p = _run(main, tmp_path)
    assert p["benchmark"] == "savings" and p["settings"]["steps"] == 2
    gather, baked = p["cases"]
    assert gather["preset"] == "vid2vid-street-small" and 0 < gather["label_stem_share"] < 1
    assert baked["preset"] == "fs_vid2vid-tiny" and baked["saving"] == "spectral norms baked"
    for case in (gather, baked):
        assert _is_pos(case["ms_fast"]) and _is_pos(case["ms_slow"]) and len(case["speedups"]) == 2
    assert gather["max_abs_difference"] < 1e-3  # the two paths compute the same frame
    assert baked["max_abs_difference"] == 0.0  # baking changes no bit


def test_bench_cpu_bf16_quick(tmp_path: Path) -> None:
    """The bf16 path runs and stays near fp32 (on a CPU without bf16 units it is emulated: slow, still correct)."""
    from benchmarks.bench_cpu_bf16 import main

    p = _run(main, tmp_path)
    assert p["benchmark"] == "cpu_bf16" and [c["preset"] for c in p["cases"]] == ["vid2vid-tiny", "fs_vid2vid-tiny"]
    for case in p["cases"]:
        assert _is_pos(case["ms_fp32"]) and _is_pos(case["ms_bf16"]) and len(case["speedups"]) == 2
        assert 25 < case["psnr_bf16_vs_fp32_db_min"] < 200  # rounded, not equal, not garbage
        assert _is_pos(case["reference_gmacs"]) and _is_pos(case["matmul_gflops"])
        assert _is_pos(case["vs_matmul"]["fp32"]) and _is_pos(case["vs_matmul"]["bf16"])


def test_bench_weight_copies_quick(tmp_path: Path) -> None:
    """bf16 steps with the worker's weight copies against without: timed, and the frames bit-identical."""
    from benchmarks.bench_weight_copies import main

    p = _run(main, tmp_path)
    assert p["benchmark"] == "weight_copies" and [r["preset"] for r in p["rows"]] == ["vid2vid-tiny", "fs_vid2vid-tiny"]
    for row in p["rows"]:
        assert row["layers"] > 5 and row["bit_identical"] is True and len(row["speedups"]) == 2
        assert _is_pos(row["ms_plain"]) and _is_pos(row["ms_with_copies"])


def test_bench_train_bf16_presets_quick(tmp_path: Path) -> None:
    """TGAN, SVG-LP, SAVP and VideoVAE take optimisation steps in fp32 and in bf16 autocast on the same batches."""
    from benchmarks.bench_train_bf16_presets import main
    from corpora.moving_digits import DigitsSpec, write_digits_dataset
    from corpora.synthetic.people_actions import ActionsSpec, write_actions_dataset

    digits, people = tmp_path / "digits", tmp_path / "people"
    write_digits_dataset(digits, DigitsSpec(size=16, digit_size=8, frames=6, max_speed=1), train_clips=8, test_clips=2)
    write_actions_dataset(people, ActionsSpec(height=32, width=32, frames=6, looks=8, heldout=2, supersample=1),
                          train_clips=8, test_clips=2, seed=0)
    p = _run(main, tmp_path, "--digits", str(digits), "--weizmann", str(people))
    assert p["benchmark"] == "train_bf16_presets"
    assert [c["preset"] for c in p["cases"]] == ["tgan-tiny", "svg_lp-tiny", "savp-tiny", "videovae-tiny"]
    for case in p["cases"]:
        assert _is_pos(case["s_per_step_fp32"]) and _is_pos(case["s_per_step_bf16"]) and len(case["speedups"]) == 2
        assert case["bf16_losses_finite"] is True


def test_bench_train_bf16_quick(tmp_path: Path, square_data: Path) -> None:
    """Both translate recipes take optimisation steps in fp32 and in bf16 autocast on the same batches."""
    from benchmarks.bench_train_bf16 import main

    p = _run(main, tmp_path, "--data", str(square_data))
    assert p["benchmark"] == "train_bf16" and [c["preset"] for c in p["cases"]] == ["vid2vid-tiny", "fs_vid2vid-tiny"]
    for case in p["cases"]:
        assert _is_pos(case["s_per_step_fp32"]) and _is_pos(case["s_per_step_bf16"]) and len(case["speedups"]) == 2
        assert case["bf16_losses_finite"] is True
        assert 5 < case["psnr_runs_apart_db"] < 200  # two different runs from one start: near, not identical
