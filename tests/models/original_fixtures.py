"""Helpers for the reference-checkpoint fixtures (../shared/fixtures/reference, see its README): find the cases,
import them as `v2v import` does, and run our streaming generators on them the way the README's criterion says
(first frame; every later frame teacher-forced from the fixture's own earlier outputs)."""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from models import get_family
from models.core.labels import instance_edges, one_hot
from models.core.state_import import ImportResult
from models.core.warp import image_pyramid
from models.families.fs_vid2vid.generator import FewShotGenerator
from models.families.vid2vid.generator import Vid2VidGenerator, Vid2VidState
from models.families.vid2vid.single import SingleImageGenerator

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "reference"
CRITERION = 1e-5
"""The README's pass criterion: max |ours - fixture| on the first and every teacher-forced frame, fp32."""


def cases(family: str) -> list[str]:
    """Case folders of `family` ("vid2vid" or "fewshot") in the fixture manifest (any set: shared or hidden)."""
    manifest = FIXTURES / "manifest.json"
    if not manifest.exists():
        return []
    data = json.loads(manifest.read_text())
    return sorted(name for name, case in data["cases"].items() if case["family"] == family
                  and (FIXTURES / name).is_dir())


def load_case(name: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, Any]]:
    """(inputs, outputs, manifest entry) of one case."""
    entry = json.loads((FIXTURES / "manifest.json").read_text())["cases"][name]
    return (load_file(str(FIXTURES / name / "inputs.safetensors")),
            load_file(str(FIXTURES / name / "outputs.safetensors")), entry)


def import_case(name: str, family: str) -> tuple[ImportResult, Any]:
    """What `v2v import` computes for the case's checkpoints folder, and our config for it."""
    import importlib

    from cli.import_checkpoint import FAMILY_MODULES

    result = importlib.import_module(FAMILY_MODULES[family]).import_checkpoint(FIXTURES / name / "checkpoints", {})
    return result, get_family(family).config(result.preset, result.config_overrides)


def encode_vid2vid_labels(inputs: dict[str, torch.Tensor], label_nc: int) -> torch.Tensor:
    """(T, label_nc + 1, H, W): one-hot class ids plus the instance-boundary channel, as the reference encodes."""
    ids, inst = inputs["A"].long(), inputs["inst"].long()
    return torch.cat([one_hot(ids, label_nc), instance_edges(inst)], dim=1)


def vid2vid_diffs(result: ImportResult, config: Any, inputs: dict[str, torch.Tensor],
                  outputs: dict[str, torch.Tensor]) -> dict[str, list[float]]:
    """Max |ours - fixture| per frame: "first_frames" (single-image G), "first" (our own first frames, frame 0),
    "teacher_forced" (every frame), "bn_eval" (frame 0 with running statistics)."""
    labels = encode_vid2vid_labels(inputs, result.labels["num_classes"])  # (T, C, H, W)
    t, _, h, w = labels.shape
    gen = Vid2VidGenerator(config)
    gen.load_state_dict(result.weights["generator"])
    gen.eval()
    out: dict[str, list[float]] = {}
    with torch.no_grad():
        if "first_frame" in result.weights:
            single = SingleImageGenerator(config.single_image)
            single.load_state_dict(result.weights["first_frame"])
            first = single.eval()(labels[0:2])  # (2, 3, H, W)
            out["first_frames"] = [_diff(first[i], outputs["first_frames"][i]) for i in range(2)]
            recorded_first = outputs["first_frames"]
        else:
            first = recorded_first = inputs["B"][0:2]
        state = gen.start(1, h, w, first[None], labels[None, 0:2])
        frame0, _ = gen.step(labels[2:3], state)
        out["first"] = [_diff(frame0.frame[0], outputs["fake_B"][0])]
        n = config.n_scales_spatial
        first_levels = image_pyramid(recorded_first, n)[::-1]  # per scale (2, 3, H_s, W_s)
        label_levels = image_pyramid(labels, n)[::-1]  # per scale (T, C, H_s, W_s)
        out["teacher_forced"] = []
        for j in range(t - 2):
            frames = []
            for s in range(n):
                history = [first_levels[s][0], first_levels[s][1]]
                history += [outputs[f"scale{s}.fake_B"][i] for i in range(j)]
                frames.append(torch.stack(history[j:j + 2])[None])  # (1, 2, 3, H_s, W_s)
            forced = Vid2VidState(labels=[label_levels[s][j:j + 2][None] for s in range(n)], frames=frames,
                                  frame_index=j + 2, history=2)
            step, _ = gen.step(labels[j + 2:j + 3], forced)
            out["teacher_forced"].append(_diff(step.frame[0], outputs["fake_B"][j]))
        running = Vid2VidGenerator(dataclasses.replace(config, norm_statistics="running"))
        running.load_state_dict(result.weights["generator"])
        frame0, _ = running.eval().step(labels[2:3], running.start(1, h, w, first[None], labels[None, 0:2]))
        out["bn_eval"] = [_diff(frame0.frame[0], outputs["fake_B_bn_eval"][0])]
    return out


