"""A model card's measured quality, taken from a `v2v eval` report (`v2v export --quality-from REPORT`).

One function per job kind picks the figures the README and `/v1/models` quote, under the same keys for every model
of that kind, so that a card's numbers are exactly what the report's command measured:
translate `psnr_db`, `ssim`, `warp_error`, `grid_excess_db` (temporal) and their frame-by-frame counterparts, or
per reference count K for few-shot models; predict the best/mean/worst SSIM and PSNR, copy-last-frame, diversity,
sharpness, the two-sample accuracy, the gains over the baseline model and the attribute control; generate the trained
model's scores next to the same model at initialisation and the real clips.
"""

from __future__ import annotations

import math
from typing import Any

PREDICT_KEYS = ("ssim_best", "ssim_mean", "ssim_worst", "ssim_copy_last", "ssim_best_last", "ssim_copy_last_last",
                "psnr_best", "psnr_mean", "psnr_worst", "psnr_copy_last", "diversity_mean", "diversity_last",
                "sharpness_random_last")


def _rounded(value: Any) -> Any:
    """Floats to 4 decimals (5 under 0.1), NaN to None, nested dicts walked."""
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return round(value, 5 if abs(value) < 0.1 else 4)
    return value


def _without_runs(scores: dict[str, Any]) -> dict[str, Any]:
    """A generate score set without the two-sample test's per-run details (its accuracy stays)."""
    return {k: v for k, v in scores.items() if k != "two_sample"}


def translate_quality(report: dict[str, Any], name: str) -> dict[str, Any]:
    r = report["models"][name]
    quality: dict[str, Any] = {
        "eval_data": f"{r['data']} {report['split']} split ({len(r['sequences'])} held-out sequences x "
                     f"{report['max_frames']} frames)"}
    if "temporal" in r:  # vid2vid: temporal path on and off, the flat-colour baseline
        on, off = r["temporal"], r["frame_by_frame"]
        quality.update(psnr_db=on["psnr"], ssim=on["ssim"], warp_error=on["warping_error"],
                       psnr_db_frame_by_frame=off["psnr"], warp_error_frame_by_frame=off["warping_error"])
        if "grid_excess_db" in on:  # reports before the spectrum check have none
            quality["grid_excess_db"] = on["grid_excess_db"]
        if "flat_class_colours" in r:
            flat = r["flat_class_colours"]
            quality["baseline_flat_class_colours"] = {"psnr_db": flat["psnr"], "ssim": flat["ssim"]}
    for k, by_refs in r.get("references", {}).items():  # few-shot: per reference count K
        right = by_refs["right"]
        quality.update({f"psnr_db_right_refs_k{k}": right["psnr"], f"ssim_right_refs_k{k}": right["ssim"],
                        f"warping_error_k{k}": right["warping_error"]})
        if "grid_excess_db" in right:
            quality[f"grid_excess_db_k{k}"] = right["grid_excess_db"]
        if "wrong" in by_refs:
            quality[f"psnr_db_other_refs_k{k}"] = by_refs["wrong"]["psnr"]
        if "frame_by_frame" in by_refs:
            quality[f"warping_error_k{k}_temporal_off"] = by_refs["frame_by_frame"]["warping_error"]
    return quality


def predict_quality(report: dict[str, Any], name: str) -> dict[str, Any]:
    m, setup = report["predict"][name], report["predict_setup"]
    summary = m["summary"]
    quality: dict[str, Any] = {key: summary[key] for key in PREDICT_KEYS if key in summary}
    quality["eval_data"] = (f"{', '.join(setup['data'])} {setup['split']} split, {m['sequences']} clips, "
                            f"{m['context_frames']} context + {m['horizon']} predicted frames, {m['samples']} samples")
    accuracy = summary.get("two_sample_accuracy")
    if accuracy is not None and not math.isnan(accuracy):
        quality["two_sample_accuracy"] = accuracy
    if "vs_baseline" in m:
        quality["vs_baseline"] = m["vs_baseline"]
    control = report.get("attribute_control", {}).get("models", {}).get(name)
    if control is not None:
        asked, not_asked = control["requested"], control["control"]
        quality["attribute_control"] = {
            "action_asked": asked["action"], "look_asked": asked["look"], "action_asked_per_class":
            asked["action_per_class"], "action_not_asked": not_asked["action"], "look_not_asked": not_asked["look"],
            "trials": control["trials"]}
        quality["eval_data"] += f"; judges on {report['attribute_control']['data']}"
    return quality


def generate_quality(report: dict[str, Any], name: str) -> dict[str, Any]:
    g = report["generate"]
    m = g["models"][name]
    return {**_without_runs(m["trained"]), "initial": _without_runs(m["initial"]), "real": _without_runs(g["real"]),
            "judges_heldout_accuracy": {k: j["heldout_accuracy"] for k, j in g["judges"].items()},
            "eval_data": f"{g['data']} {g['split']} split"}


def _scored_models(report: dict[str, Any]) -> dict[str, Any]:
    """Every model the report scored, with the function that reads its quality."""
    found: dict[str, Any] = dict.fromkeys(report.get("models", {}), translate_quality)
    found.update(dict.fromkeys(report.get("predict", {}), predict_quality))
    found.update(dict.fromkeys(report.get("generate", {}).get("models", {}), generate_quality))
    return found


def card_quality(report: dict[str, Any], name: str) -> dict[str, Any]:
    """The measured quality of model `name` in `report` (a `v2v eval --out` JSON), ready for its card."""
    scored = _scored_models(report)
    if name not in scored:
        raise KeyError(f"the eval report has no model {name!r} (it scored: {', '.join(sorted(scored)) or 'none'})")
    return _rounded(scored[name](report, name))
