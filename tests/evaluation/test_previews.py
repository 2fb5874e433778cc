"""`v2v eval --previews`: a PNG strip and a GIF per model from the frames the evaluation generated."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from cli.main import main
from corpora.layout import read_png
from corpora.synthetic.people import PeopleDataConfig, generate_people_dataset
from corpora.synthetic.street import StreetDataConfig, generate_street_dataset
from evaluation.previews import MAX_GIF_BYTES, Preview, label_images, strip, write_previews
from models.core.labels import CITYSCAPES_PALETTE, one_hot
from tests.evaluation.tiny_models import write_tiny_manifest


def _gif_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("previews")
    street, people = root / "street", root / "people"
    generate_street_dataset(StreetDataConfig(out=street, sequences=2, test_sequences=1, frames=5, height=32,
                                             width=64))
    generate_people_dataset(PeopleDataConfig(out=people, subjects=3, heldout=2, frames=5, height=64, width=32,
                                             sequences_per_subject=1))
    write_tiny_manifest(root)
    return {"street": street, "people": people, "manifest": root / "manifest.json", "root": root}


def test_eval_writes_previews(data: dict[str, Path]) -> None:
    out, previews = data["root"] / "eval.json", data["root"] / "previews"
    code = main(["eval", "--data", str(data["street"]), str(data["people"]), "--manifest", str(data["manifest"]),
                 "--max-frames", "5", "--max-sequences", "1", "--k", "1", "--out", str(out),
                 "--previews", str(previews)])
    assert code == 0
    report = json.loads(out.read_text())
    # (tile height, tile width, columns): 4 rows (frames 0, 1, 3, 4 of 5); few-shot adds the reference column.
    for name, (h, w, cols) in {"street": (32, 64, 3), "people": (64, 32, 4)}.items():
        assert report["models"][name]["previews"] == {"png": str(previews / f"{name}.png"),
                                                      "gif": str(previews / f"{name}.gif")}
        png = read_png(previews / f"{name}.png")
        assert png.shape == (4 * h, cols * w, 3)  # tiles narrower than 96 px: no title band
        frames = _gif_frames(previews / f"{name}.gif")
        assert len(frames) == 5 and frames[0].shape == (h, cols * w, 3)
        assert 0 < (previews / f"{name}.gif").stat().st_size <= MAX_GIF_BYTES
        assert not list(previews.glob(".*"))  # no partial files left
    # Column 0 of the street strip is the colourised label: Cityscapes colours only.
    street_png = read_png(previews / "street.png")
    colours = {tuple(c) for c in street_png[:, :64].reshape(-1, 3)}
    assert colours <= {tuple(c) for c in CITYSCAPES_PALETTE}
    # Column 2 is the ground truth of the first test sequence, first frame on top.
    seq = json.loads((data["street"] / "dataset.json").read_text())["sequences"]
    first = sorted(n for n, i in seq.items() if i["split"] == "test")[0]
    truth = read_png(data["street"] / "test_B" / first / "00000.png")
    np.testing.assert_array_equal(street_png[:32, 128:192], truth)
    # The GIF is palette-quantised: close to the PNG's first row, not exact.
    gif0 = _gif_frames(previews / "street.gif")[0].astype(np.int32)
    assert np.abs(gif0 - street_png[:32].astype(np.int32)).mean() < 12


def test_large_tiles_are_scaled_and_titled(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    t, h, w = 6, 128, 512
    frames = rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8)
    ids = torch.from_numpy(rng.integers(0, 35, (t, h, w)))
    labels = label_images(one_hot(ids, 35), "segmentation", 35)
    np.testing.assert_array_equal(labels, CITYSCAPES_PALETTE[ids.numpy()])
    preview = Preview(labels, frames, frames)
    picture = strip(preview)
    assert picture.shape == (20 + 4 * 74, 3 * 300, 3)  # tiles 128x512 scaled by 900 / 1536 to 74x300 + titles
    paths = write_previews(tmp_path, "big", preview, fps=15)
    gif = _gif_frames(Path(paths["gif"]))
    assert len(gif) == t and gif[0].shape[1] <= 900
    assert Path(paths["gif"]).stat().st_size <= MAX_GIF_BYTES  # noise is the worst case for GIF; shrunk to fit
