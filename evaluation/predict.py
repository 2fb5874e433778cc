"""`v2v eval` for `predict` models: the stochastic video prediction papers' protocol on held-out clips.

For each held-out clip of the clip corpora among `--data` (e.g. `v2v data digits`, test split: digit images no
training clip used), the *served* pipeline gets the clip's first `context_frames` frames (the card's maximum, at the
card's size, as the worker's input source makes them), draws `samples` futures of `horizon` frames from one seeded
CPU generator per clip (the same for every model), and every predicted frame (quantised to uint8 RGB as served) is
scored against the true future, **predicted frames only**:

- SSIM (`evaluation.predict_metrics`: Gaussian 11×11, σ 1.5, K1 0.01, K2 0.03, L 255, valid windows, RGB channels
  averaged) and PSNR (peak 255), per time step: best-of-N (the sample with the highest mean over the horizon, chosen
  per metric), mean over samples, worst-of-N, and one random sample (sample 0: samples are drawn i.i.d.);
- copy-the-last-frame: the last context frame as every prediction;
- diversity: 1 − mean pairwise SSIM between the samples at each step (pairs (i, i+1 mod N); 0 = samples alike),
  per step, its mean over the horizon and its value at the last step;
- realism: a classifier two-sample test (`evaluation.two_sample.two_sample_tests`, reference §9.2: a small 3-D CNN
  trained to tell real from generated clips, held-out accuracy, mean over `--two-sample-seeds` seeds; 0.5 =
  indistinguishable) between the real clips (context + true future) and the generated ones (the same context +
  sample 0), with at least 4 clips (`two_sample_steps` of the config: its training steps, default 300);
- sharpness: mean gradient magnitude of the predicted frames over that of the true frames (ratio of sums over the
  clips), for the random and the best sample;
- with `baseline_model` (another served predict card, e.g. the deterministic variant), each model's best-of-N gain
  over the baseline's best-of-N (mean over the horizon and at the last step).

Curves are means over the clips. With `previews`, `<previews>/<model>.png` shows the first clip (truth | best
sample | three random samples, context then prediction) and `<model>.ssim.png` / `<model>.psnr.png` plot the
metric against the time step (best / mean / worst, copy-last, the baseline's best).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evaluation.plot import line_plot, write_png
from evaluation.predict_metrics import as_unit, gradient_magnitude, pairwise_ssim, psnr_per_image, ssim_per_image
from evaluation.two_sample import two_sample_report
from models.core.family import Pipeline, PredictStart
from models.core.labels import rgb_to_tensor, tensor_to_rgb

CURVES = ("best", "mean", "worst", "random", "copy_last")


def load_clips(config: Any) -> tuple[list[tuple[str, np.ndarray]], dict[str, Any]]:
    """Up to `max_sequences` clips ((T, H, W, 3) uint8) of `config.split` from the clip corpora among `config.data`
    (folders without a clip table are skipped), and what was read."""
    from corpora.clip_folder import ClipFolderDataset

    clips: list[tuple[str, np.ndarray]] = []
    used: dict[str, Any] = {}
    for root in config.data:
        meta = json.loads((Path(root) / "dataset.json").read_text())
        if "clips" not in meta:
            continue
        data = ClipFolderDataset(Path(root), config.split)
        used[str(root)] = {"generator": meta.get("generator", {}), "clips": len(data)}
        for i in range(min(len(data), config.max_sequences - len(clips))):
            frames = (data[i]["frames"] * 255).round().to(torch.uint8)  # (T, C, H, W)
            rgb = frames.expand(-1, 3, -1, -1) if frames.shape[1] == 1 else frames
            clips.append((f"{Path(root).name}/{data.names[i]}", rgb.permute(0, 2, 3, 1).numpy()))
    return clips, used


class _Sums:
    """Per-step sums over clips."""

    def __init__(self, steps: int) -> None:
        self.steps, self.clips = steps, 0
        self.values: dict[str, np.ndarray] = {}

    def add(self, key: str, per_step: torch.Tensor | np.ndarray) -> None:
        array = np.asarray(per_step, dtype=np.float64)  # (steps,)
        self.values[key] = self.values.get(key, np.zeros(self.steps)) + array

    def mean(self, key: str) -> list[float]:
        return [round(float(v) / max(self.clips, 1), 5) for v in self.values[key]]

    def ratio(self, key: str, over: str) -> list[float]:
        return [round(float(a / b), 4) if b > 0 else float("nan") for a, b in zip(self.values[key],
                                                                                   self.values[over], strict=True)]


def _sample(pipeline: Pipeline, context: list[np.ndarray], samples: int, horizon: int, seed: int,
            device: str) -> np.ndarray:
    """(N, horizon, H, W, 3) uint8 futures of the served pipeline, resized to the context's size as served."""
    from workers.inputs import resize_rgb

    h, w = context[0].shape[:2]
    tensor = torch.stack([rgb_to_tensor(f) for f in context]).unsqueeze(0).to(device)  # (1, T, 3, H, W)
    rng = torch.Generator().manual_seed(seed)
    out = np.zeros((samples, horizon, h, w, 3), np.uint8)
    with torch.inference_mode():
        state = pipeline.start(PredictStart(tensor, samples, horizon), rng)
        done = 0
        while done < horizon:
            step, state = pipeline.step(state, None, rng)
            for j in range(step.frames.shape[1]):  # (N, n, 3, S, S)
                if done < horizon:
                    for s in range(samples):
                        out[s, done] = resize_rgb(tensor_to_rgb(step.frames[s, j]), h, w)
                    done += 1
    return out


