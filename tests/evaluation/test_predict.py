"""The predict protocol end to end: tiny SVG runs on a tiny digits folder, exported as predict cards (which the
worker's runner serves, scoring a job against its true future), then `v2v eval` with a baseline card, previews and
plots. Also: the batched metrics agree with the worker's."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from app.contracts import JobSpec, OutputOptions, PredictJob, load_manifest
from cli import evaluate as evaluate_cli
from cli import export as export_cli
from corpora.moving_digits import DigitsSpec, write_digits_dataset
from evaluation.predict_metrics import as_unit, psnr_per_image, ssim_per_image
from models.core.image_metrics import psnr, ssim
from models.families.svg_lp.recipe import Recipe
from training.loop import TrainingLoop
from workers.hooks import NullHooks
from workers.runner import make_runner
from workers.video_io import H264Writer


def _parse(module: object, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser, "x")  # type: ignore[attr-defined]
    return parser.parse_args(argv)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(digits folder, checkpoints folder with cards "future" (tiny SVG-LP) and "future-det")."""
    root = tmp_path_factory.mktemp("predict")
    data = root / "digits"
    write_digits_dataset(data, DigitsSpec(size=16, digit_size=8, frames=7, max_speed=1), train_clips=4, test_clips=3)
    for name, preset in (("future", "svg_lp-tiny"), ("future-det", "svg_lp-tiny-deterministic")):
        torch.manual_seed(0)
        config = Recipe.train_config(data=str(data), out=str(root / name), preset=preset, batch=2, steps=3,
                                     device="cpu", progress=False, checkpoint_every=3, sample_every=0)
        TrainingLoop(Recipe(config)).fit()
        export_cli.run(_parse(export_cli, [str(root / name), "--name", name,
                                           "--checkpoints-dir", str(root / "checkpoints")]))
    return data, root / "checkpoints"


def test_batched_metrics_match_the_workers() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8), rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    got_ssim, got_psnr = ssim_per_image(as_unit(a), as_unit(b)), psnr_per_image(as_unit(a), as_unit(b))
    for i in range(3):
        assert float(got_ssim[i]) == pytest.approx(ssim(a[i], b[i]), abs=1e-9)
        assert float(got_psnr[i]) == pytest.approx(psnr(a[i], b[i]), abs=1e-9)
    assert float(psnr_per_image(as_unit(a), as_unit(a))[0]) == 99.0


def test_export_writes_a_predict_card_the_worker_serves_with_scores(served: tuple[Path, Path],
                                                                    tmp_path: Path) -> None:
    _, checkpoints = served
    card = load_manifest(checkpoints / "manifest.json").models["future"]
    assert card.kind == "predict" and card.family == "svg_lp" and card.preset == "svg_lp-tiny"
    assert (card.inputs.context_frames.max, card.inputs.horizon.max) == (2, 9)  # n_past; 3 x n_future
    assert (card.output.height, card.output.width, card.quality["trained_steps"]) == (16, 16, 3)
    runner = make_runner(card, torch.device("cpu"), checkpoints)
    runner.setup()
    videos = {}
    for kind, levels in (("context", [0, 80, 160]), ("truth", [170, 180, 190, 200])):
        videos[kind] = tmp_path / f"{kind}.mp4"
        with H264Writer(videos[kind], fps=10.0, width=16, height=16, crf=0) as writer:
            for level in levels:
                writer.write(np.full((16, 16, 3), level, np.uint8))
    (tmp_path / "job").mkdir()
    inputs = PredictJob(context_path=str(videos["context"]), context_kind="video", context_frames=2, horizon=4,
                        num_samples=3, truth_path=str(videos["truth"]), truth_kind="video")
    spec = JobSpec(job_id="job", owner="t", model="future", job_dir=str(tmp_path / "job"), frames_total=4, fps=10.0,
                   options=OutputOptions(seed=3), inputs=inputs)
    result = runner.run(spec, NullHooks())
    assert result.frames == 4 and len(result.videos) == 3
    report = result.report
    assert report["truth_frames_scored"] == 4 and len(report["samples"]) == 3
    assert all(len(s["ssim"]) == 4 and len(s["psnr"]) == 4 for s in report["samples"])
    assert report["samples"][report["best_sample"]]["mean_ssim"] == max(s["mean_ssim"] for s in report["samples"])
    assert report["latent"] == {"variant": "learned_prior", "latent_dim": 4}


