"""`v2v eval` end to end on tiny data sets with tiny untrained models (tmp manifest)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from corpora.synthetic.people import PeopleDataConfig, generate_people_dataset
from corpora.synthetic.street import StreetDataConfig, generate_street_dataset
from evaluation.card_quality import card_quality
from tests.evaluation.tiny_models import write_tiny_manifest


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("eval")
    street, people = root / "street", root / "people"
    generate_street_dataset(StreetDataConfig(out=street, sequences=2, test_sequences=1, frames=3, height=32,
                                             width=64))
    generate_people_dataset(PeopleDataConfig(out=people, subjects=3, heldout=2, frames=4, height=64, width=32,
                                             sequences_per_subject=1))
    write_tiny_manifest(root, untrained=True)
    return {"street": street, "people": people, "manifest": root / "manifest.json", "root": root}


def test_eval_end_to_end(data: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out, md = data["root"] / "eval.json", data["root"] / "eval.md"
    code = main(["eval", "--data", str(data["street"]), str(data["people"]), "--manifest", str(data["manifest"]),
                 "--model", "street", "--model", "people",
                 "--max-frames", "3", "--max-sequences", "1", "--k", "1", "4", "--reference-draws", "2",
                 "--out", str(out),
                 "--markdown", str(md)])
    assert code == 0
    report = json.loads(out.read_text())
    street = report["models"]["street"]
    assert street["weights"] == "trained" and street["flow_source"] == ["ground_truth"]
    for variant in ("temporal", "frame_by_frame"):
        r = street[variant]
        assert r["frames"] == 3 and r["sequences"] == 1
        assert 0 < r["psnr"] < 40 and -1 <= r["ssim"] <= 1
        assert r["warping_error"] >= 0 and r["warping_error_ground_truth"] < r["warping_error"] + 1
    flat = street["flat_class_colours"]  # the no-model baseline: labels painted with the class-mean colours
    assert flat["frames"] == 3 and 0 < flat["psnr"] < 100 and flat["grid_excess_db"] < 3
    own = street["own_class_colours"]  # the clip's own class means: the best flat render, never below the baseline
    assert own["frames"] == 3 and own["psnr"] >= flat["psnr"]
    people = report["models"]["people"]
    assert set(people["references"]) == {"1"}  # K = 4 exceeds the card's maximum (2)
    assert set(people["references"]["1"]) == {"right", "wrong", "frame_by_frame"}
    assert people["references"]["1"]["right"]["sequences"] == 1 and people["references"]["1"]["right"]["frames"] == 3
    assert people["reference_draws"] == 2
    assert list(people["reference_frames"].values()) == [[[3], [3]]]  # 4 frames, 3 evaluated: frame 3 is the one left
    table = md.read_text()
    assert "| street | trained | temporal |" in table and "other appearance's refs" in table
    assert "flat class-mean render (no model)" in table and "clip's own class means" in table
    assert table in capsys.readouterr().out
    street_card = card_quality(report, "street")  # what `v2v export --quality-from` puts on the card
    assert street_card["psnr_db"] == pytest.approx(street["temporal"]["psnr"], abs=1e-4)
    off = street["frame_by_frame"]["warping_error"]
    assert street_card["warp_error_frame_by_frame"] == pytest.approx(off, abs=1e-5)
    assert street_card["baseline_flat_class_colours"]["ssim"] == pytest.approx(flat["ssim"], abs=1e-4)
    people_card = card_quality(report, "people")
    assert people_card["psnr_db_right_refs_k1"] == pytest.approx(people["references"]["1"]["right"]["psnr"], abs=1e-4)
    assert people_card["psnr_db_other_refs_k1"] == pytest.approx(people["references"]["1"]["wrong"]["psnr"], abs=1e-4)
    assert "psnr_db_right_refs_k4" not in people_card and "1 held-out sequences x 3 frames" in people_card["eval_data"]


def test_eval_options_run_every_stream_as_a_job_with_them_would(data: dict[str, Path],
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    base = ["eval", "--manifest", str(data["manifest"]), "--max-frames", "3", "--max-sequences", "1"]
    out = data["root"] / "options.json"
    # street with temporal 0: the "temporal" stream draws every frame alone, exactly the frame-by-frame one
    assert main([*base, "--data", str(data["street"]), "--model", "street", "--options", '{"temporal": 0}',
                 "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["options"] == {"temporal": 0}
    street = report["models"]["street"]
    assert street["temporal"] == street["frame_by_frame"]
    assert "job options {'temporal': 0}" in capsys.readouterr().out

    # people fine-tuned on each stream's references: once per reference set (the right ones serve two streams)
    from models.families.fs_vid2vid import pipeline as few_shot

    tuned: list[int] = []
    real_finetune = few_shot.finetune_on_references

    def counting(*args: object, **kwargs: object) -> None:
        tuned.append(int(args[3]))  # type: ignore[call-overload]
        real_finetune(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(few_shot, "finetune_on_references", counting)
    runs = {}
    for options in ("{}", '{"finetune_steps": 3}'):
        assert main([*base, "--data", str(data["people"]), "--model", "people", "--k", "1", "--reference-draws", "1",
                     "--options", options, "--out", str(out)]) == 0
        runs[options] = json.loads(out.read_text())["models"]["people"]["references"]["1"]
    assert tuned == [3, 3]  # right references (temporal and frame by frame), other look's references
    assert runs["{}"]["right"]["psnr"] != runs['{"finetune_steps": 3}']["right"]["psnr"]

    # options the card does not list, or out of range, are refused before anything runs
    assert main([*base, "--data", str(data["people"]), "--model", "people", "--options", '{"temporal": 0}']) == 2
    assert "has no option 'temporal'" in capsys.readouterr().err
    assert main([*base, "--data", str(data["people"]), "--model", "people",
                 "--options", '{"finetune_steps": 100000}']) == 2
    assert "must be an integer in 0..200" in capsys.readouterr().err


def test_eval_refuses_untrained_models_and_wrong_folders(data: dict[str, Path],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    base = ["eval", "--manifest", str(data["manifest"]), "--max-frames", "2"]
    assert main([*base, "--data", str(data["street"]), "--model", "untrained"]) == 2
    assert "has no weights" in capsys.readouterr().err
    assert main([*base, "--data", str(data["root"] / "nowhere"), "--model", "street"]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "Traceback" not in err
    assert main([*base, "--data", str(data["street"]), "--model", "nope"]) == 2


def test_eval_rejects_unknown_model(data: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--data", str(data["street"]), "--manifest", str(data["manifest"]), "--model", "nope"]) == 2
    assert "served: people, street, untrained" in capsys.readouterr().err

def test_sequences_cover_appearances_before_repeating_one() -> None:
    from evaluation.translate import Sequence, spread_over_appearances

    seqs = [Sequence(Path("d"), "test", f"p{a}_{i}", a, ()) for a in (4, 5, 6) for i in (0, 1)]
    names = [s.name for s in spread_over_appearances(seqs, 4)]
    assert names == ["p4_0", "p5_0", "p6_0", "p4_1"]
    assert len(spread_over_appearances(seqs, 10)) == 6 and spread_over_appearances([], 3) == []


def test_reference_orders_are_seeded_nested_and_outside_the_window() -> None:
    from evaluation.translate import reference_orders

    orders = reference_orders(30, 12, 4, 3, (0, 5))
    assert orders == reference_orders(30, 12, 4, 3, (0, 5))
    assert orders != reference_orders(30, 12, 4, 3, (0, 6))
    assert all(sorted(o) == list(range(12, 30)) for o in orders)  # K references = o[:K]: nested, after the window
    assert len({tuple(o[:4]) for o in orders}) == 3  # the draws differ
    assert sorted(reference_orders(5, 3, 4, 1, (0,))[0]) == [0, 1, 2, 3, 4]  # too few after the window: all frames


def test_the_flat_baseline_paints_each_class_with_its_mean_training_colour(data: dict[str, Path]) -> None:
    import numpy as np

    from app.contracts import load_manifest
    from corpora.class_colours import mean_class_colours
    from evaluation.translate import class_colour_table, clip_class_colours, flat_frames, load_clip, load_sequences
    from workers.labels_input import codec_for

    card = load_manifest(data["manifest"]).models["street"]
    codec = codec_for(card.inputs.labels)  # type: ignore[union-attr]
    table = class_colour_table(data["street"], codec)
    assert table is not None and table.shape == (35, 3)
    means = mean_class_colours(data["street"])
    for c, rgb in means.items():
        assert np.allclose(table[int(c)], rgb)
    _, seqs = load_sequences(data["street"], "test")
    clip = load_clip(seqs[0], [0, 1], codec, 32, 64)
    painted = flat_frames(clip, table)  # (2, 32, 64, 3)
    ids = clip.labels[:, :35].argmax(1).numpy()
    assert painted.shape == (2, 32, 64, 3)
    assert np.array_equal(painted[ids == int(next(iter(means)))][0], np.round(table[int(next(iter(means)))]))
    own = clip_class_colours(clip, table)
    shown = np.unique(ids)
    for c in shown:
        assert np.allclose(own[c], clip.frames[ids == c].astype(np.float64).mean(0))
    absent = [c for c in range(35) if c not in shown]
    assert np.array_equal(own[absent], table[absent])
    assert class_colour_table(data["people"], codec_for(load_manifest(data["manifest"]).models["people"]
                                                        .inputs.labels)) is None  # type: ignore[union-attr]
