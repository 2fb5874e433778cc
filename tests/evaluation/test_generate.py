"""The judges (`v2v judges train`) and the generate protocol of `v2v eval`, end to end on a tiny people folder: the
judges ship fp16 with a sha256 and are refused under their gate; the protocol scores a served generate card, the
same model at initialisation, real clips and a shuffled-frames control, and writes the grid previews."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from app.contracts import load_manifest
from cli.main import main
from evaluation.card_quality import card_quality
from evaluation.generate import ClipWindow, ModelClips, generate_clips, histograms, markdown_table, mean_pairwise
from evaluation.judges import load_judges
from evaluation.judges_train import JudgeTrainConfig, train_judges
from evaluation.protocols import evaluate, markdown_report
from evaluation.translate import EvalConfig
from models.core.checkpoints import sha256_file
from tests.models.families.mocogan_helpers import tiny_actions, tiny_run_config
from training.loop import TrainingLoop


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_actions(tmp_path_factory.mktemp("actions"))


@pytest.fixture(scope="module")
def judges(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("judges")
    config = JudgeTrainConfig(data=data, out=out, size=16, frames=4, stride=2, action_steps=6, appearance_steps=6,
                              batch=8, holdout_every=2, action_gate=0.0, appearance_gate=0.0)
    train_judges(config)
    return out


def test_judges_ship_fp16_with_hashes_and_a_gate(judges: Path) -> None:
    manifest = json.loads((judges / "manifest.json").read_text())
    assert set(manifest) == {"action", "appearance"}
    for card in manifest.values():
        assert sha256_file(judges / card["file"]) == card["sha256"]
        assert (judges / card["file"]).stat().st_size < 2_000_000 and 0 <= card["heldout_accuracy"] <= 1
        degraded = card["extra"]["degraded_heldout_accuracy"]  # read through noise and blur too (on the card)
        assert set(degraded) == {"noise_0.05", "blur_0.7"} and all(0 <= v <= 1 for v in degraded.values())
        assert card["extra"]["degrade_probability"] == 0.5
    assert manifest["action"]["classes"] == ["walk", "dance", "wave", "idle"]
    assert manifest["appearance"]["classes"] == [f"look_{k}" for k in range(6)]  # training looks only
    loaded = load_judges(judges)
    assert loaded["action"].net(torch.zeros(2, 4, 3, 16, 16)).shape == (2, 4)
    manifest["action"]["gate"] = 1.01  # a judge under its gate may not judge
    (judges / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="gate"):
        load_judges(judges)
    manifest["action"]["gate"] = 0.0
    (judges / "manifest.json").write_text(json.dumps(manifest))


def test_content_distance_is_zero_for_a_still_clip() -> None:
    still = torch.rand(1, 1, 3, 8, 8).expand(2, 5, -1, -1, -1) * 2 - 1
    assert mean_pairwise(histograms(still), 1.0) == 0.0
    assert mean_pairwise(histograms(torch.rand(2, 5, 3, 8, 8) * 2 - 1), 1.0) > 0


def test_content_distance_counts_flicker_not_a_steady_corruption() -> None:
    """What scripts/acd_noise_sensitivity.py measures on real clips: noise drawn afresh per frame raises ACD-hist,
    the same noise held over the clip leaves it at zero, and more flicker costs more."""
    from scripts.acd_noise_sensitivity import acd_hist

    rng = torch.Generator().manual_seed(0)
    still = (torch.rand(8, 1, 3, 16, 16, generator=rng) * 2 - 1).expand(-1, 6, -1, -1, -1)  # (8, 6, 3, 16, 16)
    steady = 0.04 * torch.randn(8, 1, 3, 16, 16, generator=rng)
    assert acd_hist(still + steady) == 0.0
    flicker = [acd_hist(still + s * torch.randn(still.shape, generator=rng)) for s in (0.01, 0.04, 0.16)]
    assert 0 < flicker[0] < flicker[1] < flicker[2]


def test_the_generate_protocol_scores_a_served_card(data: Path, judges: Path, tmp_path: Path) -> None:
    loop = TrainingLoop(MoCoGANRecipe_run(data, tmp_path))
    loop.fit()
    loop.save_checkpoint()
    assert main(["export", str(tmp_path / "run"), "--name", "people", "--checkpoints-dir", str(tmp_path / "ck")]) == 0
    cards = load_manifest(tmp_path / "ck" / "manifest.json").models
    config = replace(EvalConfig(data=(data,)), judges=judges, clips_per_class=3, coverage=5, swap_contents=2,
                     previews=tmp_path / "previews", two_sample_seeds=1, two_sample_steps=20)
    report = evaluate(cards, tmp_path / "ck", config)
    g = report["generate"]
    for row in (g["models"]["people"]["trained"], g["models"]["people"]["initial"], g["real"]):
        assert 0 <= row["acd_hist"] <= 2 and row["coverage"] >= 1 and row["fd_own"] >= 0 and row["is_own"] >= 1
    trained = g["models"]["people"]["trained"]
    assert trained["clips"] == 12 and 0 <= trained["mcs"] <= 1
    per_class = trained["mcs_per_class"]  # 3 clips per requested action: shares of thirds, averaging to the MCS
    assert list(per_class) == list(cards["people"].inputs.classes)
    assert all(round(3 * v) == pytest.approx(3 * v) for v in per_class.values())
    assert trained["mcs"] == pytest.approx(sum(per_class.values()) / len(per_class))
    assert g["shuffled_frames"]["acd_hist"] > g["real"]["acd_hist"]  # frames of other clips differ more
    for row in (g["models"]["people"]["trained"], g["real"]):  # real vs generated (real row: train vs held-out)
        assert 0 <= row["two_sample"]["accuracy"] <= 1 and row["two_sample"]["runs"] == 1
    assert (tmp_path / "previews" / "people.gif").stat().st_size > 0
    assert (tmp_path / "previews" / "people.png").stat().st_size > 0
    table = markdown_report(report)
    assert table == markdown_table(report) and "| people | initialisation |" in table
    assert "MCS per requested class (trained weights): people: " + ", ".join(
        f"{c} {v:.2f}" for c, v in per_class.items()) in table
    card = card_quality(report, "people")  # what `v2v export --quality-from` puts on the card
    assert card["mcs"] == pytest.approx(trained["mcs"], abs=1e-4) and card["coverage"] == trained["coverage"]
    assert card["initial"]["fd_own"] == pytest.approx(g["models"]["people"]["initial"]["fd_own"], abs=1e-4)
    assert card["real"]["clips"] == g["real"]["clips"] and "two_sample" not in card["real"]
    assert set(card["judges_heldout_accuracy"]) == set(g["judges"])
    # `v2v requote`: the served card quotes a new report (here: the same one, with a note); weights untouched
    manifest = tmp_path / "ck" / "manifest.json"
    (tmp_path / "report.json").write_text(json.dumps(report))
    before = load_manifest(manifest).models["people"]
    assert main(["requote", "people", "--quality-from", str(tmp_path / "report.json"), "--manifest", str(manifest),
                 "--quality", '{"judges": "retrained"}']) == 0
    after = load_manifest(manifest).models["people"]
    assert after.weights == before.weights and after.quality["trained_steps"] == before.quality["trained_steps"]
    assert after.quality["mcs"] == card["mcs"] and after.quality["judges"] == "retrained"
    assert after.quality["mcs_per_class"] == pytest.approx(per_class, abs=1e-4)
    assert main(["requote", "nobody", "--quality-from", str(tmp_path / "report.json"), "--manifest",
                 str(manifest)]) == 2  # an unknown model: refused, nothing written
    assert load_manifest(manifest).models == {"people": after}


def MoCoGANRecipe_run(data: Path, tmp_path: Path):  # noqa: N802 - a recipe instance
    from models.families.mocogan.recipe import MoCoGANRecipe  # the test's model; evaluation itself is family-free

    return MoCoGANRecipe(tiny_run_config(data, tmp_path / "run", steps=2))


@pytest.mark.parametrize("folder", sorted(p.name for p in (Path(__file__).parents[2] / "checkpoints").glob("judges*")))
def test_every_shipped_judge_loads_with_its_hash_and_passed_its_gate(folder: str) -> None:
    judges_dir = Path(__file__).parents[2] / "checkpoints" / folder
    manifest = json.loads((judges_dir / "manifest.json").read_text())
    loaded = load_judges(judges_dir)  # sha256-checked; refuses a judge under its gate
    assert set(loaded) == set(manifest)
    assert all(card["heldout_accuracy"] >= card["gate"] for card in manifest.values())


def test_real_identity_kept_reads_the_appearance_judges_held_out_clips() -> None:
    """Each clip's grey level encodes a look; a judge that reads it back keeps every identity, one that mixes two
    looks up on half their clips keeps fewer; only every 6th clip of a look (the judge's held-out set) counts."""
    from types import SimpleNamespace

    import numpy as np

    from evaluation.clips import ClipSet
    from evaluation.identity import real_identity_kept

    looks = torch.arange(3).repeat_interleave(12)  # 3 looks, 12 clips each: clips 5 and 11 of each are held out
    frames = (looks * 60 + 20).to(torch.uint8)[:, None, None, None, None].expand(-1, 4, 3, 8, 8).clone()
    train = ClipSet(frames, {"look": looks}, [f"c{i}" for i in range(len(looks))], [])

    class GreyReader(torch.nn.Module):
        def __init__(self, flip_clip: int | None = None) -> None:
            super().__init__()
            self.flip_clip = flip_clip

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, S, S) in [-1, 1] -> (B, 3) logits
            look = ((x.mean((1, 2, 3)) + 1) * 127.5 - 20) / 60  # (B,)
            if self.flip_clip is not None:  # look 1's frames read as look 2 when they are that bright
                look = torch.where((look - 1).abs() < 0.1, torch.full_like(look, 2.0), look)
            return -((torch.arange(3)[None] - look.round()[:, None]) ** 2).float()

    window = (2, 1)  # frames, stride
    perfect = SimpleNamespace(net=GreyReader())
    assert real_identity_kept(perfect, train, *window, np.random.default_rng(0)) == 1.0
    assert real_identity_kept(SimpleNamespace(net=GreyReader(flip_clip=1)), train, *window,
                              np.random.default_rng(0)) == 1.0  # consistent, even if wrong: identity is kept
    half = frames.clone()
    half[23] = 140  # look 1's second held-out clip looks like look 2 (grey 140)
    mixed = ClipSet(half, {"look": looks}, train.names, [])
    assert real_identity_kept(perfect, mixed, *window, np.random.default_rng(0)) == pytest.approx((1 + 0.5 + 1) / 3)
    few = ClipSet(frames[:15], {"look": looks[:15]}, train.names[:15], [])  # look 1 has 3 clips: none held out
    assert real_identity_kept(perfect, few, *window, np.random.default_rng(0)) == 1.0
    assert real_identity_kept(perfect, ClipSet(frames[:5], {"look": looks[:5]}, train.names[:5], []), *window,
                              np.random.default_rng(0)) is None