def test_eval_scores_predict_models_against_copy_last_and_a_baseline(served: tuple[Path, Path],
                                                                     tmp_path: Path) -> None:
    data, checkpoints = served
    out, table, previews = tmp_path / "eval.json", tmp_path / "eval.md", tmp_path / "previews"
    evaluate_cli.run(_parse(evaluate_cli, [
        "--model", "future", "--baseline-model", "future-det", "--data", str(data), "--max-sequences", "2",
        "--samples", "3", "--horizon", "4", "--manifest", str(checkpoints / "manifest.json"), "--out", str(out),
        "--markdown", str(table), "--previews", str(previews)]))
    report = json.loads(out.read_text())
    models = report["predict"]
    assert set(models) == {"future", "future-det"} and report["predict_setup"]["split"] == "test"
    stochastic, deterministic = models["future"], models["future-det"]
    assert stochastic["sequences"] == 2 and stochastic["horizon"] == 4 and stochastic["samples"] == 3
    for curve in ("best", "mean", "worst", "random", "copy_last"):
        assert len(stochastic["per_step"]["ssim"][curve]) == 4 and len(stochastic["per_step"]["psnr"][curve]) == 4
    s = stochastic["summary"]
    assert s["ssim_worst"] <= s["ssim_mean"] <= s["ssim_best"] and s["psnr_worst"] <= s["psnr_best"]
    assert deterministic["summary"]["diversity_last"] == pytest.approx(0.0, abs=1e-9)  # z off: samples alike
    assert stochastic["vs_baseline"]["model"] == "future-det"
    assert stochastic["vs_baseline"]["ssim_best_gain"] == pytest.approx(
        s["ssim_best"] - deterministic["summary"]["ssim_best"], abs=1e-4)
    assert "| future |" in table.read_text() and "copy-last" in table.read_text()
    for name in ("future.png", "future.ssim.png", "future.psnr.png", "future-det.ssim.png"):
        image = cv2.imread(str(previews / name))
        assert image is not None and image.shape[0] > 30
    strip = cv2.imread(str(previews / "future.png"))
    assert strip.shape[:2] == (5 * 16 * 2, (2 + 4) * 16 * 2)  # truth, best, 3 samples; context + horizon frames


def test_export_takes_the_card_quality_from_an_eval_report(served: tuple[Path, Path], tmp_path: Path) -> None:
    data, checkpoints = served
    report_path = tmp_path / "eval.json"
    evaluate_cli.run(_parse(evaluate_cli, [
        "--model", "future", "--baseline-model", "future-det", "--data", str(data), "--max-sequences", "2",
        "--samples", "3", "--horizon", "4", "--two-sample-seeds", "0", "--manifest",
        str(checkpoints / "manifest.json"), "--out", str(report_path)]))
    report = json.loads(report_path.read_text())
    out = tmp_path / "ck"
    run_dir = checkpoints.parent / "future"
    export_cli.run(_parse(export_cli, [str(run_dir), "--name", "future", "--checkpoints-dir", str(out),
                                       "--quality-from", str(report_path), "--quality", '{"trained": "3 steps"}']))
    quality = load_manifest(out / "manifest.json").models["future"].quality
    summary = report["predict"]["future"]["summary"]
    for key in ("ssim_best", "ssim_copy_last", "psnr_best", "diversity_last", "sharpness_random_last"):
        assert quality[key] == pytest.approx(summary[key], abs=1e-4)
    assert quality["vs_baseline"]["model"] == "future-det" and "two_sample_accuracy" not in quality  # not measured
    assert quality["eval_data"].endswith("2 clips, 2 context + 4 predicted frames, 3 samples")
    assert (quality["eval_report"], quality["trained"], quality["trained_steps"]) == (str(report_path), "3 steps", 3)
    # The baseline's figures under another card name; an unknown name is refused before anything is written.
    export_cli.run(_parse(export_cli, [str(checkpoints.parent / "future-det"), "--name", "det", "--checkpoints-dir",
                                       str(out), "--quality-from", str(report_path), "--quality-model", "future-det"]))
    det = load_manifest(out / "manifest.json").models["det"].quality
    assert det["diversity_last"] == pytest.approx(0.0, abs=1e-6) and "vs_baseline" not in det
    before = (out / "manifest.json").read_bytes()
    with pytest.raises(KeyError, match="no model 'nope'.*future-det"):
        export_cli.run(_parse(export_cli, [str(run_dir), "--name", "nope", "--checkpoints-dir", str(out),
                                           "--quality-from", str(report_path)]))
    assert (out / "manifest.json").read_bytes() == before and not (out / "nope.safetensors").exists()


def test_sharpness_probe_scores_reconstructions_and_samples_per_frame(served: tuple[Path, Path]) -> None:
    """`scripts.probe_svg_sharpness`: one ratio per teacher-forced frame after the context and per sampled frame,
    computed against the truth (the probe's own truth frames give exactly 1)."""
    from scripts.probe_svg_sharpness import main, sharpness

    data, checkpoints = served
    result = main(["--model", "future", "--manifest", str(checkpoints / "manifest.json"), "--data", str(data),
                   "--clips", "3", "--horizon", "5"])
    assert len(result["posterior_teacher_forced"]) == 3 and len(result["prior_samples"]) == 5  # n_future 3; horizon
    assert all(v >= 0 for v in result["posterior_teacher_forced"] + result["prior_samples"])
    frames = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert sharpness(frames, frames) == pytest.approx(1.0)
    assert sharpness(frames * 0.5, frames) == pytest.approx(0.5)
