"""The Markdown table of a translate `v2v eval` report (`evaluation.translate`), followed by the labels-only table
(`evaluation.labels_only`) when a model was scored on labels-only data."""

from __future__ import annotations

import math
from typing import Any


def fmt(v: Any, digits: int) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def reference_note(report: dict[str, Any]) -> str:
    options = report.get("options")
    note = f" Every stream ran with the job options {options}." if options else ""
    draws = sorted({m["reference_draws"] for m in report["models"].values() if "reference_draws" in m})
    if not draws:
        return note
    return note + (f" K references: the first K of a seeded random order of the sequence's frames after the "
            f"evaluated window (nested sets), scores averaged over {'/'.join(map(str, draws))} such orders.")


def markdown_table(report: dict[str, Any]) -> str:
    """The report as one Markdown table (warping errors in [0, 1] intensity units, lower is better), followed by the
    labels-only table (`evaluation.labels_only`) when a model was scored on labels-only data."""
    from evaluation.labels_only import markdown_table as labels_only_table

    labels_only = any(m.get("labels_only") for m in report["models"].values())
    normal = [name for name, m in report["models"].items() if not m.get("labels_only")]
    if labels_only and not normal:
        return labels_only_table(report)
    lines = [
        f"Split `{report['split']}`, up to {report['max_frames']} frames per sequence. Warping error: mean "
        "|x_t - warp(x_t-1, flow)| on pixels visible in the ground truth (lower is better; GT = the ground truth's "
        "own). Grid: the largest excess, over periods 2/4/8 px, of the output's spectral peak on that period's "
        "frequency lattice above the ground truth's (dB; ≤ ~1 = no periodic grid; evaluation.spectrum)."
        + reference_note(report),
        "",
        "| model | weights | variant | K | PSNR dB | SSIM | warp err | warp err GT | grid dB | seqs | frames | flow |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def row(name: str, m: dict[str, Any], variant: str, k: str, r: dict[str, Any]) -> None:
        lines.append(
            f"| {name} | {m['weights']} | {variant} | {k} | {fmt(r['psnr'], 2)} | {fmt(r['ssim'], 3)} | "
            f"{fmt(r['warping_error'], 4)} | {fmt(r['warping_error_ground_truth'], 4)} | "
            f"{fmt(r.get('grid_excess_db'), 1)} | {r['sequences']} | "
            f"{r['frames']} | {','.join(m['flow_source'])} |")

    for name in normal:
        m = report["models"][name]
        if "temporal" in m:
            row(name, m, "temporal", "-", m["temporal"])
            row(name, m, "frame by frame (temporal off)", "-", m["frame_by_frame"])
            if "flat_class_colours" in m:
                row(name, m, "baseline: flat class-mean render (no model)", "-", m["flat_class_colours"])
            if "own_class_colours" in m:
                row(name, m, "bound: flat render in the clip's own class means (reads the ground truth)", "-",
                    m["own_class_colours"])
        for k, variants in m.get("references", {}).items():
            for variant, label in (("right", "right refs"), ("wrong", "other appearance's refs"),
                                   ("frame_by_frame", "right refs, temporal off")):
                if variant in variants:
                    row(name, m, label, k, variants[variant])
    table = "\n".join(lines) + "\n"
    return table + "\n" + labels_only_table(report) if labels_only else table
