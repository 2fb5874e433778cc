"""Smoke: the GPU benchmark and the reduced-precision gate run with --quick on CPU and write well-formed JSON.

No timing assertions. The scripts run in-process (helpers shared with tests/benchmarks/test_benchmarks_smoke.py);
the resume check must find byte-identical frames on CPU, and must notice a state that does not survive the trip.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.benchmarks.test_benchmarks_smoke import _is_pos, _run


@pytest.fixture(autouse=True)
def _keep_threads() -> Iterator[None]:
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_bench_gpu_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.bench_gpu import main

    p = _run(main, tmp_path)
    assert json.loads(capsys.readouterr().out) == p
    assert p["benchmark"] == "gpu" and p["settings"]["compile"] is False
    assert p["precision"]["name"] in ("fp32", "bf16") and p["precision"]["reason"]
    assert "byte-identical" in p["determinism"]["promise"].lower()
    assert p["determinism"]["cublas_workspace_config"] == ":4096:8"
    rows = p["results"]
    assert [(r["preset"], r["k"]) for r in rows] == [("vid2vid-tiny", None), ("fs_vid2vid-tiny", 1),
                                                     ("fs_vid2vid-tiny", 3)]
    for r in rows:
        assert r["size"] == [64, 64] and _is_pos(r["parameters"]) and _is_pos(r["weights_mb"])
        e = r["eager"]
        assert e["ms_per_frame"]["n"] == p["settings"]["steps"]
        assert e["fps"] == pytest.approx(1e3 / e["ms_per_frame"]["median"], rel=1e-3)
        assert r["compiled"] is None
        m = r["memory"]
        assert _is_pos(m["peak_rss_mb"]) and (m["peak_rss_delta_mb"] is None or m["peak_rss_delta_mb"] >= 0)
        res = r["resume"]
        assert res["ok"] and res["frames"] == 4 and res["resumed_after"] == 2 and _is_pos(res["state_file_bytes"])
        assert res["identical"] is True and res["repeat_identical"] is None and res["max_abs_diff"] == 0
        assert res["deterministic_algorithms"] is True and res["nondeterministic_ops"] == []
    assert p["determinism"]["resume_all_identical"] is True
    assert not torch.are_deterministic_algorithms_enabled()  # restored after the check


def test_bench_gpu_resume_check_sees_a_lossy_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A state that comes back slightly changed must make the check say "differs", from the resumed frame on."""
    import workers.job_state as job_state
    from benchmarks.bench_gpu import main

    load = job_state.load_job_state

    def lossy(state_dir: Path, device: torch.device) -> job_state.SavedState | None:
        saved = load(state_dir, device)
        assert saved is not None
        tensors = {k: v + 1e-3 if k.startswith("frames.") else v for k, v in saved.tensors.items()}
        return job_state.SavedState(saved.next_frame, tensors)

    monkeypatch.setattr(job_state, "load_job_state", lossy)
    out = tmp_path / "out.json"
    p = main(["--quick", "--threads", "1", "--device", "cpu", "--presets", "vid2vid-tiny", "--out", str(out)])
    (row,) = p["results"]
    res = row["resume"]
    assert res["identical"] is False and res["first_differing_frame"] == res["resumed_after"] == 2
    assert res["repeat_identical"] is True and res["max_abs_diff"] > 0
    assert p["determinism"]["resume_all_identical"] is False


def test_bench_precision_quick(tmp_path: Path) -> None:
    from benchmarks.bench_precision import main

    p = _run(main, tmp_path, "--precision", "bf16")
    assert p["benchmark"] == "precision" and p["precision"]["name"] == "bf16"
    assert p["settings"]["threshold_db"] == 30.0 and p["settings"]["frames"] == 2
    rows = p["results"]
    assert [(r["preset"], r["k"], r["sample"]) for r in rows] == [("vid2vid-tiny", None, "street"),
                                                                  ("fs_vid2vid-tiny", 1, "people")]
    for r in rows:
        assert r["size"] == [32, 32] and r["trained"] is False and r["frames"] == 2
        assert set(r["seconds"]) == {"fp32", "bf16"} and all(_is_pos(s) for s in r["seconds"].values())
        frames = r["psnr_per_frame_db"]
        if r["preset"] == "vid2vid-tiny":  # a vid2vid stream's first frame runs in fp32: identical (null PSNR)
            assert frames[0] is None
            frames = frames[1:]
        assert frames and all(_is_pos(x) and math.isfinite(x) for x in frames)  # bf16 does change bits
        assert r["psnr_min_frame_db"] == min(frames) and r["identical"] is False
        # the clip's PSNR comes from the mean MSE: between the worst and the best frame (an identical frame: MSE 0)
        best = math.inf if len(frames) < len(r["psnr_per_frame_db"]) else max(frames)
        assert min(frames) - 1e-3 <= r["psnr_clip_db"] <= best + 1e-3
        assert r["pass"] is (min(frames) >= 30.0)
        assert 0 < r["max_abs_diff"] <= 2
    assert p["all_pass"] is all(r["pass"] for r in rows)


def test_bench_precision_skips_when_serving_in_fp32(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--precision auto on a device that serves in fp32: nothing reduced to check, said so (no fake PASS)."""
    import benchmarks.bench_precision as bench
    from workers.precision import Precision

    monkeypatch.setattr(bench, "choose_precision", lambda device, requested: Precision("fp32", "test: no bf16"))
    p = bench.main(["--quick", "--threads", "1", "--device", "cpu", "--out", str(tmp_path / "p.json")])
    assert p["precision"]["name"] == "fp32" and p["all_pass"] is None
    assert len(p["results"]) == 2 and all("fp32" in r["skipped"] and r["pass"] is None for r in p["results"])