def evaluate_model(card: Any, pipeline: Pipeline, clips: list[tuple[str, np.ndarray]], config: Any,
                   ) -> tuple[dict[str, Any], np.ndarray | None]:
    """The scores of one predict model, and the first clip's samples (for the preview)."""
    from workers.inputs import resize_rgb

    n_ctx, n = card.inputs.context_frames.max, config.samples
    h, w = card.output.height, card.output.width
    usable = [(name, f) for name, f in clips if len(f) > n_ctx]
    if not usable:
        return {"error": f"no clip has more than {n_ctx} frames"}, None
    horizon = min(config.horizon, min(len(f) - n_ctx for _, f in usable))
    sums, first = _Sums(horizon), None
    real_clips, fake_clips = [], []
    for index, (_, raw) in enumerate(usable):
        frames = [resize_rgb(f, h, w) for f in raw[:n_ctx + horizon]]
        pred = _sample(pipeline, frames[:n_ctx], n, horizon, config.seed * 1_000_003 + index, config.device)
        first = pred if first is None else first
        real_clips.append(np.stack(frames))  # (n_ctx + Hz, h, w, 3)
        fake_clips.append(np.concatenate([np.stack(frames[:n_ctx]), pred[0]]))
        truth = as_unit(np.stack(frames[n_ctx:]))  # (Hz, 3, h, w)
        p = as_unit(pred.reshape(n * horizon, h, w, 3))  # (N·Hz, 3, h, w)
        t = truth.repeat(n, 1, 1, 1)  # (N·Hz, 3, h, w)
        for metric, score in (("ssim", ssim_per_image), ("psnr", psnr_per_image)):
            s = score(p, t).view(n, horizon)  # (N, Hz)
            order = s.mean(1)
            sums.add(f"{metric}.best", s[int(order.argmax())])
            sums.add(f"{metric}.worst", s[int(order.argmin())])
            sums.add(f"{metric}.mean", s.mean(0))
            sums.add(f"{metric}.random", s[0])
            copy = as_unit(np.repeat(frames[n_ctx - 1][None], horizon, 0))  # (Hz, 3, h, w)
            sums.add(f"{metric}.copy_last", score(copy, truth))
            if metric == "ssim":
                best = int(order.argmax())
        grads = gradient_magnitude(p).view(n, horizon)  # (N, Hz)
        sums.add("grad.random", grads[0])
        sums.add("grad.best", grads[best])
        sums.add("grad.truth", gradient_magnitude(truth))
        pv = p.view(n, horizon, *p.shape[1:])
        sums.add("pairwise_ssim", [pairwise_ssim(pv[:, k]) if n > 1 else 1.0 for k in range(horizon)])
        sums.clips += 1
    curves = {metric: {c: sums.mean(f"{metric}.{c}") for c in CURVES} for metric in ("ssim", "psnr")}
    pairwise = sums.mean("pairwise_ssim")
    sharp = {"random": sums.ratio("grad.random", "grad.truth"), "best": sums.ratio("grad.best", "grad.truth")}
    summary: dict[str, float] = {}
    for metric in ("ssim", "psnr"):
        for c in CURVES:
            ys = curves[metric][c]
            summary[f"{metric}_{c}"] = round(float(np.mean(ys)), 4)
            summary[f"{metric}_{c}_first"], summary[f"{metric}_{c}_last"] = ys[0], ys[-1]
    realism = two_sample(real_clips, fake_clips, config)
    summary.update(pairwise_ssim_last=pairwise[-1], diversity_last=round(1 - pairwise[-1], 5),
                   diversity_mean=round(1 - float(np.mean(pairwise)), 5),
                   sharpness_random_last=sharp["random"][-1], sharpness_best_last=sharp["best"][-1],
                   two_sample_accuracy=realism.get("accuracy", float("nan")))
    beats = [k + 1 for k in range(horizon) if curves["ssim"]["mean"][k] > curves["ssim"]["copy_last"][k]]
    result = {"preset": card.preset, "weights": "trained", "size": [h, w], "context_frames": n_ctx,
              "horizon": horizon, "samples": n, "sequences": sums.clips, "summary": summary,
              "per_step": {**curves, "diversity": [round(1 - v, 5) for v in pairwise], "sharpness": sharp},
              "mean_sample_beats_copy_last_at_steps": beats, "two_sample": realism}
    return result, first


