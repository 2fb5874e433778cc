"""Issue 16: checkpoints of the original vid2vid / few-shot vid2vid code import exactly.

Every case of ../shared/fixtures/reference (any set made the same way) is imported as `v2v import` does and run through
our streaming `start` / `step`; the first frame and every teacher-forced frame must match the recorded output (README
criterion). Skipped with the reason when the fixture folder is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.core.state_import import ImportMismatch, read_state_dict
from models.families.vid2vid.original import find_files, import_original
from tests.models.original_fixtures import (
    CRITERION,
    FIXTURES,
    cases,
    fewshot_diffs,
    import_case,
    load_case,
    png_error,
    vid2vid_diffs,
    write_cityscapes_label_zip,
    write_pose_uploads,
)

VID2VID_NETWORK_TOLERANCE = 5e-4
"""vid2vid frames differ from the fixture's by 5e-6 .. 2.3e-4 on this AVX2 CPU: the hallucinated image and the mask
agree to 2e-6 and 4e-7, but the flow heads' output is multiplied by 20·2^s (80 at the finest scale), so conv rounding
becomes ~1.5e-4 px of flow and, through the warp of the previous frame, up to 2e-4 in the frame (the fixture itself is
up to 4e-5 from a float64 run of the same function). The README's 1e-5 holds for the first-frame generator and the
few-shot cases; a wrong mapping or computation gives 1e-3 and above (README)."""

pytestmark = pytest.mark.skipif(not (FIXTURES / "manifest.json").exists(),
                                reason=f"reference fixtures not found at {FIXTURES}")


@pytest.mark.parametrize("case", cases("vid2vid"))
def test_vid2vid_case_matches_the_original(case: str) -> None:
    inputs, outputs, entry = load_case(case)
    result, config = import_case(case, "vid2vid")
    assert config.norm_statistics == "per_frame" and config.warp_rounding == "original"
    params = [sum(v.numel() for k, v in result.weights["generator"].items()
                  if k.startswith(f"scales.{s}.") and "running" not in k and "num_batches" not in k)
              for s in range(config.n_scales_spatial)]
    assert params == entry["params"]
    diffs = vid2vid_diffs(result, config, inputs, outputs)
    if "first_frames" in diffs:
        assert max(diffs["first_frames"]) < CRITERION
    for key in ("first", "teacher_forced", "bn_eval"):
        assert max(diffs[key]) < VID2VID_NETWORK_TOLERANCE, (key, diffs[key])


@pytest.mark.parametrize("case", cases("fewshot"))
def test_fewshot_case_matches_the_original(case: str) -> None:
    inputs, outputs, entry = load_case(case)
    result, config = import_case(case, "fs_vid2vid")
    assert config.max_references == entry["k"]
    diffs = fewshot_diffs(result, config, inputs, outputs)
    for key in ("first", "teacher_forced"):
        assert max(diffs[key]) < CRITERION, (key, diffs[key])
    assert max(diffs["flow_ref"]) < 1e-4 and max(diffs["warped_ref"]) < 1e-5


@pytest.mark.parametrize("case", cases("vid2vid")[:1])
def test_a_missing_or_extra_tensor_is_named(case: str, tmp_path: Path) -> None:
    files = find_files(FIXTURES / case / "checkpoints")
    sd = read_state_dict(files.scales[1])
    sd["model_final_img.1.extra"] = torch.zeros(1)
    bad = tmp_path / "latest_net_G1.pth"
    torch.save(sd, bad)
    with pytest.raises(ImportMismatch, match="model_final_img.1.extra"):
        import_original(type(files)([files.scales[0], bad, *files.scales[2:]], files.single))
    del sd["model_final_img.1.extra"], sd["model_up_img.0.conv_block.1.weight"]
    torch.save(sd, bad)
    with pytest.raises(ImportMismatch, match="does not fit|has no source|left over"):
        import_original(type(files)([files.scales[0], bad, *files.scales[2:]], files.single))


@pytest.mark.parametrize("case", [c for c in cases("vid2vid") if load_case(c)[2].get("first_frame") == "single_G"][:1])
def test_imported_model_through_v2v_generate(case: str, tmp_path: Path) -> None:
    """`v2v import` then `v2v generate` (the worker's per-job loop): labels as Cityscapes instance-id PNGs; the two
    first frames come from the single-image G and frame 2 is the original's first generated frame (8-bit output)."""
    from cli.main import main

    inputs, outputs, _ = load_case(case)
    _, height, width = inputs["A"].shape
    assert main(["import", str(FIXTURES / case / "checkpoints"), "--name", "imported", "--dtype", "fp32",
                 "--checkpoints-dir", str(tmp_path), "--height", str(height), "--width", str(width)]) == 0
    labels = write_cityscapes_label_zip(inputs, tmp_path / "labels.zip", frames=3)
    frames = tmp_path / "frames"
    assert main(["generate", "--model", "imported", "--manifest", str(tmp_path / "manifest.json"), "--labels",
                 str(labels), "-o", str(tmp_path / "out.mp4"), "--frames-dir", str(frames), "--device", "cpu"]) == 0
    pngs = sorted(frames.rglob("*.png"))
    assert len(pngs) == 3
    expected = [outputs["first_frames"][0], outputs["first_frames"][1], outputs["fake_B"][0]]
    for png, want in zip(pngs, expected, strict=True):
        assert png_error(png, want) <= 1 / 127.5 + VID2VID_NETWORK_TOLERANCE, png.name


@pytest.mark.parametrize("family", ["vid2vid", "fewshot"])
def test_imported_cards_load_in_the_worker_runner(family: str, tmp_path: Path) -> None:
    """The card `v2v import` writes (fp16 weights, sha256, config overrides) sets up in workers.runner.Runner."""
    import json

    from app.contracts import Manifest
    from cli.main import main
    from workers.runner import Runner

    case = cases(family)[0]
    assert main(["import", str(FIXTURES / case / "checkpoints"), "--name", "m", "--checkpoints-dir",
                 str(tmp_path)]) == 0
    card = Manifest.model_validate(json.loads((tmp_path / "manifest.json").read_text())).models["m"]
    runner = Runner(card, torch.device("cpu"), tmp_path)
    runner.setup()
    assert runner.pipeline is not None
    assert card.quality["weights_dtype"] == "fp16" and card.weights is not None and len(card.weights.sha256) == 64


@pytest.mark.parametrize("family", ["vid2vid", "fewshot"])
def test_torch_04_files_without_batch_counters_import(family: str, tmp_path: Path) -> None:
    """Files as torch 0.4 wrote them (legacy serialisation, no num_batches_tracked) import to the same weights."""
    import shutil

    case = cases(family)[0]
    folder = tmp_path / "checkpoints"
    shutil.copytree(FIXTURES / case / "checkpoints", folder)
    for path in folder.rglob("*.pth"):
        sd = {k: v for k, v in read_state_dict(path).items() if not k.endswith("num_batches_tracked")}
        path.chmod(0o644)
        torch.save(sd, path, _use_new_zipfile_serialization=False)
    import importlib

    from cli.import_checkpoint import FAMILY_MODULES

    module = importlib.import_module(FAMILY_MODULES["vid2vid" if family == "vid2vid" else "fs_vid2vid"])
    old, new = import_case(case, "vid2vid" if family == "vid2vid" else "fs_vid2vid")[0], \
        module.import_checkpoint(folder, {})
    for network, state in old.weights.items():
        for key, value in state.items():
            if key.endswith("num_batches_tracked"):
                assert int(new.weights[network][key]) == 0
            else:
                assert torch.equal(value, new.weights[network][key]), key


def test_six_channel_pose_frames_are_densepose_and_openpose_side_by_side() -> None:
    from models.core.label_codec import LabelCodec

    codec = LabelCodec("pose", 6)
    frame = np.concatenate([np.full((8, 4, 3), 255, np.uint8), np.zeros((8, 4, 3), np.uint8)], axis=1)  # (8, 8, 3)
    x = codec.encode_at(frame, 8, 4)
    assert x.shape == (6, 8, 4) and bool(x[:3].eq(1).all()) and bool(x[3:].eq(-1).all())
    assert codec.draw(x).shape == (8, 4, 3)


@pytest.mark.parametrize("case", cases("fewshot")[:1])
def test_imported_fewshot_pose_model_through_v2v_generate(case: str, tmp_path: Path) -> None:
    """6-channel pose labels as DensePose | OpenPose side-by-side 8-bit PNGs (the face masked inside the model): the
    frames are the original's up to the 8-bit rounding of inputs and outputs, at the output width."""
    from cli.main import main

    inputs, outputs, _ = load_case(case)
    _, _, height, width = inputs["tgt_label"].shape
    assert main(["import", str(FIXTURES / case / "checkpoints"), "--name", "pose", "--dtype", "fp32",
                 "--checkpoints-dir", str(tmp_path), "--height", str(height), "--width", str(width)]) == 0
    labels, ref, ref_label = write_pose_uploads(inputs, tmp_path)
    frames = tmp_path / "frames"
    assert main(["generate", "--model", "pose", "--manifest", str(tmp_path / "manifest.json"), "--labels",
                 str(labels), "--references", str(ref), "--reference-labels", str(ref_label), "-o",
                 str(tmp_path / "out.mp4"), "--frames-dir", str(frames), "--device", "cpu"]) == 0
    pngs = sorted(frames.rglob("*.png"))
    assert len(pngs) == len(outputs["fake_image"])
    for png, want in zip(pngs, outputs["fake_image"], strict=True):
        assert png_error(png, want) < 2 / 127.5, png.name