def fewshot_diffs(result: ImportResult, config: Any, inputs: dict[str, torch.Tensor],
                  outputs: dict[str, torch.Tensor]) -> dict[str, list[float]]:
    """Max |ours - fixture| per frame: "first" (frame 0), "teacher_forced" (frames 1.., previous frame and label from
    the fixture), "flow_ref" / "warped_ref" (every frame)."""
    gen = FewShotGenerator(config)
    gen.load_state_dict(result.weights["generator"])
    gen.eval()
    # the raw labels: the imported config masks the face (--remove_face_labels) inside the generator, as the reference
    labels, ref_labels, refs = inputs["tgt_label"], inputs["ref_label"], inputs["ref_image"]
    out: dict[str, list[float]] = {"teacher_forced": [], "flow_ref": [], "warped_ref": []}
    with torch.no_grad():
        start = gen.start(refs, ref_labels)
        for t in range(labels.shape[0]):
            state = start if t == 0 else dataclasses.replace(start, prev_frame=outputs["fake_image"][t - 1:t],
                                                             prev_label=inputs["tgt_label_valid"][t - 1:t])
            step, _ = gen.step(labels[t:t + 1], state, with_raw=False)
            out.setdefault("first" if t == 0 else "teacher_forced", []).append(
                _diff(step.frame[0], outputs["fake_image"][t]))
            assert step.flow_ref is not None and step.warped_ref is not None
            out["flow_ref"].append(_diff(step.flow_ref[0], outputs["flow_ref"][t]))
            out["warped_ref"].append(_diff(step.warped_ref[0], outputs["warped_ref"][t]))
    return out


def write_cityscapes_label_zip(inputs: dict[str, torch.Tensor], path: Path, frames: int) -> Path:
    """The case's first `frames` label frames as a user uploads them: a zip of 16-bit Cityscapes instance-id PNGs."""
    import cv2

    with zipfile.ZipFile(path, "w") as archive:
        for t in range(frames):
            inst = inputs["inst"][t].long()  # the fixture's ids: 1000 * k + class on instance k, else the class
            cityscapes = torch.where(inst >= 1000, (inst % 1000) * 1000 + inst // 1000, inst)  # 1000 * class + k
            ok, png = cv2.imencode(".png", cityscapes.numpy().astype(np.uint16))
            assert ok
            archive.writestr(f"{t:05d}.png", png.tobytes())
    return path


def write_pose_uploads(inputs: dict[str, torch.Tensor], folder: Path) -> tuple[Path, Path, Path]:
    """(labels zip, reference picture, reference label) of a few-shot pose case as 8-bit PNGs: each 6-channel label
    frame as its DensePose and OpenPose halves side by side."""
    import cv2

    def bgr(x: torch.Tensor) -> np.ndarray:  # (3, H, W) in [-1, 1] -> (H, W, 3) uint8 BGR
        rgb = x.clamp(-1, 1).add(1).mul(127.5).round().byte().permute(1, 2, 0).numpy()
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)

    def side_by_side(label: torch.Tensor) -> np.ndarray:
        return np.concatenate([bgr(label[:3]), bgr(label[3:6])], axis=1)

    labels, ref, ref_label = folder / "labels.zip", folder / "ref.png", folder / "ref_label.png"
    with zipfile.ZipFile(labels, "w") as archive:
        for t, label in enumerate(inputs["tgt_label"]):
            archive.writestr(f"{t:05d}.png", cv2.imencode(".png", side_by_side(label))[1].tobytes())
    cv2.imwrite(str(ref), bgr(inputs["ref_image"][0, 0]))
    cv2.imwrite(str(ref_label), side_by_side(inputs["ref_label"][0, 0]))
    return labels, ref, ref_label


def png_error(png: Path, want: torch.Tensor) -> float:
    """Max |frame - want| in [-1, 1] units of an 8-bit RGB PNG against a (3, H, W) fixture frame."""
    import cv2

    got = torch.from_numpy(cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB)).permute(2, 0, 1).float()
    assert got.shape == want.shape, (png.name, tuple(got.shape), tuple(want.shape))
    return float((got / 127.5 - 1 - want).abs().max())


def _diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max())