def two_sample(real: list[np.ndarray], fake: list[np.ndarray], config: Any) -> dict[str, Any]:
    """The classifier two-sample test between real and generated clips ((T, H, W, 3) uint8 each), or why not."""

    def tensor(clips: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack(clips)).permute(0, 1, 4, 2, 3).float() / 127.5 - 1  # (N, T, 3, H, W)

    if len(real) < 4:
        return {"skipped": f"needs at least 4 clips, got {len(real)}"}
    return {**two_sample_report(tensor(real), tensor(fake), config), "real": "context + true future",
            "generated": "context + sample 0"}


def evaluate(cards: dict[str, Any], pipelines: dict[str, Pipeline], config: Any) -> dict[str, Any]:
    """Evaluate every predict card (its loaded served pipeline) on the held-out clips; the JSON-able report."""
    clips, used = load_clips(config)
    models: dict[str, Any] = {}
    firsts: dict[str, np.ndarray | None] = {}
    for name, card in cards.items():
        models[name], firsts[name] = evaluate_model(card, pipelines[name], clips, config)
    base = models.get(config.baseline_model) if config.baseline_model else None
    for name, m in models.items():
        if base is None or name == config.baseline_model or "summary" not in m or "summary" not in base:
            continue
        s, b = m["summary"], base["summary"]
        m["vs_baseline"] = {"model": config.baseline_model, **{
            f"{k}_gain": round(s[k] - b[k], 4) for k in ("ssim_best", "ssim_best_last", "ssim_mean", "psnr_best",
                                                          "psnr_best_last")}}
    if config.previews is not None and clips:
        for name, m in models.items():
            if firsts[name] is not None:
                _write_previews(Path(config.previews), name, m, cards[name], clips[0][1], firsts[name],
                                base if name != config.baseline_model else None)
    setup = {"split": config.split, "data": used, "samples": config.samples, "horizon": config.horizon,
             "seed": config.seed, "baseline_model": config.baseline_model,
             "ssim": "Gaussian 11x11 sigma 1.5, K1 0.01, K2 0.03, L 255, valid windows, RGB mean",
             "frames": "predicted frames only"}
    report = {"predict": models, "predict_setup": setup}
    # Attribute control (evaluation.attribute_control): only cards that list an action and a look (VideoVAE).
    from evaluation.attribute_control import evaluate as evaluate_attribute_control
    report.update(evaluate_attribute_control(cards, pipelines, config))
    return report