@pytest.mark.parametrize("leak, expected", [
    ("none", {"identity_kept": 1.0, "identity_kept_class": 1.0, "identity_kept_motion": 1.0}),
    ("class", {"identity_kept_class": 0.25, "identity_kept_motion": 1.0}),
    ("motion", {"identity_kept_class": 1.0, "identity_kept_motion": 0.25}),
])
def test_identity_kept_says_which_latent_moves_the_look(leak: str, expected: dict[str, float]) -> None:
    """A fake model whose look (a clip's grey level) is its content seed, or is moved by the class or by the motion
    seed: the partial figures single out the latent that moves it."""
    from types import SimpleNamespace

    from evaluation.identity import model_identity_kept

    looks = 8

    def clips(n: int, seed: int, class_id: int | None = None, seeds: dict[str, int] | None = None) -> torch.Tensor:
        seeds = seeds or {}
        motion = seeds.get("motion", seed * 7919)  # a fresh motion per clip unless one is given
        shift = {"class": class_id or 0, "motion": motion}.get(leak, 0)
        look = (seeds["content"] + shift) % looks
        grey = look / (looks - 1) * 2 - 1
        return torch.full((n, 3, 3, 4, 4), grey)  # (n, T, 3, S, S)

    class GreyReader(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, S, S) -> (B, looks) logits
            look = (x.mean((1, 2, 3)) + 1) / 2 * (looks - 1)  # (B,)
            return -((torch.arange(looks)[None] - look.round()[:, None]) ** 2).float()

    judge = SimpleNamespace(net=GreyReader())
    row = model_identity_kept(judge, clips, 4, ["content", "motion"], seed=3, swap_contents=5)  # type: ignore[arg-type]
    for key, value in expected.items():
        assert row[key] == pytest.approx(value), key
    assert model_identity_kept(judge, clips, 4, ["video"], seed=3, swap_contents=5) == {}  # type: ignore[arg-type]
    unconditional = model_identity_kept(judge, clips, 0, ["content"], seed=3, swap_contents=5)  # type: ignore[arg-type]
    assert set(unconditional) == {"identity_kept"}


def test_clips_are_drawn_with_the_configured_truncation() -> None:
    from types import SimpleNamespace

    from models.core.family import WeightsRef
    from models.families.mocogan.config import PRESETS
    from models.families.mocogan.pipeline import load

    torch.manual_seed(0)
    config = replace(PRESETS["mocogan-tiny"], num_categories=3)
    pipeline = load(config, {"generator": WeightsRef()}, torch.device("cpu"))
    full, half = (generate_clips(pipeline, 2, 4, 16, seed=1, truncation=psi) for psi in (1.0, 0.5))
    assert not torch.allclose(full, half)
    card = SimpleNamespace(inputs=SimpleNamespace(num_frames=SimpleNamespace(max=4)), quality={}, name="m")
    assert torch.equal(ModelClips(pipeline, card, ClipWindow(4, 1, 16), 0.5)(2, 1), half)