def _write_previews(folder: Path, name: str, m: dict[str, Any], card: Any, raw: np.ndarray, samples: np.ndarray,
                    base: dict[str, Any] | None) -> None:
    from workers.inputs import resize_rgb

    h, w, n_ctx = card.output.height, card.output.width, m["context_frames"]
    frames = np.stack([resize_rgb(f, h, w) for f in raw[:n_ctx + m["horizon"]]])  # (T, h, w, 3)
    context = frames[:n_ctx]
    truth = as_unit(frames[n_ctx:])
    best = int(ssim_per_image(as_unit(samples.reshape(-1, h, w, 3)), truth.repeat(len(samples), 1, 1, 1))
               .view(len(samples), -1).mean(1).argmax())
    rows = [frames] + [np.concatenate([context, samples[s]]) for s in [best, *range(min(3, len(samples)))]]
    grid = np.concatenate([np.concatenate(list(r), axis=1) for r in rows], axis=0)  # (rows·h, T·w, 3)
    grid[:, n_ctx * w - 1] = (0, 200, 0)  # the context | prediction boundary
    write_png(folder / f"{name}.png", np.kron(grid, np.ones((2, 2, 1), np.uint8)))
    steps = list(range(1, m["horizon"] + 1))
    for metric in ("ssim", "psnr"):
        c = m["per_step"][metric]
        series = {f"{name} best of {m['samples']}": c["best"], "mean of samples": c["mean"],
                  "worst of samples": c["worst"], "copy last frame": c["copy_last"]}
        if base is not None and "per_step" in base:
            series[f"baseline best ({base['preset']})"] = base["per_step"][metric]["best"][:len(steps)]
        line_plot(folder / f"{name}.{metric}.png", f"{name}: {metric.upper()} per predicted frame", steps, series,
                  "predicted time step", metric.upper())


def _c2st_runs(models: dict[str, Any]) -> str:
    runs = {int(m.get("two_sample", {}).get("runs", 0)) for m in models.values()} - {0}
    return "/".join(str(r) for r in sorted(runs)) or "no"


def markdown(report: dict[str, Any]) -> str:
    """The predict part of a report as Markdown: a summary table, then per-step best/mean/worst tables."""
    setup, models = report["predict_setup"], report["predict"]
    lines = [f"Predict protocol: split `{setup['split']}`, {setup['samples']} samples per clip, horizon "
             f"{setup['horizon']}, SSIM {setup['ssim']}. Best/worst = the sample with the highest/lowest mean over "
             "the horizon; random = sample 0. Sharpness = predicted/true mean gradient magnitude at the last step.",
             "C2ST = held-out accuracy of a real-vs-generated 3-D CNN (mean over "
             f"{_c2st_runs(models)} seeds; 0.5 = indistinguishable).",
             "", "| model | clips | SSIM best | mean | worst | random | copy-last | PSNR best | mean | worst | "
             "copy-last | diversity (mean) | diversity (last) | sharpness random (last) | C2ST acc. |",
             "|---|" + "---|" * 14]
    for name, m in models.items():
        if "summary" not in m:
            lines.append(f"| {name} | {m.get('error', '')} |")
            continue
        s = m["summary"]
        lines.append(f"| {name} | {m['sequences']} | {s['ssim_best']:.4f} | {s['ssim_mean']:.4f} | "
                     f"{s['ssim_worst']:.4f} | {s['ssim_random']:.4f} | {s['ssim_copy_last']:.4f} | "
                     f"{s['psnr_best']:.2f} | {s['psnr_mean']:.2f} | {s['psnr_worst']:.2f} | "
                     f"{s['psnr_copy_last']:.2f} | {s['diversity_mean']:.4f} | {s['diversity_last']:.4f} | "
                     f"{s['sharpness_random_last']:.3f} | {s['two_sample_accuracy']:.3f} |")
    for name, m in models.items():
        if "per_step" not in m:
            continue
        c, p = m["per_step"]["ssim"], m["per_step"]["psnr"]
        gain = m.get("vs_baseline")
        lines += ["", f"`{name}` per predicted step" + (f" (gains over `{gain['model']}`: best SSIM "
                  f"{gain['ssim_best_gain']:+.4f} mean, {gain['ssim_best_last_gain']:+.4f} at the last step)"
                  if gain else ""), "",
                  "| step | SSIM best | mean | worst | copy-last | PSNR best | mean | worst | copy-last |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for k in range(m["horizon"]):
            lines.append(f"| {k + 1} | {c['best'][k]:.4f} | {c['mean'][k]:.4f} | {c['worst'][k]:.4f} | "
                         f"{c['copy_last'][k]:.4f} | {p['best'][k]:.2f} | {p['mean'][k]:.2f} | {p['worst'][k]:.2f} | "
                         f"{p['copy_last'][k]:.2f} |")
    return "\n".join(lines) + "\n"
